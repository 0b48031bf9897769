/*
 * SHA-256 for the request path.  EVP_Digest(..., EVP_sha256(), ...) makes
 * OpenSSL 3 look the algorithm up in its provider store on every call,
 * under a read lock shared by every thread (and twice the time of the
 * digest of a short input).  pc_sha256 uses one EVP_MD fetched once per
 * process: no lock, no lookup.
 */
#ifndef PC_SHA256_H
#define PC_SHA256_H

#include <stddef.h>

#define PC_SHA256_LEN 32

/** out = SHA-256(data[0..len)); 0 on success, -1 if OpenSSL failed. */
int pc_sha256(const void *data, size_t len, unsigned char out[PC_SHA256_LEN]);

#endif
