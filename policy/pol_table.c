/*
 * The compiled route table and pol_route_match(), the per-request lookup.
 *
 * Routes are grouped by host: exact names, wildcard suffixes (".example.com")
 * and "*".  Groups of one kind sit in one array sorted by their lower-case
 * host, so a host is found by binary search, comparing the request's host
 * lower-cased on the fly.  A wildcard lookup tries each suffix of the
 * request host that starts at a dot, longest first.
 *
 * Within a group the entries are sorted by path_prefix (bytes), and the
 * group keeps the distinct prefix lengths, longest first.  A lookup tries
 * each length k that is a segment boundary of the path (k == len,
 * path[k] == '/', or path[k - 1] == '/') and binary-searches path[0..k);
 * among equal prefixes the first whose methods include the request's wins
 * (config checking guarantees at most one does).
 *
 * Host groups act like virtual hosts (nginx server blocks, Envoy virtual
 * hosts): the first group that names the request's host decides -- the
 * exact name, else the longest wildcard suffix, else "*" -- and a path or
 * method that group does not cover is a 404.  There is no fallback to a
 * laxer group: "*.example.com /" never serves a path of api.example.com,
 * whose own routes (and client policy) were written for it.
 *
 * Lookups allocate nothing, lock nothing and only read the table: any
 * number of threads may call pol_route_match() on one configuration.
 *
 * Contracts of the functions defined here: policy/pol.h (public) and policy/internal.h.
 */
#include <stdlib.h>
#include <string.h>

#include "common/pc_mem.h"
#include "policy/internal.h"

#define TBL_HOST_MAX 253 /* longest DNS name; longer request hosts match only "*" */

struct tbl_entry {
    const char *prefix; /* borrowed from the route */
    size_t len;
    unsigned methods;
    const struct pol_route *route;
};

struct tbl_group {
    const char *host; /* lower-case; wildcard groups: ".suffix" */
    size_t hostlen;
    const struct tbl_entry *e; /* sorted by prefix, then by route order */
    size_t n;
    const size_t *lens; /* distinct prefix lengths, longest first */
    size_t nlens;
};

struct pol_table {
    struct tbl_group *groups; /* exact, then wildcard, then "*" */
    size_t ngroups;
    const struct tbl_group *exact;
    size_t nexact;
    const struct tbl_group *wild;
    size_t nwild;
    const struct tbl_group *any; /* NULL without a "*" route */
    struct tbl_entry *entries;
    size_t *lens;
};

static int
cmp_route(const void *a, const void *b, void *arg)
{
    const struct pol_route *rt = arg;
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int c;

    if (rt[x].host_kind != rt[y].host_kind)
        return rt[x].host_kind < rt[y].host_kind ? -1 : 1;
    c = strcmp(rt[x].host, rt[y].host);
    if (c == 0)
        c = strcmp(rt[x].path_prefix, rt[y].path_prefix);
    return c != 0 ? c : x < y ? -1 : x > y;
}

static int
cmp_len_desc(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;

    return x > y ? -1 : x < y;
}

/* Fill g->lens from its entries: distinct lengths, longest first. */
static void
group_lens(struct tbl_group *g, size_t *lens)
{
    size_t i, n = 0;

    for (i = 0; i < g->n; i++)
        lens[i] = g->e[i].len;
    qsort(lens, g->n, sizeof(*lens), cmp_len_desc);
    for (i = 0; i < g->n; i++)
        if (n == 0 || lens[n - 1] != lens[i])
            lens[n++] = lens[i];
    g->lens = lens;
    g->nlens = n;
}

struct pol_table *
pol_table_build(const struct pol_route *routes, size_t n)
{
    struct pol_table *t = pc_xcalloc(1, sizeof(*t));
    size_t *idx = pc_xcalloc(n == 0 ? 1 : n, sizeof(*idx));
    size_t i, start;

    t->entries = pc_xcalloc(n == 0 ? 1 : n, sizeof(*t->entries));
    t->lens = pc_xcalloc(n == 0 ? 1 : n, sizeof(*t->lens));
    t->groups = pc_xcalloc(n == 0 ? 1 : n, sizeof(*t->groups));
    for (i = 0; i < n; i++)
        idx[i] = i;
    qsort_r(idx, n, sizeof(*idx), cmp_route, (void *)(uintptr_t)routes);
    for (i = 0; i < n; i++) {
        const struct pol_route *r = &routes[idx[i]];
        t->entries[i].prefix = r->path_prefix;
        t->entries[i].len = strlen(r->path_prefix);
        t->entries[i].methods = r->methods;
        t->entries[i].route = r;
    }
    for (start = 0; start < n; start = i) {
        const struct pol_route *r = t->entries[start].route;
        struct tbl_group *g = &t->groups[t->ngroups++];
        for (i = start + 1; i < n; i++) {
            const struct pol_route *s = t->entries[i].route;
            if (s->host_kind != r->host_kind || strcmp(s->host, r->host) != 0)
                break;
        }
        g->host = r->host;
        g->hostlen = strlen(r->host);
        g->e = &t->entries[start];
        g->n = i - start;
        group_lens(g, &t->lens[start]);
        if (r->host_kind == POL_HOST_EXACT)
            t->nexact++;
        else if (r->host_kind == POL_HOST_WILDCARD)
            t->nwild++;
        else
            t->any = g;
    }
    t->exact = t->groups;
    t->wild = t->groups + t->nexact;
    free(idx);
    return t;
}

void
pol_table_free(struct pol_table *t)
{
    if (t == NULL)
        return;
    free(t->groups);
    free(t->entries);
    free(t->lens);
    free(t);
}

/* --- lookup --------------------------------------------------------------------------- */

static int
host_cmp(const char *q, size_t qlen, const struct tbl_group *g)
{
    size_t i, n = qlen < g->hostlen ? qlen : g->hostlen;

    for (i = 0; i < n; i++) {
        unsigned char a = (unsigned char)q[i], b = (unsigned char)g->host[i];
        if (a >= 'A' && a <= 'Z')
            a = (unsigned char)(a + 32);
        if (a != b)
            return a < b ? -1 : 1;
    }
    return qlen < g->hostlen ? -1 : qlen > g->hostlen;
}

static const struct tbl_group *
find_group(const struct tbl_group *g, size_t n, const char *host, size_t hostlen)
{
    size_t lo = 0, hi = n;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = host_cmp(host, hostlen, &g[mid]);
        if (c == 0)
            return &g[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Order of an entry against the key path[0..k). */
static int
prefix_cmp(const struct tbl_entry *e, const char *path, size_t k)
{
    size_t n = e->len < k ? e->len : k;
    int c = memcmp(e->prefix, path, n);

    if (c != 0)
        return c;
    return e->len < k ? -1 : e->len > k;
}

static const struct pol_route *
group_match(const struct tbl_group *g, const char *path, size_t pathlen, unsigned method_bit)
{
    size_t li;

    for (li = 0; li < g->nlens; li++) {
        size_t k = g->lens[li], lo = 0, hi = g->n, j;
        if (k > pathlen || k == 0)
            continue;
        if (k != pathlen && path[k] != '/' && path[k - 1] != '/')
            continue; /* not a segment boundary: "/api" never matches "/apix" */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (prefix_cmp(&g->e[mid], path, k) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (j = lo; j < g->n && prefix_cmp(&g->e[j], path, k) == 0; j++)
            if ((g->e[j].methods & method_bit) != 0)
                return g->e[j].route;
    }
    return NULL;
}

const struct pol_route *
pol_route_match(const struct pol_config *c, const char *host, size_t hostlen, const char *path,
                size_t pathlen, unsigned method_bit)
{
    const struct pol_table *t;
    const struct tbl_group *g;
    size_t i;

    if (c == NULL || c->table == NULL || method_bit == 0)
        return NULL;
    t = c->table;
    if (hostlen <= TBL_HOST_MAX) {
        g = find_group(t->exact, t->nexact, host, hostlen);
        if (g != NULL)
            return group_match(g, path, pathlen, method_bit);
        /* the dot at i = 0 would leave nothing for '*' to stand for */
        for (i = 1; i < hostlen && t->nwild != 0; i++) {
            if (host[i] != '.')
                continue;
            g = find_group(t->wild, t->nwild, host + i, hostlen - i);
            if (g != NULL)
                return group_match(g, path, pathlen, method_bit);
        }
    }
    if (t->any != NULL)
        return group_match(t->any, path, pathlen, method_bit);
    return NULL;
}
