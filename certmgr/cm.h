/*
 * certmgr: the client CA behind `portcullis-admin` (ca init, client
 * issue/sign/list/show/revoke, crl; docs/internals/CA.md), its token
 * tools (token issue/inspect/thumbprint, jwks; docs/internals/TOKEN.md) and
 * policy explain, the gateway's decision computed offline
 * (docs/internals/EXPLAIN.md).
 *
 * Everything here runs in the short-lived portcullis-admin process, as the
 * operator (usually root or the portcullis user).  Functions return 0 (PC_OK)
 * or a negative enum pc_err.  The reason for a failure is recorded once, where
 * the cause is known, with cm_err_set() ("DIR/index.json: certs[3].serial:
 * ..."); the CLI prints it as the one line "portcullis-admin: <reason>".
 * Bytes from files and from the command line are validated against the caps
 * below before anything is allocated for them.
 */
#ifndef CM_H
#define CM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "common/pc_limits.h"

/* --- limits ---------------------------------------------------------------- */
#define CM_NAME_MAX             64               /* client NAME / CN bytes (X.520 ub-common-name) */
#define CM_SAN_MAX_BYTES        PC_PEER_MAX_NAME /* one SAN value; the gateway reads no more */
#define CM_SANS_MAX             PC_PEER_MAX_SANS /* SAN entries per certificate, all kinds */
#define CM_DNS_MAX_BYTES        253              /* RFC 1035 name, without the trailing dot */
#define CM_DNS_LABEL_MAX        63               /* RFC 1035 label */
#define CM_EMAIL_LOCAL_MAX      64               /* RFC 5321 local part */
#define CM_SERIAL_MAX_BYTES     20               /* RFC 5280 4.1.2.2: serials up to 20 octets */
#define CM_SERIAL_HEX_MAX       (2 * CM_SERIAL_MAX_BYTES) /* canonical hex digits */
#define CM_SERIAL_ARG_MAX       128 /* a SERIAL argument, with colons and leading zeros */
#define CM_SERIAL_RAND_BYTES    16  /* 128-bit serials (top bit forced: 127 random) */
#define CM_SERIAL_TRIES         16  /* fresh serials tried before giving up on collisions */
#define CM_INDEX_MAX_CERTS      PC_CRL_MAX_ENTRIES  /* index entries; the gateway loads no more */
#define CM_CRL_NUMBER_MAX       (UINT64_C(1) << 62) /* stays a JSON integer (long long) */
#define CM_DAYS_DEFAULT         90                  /* client certificate lifetime */
#define CM_DAYS_MAX             3650                /* --days ceiling (10 years) */
#define CM_CA_DAYS              3650                /* CA certificate lifetime (10 years) */
#define CM_BACKDATE_SEC         60           /* notBefore = now - this: clients with a slow clock */
#define CM_CRL_NEXT_DEFAULT_SEC (30 * 86400) /* crl --next-update default */
#define CM_CRL_NEXT_MAX_SEC     (3650 * 86400) /* --next-update ceiling */
#define CM_LOCK_TIMEOUT_MS      30000          /* wait for DIR/.lock at most this long */
#define CM_P12_PASS_MAX         1024           /* PKCS#12 password bytes */
#define CM_P12_ITER             100000         /* PBKDF2 and MAC iterations */
#define CM_RSA_MIN_BITS         2048           /* smaller CSR keys are refused */
#define CM_RSA_MAX_BITS         16384          /* larger ones too: slow to verify, no use */
#define CM_TIME_LEN             20             /* "YYYY-MM-DDTHH:MM:SSZ" */
#define CM_TIME_MIN             (-631152000LL) /* 1950-01-01T00:00:00Z: UTCTime's floor */
#define CM_TIME_MAX             253402300799LL /* 9999-12-31T23:59:59Z: GeneralizedTime's ceiling */
#define CM_ERR_MAX              1024           /* one recorded reason */
#define CM_ESC_MAX              256            /* an untrusted string quoted in a reason */

#define CM_DEFAULT_CA_DIR "/var/lib/portcullis/ca"
#define CM_DEFAULT_CA_CN  "Portcullis Client CA"
#define CM_P12_PASS_ENV   "PORTCULLIS_P12_PASSWORD"

/* --- the one failure reason (cm_err.c) ------------------------------------- */

/** Record the reason of a failure.  The first one recorded wins: it is the deepest. */
void cm_err_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Record "what: <OpenSSL's reason>" and clear OpenSSL's error queue. */
void cm_err_ssl(const char *what);
/** Put "context: " in front of the recorded reason (or record just the context). */
void cm_err_prefix(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/** Record "what: strerror(err)". */
void cm_err_errno(const char *what, int err);
/** The recorded reason, or NULL. */
const char *cm_err_get(void);
void cm_err_clear(void);
/** Quote untrusted s[0..len) for a reason (pc_log_esc into buf, CM_ESC_MAX bytes). */
const char *cm_esc(char *buf, const char *s, size_t len);

/* --- values from the command line and from files (cm_valid.c) -------------- */

enum cm_key_type {
    CM_KEY_EC256,
    CM_KEY_EC384,
    CM_KEY_ED25519,
    CM_KEY_RSA2048,
};

/* RFC 5280 5.3.1 CRLReason codes we accept (no certificateHold, no removeFromCRL). */
enum cm_reason {
    CM_REASON_UNSPECIFIED = 0,
    CM_REASON_KEY_COMPROMISE = 1,
    CM_REASON_CA_COMPROMISE = 2,
    CM_REASON_AFFILIATION_CHANGED = 3,
    CM_REASON_SUPERSEDED = 4,
    CM_REASON_CESSATION_OF_OPERATION = 5,
    CM_REASON_PRIVILEGE_WITHDRAWN = 9,
};

/** NAME: [A-Za-z0-9._-]{1,64}, not starting with '.'. */
bool cm_name_is_valid(const char *s, size_t len);
/** CA common name: 1..64 bytes of UTF-8 without control characters. */
bool cm_cn_is_valid(const char *s, size_t len);
/** dNSName for a client: LDH labels, no wildcard, no trailing dot, TLD not all digits. */
bool cm_dns_is_valid(const char *s, size_t len);
/*
 * uniformResourceIdentifier: "spiffe://trust-domain/path" per the SPIFFE ID
 * spec, or another absolute URI (scheme ":" rest) of URI characters only: no
 * whitespace, no control bytes, "%" followed by two hex digits.
 */
bool cm_uri_is_valid(const char *s, size_t len);
/** rfc822Name: dot-atom local part "@" a DNS name (cm_dns_is_valid). */
bool cm_email_is_valid(const char *s, size_t len);

/*
 * Parse a SERIAL argument: hex digits, any case, either plain or in groups of
 * one or two digits separated by single colons ("0A:1b:..").  Writes the
 * canonical form (lower case, even length, no leading 00 byte) to out
 * (CM_SERIAL_HEX_MAX + 1 bytes).  PC_ERR_PARSE on bad syntax or zero,
 * PC_ERR_TOO_LARGE above 20 octets.
 */
int cm_serial_parse(const char *s, char *out);
/** Whether s[0..len) is a canonical serial as cm_serial_parse() writes it. */
bool cm_serial_is_canonical(const char *s, size_t len);

/** Strict "YYYY-MM-DDTHH:MM:SSZ" (1950..9999) into *out. PC_ERR_PARSE otherwise. */
int cm_time_parse_iso(const char *s, size_t len, time_t *out);
/*
 * A time argument: "YYYY-MM-DDTHH:MM:SSZ", "now", or "+DURATION"/"-DURATION"
 * relative to `now` (DURATION as pc_parse_duration_ms, whole seconds: "+30d",
 * "-1h").  The result must lie in 1950..9999.
 */
int cm_time_parse_arg(const char *s, time_t now, time_t *out);
/** Format t as "YYYY-MM-DDTHH:MM:SSZ" into out (CM_TIME_LEN + 1 bytes). Returns out. */
char *cm_time_format(time_t t, char *out);

/** The reason code of an RFC 5280 name (case-insensitive), or -1. */
int cm_reason_parse(const char *s);
/** The RFC 5280 name of a code we accept, or NULL. */
const char *cm_reason_name(int code);
/** CM_KEY_* of "ec256", "ec384", "ed25519", "rsa2048", or -1. */
int cm_key_type_parse(const char *s);
const char *cm_key_type_name(enum cm_key_type kt);

/* --- string lists and SAN sets (cm_valid.c) -------------------------------- */

struct cm_strv {
    char **v; /* owned strings */
    size_t n;
};

struct cm_sans {
    struct cm_strv uri;
    struct cm_strv dns;
    struct cm_strv email;
};

/** Append a copy of s[0..len) (callers checked the caps). */
void cm_strv_push(struct cm_strv *sv, const char *s, size_t len);
void cm_strv_clear(struct cm_strv *sv);
void cm_sans_clear(struct cm_sans *s);
size_t cm_sans_count(const struct cm_sans *s);
/**
 * Append one SAN of kind "uri", "dns" or "email" after validating it and the
 * total count.  `what` names the source in the reason ("--dns", "CSR").
 * PC_ERR_INVALID (reason recorded) when refused.
 */
int cm_sans_add(struct cm_sans *s, const char *kind, const char *v, size_t len, const char *what);

/* --- the index (cm_index.c) ------------------------------------------------ */

enum cm_status {
    CM_STATUS_VALID,
    CM_STATUS_REVOKED,
    CM_STATUS_EXPIRED, /* computed for display, never stored */
};

struct cm_entry {
    char serial[CM_SERIAL_HEX_MAX + 1]; /* canonical hex */
    char *name;                         /* owned */
    struct cm_sans sans;
    time_t not_before;
    time_t not_after;
    enum cm_status status; /* VALID or REVOKED */
    time_t revoked_at;     /* when REVOKED */
    int reason;            /* enum cm_reason, when REVOKED */
};

struct cm_index {
    uint64_t crl_number; /* number of the last CRL written; the next is +1 */
    struct cm_entry *certs;
    size_t n;
    size_t alloc;
};

void cm_index_init(struct cm_index *idx);
void cm_index_clear(struct cm_index *idx);
/*
 * Parse and fully validate an index document buf[0..len) (not NUL-terminated,
 * at most PC_INDEX_MAX_BYTES).  `what` (the path) prefixes the reason.  On
 * failure idx is left empty.  PC_ERR_PARSE/PC_ERR_INVALID/PC_ERR_TOO_LARGE.
 */
int cm_index_parse(const char *buf, size_t len, const char *what, struct cm_index *idx);
/** Read and parse `path` (bounded by PC_INDEX_MAX_BYTES). */
int cm_index_load(const char *path, struct cm_index *idx);
/** Serialise to a new NUL-terminated JSON text (*out, free()). */
int cm_index_dump(const struct cm_index *idx, char **out, size_t *len);
/** Serialise and write atomically (0644). */
int cm_index_save(const char *path, const struct cm_index *idx);
/** The entry with this canonical serial, or NULL. */
struct cm_entry *cm_index_find(const struct cm_index *idx, const char *serial);
/*
 * The entries a SERIAL|NAME argument means: when `arg` parses as a serial
 * that is in the index, that entry (*by_serial true); otherwise every entry
 * named `arg`.  *which (free()) gets their positions, *n may be 0.
 */
void cm_index_match(const struct cm_index *idx, const char *arg, size_t **which, size_t *n,
                    bool *by_serial);
/** Append *e; the index takes ownership of its strings and *e is zeroed. */
void cm_index_add(struct cm_index *idx, struct cm_entry *e);
void cm_entry_clear(struct cm_entry *e);
/** VALID, REVOKED, or EXPIRED when valid but not_after < now. */
enum cm_status cm_entry_status(const struct cm_entry *e, time_t now);
const char *cm_status_name(enum cm_status st);
/**
 * The entry as a JSON object (the index format).  now == 0: the stored status;
 * otherwise the status at `now` (expired shown).  The caller owns the result.
 */
json_t *cm_entry_json(const struct cm_entry *e, time_t now);

/* --- keys, certificates, CSRs (cm_x509.c, cm_csr.c) ------------------------ */

/** Everything a certificate says, besides its key and issuer. */
struct cm_certspec {
    const char *cn;              /* subject CN */
    const unsigned char *serial; /* big-endian, positive */
    size_t serial_len;           /* 1..CM_SERIAL_MAX_BYTES */
    time_t not_before, not_after;
    const struct cm_sans *sans; /* NULL or empty: no SAN extension */
    bool is_ca;                 /* CA: CA:TRUE pathlen:0, keyCertSign+cRLSign */
};

/** PEM pass-phrase callback that refuses: nothing we read is encrypted, never prompt. */
int cm_no_password(char *buf, int size, int rwflag, void *u);
/** Generate a new key of type kt. */
int cm_key_generate(enum cm_key_type kt, EVP_PKEY **out);
/** The signature digest for key (SHA-256; NULL for Ed25519, which has none). */
const EVP_MD *cm_key_md(EVP_PKEY *key);
/**
 * PKCS#8 PEM of a private key in a new buffer (*pem, *len); release it with
 * pc_free_secret(*pem, *len).
 */
int cm_key_pem(EVP_PKEY *key, char **pem, size_t *len);
/** Whether key is one we sign for: EC P-256/P-384, Ed25519, RSA 2048..16384. */
bool cm_key_is_acceptable(EVP_PKEY *key, char *why, size_t whylen);
/** A fresh random serial of CM_SERIAL_RAND_BYTES bytes, top bit set. */
int cm_serial_random(unsigned char *out);
/** Canonical hex of a big-endian serial (out: CM_SERIAL_HEX_MAX + 1 bytes). */
void cm_serial_hex(const unsigned char *serial, size_t len, char *out);
/*
 * Build and sign a certificate for `pub` per `spec`.  issuer NULL means
 * self-signed (the CA certificate).  *out is the new certificate.
 */
int cm_cert_build(const struct cm_certspec *spec, EVP_PKEY *pub, X509 *issuer, EVP_PKEY *signkey,
                  X509 **out);
/** PEM of a certificate (*pem, *len; free()). */
int cm_cert_pem(X509 *x, char **pem, size_t *len);
/** Parse one PEM certificate from buf[0..len). */
int cm_cert_parse(const char *buf, size_t len, const char *what, X509 **out);
/*
 * A CRL v2 of the index's revoked entries (revocation date; reasonCode unless
 * unspecified, RFC 5280 5.3.1), CRL number `number`, AKI, lastUpdate `now`,
 * nextUpdate now + next_sec, signed by key.  PEM in *pem (free()).
 */
int cm_crl_build(X509 *ca, EVP_PKEY *key, const struct cm_index *idx, uint64_t number, time_t now,
                 time_t next_sec, char **pem, size_t *len);

/** A CSR after every check: what client sign may use from it. */
struct cm_csr {
    X509_REQ *req;
    EVP_PKEY *pub;       /* borrowed from req */
    char *cn;            /* NULL when the subject has no CN; not yet validated as a NAME */
    struct cm_sans sans; /* from its subjectAltName, every entry validated */
    bool has_san;
};

/*
 * Parse a PEM CSR buf[0..len) (at most PC_PEM_MAX_BYTES), check its key type,
 * verify its signature, read its subject CN and, when `want_sans`, its SANs
 * (URI, DNS and email only, each validated; any other kind refuses the CSR).
 * `what` names it in the reason.  Other CSR extensions are ignored, never
 * copied.  PC_ERR_PARSE, PC_ERR_CRYPTO ("CSR signature does not verify"),
 * PC_ERR_INVALID.
 */
int cm_csr_parse(const char *buf, size_t len, const char *what, bool want_sans, struct cm_csr *out);
void cm_csr_clear(struct cm_csr *c);

/* --- files (cm_file.c) ----------------------------------------------------- */

/** Join dir and name into out (cap bytes); PC_ERR_TOO_LARGE when it does not fit. */
int cm_path(char *out, size_t cap, const char *dir, const char *name);
/** pc_file_read() that records the reason. */
int cm_file_read(const char *path, size_t max, char **out, size_t *len);
/** pc_file_write_atomic() that records the reason. */
int cm_file_write(const char *path, const void *data, size_t len, mode_t mode);
/*
 * Write a file that must not exist yet, atomically: mkstemp in the same
 * directory, fchmod(mode), write, fsync, link() to path (fails with
 * PC_ERR_EXISTS when path exists, like O_EXCL), unlink the temporary, fsync
 * the directory.  Readers never see a partial file.  Used for keys.
 */
int cm_file_write_excl(const char *path, const void *data, size_t len, mode_t mode);
/** Read a private key file; refuses one readable or writable by group or others. */
int cm_key_load(const char *path, EVP_PKEY **out);

/* --- the CA directory (cm_ca.c) -------------------------------------------- */

struct cm_ca;

/*
 * ca init: create dir (0700) if missing, lock it, refuse when ca.key exists,
 * write ca.pem, index.json and crl.pem (CRL number 1), then ca.key (0600,
 * never overwritten) as the commit point.  On failure nothing of this run
 * is left behind.
 */
int cm_ca_init(const char *dir, const char *cn, enum cm_key_type kt);

/*
 * Open the CA in dir: take DIR/.lock (exclusive for a read-modify-write,
 * shared to read; waits up to CM_LOCK_TIMEOUT_MS), load and validate the
 * index and, when `need_cert`, ca.pem.  The lock is held until
 * cm_ca_close().  Nothing is changed on failure.
 */
int cm_ca_open(const char *dir, bool exclusive, bool need_cert, struct cm_ca **out);
void cm_ca_close(struct cm_ca *ca);
/** Release the lock early (the index is written; only files outside DIR remain). */
void cm_ca_unlock(struct cm_ca *ca);
struct cm_index *cm_ca_index(struct cm_ca *ca);
X509 *cm_ca_cert(struct cm_ca *ca);
const char *cm_ca_dir(const struct cm_ca *ca);
/** Load ca.key (mode checked, matched against ca.pem).  Free it right after signing. */
int cm_ca_key(struct cm_ca *ca, EVP_PKEY **out);

/*
 * Regenerate the CRL from the index: number = index crl_number + 1 (the
 * index is saved with it first, so a number is never reused), lastUpdate
 * now, nextUpdate now + next_update_sec; written atomically (0644) to
 * out_path, or DIR/crl.pem when NULL.  *number_out gets the number.
 */
int cm_ca_crl(struct cm_ca *ca, const char *out_path, time_t next_update_sec, uint64_t *number_out);

/*
 * Issue: a new certificate for `pub` with a fresh unique serial, signed by the
 * CA, copied to DIR/issued/SERIAL.pem and added to the index (saved), in that
 * order.  *cert_out gets it.  The CA must be open exclusively.
 */
int cm_ca_issue(struct cm_ca *ca, const char *name, const struct cm_sans *sans, time_t not_before,
                time_t not_after, EVP_PKEY *pub, X509 **cert_out, char *serial_out);

/*
 * Revoke the entries at positions which[0..n) (valid ones) with `reason` at
 * `when` and save the index.  The caller then regenerates the CRL.
 */
int cm_ca_revoke(struct cm_ca *ca, const size_t *which, size_t n, int reason, time_t when);

/* --- PKCS#12 (cm_p12.c) ---------------------------------------------------- */

/*
 * The --p12 password: PORTCULLIS_P12_PASSWORD, else asked twice on /dev/tty
 * without echo.  *out is a new string; release with pc_free_secret_str().
 * Fails with the reason when neither is available, empty, or mismatched.
 */
int cm_p12_password(char **out);
/** A PKCS#12 (PBES2 AES-256-CBC, SHA-256 MAC) of key, cert and ca in a new buffer (free()). */
int cm_p12_build(const char *pass, const char *name, EVP_PKEY *key, X509 *cert, X509 *ca,
                 char **der, size_t *len);

/* --- JWKs and signed tokens (cm_jwk.c, cm_token.c) ------------------------ */

#define CM_JWK_THUMB_LEN        43 /* base64url of a SHA-256: RFC 7638 thumbprint, x5t#S256 */
#define CM_TOKEN_MAX_BYTES      (64 * 1024)  /* a token read by token inspect */
#define CM_TOKEN_TTL_DEFAULT    3600         /* token issue --ttl default, seconds */
#define CM_TOKEN_TTL_MAX        (30 * 86400) /* --ttl and |--nbf-offset| ceiling: dev tokens */
#define CM_TOKEN_STR_MAX        1024 /* iss, sub, an aud, a --claim value (authn copies 1024) */
#define CM_TOKEN_KID_MAX        256  /* bytes of a kid: AUTHN_JWT_MAX_KID */
#define CM_TOKEN_CLAIM_NAME_MAX 256  /* bytes of a --claim NAME */
#define CM_TOKEN_MAX_SCOPES     64   /* scopes in one token: AUTHN_JWT_MAX_SCOPES */
#define CM_TOKEN_SCOPE_MAX      4096 /* bytes of --scope */
#define CM_TOKEN_MAX_AUD        16   /* audiences in one token: AUTHN_JWT_MAX_AUD */
#define CM_TOKEN_JTI_BYTES      16   /* random bytes of a jti (base64url: 22 characters) */
#define CM_JWKS_MAX_KEYS        CM_ARGS_MAX_POS /* key files of one jwks run */

/*
 * The JOSE algorithms (a mask of enum pol_alg bits, policy/pol.h) `key` can
 * sign with: RSA 2048..16384 bits: RS256/384/512 and PS256/384/512; EC
 * P-256/P-384/P-521: ES256/ES384/ES512 (its curve's only); Ed25519: EdDSA.
 * 0, with the reason recorded, for any other key (RSA-PSS-restricted keys,
 * Ed448, other curves, small RSA).
 */
unsigned cm_jwk_key_algs(EVP_PKEY *key);
/** The algorithm a key signs with by default: RS256 for RSA, else its only one; 0 as above. */
unsigned cm_jwk_default_alg(EVP_PKEY *key);
/*
 * The public JWK of `key` (private or public) as a new object in *out:
 * {"kty","crv","x","y"} (EC, coordinates padded to the field size),
 * {"kty","n","e"} (RSA) or {"kty":"OKP","crv":"Ed25519","x"}.  Never a
 * private member.  The key must pass cm_jwk_key_algs().
 */
int cm_jwk_public(EVP_PKEY *key, json_t **out);
/*
 * The RFC 7638 thumbprint of a JWK object: base64url(SHA-256) of its
 * required members (RSA: e kty n; EC: crv kty x y; OKP: crv kty x) in
 * lexicographic order without whitespace.  out: CM_JWK_THUMB_LEN + 1 bytes.
 * PC_ERR_INVALID when kty is unknown or a required member is not a string.
 */
int cm_jwk_thumbprint_json(const json_t *jwk, char *out);
/** cm_jwk_thumbprint_json() of cm_jwk_public(key): the default kid. */
int cm_jwk_thumbprint(EVP_PKEY *key, char *out);
/*
 * Read the public key in a PEM file: a SubjectPublicKeyInfo ("PUBLIC KEY"),
 * a private key (only its public half is kept; the file bytes are wiped) or
 * a certificate.  At most PC_PEM_MAX_BYTES.  *out is a public-only key.
 */
int cm_pubkey_load(const char *path, EVP_PKEY **out);
/** RFC 8705 x5t#S256 of a certificate: base64url(SHA-256(DER)); out CM_JWK_THUMB_LEN + 1. */
int cm_cert_x5t(X509 *x, char *out);

/** What token issue puts in a token; strings point into argv. */
struct cm_token_spec {
    const char *iss, *sub;
    const char *const *aud; /* one (a string claim) or several (an array) */
    size_t naud;
    const char *scope;         /* space separated, NULL: no scope claim */
    const char *const *claims; /* "NAME=VALUE" string claims */
    size_t nclaims;
    int64_t now;        /* iat */
    int64_t ttl;        /* exp = now + ttl, 1..CM_TOKEN_TTL_MAX seconds */
    int64_t nbf_offset; /* nbf = now + nbf_offset, may be negative */
};

/** A --ttl: a duration ("90s", "1h", "30d") in whole seconds, 1 s .. CM_TOKEN_TTL_MAX. */
int cm_token_parse_ttl(const char *s, int64_t *out);
/** A --nbf-offset: [+|-]DURATION in whole seconds, at most CM_TOKEN_TTL_MAX either way. */
int cm_token_parse_offset(const char *s, int64_t *out);
/** A kid: 1..CM_TOKEN_KID_MAX bytes of UTF-8 without control characters. */
bool cm_token_kid_is_valid(const char *s);
/*
 * The claims of a new token as a new object (*out): iss, sub, aud, iat,
 * nbf, exp, jti (CM_TOKEN_JTI_BYTES random bytes, base64url), scope (the
 * scope-tokens of RFC 6749 3.3 joined by single spaces) and the --claim
 * strings.  PC_ERR_INVALID, with the reason, for any value the command line
 * got wrong (empty, control bytes, not UTF-8, too long or too many, a
 * --claim without "=" or naming a claim set here, a duplicate, nbf at or
 * after exp); PC_ERR_CRYPTO when there is no randomness.
 */
int cm_token_claims(const struct cm_token_spec *spec, json_t **out);
/** Add cnf {"x5t#S256": x5t} (RFC 8705) to claims, binding the token to a certificate. */
int cm_token_bind(json_t *claims, const char *x5t);
/*
 * Sign claims as a compact JWS with header {"alg","typ":"JWT","kid"}: RS*
 * and ES* with libjwt (which writes ES signatures as JOSE's raw r||s),
 * PS* (salt = hash length) and EdDSA with OpenSSL EVP.  `alg` must be one
 * of cm_jwk_key_algs(key).  The new token is then verified with the key
 * before it is returned (*tok, free()).
 */
int cm_token_sign(EVP_PKEY *key, unsigned alg, const char *kid, json_t *claims, char **tok);

/** A compact JWS taken apart, nothing verified. */
struct cm_jws {
    json_t *header; /* the JOSE header object */
    json_t *claims; /* the payload, a JSON object */
    unsigned char *sig;
    size_t siglen;
    size_t signed_len; /* bytes of "header.payload": the signing input */
};

/*
 * Take tok[0..len) apart without verifying anything: three base64url parts
 * (strict, no padding), the first two JSON objects without duplicate
 * members, "alg" a string.  At most CM_TOKEN_MAX_BYTES.  PC_ERR_PARSE or
 * PC_ERR_TOO_LARGE with the reason ("token: ...").  Release with
 * cm_jws_clear() (also after a failure).
 */
int cm_jws_decode(const char *tok, size_t len, struct cm_jws *out);
void cm_jws_clear(struct cm_jws *j);
/*
 * Verify the signature of tok[0..len) with `pub` for `alg` (the header must
 * name that alg; ES* signatures are raw r||s of the curve's size).
 * PC_ERR_CRYPTO when it does not verify.  For the self-check after signing
 * and for tests: the gateway has its own verifier (authn/).
 */
int cm_jws_verify(const char *tok, size_t len, EVP_PKEY *pub, unsigned alg);

/* --- policy explain (cm_explain.c; docs/internals/EXPLAIN.md) ------------- */

#define CM_XP_MAX_CHECKS 48  /* lines of one explanation; the pipeline makes at most ~32 */
#define CM_XP_TEXT_MAX   512 /* bytes of one line (untrusted text escaped, cut with "...") */

struct authn_crlset;
struct authn_keyset;
struct authn_peer;
struct pol_config;
struct pol_listener;
struct pol_route;

/* The result of one check.  NOTE: a fact, not a test (the rate limit, the assumed SNI). */
enum cm_xp_result { CM_XP_OK, CM_XP_FAIL, CM_XP_SKIP, CM_XP_NOTE };

struct cm_xp_check {
    const char *name; /* "tls.chain", "jwt.exp" (static) */
    enum cm_xp_result result;
    char text[CM_XP_TEXT_MAX];
};

enum cm_xp_decision {
    CM_XP_ALLOW,     /* proxied to the route's upstream */
    CM_XP_DENY_TLS,  /* refused in the TLS handshake: no HTTP status */
    CM_XP_DENY_HTTP, /* answered with a problem+json denial */
};

/*
 * What explain evaluates: everything already loaded, nothing read here.
 * All pointers are borrowed and must outlive the struct cm_explain.
 */
struct cm_explain_in {
    const struct pol_config *cfg;
    const struct pol_listener *listener;    /* the TLS listener whose client_ca/crl apply */
    X509 *cert;                             /* the client certificate */
    STACK_OF(X509) * chain;                 /* certificates sent with it (intermediates) or NULL */
    STACK_OF(X509) * cas;                   /* the listener's client_ca bundle */
    const struct authn_crlset *crl;         /* the listener's crl, NULL without crl: */
    const struct authn_keyset *const *keys; /* per issuer (pol_issuer.index); NULL: jwks_uri */
    const char *token;                      /* the bearer token, NULL: none sent */
    const char *host;                       /* Host / :authority, as sent */
    const char *path;                       /* request target: path and query */
    const char *method;
    int64_t now;    /* unix seconds */
    int auth_level; /* OpenSSL security level of a server SSL_CTX (libssl's verify uses it) */
};

/*
 * One explanation: the checks in the gateway's order and the decision (the
 * first failure, where the gateway stops; later checks are for information).
 */
struct cm_explain {
    struct cm_explain_in in;
    enum cm_xp_decision decision; /* fails closed: deny until the pipeline reached the proxy */
    bool decided;                 /* a failure (or the proxy) decided */
    int status;                   /* HTTP status of a CM_XP_DENY_HTTP; 0 otherwise */
    const char *slug;  /* gw_reason_slug(), or gw_hs_fail_name() of a TLS refusal; "ok" */
    size_t decided_by; /* checks[] index of the deciding failure (denials) */
    char reason[CM_XP_TEXT_MAX];
    char caveat[CM_XP_TEXT_MAX];   /* "" or what explain could not check (jwks_uri signature) */
    char sni[CM_ESC_MAX];          /* the server name assumed: the Host without port ("" if none) */
    const struct pol_route *route; /* the matched route (in.cfg's), or NULL */
    struct authn_peer *peer;       /* owned; NULL when the certificate names no one */
    struct cm_xp_check checks[CM_XP_MAX_CHECKS];
    size_t nchecks;
};

/*
 * Evaluate the request of `in` as the gateway's pipeline would: the TLS
 * handshake's verification, identity, request, certificate state, Host,
 * route, mtls.allow, JWT, rate limit (described, not charged) and upstream.
 * No I/O.  *x is overwritten (release with cm_explain_clear()).  Returns
 * PC_OK, or PC_ERR_CRYPTO with the reason recorded when OpenSSL cannot
 * allocate a verification context.
 */
int cm_explain_eval(const struct cm_explain_in *in, struct cm_explain *x);
void cm_explain_clear(struct cm_explain *x);
/** The explanation for people: one line per check, then "decision: ...". */
void cm_explain_print(FILE *f, const struct cm_explain *x);
/** The same as a new JSON object (--json); NULL only when out of memory. */
json_t *cm_explain_json(const struct cm_explain *x);
/* --- TLS audit (cm_tls_audit*.c; docs/internals/TLS-AUDIT.md) ------------ */

struct pol_tls; /* policy/pol.h */

#define CM_AUDIT_MAX_HANDSHAKES 200   /* handshakes of one audit, every probe included */
#define CM_AUDIT_EXPIRY_DAYS    14    /* a leaf expiring sooner than this is a violation */
#define CM_AUDIT_IO_TIMEOUT_MS  5000  /* TCP connect, and each read or write of a probe */
#define CM_AUDIT_HTTP_MAX_BYTES 16384 /* response head read for Strict-Transport-Security */
#define CM_AUDIT_MAX_CHAIN      10    /* served certificates described (more are ignored) */
#define CM_AUDIT_MAX_SUITES     128   /* TLS 1.2 suites probed; OpenSSL 3.0 has 89 usable */
#define CM_AUDIT_MAX_TLS13      8     /* TLS 1.3 suites probed (RFC 8446 defines 5) */
#define CM_AUDIT_MAX_GROUPS     24    /* groups probed */
#define CM_AUDIT_NAME_MAX       64    /* a suite or group name, with its NUL */
#define CM_AUDIT_TEXT_MAX       512   /* one description: subject, SAN list, a reason */
#define CM_AUDIT_HOST_MAX       253   /* HOST of HOST:PORT and --sni, bytes (RFC 1035) */

/** The protocol versions probed, oldest first. */
enum cm_audit_ver { CM_AUDIT_TLS10, CM_AUDIT_TLS11, CM_AUDIT_TLS12, CM_AUDIT_TLS13, CM_AUDIT_NVER };

/** What the server did with one offer (a version, a suite, a group). */
enum cm_audit_res {
    CM_AUDIT_UNTESTED = 0,
    CM_AUDIT_REFUSED,          /* no ServerHello agreeing to the offer */
    CM_AUDIT_ACCEPTED,         /* the handshake completed */
    CM_AUDIT_ACCEPTED_CERTREQ, /* ServerHello agreed, then refused for want of a client cert */
    CM_AUDIT_ACCEPTED_FAILED,  /* ServerHello agreed, then the handshake failed otherwise */
};

/** Whether r means the server agreed to the offer (any ACCEPTED_*). */
bool cm_audit_res_accepted(enum cm_audit_res r);
/** "TLS 1.0" .. "TLS 1.3". */
const char *cm_audit_ver_name(enum cm_audit_ver v);

struct cm_audit_item {
    char name[CM_AUDIT_NAME_MAX]; /* OpenSSL suite name, or the policy's group name */
    enum cm_audit_res res;        /* the best result over vers */
    unsigned vers;                /* bit (1u << enum cm_audit_ver) per version that accepted it */
};

/** One certificate of the served chain, as shown in the report. */
struct cm_audit_cert {
    char subject[CM_AUDIT_TEXT_MAX]; /* RFC 2253, control bytes escaped */
    char issuer[CM_AUDIT_TEXT_MAX];
    char key[CM_AUDIT_NAME_MAX];  /* "EC P-256", "RSA 2048", "ED25519" */
    char sig[CM_AUDIT_NAME_MAX];  /* signature algorithm */
    char sans[CM_AUDIT_TEXT_MAX]; /* "DNS:a.example, IP:127.0.0.1" (cut with "...") */
    time_t not_before, not_after;
};

/** A Strict-Transport-Security value (RFC 6797 6.1). */
struct cm_audit_hsts {
    bool valid; /* max-age present, no directive twice, syntax right */
    uint64_t max_age;
    bool include_subdomains;
    bool preload;
};

/** Everything an audit observed; filled by cm_audit_probe(), graded by cm_audit_grade(). */
struct cm_audit_obs {
    enum cm_audit_res ver[CM_AUDIT_NVER];
    struct cm_audit_item tls12[CM_AUDIT_MAX_SUITES]; /* every suite probed, with its result */
    size_t ntls12;
    struct cm_audit_item tls13[CM_AUDIT_MAX_TLS13];
    size_t ntls13;
    struct cm_audit_item groups[CM_AUDIT_MAX_GROUPS];
    size_t ngroups;
    bool client_cert;    /* --cert was presented in every handshake */
    bool cert_requested; /* the server sent a CertificateRequest */
    bool cert_required;  /* ... and refused a handshake or request for want of a certificate */
    char negotiated[2 * CM_AUDIT_NAME_MAX]; /* first connection: "TLSv1.3 TLS_AES_256_GCM_SHA384" */
    char first_error[CM_AUDIT_TEXT_MAX];    /* why the first connection failed, or "" */
    struct cm_audit_cert chain[CM_AUDIT_MAX_CHAIN]; /* leaf first, as served */
    size_t nchain;
    char trust[CM_AUDIT_TEXT_MAX]; /* "FILE" of --cafile, or "the system store" */
    bool chain_verified;
    char verify_error[CM_AUDIT_TEXT_MAX];
    char name[CM_AUDIT_HOST_MAX + 1]; /* the name checked: --sni, else HOST */
    bool name_ok;
    bool http_done;                     /* a response head was read */
    int http_status;                    /* its status code */
    char http_error[CM_AUDIT_TEXT_MAX]; /* why not, when !http_done */
    bool hsts_present;                  /* a Strict-Transport-Security header was sent */
    char hsts_raw[CM_AUDIT_TEXT_MAX];   /* its value, escaped */
    struct cm_audit_hsts hsts;          /* parsed (valid false when invalid) */
    unsigned handshakes;                /* TLS handshakes made */
    bool incomplete;                    /* CM_AUDIT_MAX_HANDSHAKES ran out */
};

/** Where an audit connects, and with what. */
struct cm_audit_target {
    char host[CM_AUDIT_HOST_MAX + 1]; /* a DNS name or an IP literal (no brackets) */
    uint16_t port;
    bool host_is_ip;
    const char *sni;    /* --sni; NULL: HOST when it is a name, else no SNI */
    const char *cafile; /* --cafile; NULL: the system store */
    const char *cert;   /* --cert CERT.pem (leaf first, then its chain) or NULL */
    const char *key;    /* --key KEY.pem (mode 0600 or stricter) */
};

/*
 * Parse "HOST:PORT" or "[IPv6]:PORT" into t->host, t->port, t->host_is_ip.
 * HOST: a DNS name (letters, digits, '-', '.', '_'; at most
 * CM_AUDIT_HOST_MAX bytes) or an IP literal; PORT 1..65535.
 * PC_ERR_PARSE with the reason recorded.
 */
int cm_audit_target_parse(const char *arg, struct cm_audit_target *t);

/*
 * Probe the server (docs/internals/TLS-AUDIT.md, "Method"): a first full
 * connection (certificate chain, HSTS), then versions, TLS 1.3 and TLS 1.2
 * suites one at a time, groups one at a time, at most
 * CM_AUDIT_MAX_HANDSHAKES handshakes.  *obs is overwritten.  PC_ERR_IO,
 * with the reason recorded, when HOST does not resolve or a TCP connection
 * fails (nothing listening, timeout); PC_ERR_INVALID when --cert/--key or
 * --cafile cannot be used.  A refused handshake is a result, not an error.
 * Blocking; single threaded; SIGPIPE must be ignored by the caller.
 */
int cm_audit_probe(const struct cm_audit_target *t, struct cm_audit_obs *obs);

/*
 * Describe the chain a server sent (leaf first; at most CM_AUDIT_MAX_CHAIN
 * into obs->chain), verify it against `store` (purpose sslserver, the chain
 * as untrusted intermediates) and check the leaf against obs->name (a DNS
 * name, or an IP SAN when name_is_ip).  Sets obs->nchain, chain_verified,
 * verify_error and name_ok.  leaf_curve (cap bytes) gets the curve of an EC
 * leaf as cm_audit_key_group() names it, else "".  Nothing when chain is
 * NULL or empty.  Clears OpenSSL's error queue.
 */
void cm_audit_chain_check(STACK_OF(X509) * chain, X509_STORE *store, bool name_is_ip,
                          struct cm_audit_obs *obs, char *leaf_curve, size_t cap);
/*
 * Load --cert (a PEM leaf, then its chain) and --key (cm_key_load(): mode
 * 0600 or stricter) and check that they match.  The caller owns *x509,
 * *chain and *pkey on success; all NULL on failure, with the reason.
 */
int cm_audit_client_load(const char *cert, const char *key, X509 **x509, STACK_OF(X509) * *chain,
                         EVP_PKEY **pkey);
/**
 * The group of a key-exchange or certificate key by tls-policy.yaml's names
 * ("X25519", "X448", "P-256"...; other curves and FFDHE groups by OpenSSL's
 * name: "brainpoolP256r1", "ffdhe2048"); "" for a key without a named group.
 */
void cm_audit_key_group(EVP_PKEY *pk, char *out, size_t cap);
/*
 * An HTTP/1.x response head buf[0..len) (ending in CRLF CRLF): sets
 * obs->http_done and http_status, and from the first
 * Strict-Transport-Security header (RFC 6797 8.1) hsts_present, hsts_raw
 * (escaped) and hsts.  Not a status line: http_error is set instead.
 */
void cm_audit_http_head_parse(const char *buf, size_t len, struct cm_audit_obs *obs);

/** Parse a Strict-Transport-Security value v[0..len) (RFC 6797 6.1); out->valid tells. */
void cm_audit_hsts_parse(const char *v, size_t len, struct cm_audit_hsts *out);

/*
 * Whether a TLS 1.2 suite name passes the policy's own rule for ciphers:
 * (policy/pol_tls.c): ECDHE key exchange with an AEAD (GCM or CHACHA20).
 */
bool cm_audit_tls12_suite_ok(const char *name);

/** Report sections, in print order. */
enum cm_audit_sec {
    CM_AUDIT_SEC_PROTO,
    CM_AUDIT_SEC_TLS12,
    CM_AUDIT_SEC_TLS13,
    CM_AUDIT_SEC_GROUPS,
    CM_AUDIT_SEC_CERT,
    CM_AUDIT_SEC_HSTS,
    CM_AUDIT_SEC_AUDIT,
    CM_AUDIT_NSEC,
};

enum cm_audit_mark {
    CM_AUDIT_OK,        /* ✓ */
    CM_AUDIT_VIOLATION, /* ✗ */
    CM_AUDIT_INFO,      /* a detail, no mark */
};

struct cm_audit_finding {
    enum cm_audit_sec sec;
    enum cm_audit_mark mark;
    char *text; /* owned; one line, no newline */
};

struct cm_audit_report {
    struct cm_audit_finding *f; /* owned, in section order */
    size_t n, alloc;
    size_t nviolations;
};

/*
 * Grade what was observed against the policy (the rules are listed in
 * docs/internals/TLS-AUDIT.md, "Grading"), at time `now`.  *out (zeroed by
 * the caller or cleared) gets one finding per line of the report, grouped
 * by section, and the number of violations.  Pure: no I/O.  Release with
 * cm_audit_report_clear().
 */
void cm_audit_grade(const struct pol_tls *pol, const struct cm_audit_obs *obs, time_t now,
                    struct cm_audit_report *out);
void cm_audit_report_clear(struct cm_audit_report *r);
/** "Protocols", "TLS 1.2 cipher suites", ...; "protocols", "tls12", ... with `key`. */
const char *cm_audit_sec_name(enum cm_audit_sec s, bool key);

/* --- the command line (cm_args.c, cm_admin.c, cm_admin_main.c) ------------ */

#define CM_ARGS_MAX_OPTS  16          /* options of one command */
#define CM_ARGS_MAX_POS   16          /* positional arguments of one command (jwks KEY...) */
#define CM_ARGS_MAX_MULTI CM_SANS_MAX /* values of one repeatable option (--dns) */

/** Exit statuses (DESIGN.md): what a command handler returns to main(). */
enum cm_exit {
    CM_EXIT_OK = 0,
    CM_EXIT_FAIL = 1,  /* user-facing failure; the reason is in cm_err_get() */
    CM_EXIT_USAGE = 2, /* bad command line; the reason is in cm_err_get() */
};

enum cm_opt_kind {
    CM_OPT_FLAG,  /* --p12 */
    CM_OPT_VALUE, /* --days N, given at most once */
    CM_OPT_MULTI, /* --dns NAME, repeatable */
};

struct cm_opt {
    const char *name; /* "--days" */
    enum cm_opt_kind kind;
    const char *arg;  /* "N" in the help, NULL for flags */
    const char *help; /* one line */
};

/** A parsed command line: values point into argv. */
struct cm_args {
    const char *pos[CM_ARGS_MAX_POS];
    size_t npos;
    const char *val[CM_ARGS_MAX_OPTS][CM_ARGS_MAX_MULTI];
    size_t nval[CM_ARGS_MAX_OPTS];
    const char *ca_dir; /* --ca-dir, NULL when not given */
    bool help;          /* --help or -h */
    bool version;       /* --version */
};

/*
 * Parse argv[0..argc) against opts[0..nopts) plus the global options --ca-dir
 * DIR, --help/-h and --version, into *a (which may already hold a --ca-dir
 * from before the command: giving it twice is an error).  "--opt VALUE" and
 * "--opt=VALUE"; a value is the next word whatever it looks like, so
 * "--not-before -1d" works; "--" ends the options.  At most max_pos
 * positional words.  With `stop`, parsing ends at the first positional word
 * and *used tells how many words were read.  PC_ERR_PARSE with the reason.
 */
int cm_args_parse(struct cm_args *a, const struct cm_opt *opts, size_t nopts, int argc, char **argv,
                  size_t max_pos, bool stop, int *used);
/** The value of option i (the last one for a repeatable option), or NULL. */
const char *cm_args_get(const struct cm_args *a, size_t i);

/** One subcommand of portcullis-admin: a row of the dispatch table in cm_admin_main.c. */
struct cm_cmd {
    const char *group;    /* "ca", "client"; NULL for a one-word command ("crl") */
    const char *name;     /* "init", "issue", "crl" */
    const char *synopsis; /* after the command words: "NAME [--days N] ..." */
    const char *summary;  /* one line for the command list */
    const char *help;     /* a paragraph for COMMAND --help, or NULL */
    const struct cm_opt *opts;
    size_t nopts;
    size_t min_pos, max_pos;
    enum cm_exit (*run)(const char *ca_dir, const struct cm_args *a);
};

extern const struct cm_cmd cm_cmd_ca_init;
extern const struct cm_cmd cm_cmd_client_issue;
extern const struct cm_cmd cm_cmd_client_sign;
extern const struct cm_cmd cm_cmd_client_list;
extern const struct cm_cmd cm_cmd_client_show;
extern const struct cm_cmd cm_cmd_client_revoke;
extern const struct cm_cmd cm_cmd_crl;
extern const struct cm_cmd cm_cmd_config_check;
extern const struct cm_cmd cm_cmd_reload;
extern const struct cm_cmd cm_cmd_policy_explain;
extern const struct cm_cmd cm_cmd_token_issue;
extern const struct cm_cmd cm_cmd_token_inspect;
extern const struct cm_cmd cm_cmd_token_thumbprint;
extern const struct cm_cmd cm_cmd_jwks;
extern const struct cm_cmd cm_cmd_tls_audit;

#endif
