/*
 * Allocation wrappers.  See pc_mem.h.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "pc_log.h"
#include "pc_mem.h"

static void __attribute__((noreturn)) oom(size_t n)
{
    pc_log(LOG_CRIT, "out of memory allocating %zu bytes", n);
    abort();
}

void *
pc_xmalloc(size_t n)
{
    void *p = malloc(n == 0 ? 1 : n);

    if (p == NULL)
        oom(n);
    return p;
}

void *
pc_xcalloc(size_t nmemb, size_t size)
{
    void *p;

    if (size != 0 && nmemb > SIZE_MAX / size)
        oom(SIZE_MAX);
    p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size);
    if (p == NULL)
        oom(nmemb * size);
    return p;
}

void *
pc_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n == 0 ? 1 : n);

    if (q == NULL)
        oom(n);
    return q;
}

void *
pc_xreallocarray(void *p, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        oom(SIZE_MAX);
    return pc_xrealloc(p, nmemb * size);
}

char *
pc_xstrdup(const char *s)
{
    return pc_xstrndup(s, strlen(s));
}

char *
pc_xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p;

    if (len == SIZE_MAX)
        oom(len);
    p = pc_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

void *
pc_xmemdup(const void *p, size_t n)
{
    void *q = pc_xmalloc(n);

    if (n != 0)
        memcpy(q, p, n);
    return q;
}

void
pc_free_secret(void *p, size_t n)
{
    if (p == NULL)
        return;
    OPENSSL_cleanse(p, n);
    free(p);
}

void
pc_free_secret_str(char *s)
{
    if (s == NULL)
        return;
    pc_free_secret(s, strlen(s));
}
