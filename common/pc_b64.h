/*
 * base64url (RFC 4648 §5) without padding, as JOSE uses it.
 */
#ifndef PC_B64_H
#define PC_B64_H

#include <stdbool.h>
#include <stddef.h>

/** Bytes needed to encode `n` bytes, without the NUL. */
#define PC_B64URL_ENCLEN(n) (((n) / 3) * 4 + ((n) % 3 == 0 ? 0 : (n) % 3 + 1))
/** Upper bound of bytes decoded from `n` characters. */
#define PC_B64URL_DECLEN(n) (((n) / 4) * 3 + 2)

/** Encode into out (PC_B64URL_ENCLEN(len)+1 bytes); NUL-terminates; returns the length. */
size_t pc_b64url_encode(char *out, const unsigned char *in, size_t len);

/*
 * Strictly decode s[0..len): only the url alphabet, no '=' padding, no
 * whitespace, and unused trailing bits must be zero (one encoding per
 * value).  Writes at most `cap` bytes into out.  Returns PC_OK and *outlen,
 * PC_ERR_PARSE on a bad character or length, PC_ERR_TOO_LARGE above cap.
 */
int pc_b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap, size_t *outlen);

/** Whether s[0..len) is non-empty and only of the base64url alphabet (no '='). */
bool pc_b64url_is_text(const char *s, size_t len);

#endif
