/*
 * Strict readers of what the ACME server sends: the directory, orders,
 * authorizations with their challenges, problem documents and RFC 9773
 * renewalInfo, plus RFC 3339 times.  Every member we use is checked for its
 * JSON type, its cap (cm_acme.h) and its allowed values before anything is
 * copied; members we do not use are ignored.  See cm_acme.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/pc_b64.h"
#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "cm_acme.h"

#define ACME_ERR_PREFIX "urn:ietf:params:acme:error:"
#define ACME_TYPE_MAX   32 /* a challenge type name ("dns-01") */

static const char *const status_names[] = {
    [CM_ST_PENDING] = "pending", [CM_ST_READY] = "ready",     [CM_ST_PROCESSING] = "processing",
    [CM_ST_VALID] = "valid",     [CM_ST_INVALID] = "invalid", [CM_ST_DEACTIVATED] = "deactivated",
    [CM_ST_EXPIRED] = "expired", [CM_ST_REVOKED] = "revoked",
};

/* Which statuses each object may have (RFC 8555 7.1.6). */
#define ST_BIT(s) (1u << (s))
#define ORDER_STATES                                                                               \
    (ST_BIT(CM_ST_PENDING) | ST_BIT(CM_ST_READY) | ST_BIT(CM_ST_PROCESSING) |                      \
     ST_BIT(CM_ST_VALID) | ST_BIT(CM_ST_INVALID))
#define AUTHZ_STATES                                                                               \
    (ST_BIT(CM_ST_PENDING) | ST_BIT(CM_ST_VALID) | ST_BIT(CM_ST_INVALID) |                         \
     ST_BIT(CM_ST_DEACTIVATED) | ST_BIT(CM_ST_EXPIRED) | ST_BIT(CM_ST_REVOKED))
#define CHALL_STATES                                                                               \
    (ST_BIT(CM_ST_PENDING) | ST_BIT(CM_ST_PROCESSING) | ST_BIT(CM_ST_VALID) | ST_BIT(CM_ST_INVALID))

const char *
cm_acme_status_name(enum cm_acme_status st)
{
    return (unsigned)st < sizeof(status_names) / sizeof(status_names[0]) ? status_names[st] : "?";
}

static void seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
seterr(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

bool
cm_acme_url_ok(const char *s, size_t len)
{
    static const char pfx[] = "https://";

    return len > sizeof(pfx) - 1 && len <= CM_ACME_URL_MAX &&
           memcmp(s, pfx, sizeof(pfx) - 1) == 0 && s[sizeof(pfx) - 1] != '/' &&
           pc_str_is_token(s, len);
}

/* A DNS identifier as the CA writes it: LDH labels, '_', an optional leading "*." */
static bool
ident_ok(const char *s, size_t n, bool allow_wild)
{
    size_t i;

    if (allow_wild && n > 2 && s[0] == '*' && s[1] == '.') {
        s += 2;
        n -= 2;
    }
    if (n == 0 || n > CM_ACME_IDENT_MAX || s[0] == '.' || s[n - 1] == '.')
        return false;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.'))
            return false;
        if (c == '.' && s[i + 1] == '.')
            return false;
    }
    return true;
}

/* Parse a whole body as one JSON object. */
static json_t *
load_object(const char *buf, size_t len, const char *what, int *rc, char *err, size_t errlen)
{
    json_error_t je;
    json_t *o;

    if (len > CM_ACME_JSON_MAX_BYTES) {
        seterr(err, errlen, "%s: %zu bytes, more than %d", what, len, CM_ACME_JSON_MAX_BYTES);
        *rc = PC_ERR_TOO_LARGE;
        return NULL;
    }
    o = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (o == NULL || !json_is_object(o)) {
        seterr(err, errlen, "%s: not a JSON object%s%s", what, o == NULL ? ": " : "",
               o == NULL ? je.text : "");
        json_decref(o);
        *rc = PC_ERR_PARSE;
        return NULL;
    }
    *rc = PC_OK;
    return o;
}

/* o[key] as a string of at most max bytes; NOT_FOUND when absent and not required. */
static int
get_str(const json_t *o, const char *key, bool required, size_t max, const char **out,
        size_t *outlen, const char *what, char *err, size_t errlen)
{
    const json_t *v = json_object_get(o, key);

    if (v == NULL) {
        if (required)
            seterr(err, errlen, "%s: \"%s\" is missing", what, key);
        return required ? PC_ERR_INVALID : PC_ERR_NOT_FOUND;
    }
    if (!json_is_string(v)) {
        seterr(err, errlen, "%s: \"%s\" is not a string", what, key);
        return PC_ERR_INVALID;
    }
    if (json_string_length(v) > max) {
        seterr(err, errlen, "%s: \"%s\" is longer than %zu bytes", what, key, max);
        return PC_ERR_TOO_LARGE;
    }
    *out = json_string_value(v);
    *outlen = json_string_length(v);
    return PC_OK;
}

/* o[key] as an https:// URL, copied. */
static int
get_url(const json_t *o, const char *key, bool required, char **out, const char *what, char *err,
        size_t errlen)
{
    const char *s;
    size_t n;
    int rc = get_str(o, key, required, CM_ACME_URL_MAX, &s, &n, what, err, errlen);

    if (rc != PC_OK)
        return rc;
    if (!cm_acme_url_ok(s, n)) {
        seterr(err, errlen, "%s: \"%s\" is not an https:// URL", what, key);
        return PC_ERR_INVALID;
    }
    *out = pc_xstrndup(s, n);
    return PC_OK;
}

static int
get_status(const json_t *o, unsigned allowed, enum cm_acme_status *out, const char *what, char *err,
           size_t errlen)
{
    char esc[64];
    const char *s;
    size_t n, i;
    int rc = get_str(o, "status", true, 32, &s, &n, what, err, errlen);

    if (rc != PC_OK)
        return rc;
    for (i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++) {
        if ((allowed & ST_BIT(i)) != 0 && strlen(status_names[i]) == n &&
            memcmp(status_names[i], s, n) == 0) {
            *out = (enum cm_acme_status)i;
            return PC_OK;
        }
    }
    seterr(err, errlen, "%s: unexpected status \"%s\"", what, pc_log_esc(esc, sizeof(esc), s, n));
    return PC_ERR_INVALID;
}

/* --- problems ------------------------------------------------------------------ */

/* Copy s[0..n) into dst (cap+1 bytes), cut at cap. */
static void
copy_cut(char *dst, size_t cap, const char *s, size_t n)
{
    if (n > cap)
        n = cap;
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void
problem_fields(const json_t *o, char *type, char *detail, long *status)
{
    const json_t *t = json_object_get(o, "type"), *d = json_object_get(o, "detail");
    const json_t *s = json_object_get(o, "status");

    if (json_is_string(t))
        copy_cut(type, CM_ACME_PROBLEM_TYPE_MAX, json_string_value(t), json_string_length(t));
    if (json_is_string(d))
        copy_cut(detail, CM_ACME_PROBLEM_DETAIL_MAX, json_string_value(d), json_string_length(d));
    if (status != NULL && json_is_integer(s) && json_integer_value(s) >= 100 &&
        json_integer_value(s) <= 599)
        *status = (long)json_integer_value(s);
}

static void
problem_from(const json_t *o, struct cm_acme_problem *p)
{
    const json_t *subs = json_object_get(o, "subproblems");
    size_t i;

    memset(p, 0, sizeof(*p));
    problem_fields(o, p->type, p->detail, &p->status);
    for (i = 0; json_is_array(subs) && i < json_array_size(subs); i++) {
        const json_t *s = json_array_get(subs, i), *id;
        if (!json_is_object(s) || p->nsub == CM_ACME_MAX_SUBPROBLEMS)
            continue;
        problem_fields(s, p->sub[p->nsub].type, p->sub[p->nsub].detail, NULL);
        id = json_object_get(json_object_get(s, "identifier"), "value");
        if (json_is_string(id))
            copy_cut(p->sub[p->nsub].ident, CM_ACME_IDENT_MAX, json_string_value(id),
                     json_string_length(id));
        p->nsub++;
    }
}

int
cm_acme_problem_parse(const char *buf, size_t len, struct cm_acme_problem *p)
{
    char err[8];
    int rc;
    json_t *o = load_object(buf, len, "problem", &rc, err, sizeof(err));

    memset(p, 0, sizeof(*p));
    if (o == NULL)
        return rc;
    problem_from(o, p);
    json_decref(o);
    return PC_OK;
}

bool
cm_acme_problem_is(const struct cm_acme_problem *p, const char *short_type)
{
    size_t n = sizeof(ACME_ERR_PREFIX) - 1;

    return strncmp(p->type, ACME_ERR_PREFIX, n) == 0 && strcmp(p->type + n, short_type) == 0;
}

void
cm_acme_problem_log(int level, const char *what, const struct cm_acme_problem *p)
{
    char t[CM_ACME_PROBLEM_TYPE_MAX * 4 + 8], d[CM_ACME_PROBLEM_DETAIL_MAX * 4 + 8];
    char id[CM_ACME_IDENT_MAX * 4 + 8];
    size_t i;

    pc_log_esc(t, sizeof(t), p->type, strlen(p->type));
    pc_log_esc(d, sizeof(d), p->detail, strlen(p->detail));
    if (p->status != 0)
        pc_log(level, "%s: problem %s: %s (status %ld)", what, t[0] != '\0' ? t : "(no type)", d,
               p->status);
    else
        pc_log(level, "%s: problem %s: %s", what, t[0] != '\0' ? t : "(no type)", d);
    for (i = 0; i < p->nsub; i++) {
        pc_log_esc(t, sizeof(t), p->sub[i].type, strlen(p->sub[i].type));
        pc_log_esc(d, sizeof(d), p->sub[i].detail, strlen(p->sub[i].detail));
        pc_log_esc(id, sizeof(id), p->sub[i].ident, strlen(p->sub[i].ident));
        pc_log(level, "%s:   subproblem %s%s%s: %s", what, id, id[0] != '\0' ? ": " : "", t, d);
    }
}

/* --- directory ------------------------------------------------------------------ */

void
cm_acme_dir_clear(struct cm_acme_dir *d)
{
    free(d->new_nonce);
    free(d->new_account);
    free(d->new_order);
    free(d->renewal_info);
    free(d->revoke_cert);
    free(d->key_change);
    free(d->terms);
    memset(d, 0, sizeof(*d));
}

int
cm_acme_dir_parse(const char *buf, size_t len, struct cm_acme_dir *out, char *err, size_t errlen)
{
    const json_t *meta, *v;
    const char *s;
    size_t n;
    int rc;
    json_t *o = load_object(buf, len, "directory", &rc, err, errlen);

    memset(out, 0, sizeof(*out));
    if (o == NULL)
        return rc;
    rc = get_url(o, "newNonce", true, &out->new_nonce, "directory", err, errlen);
    if (rc == PC_OK)
        rc = get_url(o, "newAccount", true, &out->new_account, "directory", err, errlen);
    if (rc == PC_OK)
        rc = get_url(o, "newOrder", true, &out->new_order, "directory", err, errlen);
    if (rc != PC_OK)
        goto out;
    rc = get_url(o, "renewalInfo", false, &out->renewal_info, "directory", err, errlen);
    if (rc == PC_OK || rc == PC_ERR_NOT_FOUND)
        rc = get_url(o, "revokeCert", false, &out->revoke_cert, "directory", err, errlen);
    if (rc == PC_OK || rc == PC_ERR_NOT_FOUND)
        rc = get_url(o, "keyChange", false, &out->key_change, "directory", err, errlen);
    if (rc != PC_OK && rc != PC_ERR_NOT_FOUND)
        goto out;
    rc = PC_OK;
    meta = json_object_get(o, "meta");
    if (meta != NULL && !json_is_object(meta)) {
        seterr(err, errlen, "directory: \"meta\" is not an object");
        rc = PC_ERR_INVALID;
        goto out;
    }
    v = json_object_get(meta, "externalAccountRequired");
    if (v != NULL && !json_is_boolean(v)) {
        seterr(err, errlen, "directory: \"meta.externalAccountRequired\" is not a boolean");
        rc = PC_ERR_INVALID;
        goto out;
    }
    out->eab_required = json_is_true(v);
    /* data: URLs (pebble) are fine here: the terms are only logged */
    if (get_str(meta, "termsOfService", false, CM_ACME_URL_MAX, &s, &n, "directory", err, errlen) ==
            PC_OK &&
        pc_str_is_token(s, n))
        out->terms = pc_xstrndup(s, n);
out:
    if (rc != PC_OK)
        cm_acme_dir_clear(out);
    json_decref(o);
    return rc;
}

/* --- orders --------------------------------------------------------------------- */

void
cm_acme_order_clear(struct cm_acme_order *o)
{
    size_t i;

    for (i = 0; i < o->nauthz; i++)
        free(o->authz[i]);
    free(o->authz);
    for (i = 0; i < o->nidents; i++)
        free(o->idents[i]);
    free(o->idents);
    free(o->finalize);
    free(o->certificate);
    free(o->error);
    memset(o, 0, sizeof(*o));
}

static int
order_idents(const json_t *o, struct cm_acme_order *out, char *err, size_t errlen)
{
    const json_t *a = json_object_get(o, "identifiers");
    size_t i;

    if (!json_is_array(a) || json_array_size(a) == 0 || json_array_size(a) > CM_ACME_MAX_AUTHZ) {
        seterr(err, errlen, "order: \"identifiers\" is not an array of 1 to %d", CM_ACME_MAX_AUTHZ);
        return PC_ERR_INVALID;
    }
    out->idents = pc_xcalloc(json_array_size(a), sizeof(*out->idents));
    for (i = 0; i < json_array_size(a); i++) {
        const json_t *id = json_array_get(a, i);
        const char *t, *v;
        size_t tl, vl;
        if (!json_is_object(id) ||
            get_str(id, "type", true, 16, &t, &tl, "order identifier", err, errlen) != PC_OK ||
            get_str(id, "value", true, CM_ACME_IDENT_MAX + 2, &v, &vl, "order identifier", err,
                    errlen) != PC_OK ||
            tl != 3 || memcmp(t, "dns", 3) != 0 || !ident_ok(v, vl, true)) {
            seterr(err, errlen, "order: identifier %zu is not a dns name", i);
            return PC_ERR_INVALID;
        }
        out->idents[out->nidents++] = pc_xstrndup(v, vl);
    }
    return PC_OK;
}

int
cm_acme_order_parse(const char *buf, size_t len, struct cm_acme_order *out, char *err,
                    size_t errlen)
{
    const json_t *a, *e;
    size_t i;
    int rc;
    json_t *o = load_object(buf, len, "order", &rc, err, errlen);

    memset(out, 0, sizeof(*out));
    if (o == NULL)
        return rc;
    rc = get_status(o, ORDER_STATES, &out->status, "order", err, errlen);
    if (rc == PC_OK)
        rc = order_idents(o, out, err, errlen);
    if (rc == PC_OK)
        rc = get_url(o, "finalize", true, &out->finalize, "order", err, errlen);
    if (rc != PC_OK)
        goto out;
    rc = get_url(o, "certificate", false, &out->certificate, "order", err, errlen);
    if (rc != PC_OK && rc != PC_ERR_NOT_FOUND)
        goto out;
    a = json_object_get(o, "authorizations");
    if (!json_is_array(a) || json_array_size(a) > CM_ACME_MAX_AUTHZ) {
        seterr(err, errlen, "order: \"authorizations\" is not an array of at most %d",
               CM_ACME_MAX_AUTHZ);
        rc = PC_ERR_INVALID;
        goto out;
    }
    out->authz = pc_xcalloc(json_array_size(a) + 1, sizeof(*out->authz));
    for (i = 0; i < json_array_size(a); i++) {
        const json_t *u = json_array_get(a, i);
        if (!json_is_string(u) || !cm_acme_url_ok(json_string_value(u), json_string_length(u))) {
            seterr(err, errlen, "order: authorization %zu is not an https:// URL", i);
            rc = PC_ERR_INVALID;
            goto out;
        }
        out->authz[out->nauthz++] = pc_xstrndup(json_string_value(u), json_string_length(u));
    }
    e = json_object_get(o, "error");
    if (json_is_object(e)) {
        out->error = pc_xcalloc(1, sizeof(*out->error));
        problem_from(e, out->error);
        out->has_error = true;
    }
    if (out->status == CM_ST_VALID && out->certificate == NULL) {
        seterr(err, errlen, "order: valid without a \"certificate\" URL");
        rc = PC_ERR_INVALID;
        goto out;
    }
    rc = PC_OK;
out:
    if (rc != PC_OK)
        cm_acme_order_clear(out);
    json_decref(o);
    return rc;
}

/* --- authorizations ----------------------------------------------------------------- */

void
cm_acme_authz_clear(struct cm_acme_authz *a)
{
    size_t i;

    free(a->ident);
    for (i = 0; i < a->nch; i++) {
        free(a->ch[i].type);
        free(a->ch[i].url);
        free(a->ch[i].token);
        free(a->ch[i].error);
    }
    free(a->ch);
    memset(a, 0, sizeof(*a));
}

static int
parse_chall(const json_t *c, struct cm_acme_chall *ch, char *err, size_t errlen)
{
    const json_t *e;
    const char *s;
    size_t n;
    int rc;

    if (!json_is_object(c)) {
        seterr(err, errlen, "challenge: not an object");
        return PC_ERR_INVALID;
    }
    rc = get_str(c, "type", true, ACME_TYPE_MAX, &s, &n, "challenge", err, errlen);
    if (rc != PC_OK)
        return rc;
    if (!pc_str_is_token(s, n)) {
        seterr(err, errlen, "challenge: \"type\" has unexpected characters");
        return PC_ERR_INVALID;
    }
    ch->type = pc_xstrndup(s, n);
    rc = get_url(c, "url", true, &ch->url, "challenge", err, errlen);
    if (rc == PC_OK)
        rc = get_status(c, CHALL_STATES, &ch->status, "challenge", err, errlen);
    if (rc != PC_OK)
        return rc;
    rc = get_str(c, "token", false, CM_ACME_TOKEN_MAX, &s, &n, "challenge", err, errlen);
    if (rc == PC_OK && !pc_b64url_is_text(s, n)) {
        seterr(err, errlen, "challenge: \"token\" is not base64url");
        return PC_ERR_INVALID;
    }
    if (rc == PC_OK)
        ch->token = pc_xstrndup(s, n);
    else if (rc != PC_ERR_NOT_FOUND)
        return rc;
    if ((strcmp(ch->type, "dns-01") == 0 || strcmp(ch->type, "http-01") == 0) &&
        ch->token == NULL) {
        seterr(err, errlen, "challenge: %s without a token", ch->type);
        return PC_ERR_INVALID;
    }
    e = json_object_get(c, "error");
    if (json_is_object(e)) {
        ch->error = pc_xcalloc(1, sizeof(*ch->error));
        problem_from(e, ch->error);
    }
    return PC_OK;
}

int
cm_acme_authz_parse(const char *buf, size_t len, struct cm_acme_authz *out, char *err,
                    size_t errlen)
{
    const json_t *id, *w, *a;
    const char *t, *v;
    size_t tl, vl, i;
    int rc;
    json_t *o = load_object(buf, len, "authorization", &rc, err, errlen);

    memset(out, 0, sizeof(*out));
    if (o == NULL)
        return rc;
    rc = get_status(o, AUTHZ_STATES, &out->status, "authorization", err, errlen);
    if (rc != PC_OK)
        goto out;
    id = json_object_get(o, "identifier");
    if (!json_is_object(id) ||
        get_str(id, "type", true, 16, &t, &tl, "authorization", err, errlen) != PC_OK ||
        get_str(id, "value", true, CM_ACME_IDENT_MAX, &v, &vl, "authorization", err, errlen) !=
            PC_OK ||
        tl != 3 || memcmp(t, "dns", 3) != 0 || !ident_ok(v, vl, false)) {
        seterr(err, errlen, "authorization: \"identifier\" is not a dns name");
        rc = PC_ERR_INVALID;
        goto out;
    }
    out->ident = pc_xstrndup(v, vl);
    w = json_object_get(o, "wildcard");
    if (w != NULL && !json_is_boolean(w)) {
        seterr(err, errlen, "authorization: \"wildcard\" is not a boolean");
        rc = PC_ERR_INVALID;
        goto out;
    }
    out->wildcard = json_is_true(w);
    a = json_object_get(o, "challenges");
    if (!json_is_array(a) || json_array_size(a) > CM_ACME_MAX_CHALLENGES) {
        seterr(err, errlen, "authorization: \"challenges\" is not an array of at most %d",
               CM_ACME_MAX_CHALLENGES);
        rc = PC_ERR_INVALID;
        goto out;
    }
    out->ch = pc_xcalloc(json_array_size(a) + 1, sizeof(*out->ch));
    for (i = 0; i < json_array_size(a); i++) {
        /* counted first, so a failure frees what this challenge already holds */
        out->nch++;
        rc = parse_chall(json_array_get(a, i), &out->ch[i], err, errlen);
        if (rc != PC_OK)
            goto out;
    }
    rc = PC_OK;
out:
    if (rc != PC_OK)
        cm_acme_authz_clear(out);
    json_decref(o);
    return rc;
}

/* --- times and renewalInfo ------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static bool
digits(const char *s, size_t n, unsigned *out)
{
    size_t i;

    *out = 0;
    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        *out = *out * 10 + (unsigned)(s[i] - '0');
    }
    return true;
}

int
cm_acme_time_parse(const char *s, size_t len, int64_t *out)
{
    static const unsigned mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    unsigned y, mo, d, h, mi, sec, oh = 0, om = 0;
    size_t i = 19;
    int64_t t, off = 0;

    /* YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm) */
    if (len < 20 || len > 64 || !digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return PC_ERR_PARSE;
    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 ||
        sec > 60 || (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))))
        return PC_ERR_PARSE;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == start)
            return PC_ERR_PARSE;
    }
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && digits(s + i + 1, 2, &oh) &&
               s[i + 3] == ':' && digits(s + i + 4, 2, &om) && oh <= 23 && om <= 59) {
        off = (int64_t)(oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else {
        return PC_ERR_PARSE;
    }
    if (i != len)
        return PC_ERR_PARSE;
    t = days_from_civil(y, mo, d) * 86400 + (int64_t)(h * 3600 + mi * 60 + (sec == 60 ? 59 : sec));
    *out = t - off;
    return PC_OK;
}

void
cm_acme_ari_clear(struct cm_acme_ari *a)
{
    free(a->explanation);
    memset(a, 0, sizeof(*a));
}

int
cm_acme_ari_parse(const char *buf, size_t len, struct cm_acme_ari *out, char *err, size_t errlen)
{
    const json_t *w;
    const char *s;
    size_t n;
    int rc;
    json_t *o = load_object(buf, len, "renewalInfo", &rc, err, errlen);

    memset(out, 0, sizeof(*out));
    if (o == NULL)
        return rc;
    w = json_object_get(o, "suggestedWindow");
    rc = PC_ERR_INVALID;
    if (!json_is_object(w)) {
        seterr(err, errlen, "renewalInfo: \"suggestedWindow\" is not an object");
        goto out;
    }
    if (get_str(w, "start", true, 64, &s, &n, "renewalInfo", err, errlen) != PC_OK ||
        cm_acme_time_parse(s, n, &out->start) != PC_OK ||
        get_str(w, "end", true, 64, &s, &n, "renewalInfo", err, errlen) != PC_OK ||
        cm_acme_time_parse(s, n, &out->end) != PC_OK) {
        seterr(err, errlen, "renewalInfo: the window needs RFC 3339 \"start\" and \"end\"");
        goto out;
    }
    if (out->end <= out->start) {
        seterr(err, errlen, "renewalInfo: the window ends before it starts");
        goto out;
    }
    if (get_str(o, "explanationURL", false, CM_ACME_URL_MAX, &s, &n, "renewalInfo", err, errlen) ==
            PC_OK &&
        pc_str_is_token(s, n))
        out->explanation = pc_xstrndup(s, n);
    rc = PC_OK;
out:
    if (rc != PC_OK)
        cm_acme_ari_clear(out);
    json_decref(o);
    return rc;
}
