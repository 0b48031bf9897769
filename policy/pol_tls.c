/*
 * tls-policy.yaml: the TLS profile, cipher lists, groups, HSTS and session
 * ticket rotation shared by the gateway (its SSL_CTX), certmgr and
 * `portcullis-admin tls audit`.  Lists are checked against what we accept
 * and joined with ':' for OpenSSL, so nothing a file says can smuggle in
 * an OpenSSL cipher-string operator ("!", "+", "ALL", "@SECLEVEL").
 *
 * Contracts of the functions defined here: policy/pol.h (public) and policy/internal.h.
 */
#include <stdlib.h>
#include <string.h>

#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/internal.h"

#define TLS_HSTS_MAX_AGE_MAX 315360000 /* ten years, seconds */
#define TLS_PRELOAD_MIN_AGE  31536000  /* one year: the preload list's own rule */
#define TLS_ROTATE_DEFAULT   43200000  /* stateless ticket key rotation when asked for: 12h */
#define TLS_TICKETS_DEFAULT  1         /* TLS 1.3 tickets per full handshake */
#define TLS_TICKETS_MAX      4
#define TLS_ROTATE_MIN       60000     /* 1m */
#define TLS_ROTATE_MAX       604800000 /* 7d */
#define TLS_CIPHER_NAME_MAX  64        /* one OpenSSL cipher name */
#define TLS_LIST_BYTES_MAX   4096      /* a joined list */

void
pol_tls_default(struct pol_tls *t)
{
    memset(t, 0, sizeof(*t));
    t->profile = POL_TLS_INTERMEDIATE;
    t->groups = pc_xstrdup("X25519:P-256:P-384");
    t->ticket_rotate_ms = 0; /* default: the session cache, no stateless tickets */
    t->ticket_count = TLS_TICKETS_DEFAULT;
}

void
pol_tls_clear(struct pol_tls *t)
{
    if (t == NULL)
        return;
    free(t->path);
    free(t->ciphersuites);
    free(t->ciphers);
    free(t->groups);
    memset(t, 0, sizeof(*t));
}

/* A TLS 1.2 cipher we accept: an OpenSSL name with ECDHE and an AEAD. */
static int
check_cipher(struct pol_ctx *ctx, const struct pol_node *n)
{
    char desc[POL_DESC_MAX];
    const char *s;
    size_t i;

    if (pol_node_text(ctx, n, "an OpenSSL cipher name", &s) != PC_OK)
        return PC_ERR_INVALID;
    for (i = 0; i < n->len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            break;
    }
    if (i != n->len || n->len > TLS_CIPHER_NAME_MAX) {
        pol_err(ctx, n, "expected an OpenSSL cipher name (letters, digits, '-', '_'), got %s",
                pol_node_desc(n, desc, sizeof(desc)));
        return PC_ERR_INVALID;
    }
    if (strstr(s, "ECDHE") == NULL || (strstr(s, "GCM") == NULL && strstr(s, "CHACHA20") == NULL)) {
        pol_err(ctx, n,
                "cipher %s is refused: only ECDHE key exchange with an AEAD (GCM or "
                "CHACHA20) is allowed",
                pol_node_desc(n, desc, sizeof(desc)));
        return PC_ERR_INVALID;
    }
    return PC_OK;
}

/*
 * map[key]: a non-empty sequence of names, each one of `allowed` (or, with
 * allowed NULL, passing check_cipher), no repeats; joined with ':'.
 */
static void
parse_list(struct pol_ctx *ctx, const struct pol_node *map, const char *key,
           const char *const *allowed, char **out)
{
    const struct pol_node *seq = pol_map_get(map, key);
    struct pc_buf b;
    size_t saved, i, j;
    unsigned idx;
    bool ok = true;

    if (seq == NULL)
        return;
    pc_buf_init(&b, TLS_LIST_BYTES_MAX);
    saved = pol_kp_key(ctx, key);
    if (!pol_expect(ctx, seq, POL_NODE_SEQ))
        goto out;
    if (seq->nkids == 0 || seq->nkids > PC_CONF_MAX_LIST) {
        pol_err(ctx, seq, "expected 1 to %d names (omit %s: for the default), got %zu",
                PC_CONF_MAX_LIST, key, seq->nkids);
        goto out;
    }
    for (i = 0; i < seq->nkids; i++) {
        const struct pol_node *n = seq->kids[i];
        size_t s2 = pol_kp_idx(ctx, i);
        int rc = allowed != NULL ? pol_node_enum(ctx, n, allowed, &idx) : check_cipher(ctx, n);
        for (j = 0; rc == PC_OK && j < i; j++) {
            if (seq->kids[j]->kind == POL_NODE_SCALAR && strcmp(seq->kids[j]->str, n->str) == 0) {
                pol_err(ctx, n, "\"%s\" is listed twice", n->str);
                rc = PC_ERR_INVALID;
            }
        }
        if (rc == PC_OK && ((i != 0 && pc_buf_addc(&b, ':') != PC_OK) ||
                            pc_buf_add(&b, n->str, n->len) != PC_OK)) {
            pol_err(ctx, n, "the list is longer than %d bytes", TLS_LIST_BYTES_MAX);
            rc = PC_ERR_INVALID;
        }
        ok = ok && rc == PC_OK;
        pol_kp_pop(ctx, s2);
    }
    if (ok)
        *out = pc_buf_take(&b, NULL);
out:
    pc_buf_clear(&b);
    pol_kp_pop(ctx, saved);
}

static void
parse_hsts(struct pol_ctx *ctx, const struct pol_node *root, struct pol_tls *t)
{
    static const char *const keys[] = {"max_age", "include_subdomains", "preload", NULL};
    const struct pol_node *v = pol_map_get(root, "hsts");
    size_t saved, s2;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "hsts");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    if (pol_map_get(v, "max_age") == NULL)
        pol_err_missing(ctx, v, "max_age");
    pol_get_u64(ctx, v, "max_age", 0, TLS_HSTS_MAX_AGE_MAX, &t->hsts_max_age);
    pol_get_bool(ctx, v, "include_subdomains", &t->hsts_include_subdomains);
    if (pol_get_bool(ctx, v, "preload", &t->hsts_preload) == PC_OK && t->hsts_preload &&
        (t->hsts_max_age < TLS_PRELOAD_MIN_AGE || !t->hsts_include_subdomains)) {
        s2 = pol_kp_key(ctx, "preload");
        pol_err(ctx, pol_map_get(v, "preload"),
                "preload requires max_age of at least %d (one year) and include_subdomains: "
                "true",
                TLS_PRELOAD_MIN_AGE);
        pol_kp_pop(ctx, s2);
    }
out:
    pol_kp_pop(ctx, saved);
}

static void
parse_tickets(struct pol_ctx *ctx, const struct pol_node *root, struct pol_tls *t)
{
    static const char *const keys[] = {"rotate", "count", NULL};
    const struct pol_node *v = pol_map_get(root, "session_tickets");
    uint64_t count = TLS_TICKETS_DEFAULT;
    char desc[POL_DESC_MAX];
    size_t saved;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "session_tickets");
    if (v->kind == POL_NODE_SCALAR &&
        (strcmp(v->str, "off") == 0 || strcmp(v->str, "false") == 0)) {
        t->ticket_rotate_ms = 0;
    } else if (v->kind == POL_NODE_MAP) {
        pol_check_keys(ctx, v, keys);
        t->ticket_rotate_ms = TLS_ROTATE_DEFAULT;
        pol_get_duration(ctx, v, "rotate", TLS_ROTATE_MIN, TLS_ROTATE_MAX, &t->ticket_rotate_ms);
        pol_get_u64(ctx, v, "count", 1, TLS_TICKETS_MAX, &count);
        t->ticket_count = (unsigned)count;
    } else {
        pol_err(ctx, v, "expected a mapping with rotate: or off, got %s",
                pol_node_desc(v, desc, sizeof(desc)));
    }
    pol_kp_pop(ctx, saved);
}

void
pol_tls_parse(struct pol_ctx *ctx, const struct pol_node *root, struct pol_tls *t)
{
    static const char *const keys[] = {"profile", "ciphersuites",    "ciphers", "groups",
                                       "hsts",    "session_tickets", NULL};
    static const char *const profiles[] = {"modern", "intermediate", NULL};
    static const char *const suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                         "TLS_CHACHA20_POLY1305_SHA256", NULL};
    static const char *const groups[] = {"X25519", "X448", "P-256", "P-384", "P-521", NULL};
    const struct pol_node *v;
    unsigned p;

    /* a file states the whole policy: what it omits is OpenSSL's default */
    pol_tls_clear(t);
    t->profile = POL_TLS_INTERMEDIATE;
    t->ticket_rotate_ms = 0; /* default: the session cache, no stateless tickets */
    t->ticket_count = TLS_TICKETS_DEFAULT;
    if (!pol_expect(ctx, root, POL_NODE_MAP))
        return;
    pol_check_keys(ctx, root, keys);
    if (pol_map_get(root, "profile") == NULL)
        pol_err_missing(ctx, root, "profile");
    /* the enum order is the order of profiles[] */
    if (pol_get_enum(ctx, root, "profile", profiles, &p) == PC_OK)
        t->profile = p == 0 ? POL_TLS_MODERN : POL_TLS_INTERMEDIATE;
    parse_list(ctx, root, "ciphersuites", suites, &t->ciphersuites);
    v = pol_map_get(root, "ciphers");
    if (v != NULL && t->profile == POL_TLS_MODERN) {
        size_t saved = pol_kp_key(ctx, "ciphers");
        pol_err(ctx, v,
                "ciphers: applies to profile: intermediate only (modern is TLS 1.3 "
                "only: use ciphersuites:)");
        pol_kp_pop(ctx, saved);
    } else {
        parse_list(ctx, root, "ciphers", NULL, &t->ciphers);
    }
    parse_list(ctx, root, "groups", groups, &t->groups);
    parse_hsts(ctx, root, t);
    parse_tickets(ctx, root, t);
}

/* Parse buf as the tls-policy file `file` into *t (replaced only on success). */
static int
tls_from_buf(struct pol_ctx *ctx, const char *file, const char *buf, size_t len, struct pol_tls *t)
{
    struct pol_node *root = NULL;
    struct pol_tls tmp;
    size_t before = ctx->nerr;
    char kp[POL_KEYPATH_MAX];
    size_t kplen = ctx->kplen;
    int rc;

    memset(&tmp, 0, sizeof(tmp));
    memcpy(kp, ctx->kp, sizeof(kp));
    pol_kp_pop(ctx, 0); /* key paths restart in the other file */
    rc = pol_yaml_parse(ctx, file, buf, len, &root);
    if (rc != PC_OK)
        goto out;
    if (root == NULL)
        pol_err_at(ctx, file, 1, 1, "the file is empty; expected a mapping with profile:");
    else
        pol_tls_parse(ctx, root, &tmp);
    if (ctx->nerr != before) {
        rc = PC_ERR_INVALID;
        goto out;
    }
    pol_tls_clear(t);
    *t = tmp;
    memset(&tmp, 0, sizeof(tmp));
out:
    memcpy(ctx->kp, kp, sizeof(kp));
    ctx->kplen = kplen;
    pol_tls_clear(&tmp);
    pol_node_free(root);
    return rc;
}

int
pol_tls_read(struct pol_ctx *ctx, const char *path, const struct pol_node *at, struct pol_tls *t)
{
    char why[POL_WHY_MAX];
    char *buf = NULL;
    size_t len = 0;
    int rc;

    rc = pol_file_read(path, &buf, &len, why, sizeof(why));
    if (rc != PC_OK) {
        if (at != NULL)
            pol_err(ctx, at, "cannot read %s: %s", path, why);
        else
            pol_errf(ctx, "%s: %s", path, why);
        return rc == PC_ERR_TOO_LARGE ? PC_ERR_TOO_LARGE : PC_ERR_IO;
    }
    rc = tls_from_buf(ctx, pol_ctx_intern(ctx, path), buf, len, t);
    if (rc == PC_OK)
        t->path = pc_xstrdup(path);
    free(buf);
    return rc;
}

int
pol_tls_load(const char *path, struct pol_tls *out, struct pol_errors *errs)
{
    struct pol_ctx ctx;
    int rc;

    pol_ctx_init(&ctx, errs);
    memset(out, 0, sizeof(*out));
    rc = pol_tls_read(&ctx, path, NULL, out);
    if (rc != PC_OK)
        pol_tls_clear(out);
    pol_ctx_clear(&ctx);
    return rc;
}

int
pol_tls_load_mem(const char *name, const char *buf, size_t len, struct pol_tls *out,
                 struct pol_errors *errs)
{
    struct pol_ctx ctx;
    int rc;

    pol_ctx_init(&ctx, errs);
    memset(out, 0, sizeof(*out));
    rc = tls_from_buf(&ctx, pol_ctx_intern(&ctx, name), buf, len, out);
    if (rc != PC_OK)
        pol_tls_clear(out);
    pol_ctx_clear(&ctx);
    return rc;
}
