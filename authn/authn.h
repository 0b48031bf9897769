/*
 * authn: who is calling.  The verified client certificate's identity and
 * revocation state (this file), JWT/JWKS verification and the token cache
 * (authn_jwt.h).  No h2o types here; OpenSSL in, plain data out.
 */
#ifndef AUTHN_H
#define AUTHN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "policy/pol.h"

#define AUTHN_SERIAL_MAX 20 /* RFC 5280: serials are at most 20 octets */

enum authn_id_kind { AUTHN_ID_URI, AUTHN_ID_DNS, AUTHN_ID_EMAIL, AUTHN_ID_CN, AUTHN_ID_NONE };

/*
 * The identity of one verified client certificate, computed once per
 * connection and then only read.  One allocation; authn_peer_free().
 */
struct authn_peer {
    enum authn_id_kind kind;
    const char *identity;     /* "spiffe://td/ns/x", "dns:a.example", "email:a@b", "cn:alice" */
    struct pol_names names;   /* every SAN of the supported kinds, and the CN */
    const char *subject;      /* RFC 2253 subject DN */
    unsigned char sha256[32]; /* of the DER certificate */
    char sha256_hex[65];
    char id_hash_hex[33]; /* hex of SHA-256(identity)[0..16): rate-limit keys, never the identity */
    char x5t_s256[44];    /* base64url(sha256): RFC 8705 cnf."x5t#S256" */
    unsigned char serial[AUTHN_SERIAL_MAX];
    size_t serial_len;
    char serial_hex[2 * AUTHN_SERIAL_MAX + 1];
    unsigned char issuer_id[32]; /* SHA-256 of the DER issuer name: CRL lookups */
    int64_t not_before;          /* unix seconds */
    int64_t not_after;
    const char *xfcc; /* X-Forwarded-Client-Cert value (Envoy format) */
    size_t xfcc_len;
};

/*
 * Build the identity of `cert` (borrowed).  Names above PC_PEER_MAX_SANS or
 * PC_PEER_MAX_NAME bytes, or with control bytes, are skipped (and never
 * become the identity).  Returns PC_OK, or PC_ERR_INVALID when the
 * certificate has no usable name or unreadable validity dates.
 */
int authn_peer_new(X509 *cert, struct authn_peer **out);
void authn_peer_free(struct authn_peer *p);

/*
 * Format the XFCC value for `p` into dst (capacity cap, NUL-terminated):
 * Hash=<hex>;Subject="<dn>";URI=<uri>;DNS=<dns>...  Values with ',', ';',
 * '=' or '"' are quoted, and '"' and '\' inside quotes are escaped.
 * Returns the length, or 0 when it does not fit.
 */
size_t authn_xfcc_format(const struct authn_peer *p, char *dst, size_t cap);

/* --- revocation --------------------------------------------------------- */

/*
 * An immutable set of revoked (issuer, serial) pairs from one CRL file,
 * which may hold several PEM CRLs.  Built off the hot path, published with
 * pc_rcu, read by workers without a lock.
 */
struct authn_crlset;

/*
 * Load the PEM CRL(s) in `path`.  Each CRL must be signed by a CA in `cas`
 * (the listener's client CA bundle); a CRL from another issuer, a bad
 * signature, or more than PC_CRL_MAX_ENTRIES serials is an error and the
 * caller keeps its previous set.  The reason is logged.
 */
int authn_crlset_load(const char *path, STACK_OF(X509) * cas, struct authn_crlset **out);
void authn_crlset_free(struct authn_crlset *s);
/** Same, with a void * argument (for pc_rcu_retire). */
void authn_crlset_free_void(void *s);

/*
 * The (issuer, serial) pair a CRL lookup needs, read from `cert` (the
 * handshake path has no authn_peer yet).  PC_ERR_INVALID for a serial that
 * is negative, zero-length or longer than 20 octets.
 */
int authn_cert_revocation_key(X509 *cert, unsigned char issuer_id[32],
                              unsigned char serial[AUTHN_SERIAL_MAX], size_t *serial_len);

/** Whether (issuer, serial) is listed. */
bool authn_crlset_has(const struct authn_crlset *s, const unsigned char issuer_id[32],
                      const unsigned char *serial, size_t serial_len);

/**
 * Whether `now` is past the nextUpdate of any CRL in the set: then every
 * certificate is refused (fail closed, as OpenSSL's CRL check does).
 */
bool authn_crlset_expired(const struct authn_crlset *s, int64_t now);

/** Number of revoked entries (metrics, logs). */
size_t authn_crlset_count(const struct authn_crlset *s);

/** Whether the set has a CRL from the issuer `issuer_id`. */
bool authn_crlset_covers(const struct authn_crlset *s, const unsigned char issuer_id[32]);

/**
 * The names of CAs in `cas` for which the set has no CRL, comma-separated
 * in `out` (capacity cap); returns how many there are.
 */
size_t authn_crlset_uncovered(const struct authn_crlset *s, STACK_OF(X509) * cas, char *out,
                              size_t cap);

#endif
