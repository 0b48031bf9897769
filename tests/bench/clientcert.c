/*
 * clientcert.so: LD_PRELOAD shim that makes a dynamically linked OpenSSL 3
 * client (wrk 4.1, h2load 1.52: neither has a --cert option) present a TLS
 * client certificate.
 *
 * It interposes SSL_CTX_new() and SSL_CTX_new_ex().  After the real call it
 * loads the chain in $CLIENTCERT_CERT and the key in $CLIENTCERT_KEY (default:
 * the cert file) into the new context, so every connection made from it can
 * answer a CertificateRequest.  If the variables are set but loading fails the
 * process aborts: a benchmark must never run silently without the certificate.
 * The helpers are looked up with dlsym(), so the shim has no link-time
 * dependency on libssl and is harmless in processes without OpenSSL (taskset).
 *
 * Build: cc -D_GNU_SOURCE -O2 -shared -fPIC -o clientcert.so clientcert.c -ldl
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <openssl/ssl.h>

static __thread int in_hook; /* SSL_CTX_new() calls SSL_CTX_new_ex(): load once */

static void *
sym(void *handle, const char *name)
{
    void *p = dlsym(handle, name);

    if (p == NULL) {
        fprintf(stderr, "clientcert.so: %s not found\n", name);
        abort();
    }
    return p;
}

static void
add_cert(SSL_CTX *ctx)
{
    const char *crt = getenv("CLIENTCERT_CERT"), *key = getenv("CLIENTCERT_KEY");
    __typeof__(SSL_CTX_use_certificate_chain_file) *use_chain;
    __typeof__(SSL_CTX_use_PrivateKey_file) *use_key;
    __typeof__(SSL_CTX_check_private_key) *check_key;

    if (ctx == NULL || crt == NULL || *crt == '\0')
        return;
    if (key == NULL || *key == '\0')
        key = crt;
    use_chain = sym(RTLD_DEFAULT, "SSL_CTX_use_certificate_chain_file");
    use_key = sym(RTLD_DEFAULT, "SSL_CTX_use_PrivateKey_file");
    check_key = sym(RTLD_DEFAULT, "SSL_CTX_check_private_key");
    if (use_chain(ctx, crt) != 1 || use_key(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        check_key(ctx) != 1) {
        fprintf(stderr, "clientcert.so: cannot load client cert %s / key %s\n", crt, key);
        abort();
    }
}

SSL_CTX *
SSL_CTX_new(const SSL_METHOD *meth)
{
    static __typeof__(SSL_CTX_new) *real;
    SSL_CTX *ctx;
    int outer = !in_hook;

    if (real == NULL)
        real = sym(RTLD_NEXT, "SSL_CTX_new");
    in_hook = 1;
    ctx = real(meth);
    if (outer) {
        in_hook = 0;
        add_cert(ctx);
    }
    return ctx;
}

SSL_CTX *
SSL_CTX_new_ex(OSSL_LIB_CTX *libctx, const char *propq, const SSL_METHOD *meth)
{
    static __typeof__(SSL_CTX_new_ex) *real;
    SSL_CTX *ctx;
    int outer = !in_hook;

    if (real == NULL)
        real = sym(RTLD_NEXT, "SSL_CTX_new_ex");
    in_hook = 1;
    ctx = real(libctx, propq, meth);
    if (outer) {
        in_hook = 0;
        add_cert(ctx);
    }
    return ctx;
}
