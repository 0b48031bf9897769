/*
 * Fast per-thread pseudo-random bytes for identifiers that must be unique
 * and hard to guess but are not secrets (request ids, trace ids).  Not for
 * keys, tokens, serials or nonces: use RAND_bytes for those.
 *
 * xoshiro256** seeded from getrandom(2) once per thread; no lock, no
 * system call per use (OpenSSL 3's RAND_bytes calls getpid() on each use to
 * detect forks, which shows up on the request path).
 */
#ifndef PC_RAND_H
#define PC_RAND_H

#include <stddef.h>
#include <stdint.h>

uint64_t pc_fastrand64(void);
void pc_fastrand_bytes(void *buf, size_t n);

#endif
