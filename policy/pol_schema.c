/*
 * The load context shared by every schema file: the error list
 * ("file:line:col: key.path: message"), the key path, interned file names,
 * and the checked conversions of scalars (strings, booleans, integers,
 * durations, sizes, enums, paths) with messages that say what was
 * expected and what was found.
 *
 * Contracts of the functions defined here: policy/pol.h (public) and policy/internal.h.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_file.h"
#include "common/pc_log.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/internal.h"

#define POL_MSG_MAX 1024 /* one error message; longer ones are cut */

void
pol_errors_clear(struct pol_errors *e)
{
    size_t i;

    if (e == NULL)
        return;
    for (i = 0; i < e->n && i < sizeof(e->msg) / sizeof(e->msg[0]); i++)
        free(e->msg[i]);
    memset(e, 0, sizeof(*e));
}

void
pol_errors_log(struct pol_errors *e)
{
    size_t i;

    for (i = 0; i < e->n && i < sizeof(e->msg) / sizeof(e->msg[0]); i++)
        pc_log(LOG_ERR, "%s", e->msg[i]);
    if (e->dropped != 0)
        pc_log(LOG_ERR, "... and %zu more error(s)", e->dropped);
    pol_errors_clear(e);
}

void
pol_ctx_init(struct pol_ctx *ctx, struct pol_errors *errs)
{
    memset(ctx, 0, sizeof(*ctx));
    ctx->errs = errs;
    if (errs != NULL)
        memset(errs, 0, sizeof(*errs));
}

void
pol_ctx_clear(struct pol_ctx *ctx)
{
    size_t i;

    for (i = 0; i < ctx->nfiles; i++)
        free(ctx->files[i]);
    free(ctx->files);
    free(ctx->rmeta);
    ctx->files = NULL;
    ctx->nfiles = 0;
    ctx->rmeta = NULL;
}

const char *
pol_ctx_intern(struct pol_ctx *ctx, const char *name)
{
    size_t i;

    for (i = 0; i < ctx->nfiles; i++)
        if (strcmp(ctx->files[i], name) == 0)
            return ctx->files[i];
    /* bounded by PC_CONF_MAX_FILES plus the main and tls-policy files */
    ctx->files = pc_xreallocarray(ctx->files, ctx->nfiles + 1, sizeof(*ctx->files));
    ctx->files[ctx->nfiles] = pc_xstrdup(name);
    return ctx->files[ctx->nfiles++];
}

static void
add_msg(struct pol_ctx *ctx, const char *msg)
{
    ctx->nerr++;
    if (ctx->errs == NULL)
        return;
    if (ctx->errs->n >= PC_CONF_MAX_ERRORS ||
        ctx->errs->n >= sizeof(ctx->errs->msg) / sizeof(ctx->errs->msg[0])) {
        ctx->errs->dropped++;
        return;
    }
    ctx->errs->msg[ctx->errs->n++] = pc_xstrdup(msg);
}

void
pol_errf(struct pol_ctx *ctx, const char *fmt, ...)
{
    char msg[POL_MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    add_msg(ctx, msg);
}

static void
err_posv(struct pol_ctx *ctx, const char *file, unsigned line, unsigned col, const char *kp,
         const char *fmt, va_list ap)
{
    char body[POL_MSG_MAX], msg[POL_MSG_MAX + 2 * POL_KEYPATH_MAX];

    vsnprintf(body, sizeof(body), fmt, ap);
    if (kp != NULL && kp[0] != '\0')
        snprintf(msg, sizeof(msg), "%s:%u:%u: %s: %s", file, line, col, kp, body);
    else
        snprintf(msg, sizeof(msg), "%s:%u:%u: %s", file, line, col, body);
    add_msg(ctx, msg);
}

void
pol_err_at(struct pol_ctx *ctx, const char *file, unsigned line, unsigned col, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_posv(ctx, file, line, col, NULL, fmt, ap);
    va_end(ap);
}

void
pol_err(struct pol_ctx *ctx, const struct pol_node *at, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    err_posv(ctx, at->file, at->line, at->col, ctx->kp, fmt, ap);
    va_end(ap);
}

/* --- key path ---------------------------------------------------------------- */

size_t
pol_kp_key(struct pol_ctx *ctx, const char *key)
{
    size_t saved = ctx->kplen, room = sizeof(ctx->kp) - ctx->kplen;
    char esc[POL_KEYPATH_MAX / 2];
    int n;

    pc_log_esc(esc, sizeof(esc), key, strlen(key));
    n = snprintf(ctx->kp + ctx->kplen, room, "%s%s", ctx->kplen == 0 ? "" : ".", esc);
    ctx->kplen = n < 0 || (size_t)n >= room ? sizeof(ctx->kp) - 1 : ctx->kplen + (size_t)n;
    return saved;
}

size_t
pol_kp_idx(struct pol_ctx *ctx, size_t i)
{
    size_t saved = ctx->kplen, room = sizeof(ctx->kp) - ctx->kplen;
    int n = snprintf(ctx->kp + ctx->kplen, room, "[%zu]", i);

    ctx->kplen = n < 0 || (size_t)n >= room ? sizeof(ctx->kp) - 1 : ctx->kplen + (size_t)n;
    return saved;
}

void
pol_kp_pop(struct pol_ctx *ctx, size_t saved)
{
    ctx->kplen = saved;
    ctx->kp[saved] = '\0';
}

/* --- describing values -------------------------------------------------------- */

bool
pol_node_is_null(const struct pol_node *n)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    size_t i;

    if (n->kind != POL_NODE_SCALAR || n->quoted)
        return false;
    for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (strcmp(n->str, nulls[i]) == 0)
            return true;
    return false;
}

const char *
pol_node_desc(const struct pol_node *n, char *buf, size_t size)
{
    size_t l;

    if (n->kind == POL_NODE_MAP)
        return "a mapping";
    if (n->kind == POL_NODE_SEQ)
        return "a sequence";
    if (pol_node_is_null(n))
        return "null";
    if (size < 8)
        return "a value";
    buf[0] = '"';
    pc_log_esc(buf + 1, size - 2, n->str, n->len);
    l = strlen(buf);
    buf[l] = '"';
    buf[l + 1] = '\0';
    return buf;
}

const char *
pol_fmt_size(uint64_t v, char *buf, size_t size)
{
    if (v != 0 && v % (1024 * 1024 * 1024) == 0)
        snprintf(buf, size, "%llug", (unsigned long long)(v >> 30));
    else if (v != 0 && v % (1024 * 1024) == 0)
        snprintf(buf, size, "%llum", (unsigned long long)(v >> 20));
    else if (v != 0 && v % 1024 == 0)
        snprintf(buf, size, "%lluk", (unsigned long long)(v >> 10));
    else
        snprintf(buf, size, "%llu", (unsigned long long)v);
    return buf;
}

const char *
pol_fmt_ms(uint64_t ms, char *buf, size_t size)
{
    static const struct {
        uint64_t ms;
        const char *unit;
    } units[] = {{86400000, "d"}, {3600000, "h"}, {60000, "m"}, {1000, "s"}};
    size_t i;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (ms != 0 && ms % units[i].ms == 0) {
            snprintf(buf, size, "%llu%s", (unsigned long long)(ms / units[i].ms), units[i].unit);
            return buf;
        }
    }
    snprintf(buf, size, "%llums", (unsigned long long)ms);
    return buf;
}

/* --- mappings ------------------------------------------------------------------ */

const struct pol_node *
pol_map_get(const struct pol_node *map, const char *key)
{
    size_t i, klen = strlen(key);

    if (map == NULL || map->kind != POL_NODE_MAP)
        return NULL;
    for (i = 0; i < POL_MAP_PAIRS(map); i++) {
        const struct pol_node *k = POL_MAP_KEY(map, i);
        if (k->len == klen && memcmp(k->str, key, klen) == 0)
            return POL_MAP_VAL(map, i);
    }
    return NULL;
}

bool
pol_check_keys(struct pol_ctx *ctx, const struct pol_node *map, const char *const *allowed)
{
    char list[POL_MSG_MAX / 2], desc[POL_DESC_MAX];
    size_t i, j, off = 0;
    bool ok = true;

    list[0] = '\0';
    for (j = 0; allowed[j] != NULL; j++) {
        int n = snprintf(list + off, sizeof(list) - off, "%s%s", j == 0 ? "" : ", ", allowed[j]);
        if (n < 0 || (size_t)n >= sizeof(list) - off)
            break;
        off += (size_t)n;
    }
    for (i = 0; i < POL_MAP_PAIRS(map); i++) {
        const struct pol_node *k = POL_MAP_KEY(map, i);
        bool known = false;
        for (j = 0; allowed[j] != NULL && !known; j++)
            known = strlen(allowed[j]) == k->len && memcmp(allowed[j], k->str, k->len) == 0;
        if (known)
            continue;
        pol_err(ctx, k, "unknown key %s; expected one of: %s", pol_node_desc(k, desc, sizeof(desc)),
                list);
        ok = false;
    }
    return ok;
}

bool
pol_expect(struct pol_ctx *ctx, const struct pol_node *n, enum pol_node_kind kind)
{
    char desc[POL_DESC_MAX];

    if (n->kind == kind)
        return true;
    pol_err(ctx, n, "expected %s, got %s", kind == POL_NODE_MAP ? "a mapping" : "a sequence",
            pol_node_desc(n, desc, sizeof(desc)));
    return false;
}

void
pol_err_missing(struct pol_ctx *ctx, const struct pol_node *map, const char *key)
{
    pol_err(ctx, map, "missing required key \"%s\"", key);
}

/* --- scalars ------------------------------------------------------------------- */

int
pol_node_text(struct pol_ctx *ctx, const struct pol_node *n, const char *what, const char **out)
{
    char desc[POL_DESC_MAX];

    if (n->kind != POL_NODE_SCALAR || pol_node_is_null(n) || n->len == 0) {
        pol_err(ctx, n, "expected %s, got %s", what,
                n->kind == POL_NODE_SCALAR && n->quoted && n->len == 0
                    ? "an empty string"
                    : pol_node_desc(n, desc, sizeof(desc)));
        return PC_ERR_INVALID;
    }
    if (pc_str_has_ctl(n->str, n->len)) {
        pol_err(ctx, n, "expected %s, got %s with a control character", what,
                pol_node_desc(n, desc, sizeof(desc)));
        return PC_ERR_INVALID;
    }
    *out = n->str;
    return PC_OK;
}

int
pol_node_bool(struct pol_ctx *ctx, const struct pol_node *n, bool *out)
{
    char desc[POL_DESC_MAX];

    if (n->kind == POL_NODE_SCALAR && strcmp(n->str, "true") == 0) {
        *out = true;
        return PC_OK;
    }
    if (n->kind == POL_NODE_SCALAR && strcmp(n->str, "false") == 0) {
        *out = false;
        return PC_OK;
    }
    pol_err(ctx, n, "expected true or false, got %s", pol_node_desc(n, desc, sizeof(desc)));
    return PC_ERR_INVALID;
}

int
pol_node_u64(struct pol_ctx *ctx, const struct pol_node *n, uint64_t min, uint64_t max,
             uint64_t *out)
{
    char desc[POL_DESC_MAX];
    uint64_t v;

    if (n->kind != POL_NODE_SCALAR || pc_parse_u64(n->str, n->len, max, &v) != PC_OK || v < min) {
        pol_err(ctx, n, "expected an integer in %llu..%llu, got %s", (unsigned long long)min,
                (unsigned long long)max, pol_node_desc(n, desc, sizeof(desc)));
        return PC_ERR_INVALID;
    }
    if (n->len > 1 && n->str[0] == '0') {
        /* YAML 1.1 reads 010 as octal 8, YAML 1.2 as 10: refuse the ambiguity */
        pol_err(ctx, n, "expected an integer without leading zeros, got %s",
                pol_node_desc(n, desc, sizeof(desc)));
        return PC_ERR_INVALID;
    }
    *out = v;
    return PC_OK;
}

int
pol_node_duration(struct pol_ctx *ctx, const struct pol_node *n, uint64_t min, uint64_t max,
                  uint64_t *out)
{
    char desc[POL_DESC_MAX], lo[32], hi[32];
    uint64_t v;

    if (n->kind != POL_NODE_SCALAR || pc_parse_duration_ms(n->str, n->len, &v) != PC_OK ||
        v < min || v > max) {
        pol_err(ctx, n, "expected a duration from %s to %s (a number and ms, s, m, h or d), got %s",
                pol_fmt_ms(min, lo, sizeof(lo)), pol_fmt_ms(max, hi, sizeof(hi)),
                pol_node_desc(n, desc, sizeof(desc)));
        return PC_ERR_INVALID;
    }
    *out = v;
    return PC_OK;
}

int
pol_node_size(struct pol_ctx *ctx, const struct pol_node *n, uint64_t min, uint64_t max,
              uint64_t *out)
{
    char desc[POL_DESC_MAX], lo[32], hi[32];
    uint64_t v;

    if (n->kind != POL_NODE_SCALAR || pc_parse_size(n->str, n->len, &v) != PC_OK || v < min ||
        v > max) {
        pol_err(ctx, n, "expected a size from %s to %s (bytes, or a number and k, m or g), got %s",
                pol_fmt_size(min, lo, sizeof(lo)), pol_fmt_size(max, hi, sizeof(hi)),
                pol_node_desc(n, desc, sizeof(desc)));
        return PC_ERR_INVALID;
    }
    *out = v;
    return PC_OK;
}

int
pol_node_enum(struct pol_ctx *ctx, const struct pol_node *n, const char *const *names,
              unsigned *out)
{
    char list[POL_MSG_MAX / 2], desc[POL_DESC_MAX];
    size_t off = 0;
    unsigned i;

    list[0] = '\0';
    for (i = 0; names[i] != NULL; i++) {
        int w;
        if (n->kind == POL_NODE_SCALAR && strcmp(n->str, names[i]) == 0) {
            *out = i;
            return PC_OK;
        }
        w = snprintf(list + off, sizeof(list) - off, "%s%s", i == 0 ? "" : ", ", names[i]);
        if (w > 0 && (size_t)w < sizeof(list) - off)
            off += (size_t)w;
    }
    pol_err(ctx, n, "expected one of %s, got %s", list, pol_node_desc(n, desc, sizeof(desc)));
    return PC_ERR_INVALID;
}

int
pol_node_path(struct pol_ctx *ctx, const struct pol_node *n, char **out)
{
    const char *s;
    size_t dl;
    char *p;

    if (pol_node_text(ctx, n, "a file path", &s) != PC_OK)
        return PC_ERR_INVALID;
    if (s[0] == '/') {
        *out = pc_xstrndup(s, n->len);
        return PC_OK;
    }
    dl = ctx->dir != NULL ? strlen(ctx->dir) : 0;
    if (dl + 1 + n->len >= PATH_MAX) {
        pol_err(ctx, n, "the path is longer than %d bytes once made absolute", PATH_MAX - 1);
        return PC_ERR_INVALID;
    }
    if (n->len >= 2 && s[0] == '.' && s[1] == '/') {
        s += 2; /* "./x" -> "dir/x" */
    }
    if (dl != 0 && ctx->dir[dl - 1] == '/')
        dl--; /* the directory "/" */
    p = pc_xmalloc(dl + 1 + strlen(s) + 1);
    if (dl != 0)
        memcpy(p, ctx->dir, dl);
    p[dl] = '/';
    memcpy(p + dl + 1, s, strlen(s) + 1);
    *out = p;
    return PC_OK;
}

/* --- map[key] wrappers ----------------------------------------------------------- */

/* Find map[key] and push it on the key path; NOT_FOUND (reported if required). */
static int
field(struct pol_ctx *ctx, const struct pol_node *map, const char *key, bool required,
      const struct pol_node **v, size_t *saved)
{
    *v = pol_map_get(map, key);
    if (*v == NULL) {
        if (required)
            pol_err_missing(ctx, map, key);
        return PC_ERR_NOT_FOUND;
    }
    *saved = pol_kp_key(ctx, key);
    return PC_OK;
}

int
pol_get_str(struct pol_ctx *ctx, const struct pol_node *map, const char *key, bool required,
            const char *what, char **out)
{
    const struct pol_node *v;
    const char *s;
    size_t saved;
    int rc = field(ctx, map, key, required, &v, &saved);

    if (rc != PC_OK)
        return rc;
    rc = pol_node_text(ctx, v, what, &s);
    if (rc == PC_OK)
        *out = pc_xstrndup(s, v->len);
    pol_kp_pop(ctx, saved);
    return rc;
}

int
pol_get_path(struct pol_ctx *ctx, const struct pol_node *map, const char *key, bool required,
             char **out)
{
    const struct pol_node *v;
    size_t saved;
    int rc = field(ctx, map, key, required, &v, &saved);

    if (rc != PC_OK)
        return rc;
    rc = pol_node_path(ctx, v, out);
    pol_kp_pop(ctx, saved);
    return rc;
}

int
pol_get_bool(struct pol_ctx *ctx, const struct pol_node *map, const char *key, bool *out)
{
    const struct pol_node *v;
    size_t saved;
    int rc = field(ctx, map, key, false, &v, &saved);

    if (rc != PC_OK)
        return rc;
    rc = pol_node_bool(ctx, v, out);
    pol_kp_pop(ctx, saved);
    return rc;
}

int
pol_get_u64(struct pol_ctx *ctx, const struct pol_node *map, const char *key, uint64_t min,
            uint64_t max, uint64_t *out)
{
    const struct pol_node *v;
    size_t saved;
    int rc = field(ctx, map, key, false, &v, &saved);

    if (rc != PC_OK)
        return rc;
    rc = pol_node_u64(ctx, v, min, max, out);
    pol_kp_pop(ctx, saved);
    return rc;
}

int
pol_get_duration(struct pol_ctx *ctx, const struct pol_node *map, const char *key, uint64_t min,
                 uint64_t max, uint64_t *out)
{
    const struct pol_node *v;
    size_t saved;
    int rc = field(ctx, map, key, false, &v, &saved);

    if (rc != PC_OK)
        return rc;
    rc = pol_node_duration(ctx, v, min, max, out);
    pol_kp_pop(ctx, saved);
    return rc;
}

int
pol_get_size(struct pol_ctx *ctx, const struct pol_node *map, const char *key, uint64_t min,
             uint64_t max, uint64_t *out)
{
    const struct pol_node *v;
    size_t saved;
    int rc = field(ctx, map, key, false, &v, &saved);

    if (rc != PC_OK)
        return rc;
    rc = pol_node_size(ctx, v, min, max, out);
    pol_kp_pop(ctx, saved);
    return rc;
}

int
pol_get_enum(struct pol_ctx *ctx, const struct pol_node *map, const char *key,
             const char *const *names, unsigned *out)
{
    const struct pol_node *v;
    size_t saved;
    int rc = field(ctx, map, key, false, &v, &saved);

    if (rc != PC_OK)
        return rc;
    rc = pol_node_enum(ctx, v, names, out);
    pol_kp_pop(ctx, saved);
    return rc;
}

void
pol_str_lower(char *s)
{
    for (; *s != '\0'; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s + 32);
}

/* --- names and addresses ------------------------------------------------------------ */

/* The names routes and issuers may have: [A-Za-z0-9._-]{1,64}. */
bool
pol_name_ok(const char *s, size_t len)
{
    size_t i;

    if (len == 0 || len > PC_CONF_MAX_NAME)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

bool
pol_dns_name_ok(const char *s, size_t len)
{
    size_t i, label = 0;

    if (len == 0 || len > 253)
        return false;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
        if (c == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    return label != 0 && s[len - 1] != '-';
}

const char *
pol_hostport_parse(const char *s, size_t len, struct pol_hostport *hp)
{
    const char *rest;
    size_t restlen;
    uint64_t port;

    memset(hp, 0, sizeof(*hp));
    if (len == 0)
        return "the host is empty";
    if (s[0] == '[') {
        const char *end = memchr(s, ']', len);
        if (end == NULL)
            return "'[' without ']' around the IPv6 address";
        hp->host = s + 1;
        hp->hostlen = (size_t)(end - s) - 1;
        hp->v6 = true;
        rest = end + 1;
        restlen = len - (size_t)(rest - s);
        if (hp->hostlen == 0)
            return "the host is empty";
    } else {
        const char *colon = memchr(s, ':', len);
        hp->host = s;
        hp->hostlen = colon != NULL ? (size_t)(colon - s) : len;
        rest = s + hp->hostlen;
        restlen = len - hp->hostlen;
        if (colon != NULL && memchr(colon + 1, ':', len - hp->hostlen - 1) != NULL)
            return "an IPv6 address must be written in brackets: [::1]:port";
        if (hp->hostlen == 0)
            return "the host is empty";
    }
    if (restlen == 0)
        return NULL;
    if (rest[0] != ':')
        return "unexpected characters after the host";
    if (pc_parse_u64(rest + 1, restlen - 1, 65535, &port) != PC_OK || port == 0)
        return "the port must be a number from 1 to 65535";
    hp->has_port = true;
    hp->port = (uint16_t)port;
    return NULL;
}

int
pol_file_read(const char *path, char **buf, size_t *len, char *why, size_t whylen)
{
    char ebuf[128];
    int rc, saved;

    errno = 0;
    rc = pc_file_read(path, PC_CONF_MAX_BYTES, buf, len);
    saved = errno;
    switch (rc) {
    case PC_OK:
        why[0] = '\0';
        break;
    case PC_ERR_TOO_LARGE:
        snprintf(why, whylen, "larger than the limit of %d bytes", PC_CONF_MAX_BYTES);
        break;
    case PC_ERR_INVALID:
        snprintf(why, whylen, "not a regular file");
        break;
    default:
        snprintf(why, whylen, "%s",
                 saved != 0 ? strerror_r(saved, ebuf, sizeof(ebuf)) : "cannot be read");
        break;
    }
    return rc;
}
