/*
 * TLS session-ticket keys of a listener, ours rather than OpenSSL's (which
 * keeps one random key per SSL_CTX for ever):
 *
 *   - rotated every tls-policy session_tickets.rotate; a ticket is accepted
 *     while its key is the current one or the previous one, so a ticket
 *     lives at most two rotation periods;
 *   - thrown away at once when the CRL changes, together with the TLS 1.2
 *     session cache: a session or ticket issued before a revocation cannot
 *     resume after it (the per-request check would refuse its requests
 *     anyway; this refuses the resumption itself, in the handshake).
 *
 * The key ring is immutable and published with pc_rcu: workers (the
 * OpenSSL callback, during handshakes) read it without a lock; the control
 * thread builds the next one.
 */
#include <limits.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_rcu.h"
#include "gateway/gw.h"

#define GW_TICKET_KEYS 2 /* the current key and the previous one */

struct gw_ticket_key {
    unsigned char name[16];
    unsigned char aes[32];  /* AES-256-CBC, as OpenSSL's own tickets */
    unsigned char hmac[32]; /* HMAC-SHA256 */
};

struct gw_ticket_ring {
    struct gw_ticket_key keys[GW_TICKET_KEYS]; /* [0] is current */
    size_t n;
};

static void
ring_free(void *p)
{
    if (p != NULL)
        OPENSSL_cleanse(p, sizeof(struct gw_ticket_ring));
    free(p);
}

static int
key_new(struct gw_ticket_key *k)
{
    if (RAND_bytes(k->name, sizeof(k->name)) != 1 || RAND_bytes(k->aes, sizeof(k->aes)) != 1 ||
        RAND_bytes(k->hmac, sizeof(k->hmac)) != 1) {
        pc_log(LOG_ERR, "session tickets: no random bytes");
        return PC_ERR_CRYPTO;
    }
    return PC_OK;
}

/* A new ring: a fresh current key, plus the old current key unless `reset`. */
static void
publish(struct gw_listener *l, bool reset)
{
    struct gw_ticket_ring *old = atomic_load(&l->tickets);
    struct gw_ticket_ring *ring = pc_xcalloc(1, sizeof(*ring));

    if (key_new(&ring->keys[0]) != PC_OK) {
        ring_free(ring);
        return;
    }
    ring->n = 1;
    if (!reset && old != NULL) {
        ring->keys[1] = old->keys[0];
        ring->n = 2;
    }
    pc_rcu_retire(pc_rcu_global(), atomic_exchange(&l->tickets, ring), ring_free);
}

static int
set_keys(const struct gw_ticket_key *k, unsigned char *iv, EVP_CIPHER_CTX *cctx, EVP_MAC_CTX *hctx,
         int enc)
{
    OSSL_PARAM params[3];
    int ok;

    params[0] = OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, (void *)(uintptr_t)k->hmac,
                                                  sizeof(k->hmac));
    params[1] =
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)(uintptr_t) "SHA256", 0);
    params[2] = OSSL_PARAM_construct_end();
    ok = enc ? EVP_EncryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv)
             : EVP_DecryptInit_ex(cctx, EVP_aes_256_cbc(), NULL, k->aes, iv);
    return ok == 1 && EVP_MAC_CTX_set_params(hctx, params) == 1 ? 1 : -1;
}

/* OpenSSL's ticket callback (worker threads): 1 = use, 2 = use and renew
 * (an older key), 0 = unknown key (full handshake), -1 = error. */
static int
on_ticket_key(SSL *ssl, unsigned char *name, unsigned char *iv, EVP_CIPHER_CTX *cctx,
              EVP_MAC_CTX *hctx, int enc)
{
    struct gw_listener *l = gw_tls_listener(ssl);
    const struct gw_ticket_ring *ring;
    size_t i;

    if (l == NULL)
        return -1;
    ring = atomic_load_explicit(&l->tickets, memory_order_acquire);
    if (ring == NULL || ring->n == 0)
        return enc ? -1 : 0;
    if (enc) {
        if (RAND_bytes(iv, EVP_MAX_IV_LENGTH) != 1)
            return -1;
        memcpy(name, ring->keys[0].name, sizeof(ring->keys[0].name));
        return set_keys(&ring->keys[0], iv, cctx, hctx, 1);
    }
    for (i = 0; i < ring->n; i++) {
        if (memcmp(name, ring->keys[i].name, sizeof(ring->keys[i].name)) == 0) {
            if (set_keys(&ring->keys[i], iv, cctx, hctx, 0) != 1)
                return -1;
            return i == 0 ? 1 : 2;
        }
    }
    return 0;
}

int
gw_tickets_init(struct gw_listener *l, const struct pol_tls *t)
{
    atomic_init(&l->tickets, NULL);
    if (t->ticket_rotate_ms == 0)
        return PC_OK; /* SSL_OP_NO_TICKET is set by the policy */
    publish(l, true);
    if (atomic_load(&l->tickets) == NULL)
        return PC_ERR_CRYPTO;
    l->tickets_rotated_ms = gw_now_ms();
    SSL_CTX_set_tlsext_ticket_key_evp_cb(l->ssl_ctx, on_ticket_key);
    return PC_OK;
}

void
gw_tickets_clear(struct gw_listener *l)
{
    /* workers are gone: nobody reads the ring any more */
    ring_free(atomic_exchange(&l->tickets, NULL));
}

void
gw_tickets_tick(struct gw_listener *l, const struct pol_tls *t)
{
    uint64_t now = gw_now_ms();

    if (t->ticket_rotate_ms == 0 || atomic_load(&l->tickets) == NULL)
        return;
    if (now - l->tickets_rotated_ms >= t->ticket_rotate_ms) {
        publish(l, false);
        l->tickets_rotated_ms = now;
    }
}

void
gw_tickets_revoke_all(struct gw_listener *l)
{
    if (l->ssl_ctx == NULL)
        return;
    /* TLS 1.2 session ids: drop the server-side cache (OpenSSL locks it) */
    SSL_CTX_flush_sessions(l->ssl_ctx, LONG_MAX);
    if (atomic_load(&l->tickets) != NULL) {
        publish(l, true);
        l->tickets_rotated_ms = gw_now_ms();
    }
}
