/*
 * pc_sha256: SHA-256 with an EVP_MD fetched once (see pc_sha256.h).
 */
#include <pthread.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "pc_sha256.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_free(void)
{
    EVP_MD_free(sha256_md);
    sha256_md = NULL;
}

static void
sha256_fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (sha256_md != NULL)
        atexit(sha256_free);
}

int
pc_sha256(const void *data, size_t len, unsigned char out[PC_SHA256_LEN])
{
    unsigned int n = 0;

    pthread_once(&sha256_once, sha256_fetch);
    if (sha256_md != NULL)
        return EVP_Digest(data, len, out, &n, sha256_md, NULL) == 1 && n == PC_SHA256_LEN ? 0 : -1;
    /* no default provider?  The slow path still works, or fails cleanly */
    return EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) == 1 && n == PC_SHA256_LEN ? 0 : -1;
}
