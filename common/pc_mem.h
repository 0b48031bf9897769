/*
 * Allocation wrappers.  OOM is fatal (logged, then abort()), like h2o's
 * h2o_mem_alloc and redis's zmalloc: every size that an attacker could
 * influence is checked against a named cap in pc_limits.h *before* these
 * are called, so OOM is never attacker-driven.
 */
#ifndef PC_MEM_H
#define PC_MEM_H

#include <stddef.h>

void *pc_xmalloc(size_t n);
void *pc_xcalloc(size_t nmemb, size_t size); /* aborts on nmemb*size overflow */
void *pc_xrealloc(void *p, size_t n);
void *pc_xreallocarray(void *p, size_t nmemb, size_t size);
char *pc_xstrdup(const char *s);
char *pc_xstrndup(const char *s, size_t n); /* copies at most n bytes, NUL-terminates */
void *pc_xmemdup(const void *p, size_t n);

/** Wipe `n` bytes at `p` (OPENSSL_cleanse) and free it.  NULL is a no-op. */
void pc_free_secret(void *p, size_t n);

/** pc_free_secret() for a NUL-terminated string. */
void pc_free_secret_str(char *s);

#endif
