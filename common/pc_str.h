/*
 * Bounded parsing and building of strings.  Wire data is (ptr, len) and is
 * never assumed NUL-terminated.  These are the only integer parsers allowed
 * in the tree (atoi/strtol and friends are banned outside this file).
 */
#ifndef PC_STR_H
#define PC_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Parse the decimal digits s[0..len) into *out.  No sign, no spaces, no
 * leading '+', at least one digit; fails (PC_ERR_PARSE) on anything else
 * and PC_ERR_TOO_LARGE above `max`.  *out is untouched on failure.
 */
int pc_parse_u64(const char *s, size_t len, uint64_t max, uint64_t *out);

/*
 * Parse a duration: digits followed by a unit ms|s|m|h|d ("25ms", "5s",
 * "24h", "30d"), into milliseconds.  A bare number is refused: the unit
 * is mandatory so "30" never silently means 30 ms or 30 s.
 */
int pc_parse_duration_ms(const char *s, size_t len, uint64_t *out_ms);

/*
 * Parse a byte size: digits with an optional suffix k|m|g (powers of 1024,
 * case-insensitive, optional trailing "b"/"B": "8k", "16MB").  Max 2^40.
 */
int pc_parse_size(const char *s, size_t len, uint64_t *out);

/** Case-insensitive ASCII equality of two (ptr, len) strings. */
bool pc_str_eq_nocase(const char *a, size_t alen, const char *b, size_t blen);

/** True when every byte of s[0..len) is printable ASCII (0x21..0x7e). */
bool pc_str_is_token(const char *s, size_t len);

/** True when s[0..len) contains a NUL or another control byte (< 0x20, 0x7f). */
bool pc_str_has_ctl(const char *s, size_t len);

/** Lower-case hex of `len` bytes into `out` (2*len+1 bytes). Returns out. */
char *pc_hex(char *out, const unsigned char *in, size_t len);

/*
 * A growable byte buffer with a hard cap fixed at init (curl's dynbuf).
 * Appends that would pass the cap fail with PC_ERR_TOO_LARGE and leave the
 * buffer as it was.  The content is always NUL-terminated (not counted).
 */
struct pc_buf {
    char *data;   /* NULL until the first append */
    size_t len;   /* bytes used, without the NUL */
    size_t alloc; /* bytes allocated */
    size_t cap;   /* max len */
};

void pc_buf_init(struct pc_buf *b, size_t cap);
int pc_buf_add(struct pc_buf *b, const void *p, size_t n);
int pc_buf_addc(struct pc_buf *b, char c);
int pc_buf_adds(struct pc_buf *b, const char *s);
int pc_buf_addf(struct pc_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Append s[0..n) as the inside of a JSON string (quotes not added). */
int pc_buf_add_json_str(struct pc_buf *b, const char *s, size_t n);
void pc_buf_reset(struct pc_buf *b);
/** Free the storage; the buffer can be used again (same cap). */
void pc_buf_clear(struct pc_buf *b);
/** Take the data (caller frees); the buffer is left empty. */
char *pc_buf_take(struct pc_buf *b, size_t *len);

/*
 * Append the inside of a JSON string for s[0..n) to dst (capacity cap),
 * escaping '"', '\\' and control bytes; bytes >= 0x80 are copied when they
 * form valid UTF-8 and become \ufffd otherwise.  Returns the new length, or
 * SIZE_MAX if it would not fit (nothing written past cap).
 */
size_t pc_json_escape(char *dst, size_t off, size_t cap, const char *s, size_t n);

#endif
