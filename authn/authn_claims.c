/*
 * The claims of a verified token: read once into an immutable struct
 * authn_claims (one allocation, plus the payload kept for
 * claims_to_headers), and the checks made on every request, cached token
 * or not.  Runs in the worker threads; no lock, no I/O.
 *
 * Reading rules (authn_claims_build):
 * - A claim of the wrong JSON type is treated as absent, so the check that
 *   needs it fails (a numeric "iss" is no issuer, an "aud" array holding a
 *   number is no audience, a non-numeric "exp" is NO_EXP).  Except nbf and
 *   iat: treating a malformed one as absent would loosen the check, so the
 *   token is MALFORMED.
 * - Times may be JSON integers or reals; reals are rounded towards the
 *   stricter side (exp down, nbf and iat up) and everything is clamped to
 *   +-AUTHN_JWT_TIME_MAX so that adding the leeway cannot overflow.
 * - iss, sub, jti, aud and scopes end up in headers and logs: a value above
 *   AUTHN_JWT_MAX_CLAIM bytes or with a control byte makes the token
 *   MALFORMED; so do more than AUTHN_JWT_MAX_AUD audiences or
 *   AUTHN_JWT_MAX_SCOPES scopes, and a scope that is not an RFC 6749
 *   scope-token.  (jansson already refuses \u0000 and invalid UTF-8.)
 * - Scopes come from "scope" when it is a string (RFC 8693 / RFC 9068),
 *   else from "scp" (an array of strings, or a space-separated string).
 *
 * Contracts: authn/authn_jwt.h (public) and authn/authn_jwt_int.h.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "authn/authn_jwt_int.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"

struct span {
    const char *p; /* NULL: absent */
    size_t n;
};

/* What authn_claims_build collects before it allocates. */
struct draft {
    struct span iss, sub, jti, kid, cnf;
    struct span aud[AUTHN_JWT_MAX_AUD];
    size_t naud;
    struct span scope[AUTHN_JWT_MAX_SCOPES];
    size_t nscope;
    size_t scope_str_len;
    int64_t exp, nbf, iat;
};

enum rounding { ROUND_DOWN, ROUND_UP };

/* A string fit for a header: at most `max` bytes, no control byte. */
static enum authn_jwt_err
take_str(const json_t *v, size_t max, struct span *out)
{
    out->p = NULL;
    out->n = 0;
    if (!json_is_string(v))
        return AUTHN_JWT_OK; /* absent, or the wrong type: the same */
    if (json_string_length(v) > max || pc_str_has_ctl(json_string_value(v), json_string_length(v)))
        return AUTHN_JWT_MALFORMED;
    out->p = json_string_value(v);
    out->n = json_string_length(v);
    return AUTHN_JWT_OK;
}

/*
 * A NumericDate (RFC 7519 §2) into *out: INT64_MIN when absent.  Returns
 * false when present but not a number.
 */
static bool
take_time(const json_t *v, enum rounding r, int64_t *out)
{
    double d;

    *out = INT64_MIN;
    if (v == NULL)
        return true;
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        *out = i > AUTHN_JWT_TIME_MAX    ? AUTHN_JWT_TIME_MAX
               : i < -AUTHN_JWT_TIME_MAX ? -AUTHN_JWT_TIME_MAX
                                         : (int64_t)i;
        return true;
    }
    if (!json_is_real(v))
        return false;
    d = r == ROUND_DOWN ? floor(json_real_value(v)) : ceil(json_real_value(v));
    if (d >= (double)AUTHN_JWT_TIME_MAX)
        *out = AUTHN_JWT_TIME_MAX;
    else if (d <= -(double)AUTHN_JWT_TIME_MAX)
        *out = -AUTHN_JWT_TIME_MAX;
    else
        *out = (int64_t)d;
    return true;
}

/* RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) */
static bool
is_scope_token(const char *s, size_t n)
{
    size_t i;

    if (n == 0 || n > AUTHN_JWT_MAX_CLAIM)
        return false;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e || c == '"' || c == '\\')
            return false;
    }
    return true;
}

static enum authn_jwt_err
add_scope(struct draft *d, const char *s, size_t n)
{
    if (!is_scope_token(s, n) || d->nscope == AUTHN_JWT_MAX_SCOPES)
        return AUTHN_JWT_MALFORMED;
    d->scope[d->nscope].p = s;
    d->scope[d->nscope].n = n;
    d->nscope++;
    d->scope_str_len += n + 1;
    return AUTHN_JWT_OK;
}

/* "a b  c": scope-tokens separated by runs of spaces. */
static enum authn_jwt_err
split_scopes(struct draft *d, const char *s, size_t n)
{
    size_t i = 0, start;

    while (i < n) {
        while (i < n && s[i] == ' ')
            i++;
        start = i;
        while (i < n && s[i] != ' ')
            i++;
        if (i > start && add_scope(d, s + start, i - start) != AUTHN_JWT_OK)
            return AUTHN_JWT_MALFORMED;
    }
    return AUTHN_JWT_OK;
}

static enum authn_jwt_err
take_scopes(const json_t *payload, struct draft *d)
{
    const json_t *v = json_object_get(payload, "scope");
    size_t i;

    if (json_is_string(v))
        return split_scopes(d, json_string_value(v), json_string_length(v));
    v = json_object_get(payload, "scp");
    if (json_is_string(v))
        return split_scopes(d, json_string_value(v), json_string_length(v));
    if (!json_is_array(v))
        return AUTHN_JWT_OK;
    for (i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            d->nscope = 0; /* the wrong type: no scopes at all */
            d->scope_str_len = 0;
            return AUTHN_JWT_OK;
        }
        if (add_scope(d, json_string_value(e), json_string_length(e)) != AUTHN_JWT_OK)
            return AUTHN_JWT_MALFORMED;
    }
    return AUTHN_JWT_OK;
}

static enum authn_jwt_err
take_aud(const json_t *payload, struct draft *d)
{
    const json_t *v = json_object_get(payload, "aud");
    size_t i;

    if (json_is_string(v)) {
        d->naud = 1;
        return take_str(v, AUTHN_JWT_MAX_CLAIM, &d->aud[0]);
    }
    if (!json_is_array(v))
        return AUTHN_JWT_OK;
    if (json_array_size(v) > AUTHN_JWT_MAX_AUD)
        return AUTHN_JWT_MALFORMED;
    for (i = 0; i < json_array_size(v); i++) {
        const json_t *e = json_array_get(v, i);
        if (!json_is_string(e)) {
            d->naud = 0; /* the wrong type: no audience at all */
            return AUTHN_JWT_OK;
        }
        if (take_str(e, AUTHN_JWT_MAX_CLAIM, &d->aud[i]) != AUTHN_JWT_OK)
            return AUTHN_JWT_MALFORMED;
        d->naud = i + 1;
    }
    return AUTHN_JWT_OK;
}

static enum authn_jwt_err
read_draft(const json_t *payload, struct draft *d)
{
    const json_t *cnf;

    if (take_str(json_object_get(payload, "iss"), AUTHN_JWT_MAX_CLAIM, &d->iss) != 0 ||
        take_str(json_object_get(payload, "sub"), AUTHN_JWT_MAX_CLAIM, &d->sub) != 0 ||
        take_str(json_object_get(payload, "jti"), AUTHN_JWT_MAX_CLAIM, &d->jti) != 0)
        return AUTHN_JWT_MALFORMED;
    cnf = json_object_get(payload, "cnf");
    if (json_is_object(cnf) &&
        take_str(json_object_get(cnf, "x5t#S256"), AUTHN_JWT_MAX_X5T, &d->cnf) != 0)
        return AUTHN_JWT_MALFORMED;
    if (take_aud(payload, d) != AUTHN_JWT_OK || take_scopes(payload, d) != AUTHN_JWT_OK)
        return AUTHN_JWT_MALFORMED;
    if (!take_time(json_object_get(payload, "exp"), ROUND_DOWN, &d->exp))
        d->exp = INT64_MIN; /* not a number: reported as NO_EXP by the check */
    if (!take_time(json_object_get(payload, "nbf"), ROUND_UP, &d->nbf) ||
        !take_time(json_object_get(payload, "iat"), ROUND_UP, &d->iat))
        return AUTHN_JWT_MALFORMED;
    return AUTHN_JWT_OK;
}

/* Copy span s into the string area at *pos; NULL stays NULL. */
static char *
put(char **pos, struct span s)
{
    char *r = *pos;

    if (s.p == NULL)
        return NULL;
    memcpy(r, s.p, s.n);
    r[s.n] = '\0';
    *pos += s.n + 1;
    return r;
}

static size_t
span_size(struct span s)
{
    return s.p == NULL ? 0 : s.n + 1;
}

enum authn_jwt_err
authn_claims_build(json_t *payload, const char *kid, size_t kid_len, unsigned alg,
                   const unsigned char key_sha256[32], struct authn_claims **out)
{
    struct draft d;
    struct authn_claims *c;
    size_t i, size;
    char *pos;

    *out = NULL;
    memset(&d, 0, sizeof(d));
    d.kid.p = kid;
    d.kid.n = kid_len;
    if (read_draft(payload, &d) != AUTHN_JWT_OK) {
        json_decref(payload);
        return AUTHN_JWT_MALFORMED;
    }
    /*
     * One block: the struct, the two pointer arrays, then the strings.
     * Every length is bounded by the token cap, so nothing here overflows.
     */
    size = sizeof(*c) + (d.naud + d.nscope) * sizeof(char *) + span_size(d.iss) + span_size(d.sub) +
           span_size(d.jti) + span_size(d.kid) + span_size(d.cnf) + d.scope_str_len + 1;
    for (i = 0; i < d.naud; i++)
        size += span_size(d.aud[i]);
    for (i = 0; i < d.nscope; i++)
        size += span_size(d.scope[i]);
    c = pc_xcalloc(1, size);
    c->aud = (char **)(c + 1);
    c->scopes = c->aud + d.naud;
    pos = (char *)(c->scopes + d.nscope);
    c->iss = put(&pos, d.iss);
    c->sub = put(&pos, d.sub);
    c->jti = put(&pos, d.jti);
    c->kid = put(&pos, d.kid);
    c->cnf_x5t = put(&pos, d.cnf);
    for (i = 0; i < d.naud; i++)
        c->aud[i] = put(&pos, d.aud[i]);
    c->naud = d.naud;
    for (i = 0; i < d.nscope; i++)
        c->scopes[i] = put(&pos, d.scope[i]);
    c->nscopes = d.nscope;
    c->scope_str = pos;
    for (i = 0; i < d.nscope; i++) {
        memcpy(pos, d.scope[i].p, d.scope[i].n);
        pos += d.scope[i].n;
        *pos++ = i + 1 < d.nscope ? ' ' : '\0';
    }
    *pos = '\0';
    c->exp = d.exp;
    c->nbf = d.nbf;
    c->iat = d.iat;
    c->alg = alg;
    memcpy(c->key_sha256, key_sha256, 32);
    c->payload = payload;
    *out = c;
    return AUTHN_JWT_OK;
}

void
authn_claims_free(struct authn_claims *c)
{
    if (c == NULL)
        return;
    json_decref(c->payload);
    free(c);
}

static bool
has(char *const *list, size_t n, const char *s)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (strcmp(list[i], s) == 0)
            return true;
    return false;
}

/*
 * In addition to the contract in authn_jwt.h, the order of the checks,
 * which decides the reason when several fail:
 * 1. iss, then aud: a token meant for another issuer or service stays
 *    wrong after any refresh, so that is the reason worth telling;
 * 2. exp (required), nbf, iat: the token's lifetime (a refresh fixes it);
 * 3. the certificate binding: a token presented by the wrong client is
 *    invalid for that client (401), whatever its scopes;
 * 4. scopes last: AUTHN_JWT_SCOPE is the only 403 (RFC 6750 §3.1:
 *    insufficient_scope), reported only for a token that is otherwise
 *    valid for this caller.
 * Missing arguments (NULL claims, issuer or route) deny with ISSUER.
 */
enum authn_jwt_err
authn_claims_check(const struct authn_claims *c, const struct pol_issuer *issuer,
                   const struct pol_jwt *route, int64_t now, const char *x5t, const char **missing)
{
    int64_t leeway;
    size_t i, n;

    if (missing != NULL)
        *missing = NULL;
    if (c == NULL || issuer == NULL || issuer->issuer == NULL || route == NULL)
        return AUTHN_JWT_ISSUER;
    /* the leeway is at most 5 minutes (policy) and the times are clamped */
    leeway = (int64_t)(issuer->leeway_ms > 300000 ? 300 : issuer->leeway_ms / 1000);
    if (c->iss == NULL || strcmp(c->iss, issuer->issuer) != 0)
        return AUTHN_JWT_ISSUER;
    if (route->audience == NULL || !has(c->aud, c->naud, route->audience))
        return AUTHN_JWT_AUDIENCE;
    if (c->exp == INT64_MIN)
        return AUTHN_JWT_NO_EXP;
    if (now >= c->exp + leeway)
        return AUTHN_JWT_EXPIRED;
    if (c->nbf != INT64_MIN && c->nbf - leeway > now)
        return AUTHN_JWT_NOT_YET_VALID;
    if (c->iat != INT64_MIN && c->iat - leeway > now)
        return AUTHN_JWT_IAT_FUTURE;
    if (route->bind_to_client_cert) {
        if (x5t == NULL || c->cnf_x5t == NULL)
            return AUTHN_JWT_BINDING;
        n = strlen(x5t);
        if (n != strlen(c->cnf_x5t) || CRYPTO_memcmp(x5t, c->cnf_x5t, n) != 0)
            return AUTHN_JWT_BINDING;
    }
    for (i = 0; i < route->nscopes; i++) {
        if (!has(c->scopes, c->nscopes, route->scopes[i])) {
            if (missing != NULL)
                *missing = route->scopes[i];
            return AUTHN_JWT_SCOPE;
        }
    }
    return AUTHN_JWT_OK;
}
