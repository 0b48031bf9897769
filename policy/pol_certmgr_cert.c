/*
 * certmgr.yaml, certificates: each name, its domains (wildcards need
 * dns-01), key type and challenge, and the challenge providers: the exec
 * hook, RFC 2136 with its TSIG key (read here from a file nobody else may
 * read, wiped when freed), the http-01 webroot.  Also the command-line
 * helper pol_certmgr.c shares (reload.command).
 *
 * Contracts of the functions defined here: policy/internal.h.
 */
#include <sys/stat.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/pc_b64.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "policy/internal.h"

#define CM_PROP_DEFAULT_MS 120000  /* dns.propagation_timeout */
#define CM_PROP_MIN_MS     1000    /* ditto, and dns.command_timeout, lower bound */
#define CM_PROP_MAX_MS     3600000 /* ditto, upper bound */
#define CM_HOOK_DEFAULT_MS 60000   /* dns.command_timeout */
#define CM_HOOK_MAX_MS     600000  /* ditto, at most 10m */
#define CM_TSIG_FILE_MAX   4096    /* dns.rfc2136.key_file bytes */
#define CM_TSIG_KEY_MIN    16      /* decoded TSIG secret bytes: 128 bits .. */
#define CM_TSIG_KEY_MAX    512     /* .. and a sane ceiling */

/* --- small checks ------------------------------------------------------------ */

static bool
ip_port_ok(const char *s, size_t len)
{
    struct pol_hostport hp;
    unsigned char probe[16];
    char host[64];

    if (pol_hostport_parse(s, len, &hp) != NULL || !hp.has_port || hp.hostlen >= sizeof(host))
        return false;
    memcpy(host, hp.host, hp.hostlen);
    host[hp.hostlen] = '\0';
    return inet_pton(hp.v6 ? AF_INET6 : AF_INET, host, probe) == 1;
}

/* Whether every byte of the last label is a digit: an IP address, not a name. */
static bool
last_label_numeric(const char *s, size_t len)
{
    size_t i = len;

    while (i > 0 && s[i - 1] != '.')
        i--;
    for (; i < len; i++)
        if (s[i] < '0' || s[i] > '9')
            return false;
    return true;
}

/* map[key] as a lower-case DNS name (no trailing dot). */
static int
get_dns_name(struct pol_ctx *ctx, const struct pol_node *map, const char *key, bool required,
             char **out)
{
    char desc[POL_DESC_MAX];
    size_t saved;
    int rc = pol_get_str(ctx, map, key, required, "a DNS name", out);

    if (rc != PC_OK)
        return rc;
    pol_str_lower(*out);
    if (!pol_dns_name_ok(*out, strlen(*out))) {
        saved = pol_kp_key(ctx, key);
        pol_err(ctx, pol_map_get(map, key), "expected a DNS name, got %s",
                pol_node_desc(pol_map_get(map, key), desc, sizeof(desc)));
        pol_kp_pop(ctx, saved);
        free(*out);
        *out = NULL;
        return PC_ERR_INVALID;
    }
    return PC_OK;
}

void
pol_cm_argv_free(char **v)
{
    size_t i;

    for (i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

static void
argv_push(char ***v, size_t *n, const char *s, size_t len)
{
    *v = pc_xreallocarray(*v, *n + 2, sizeof(**v));
    (*v)[(*n)++] = pc_xstrndup(s, len);
    (*v)[*n] = NULL;
}

/*
 * A command: a string split at blanks (no shell, no quoting) or a sequence
 * of words.  A first word with a '/' is made absolute against the file's
 * directory; one without is looked up in PATH when run.
 */
int
pol_cm_get_argv(struct pol_ctx *ctx, const struct pol_node *map, const char *key, char ***out,
                size_t *argc)
{
    const struct pol_node *v = pol_map_get(map, key);
    char **words = NULL;
    size_t n = 0, saved, i;
    int rc = PC_ERR_INVALID;

    if (v == NULL)
        return PC_ERR_NOT_FOUND;
    saved = pol_kp_key(ctx, key);
    if (v->kind == POL_NODE_SCALAR) {
        const char *s, *p;
        if (pol_node_text(ctx, v, "a command", &s) != PC_OK)
            goto out;
        for (p = s; *p != '\0';) {
            size_t w = strcspn(p, " \t");
            if (w > 0 && n < POL_CM_MAX_ARGV)
                argv_push(&words, &n, p, w);
            else if (w > 0)
                n++; /* counted for the message below */
            p += w;
            p += strspn(p, " \t");
        }
    } else if (v->kind == POL_NODE_SEQ) {
        for (i = 0; i < v->nkids && i < POL_CM_MAX_ARGV; i++) {
            const char *s;
            size_t s2 = pol_kp_idx(ctx, i);
            int r = pol_node_text(ctx, v->kids[i], "a word of the command", &s);
            pol_kp_pop(ctx, s2);
            if (r != PC_OK)
                goto out;
            argv_push(&words, &n, s, v->kids[i]->len);
        }
        if (v->nkids > POL_CM_MAX_ARGV)
            n = v->nkids;
    } else {
        pol_err(ctx, v, "expected a command (a string or a sequence of words), got %s",
                v->kind == POL_NODE_MAP ? "a mapping" : "something else");
        goto out;
    }
    if (n == 0 || n > POL_CM_MAX_ARGV) {
        pol_err(ctx, v, "expected a command of 1 to %d words, got %zu", POL_CM_MAX_ARGV, n);
        goto out;
    }
    if (words[0][0] != '/' && strchr(words[0], '/') != NULL) {
        struct pol_node tmp = *v;
        char *abs = NULL;
        tmp.kind = POL_NODE_SCALAR;
        tmp.str = words[0];
        tmp.len = strlen(words[0]);
        if (pol_node_path(ctx, &tmp, &abs) != PC_OK)
            goto out;
        free(words[0]);
        words[0] = abs;
    }
    *out = words;
    *argc = n;
    words = NULL;
    rc = PC_OK;
out:
    pol_cm_argv_free(words);
    pol_kp_pop(ctx, saved);
    return rc;
}

/* Standard base64 (RFC 4648 4), padding and line breaks allowed, into a new buffer. */
static int
decode_b64_std(const char *s, size_t len, unsigned char **out, size_t *outlen, size_t max)
{
    char *url = pc_xmalloc(len + 1);
    unsigned char *bin = NULL;
    size_t i, n = 0;
    int rc = PC_ERR_PARSE;

    for (i = 0; i < len; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\n')
            continue;
        if (c == '=') {
            /* only padding at the very end */
            size_t j;
            for (j = i; j < len; j++)
                if (s[j] != '=' && s[j] != '\n' && s[j] != '\r' && s[j] != ' ' && s[j] != '\t')
                    goto out;
            break;
        }
        url[n++] = c == '+' ? '-' : c == '/' ? '_' : (c == '-' || c == '_') ? '!' : c;
    }
    bin = pc_xmalloc(PC_B64URL_DECLEN(n) + 1);
    rc = pc_b64url_decode(url, n, bin, max, outlen);
    if (rc != PC_OK)
        goto out;
    *out = bin;
    bin = NULL;
out:
    pc_free_secret(url, len + 1);
    if (bin != NULL)
        pc_free_secret(bin, PC_B64URL_DECLEN(n) + 1);
    return rc;
}

/* --- certificates: ---------------------------------------------------------------- */

static void
parse_domains(struct pol_ctx *ctx, const struct pol_node *map, struct pol_cm_cert *cert)
{
    const struct pol_node *seq = pol_map_get(map, "domains");
    char desc[POL_DESC_MAX];
    size_t saved, i, j;

    if (seq == NULL) {
        pol_err_missing(ctx, map, "domains");
        return;
    }
    saved = pol_kp_key(ctx, "domains");
    if (!pol_expect(ctx, seq, POL_NODE_SEQ))
        goto out;
    if (seq->nkids == 0 || seq->nkids > POL_CM_MAX_DOMAINS) {
        pol_err(ctx, seq, "expected 1 to %d names, got %zu", POL_CM_MAX_DOMAINS, seq->nkids);
        goto out;
    }
    cert->domains = pc_xcalloc(seq->nkids + 1, sizeof(*cert->domains));
    for (i = 0; i < seq->nkids; i++) {
        const struct pol_node *n = seq->kids[i];
        size_t s2 = pol_kp_idx(ctx, i);
        const char *s, *base;
        char *d;
        if (pol_node_text(ctx, n, "a DNS name", &s) != PC_OK)
            goto next;
        d = pc_xstrndup(s, n->len);
        pol_str_lower(d);
        base = strncmp(d, "*.", 2) == 0 ? d + 2 : d;
        if (!pol_dns_name_ok(base, strlen(base)) || strchr(base, '*') != NULL ||
            strchr(base, '.') == NULL) {
            pol_err(ctx, n,
                    "expected a DNS name with at least two labels, or \"*.\" and one, got %s",
                    pol_node_desc(n, desc, sizeof(desc)));
            free(d);
            goto next;
        }
        if (last_label_numeric(base, strlen(base))) {
            pol_err(ctx, n, "IP addresses are not supported, got %s",
                    pol_node_desc(n, desc, sizeof(desc)));
            free(d);
            goto next;
        }
        for (j = 0; j < cert->ndomains; j++) {
            if (strcmp(cert->domains[j], d) == 0) {
                pol_err(ctx, n, "\"%s\" is listed twice", d);
                free(d);
                goto next;
            }
        }
        cert->domains[cert->ndomains++] = d;
next:
        pol_kp_pop(ctx, s2);
    }
out:
    pol_kp_pop(ctx, saved);
}

static void
parse_resolvers(struct pol_ctx *ctx, const struct pol_node *dns, struct pol_cm_cert *cert)
{
    const struct pol_node *seq = pol_map_get(dns, "resolvers");
    char desc[POL_DESC_MAX];
    size_t saved, i;

    if (seq == NULL)
        return;
    saved = pol_kp_key(ctx, "resolvers");
    if (!pol_expect(ctx, seq, POL_NODE_SEQ))
        goto out;
    if (seq->nkids == 0 || seq->nkids > POL_CM_MAX_RESOLVERS) {
        pol_err(ctx, seq, "expected 1 to %d resolvers (omit resolvers: to skip the check), got %zu",
                POL_CM_MAX_RESOLVERS, seq->nkids);
        goto out;
    }
    cert->resolvers = pc_xcalloc(seq->nkids, sizeof(*cert->resolvers));
    for (i = 0; i < seq->nkids; i++) {
        const struct pol_node *n = seq->kids[i];
        size_t s2 = pol_kp_idx(ctx, i);
        const char *s;
        if (pol_node_text(ctx, n, "IP:port", &s) == PC_OK) {
            if (ip_port_ok(s, n->len))
                cert->resolvers[cert->nresolvers++] = pc_xstrndup(s, n->len);
            else
                pol_err(ctx, n, "expected a numeric IPv4:port or [IPv6]:port, got %s",
                        pol_node_desc(n, desc, sizeof(desc)));
        }
        pol_kp_pop(ctx, s2);
    }
out:
    pol_kp_pop(ctx, saved);
}

/* Read and decode the TSIG secret: a base64 file nobody but its owner may read. */
static void
read_tsig_key(struct pol_ctx *ctx, const struct pol_node *at, struct pol_cm_rfc2136 *r)
{
    char why[POL_WHY_MAX];
    struct stat st;
    char *buf = NULL;
    size_t len = 0;

    if (!ctx->allow_files) {
        pol_err(ctx, at, "key_file cannot be read in this load");
        return;
    }
    if (stat(r->key_file, &st) != 0) {
        pol_err(ctx, at, "cannot read %s: %s", r->key_file, strerror(errno));
        return;
    }
    if ((st.st_mode & 077) != 0) {
        pol_err(ctx, at,
                "%s holds a secret: it must not be accessible by group or others "
                "(mode %04o; chmod 600 it)",
                r->key_file, (unsigned)(st.st_mode & 07777));
        return;
    }
    if (st.st_size > CM_TSIG_FILE_MAX) {
        pol_err(ctx, at, "%s: larger than %d bytes", r->key_file, CM_TSIG_FILE_MAX);
        return;
    }
    if (pol_file_read(r->key_file, &buf, &len, why, sizeof(why)) != PC_OK) {
        pol_err(ctx, at, "cannot read %s: %s", r->key_file, why);
        return;
    }
    if (decode_b64_std(buf, len, &r->secret, &r->secret_len, CM_TSIG_KEY_MAX) != PC_OK ||
        r->secret_len < CM_TSIG_KEY_MIN)
        pol_err(ctx, at, "%s: expected a base64 TSIG secret of %d to %d bytes", r->key_file,
                CM_TSIG_KEY_MIN, CM_TSIG_KEY_MAX);
    pc_free_secret(buf, len);
}

static void
parse_rfc2136(struct pol_ctx *ctx, const struct pol_node *dns, struct pol_cm_cert *cert)
{
    static const char *const keys[] = {"server", "zone", "key_name", "key_alg", "key_file", NULL};
    static const char *const algs[] = {"hmac-sha256", "hmac-sha384", "hmac-sha512", NULL};
    const struct pol_node *v = pol_map_get(dns, "rfc2136");
    struct pol_cm_rfc2136 *r = &cert->rfc2136;
    char desc[POL_DESC_MAX];
    size_t saved, s2, i, zl;
    unsigned alg = 0;

    if (v == NULL) {
        pol_err(ctx, dns, "provider rfc2136 needs an rfc2136: mapping");
        return;
    }
    saved = pol_kp_key(ctx, "rfc2136");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    if (pol_get_str(ctx, v, "server", true, "IP:port", &r->server) == PC_OK &&
        !ip_port_ok(r->server, strlen(r->server))) {
        s2 = pol_kp_key(ctx, "server");
        pol_err(ctx, pol_map_get(v, "server"),
                "expected a numeric IPv4:port or [IPv6]:port, got %s",
                pol_node_desc(pol_map_get(v, "server"), desc, sizeof(desc)));
        pol_kp_pop(ctx, s2);
    }
    get_dns_name(ctx, v, "zone", true, &r->zone);
    get_dns_name(ctx, v, "key_name", true, &r->key_name);
    if (pol_map_get(v, "key_alg") == NULL)
        pol_err_missing(ctx, v, "key_alg");
    else if (pol_get_enum(ctx, v, "key_alg", algs, &alg) == PC_OK)
        r->key_alg = pc_xstrdup(algs[alg]);
    if (pol_get_path(ctx, v, "key_file", true, &r->key_file) == PC_OK) {
        s2 = pol_kp_key(ctx, "key_file");
        read_tsig_key(ctx, pol_map_get(v, "key_file"), r);
        pol_kp_pop(ctx, s2);
    }
    /* every _acme-challenge name must be inside the zone the server updates */
    zl = r->zone != NULL ? strlen(r->zone) : 0;
    for (i = 0; zl != 0 && i < cert->ndomains; i++) {
        const char *d = cert->domains[i] + (strncmp(cert->domains[i], "*.", 2) == 0 ? 2 : 0);
        size_t dl = strlen(d);
        if (!(dl == zl && strcmp(d, r->zone) == 0) &&
            !(dl > zl && d[dl - zl - 1] == '.' && strcmp(d + dl - zl, r->zone) == 0)) {
            s2 = pol_kp_key(ctx, "zone");
            pol_err(ctx, pol_map_get(v, "zone"), "domain \"%s\" is not inside zone \"%s\"",
                    cert->domains[i], r->zone);
            pol_kp_pop(ctx, s2);
        }
    }
    /* check where the update lands unless told otherwise */
    if (cert->nresolvers == 0 && r->server != NULL) {
        cert->resolvers = pc_xcalloc(1, sizeof(*cert->resolvers));
        cert->resolvers[cert->nresolvers++] = pc_xstrdup(r->server);
    }
out:
    pol_kp_pop(ctx, saved);
}

static void
parse_dns(struct pol_ctx *ctx, const struct pol_node *map, struct pol_cm_cert *cert)
{
    static const char *const keys[] = {
        "provider", "command", "command_timeout", "resolvers", "propagation_timeout",
        "rfc2136",  NULL};
    static const char *const providers[] = {"exec", "rfc2136", NULL};
    const struct pol_node *v = pol_map_get(map, "dns");
    unsigned p = 0;
    size_t saved, s2;

    if (v == NULL) {
        pol_err(ctx, map, "challenge dns-01 needs a dns: mapping with a provider");
        return;
    }
    saved = pol_kp_key(ctx, "dns");
    if (!pol_expect(ctx, v, POL_NODE_MAP))
        goto out;
    pol_check_keys(ctx, v, keys);
    if (pol_map_get(v, "provider") == NULL)
        pol_err_missing(ctx, v, "provider");
    else if (pol_get_enum(ctx, v, "provider", providers, &p) == PC_OK)
        cert->dns_provider = p == 0 ? POL_CM_DNS_EXEC : POL_CM_DNS_RFC2136;
    pol_get_duration(ctx, v, "command_timeout", CM_PROP_MIN_MS, CM_HOOK_MAX_MS,
                     &cert->dns_command_timeout_ms);
    pol_get_duration(ctx, v, "propagation_timeout", CM_PROP_MIN_MS, CM_PROP_MAX_MS,
                     &cert->propagation_timeout_ms);
    parse_resolvers(ctx, v, cert);
    if (pol_map_get(v, "provider") == NULL)
        goto out;
    if (cert->dns_provider == POL_CM_DNS_EXEC) {
        if (pol_cm_get_argv(ctx, v, "command", &cert->dns_command, &cert->dns_command_argc) ==
            PC_ERR_NOT_FOUND)
            pol_err(ctx, v,
                    "provider exec needs command: (run as: command present|cleanup "
                    "FQDN VALUE)");
        if (pol_map_get(v, "rfc2136") != NULL) {
            s2 = pol_kp_key(ctx, "rfc2136");
            pol_err(ctx, pol_map_get(v, "rfc2136"), "rfc2136: applies to provider rfc2136 only");
            pol_kp_pop(ctx, s2);
        }
    } else {
        if (pol_map_get(v, "command") != NULL) {
            s2 = pol_kp_key(ctx, "command");
            pol_err(ctx, pol_map_get(v, "command"), "command: applies to provider exec only");
            pol_kp_pop(ctx, s2);
        }
        parse_rfc2136(ctx, v, cert);
    }
out:
    pol_kp_pop(ctx, saved);
}

static void
parse_http(struct pol_ctx *ctx, const struct pol_node *map, struct pol_cm_cert *cert)
{
    static const char *const keys[] = {"webroot", NULL};
    const struct pol_node *v = pol_map_get(map, "http");
    size_t saved;

    if (v == NULL)
        return;
    saved = pol_kp_key(ctx, "http");
    if (pol_expect(ctx, v, POL_NODE_MAP)) {
        pol_check_keys(ctx, v, keys);
        pol_get_path(ctx, v, "webroot", false, &cert->webroot);
    }
    pol_kp_pop(ctx, saved);
}

static void
parse_cert(struct pol_ctx *ctx, const struct pol_node *map, struct pol_cm_cert *cert)
{
    static const char *const keys[] = {"name", "domains", "key_type", "challenge",
                                       "dns",  "http",    NULL};
    static const char *const ktypes[] = {"ec256", "ec384", "rsa2048", NULL};
    static const char *const challs[] = {"dns-01", "http-01", NULL};
    char desc[POL_DESC_MAX];
    unsigned k = 0, ch = 0;
    size_t i, saved;

    cert->pos.file = map->file;
    cert->pos.line = map->line;
    cert->pos.col = map->col;
    cert->dns_command_timeout_ms = CM_HOOK_DEFAULT_MS;
    cert->propagation_timeout_ms = CM_PROP_DEFAULT_MS;
    if (!pol_expect(ctx, map, POL_NODE_MAP))
        return;
    pol_check_keys(ctx, map, keys);
    if (pol_get_str(ctx, map, "name", true, "a name", &cert->name) == PC_OK &&
        (!pol_name_ok(cert->name, strlen(cert->name)) || cert->name[0] == '.')) {
        saved = pol_kp_key(ctx, "name");
        pol_err(ctx, pol_map_get(map, "name"),
                "expected a name of 1 to %d letters, digits, '.', '_' or '-' not starting with "
                "'.', got %s",
                PC_CONF_MAX_NAME, pol_node_desc(pol_map_get(map, "name"), desc, sizeof(desc)));
        pol_kp_pop(ctx, saved);
    }
    parse_domains(ctx, map, cert);
    if (pol_get_enum(ctx, map, "key_type", ktypes, &k) == PC_OK)
        cert->key_type = k == 0 ? POL_CM_KEY_EC256 : k == 1 ? POL_CM_KEY_EC384 : POL_CM_KEY_RSA2048;
    if (pol_map_get(map, "challenge") == NULL) {
        pol_err_missing(ctx, map, "challenge");
        return;
    }
    if (pol_get_enum(ctx, map, "challenge", challs, &ch) != PC_OK)
        return;
    cert->challenge = ch == 0 ? POL_CM_DNS01 : POL_CM_HTTP01;
    if (cert->challenge == POL_CM_HTTP01) {
        /* RFC 8555 8.3 / 7.1.3: a wildcard can only be proven with dns-01 */
        const struct pol_node *seq = pol_map_get(map, "domains");
        for (i = 0; seq != NULL && seq->kind == POL_NODE_SEQ && i < seq->nkids; i++) {
            const struct pol_node *n = seq->kids[i];
            if (n->kind == POL_NODE_SCALAR && strncmp(n->str, "*.", 2) == 0) {
                saved = pol_kp_key(ctx, "domains");
                size_t s2 = pol_kp_idx(ctx, i);
                pol_err(ctx, n,
                        "wildcard name %s requires challenge: dns-01 (http-01 cannot "
                        "prove a wildcard)",
                        pol_node_desc(n, desc, sizeof(desc)));
                pol_kp_pop(ctx, s2);
                pol_kp_pop(ctx, saved);
            }
        }
        if (pol_map_get(map, "dns") != NULL) {
            saved = pol_kp_key(ctx, "dns");
            pol_err(ctx, pol_map_get(map, "dns"), "dns: applies to challenge dns-01 only");
            pol_kp_pop(ctx, saved);
        }
        parse_http(ctx, map, cert);
    } else {
        if (pol_map_get(map, "http") != NULL) {
            saved = pol_kp_key(ctx, "http");
            pol_err(ctx, pol_map_get(map, "http"), "http: applies to challenge http-01 only");
            pol_kp_pop(ctx, saved);
        }
        parse_dns(ctx, map, cert);
    }
}

void
pol_cm_certs_parse(struct pol_ctx *ctx, const struct pol_node *root, struct pol_certmgr *c)
{
    const struct pol_node *seq = pol_map_get(root, "certificates");
    size_t saved, i, j;

    if (seq == NULL) {
        pol_err_missing(ctx, root, "certificates");
        return;
    }
    saved = pol_kp_key(ctx, "certificates");
    if (!pol_expect(ctx, seq, POL_NODE_SEQ))
        goto out;
    if (seq->nkids == 0 || seq->nkids > POL_CM_MAX_CERTS) {
        pol_err(ctx, seq, "expected 1 to %d certificates, got %zu", POL_CM_MAX_CERTS, seq->nkids);
        goto out;
    }
    c->certs = pc_xcalloc(seq->nkids, sizeof(*c->certs));
    c->ncerts = seq->nkids;
    for (i = 0; i < seq->nkids; i++) {
        size_t s2 = pol_kp_idx(ctx, i);
        parse_cert(ctx, seq->kids[i], &c->certs[i]);
        for (j = 0; c->certs[i].name != NULL && j < i; j++) {
            if (c->certs[j].name != NULL && strcmp(c->certs[j].name, c->certs[i].name) == 0)
                pol_err(ctx, seq->kids[i], "name \"%s\" is used twice (also at line %u)",
                        c->certs[i].name, c->certs[j].pos.line);
        }
        pol_kp_pop(ctx, s2);
    }
out:
    pol_kp_pop(ctx, saved);
}

/* gateway_config: the gateway's acme_webroot for http-01, its pid_file for reload. */

void
pol_cm_cert_clear(struct pol_cm_cert *cert)
{
    size_t j;

    free(cert->name);
    for (j = 0; j < cert->ndomains; j++)
        free(cert->domains[j]);
    free(cert->domains);
    pol_cm_argv_free(cert->dns_command);
    for (j = 0; j < cert->nresolvers; j++)
        free(cert->resolvers[j]);
    free(cert->resolvers);
    free(cert->rfc2136.server);
    free(cert->rfc2136.zone);
    free(cert->rfc2136.key_name);
    free(cert->rfc2136.key_alg);
    free(cert->rfc2136.key_file);
    pc_free_secret(cert->rfc2136.secret, cert->rfc2136.secret_len);
    free(cert->webroot);
    memset(cert, 0, sizeof(*cert));
}
