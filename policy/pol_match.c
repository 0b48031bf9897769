/*
 * Pure evaluation shared by the gateway workers and `policy explain`:
 * identity globs (pol_glob_match), a route's mtls.allow check
 * (pol_route_allows) and HTTP method bits (pol_method_bit).  No
 * allocation, no locks, no I/O.
 *
 * Globs are matched by simulating their automaton over the name: a set of
 * live glob positions is advanced one character at a time, so the work is
 * at most (glob length) x (name length) steps whatever the stars, with no
 * backtracking to blow up.
 *
 * Contracts of the functions defined here: policy/pol.h (public) and policy/internal.h.
 */
#include <string.h>

#include "common/pc_limits.h"
#include "policy/internal.h"

#define GLOB_MAX_TOKENS PC_CONF_MAX_STR /* a glob is one config scalar */

enum tok { TOK_CHAR, TOK_STAR, TOK_DSTAR };

static unsigned char
fold(unsigned char c, bool nocase)
{
    return nocase && c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

/* Add state i and every state reachable from it by empty star matches. */
static void
add_state(unsigned char *set, const unsigned char *kind, size_t ntok, size_t i)
{
    while (i <= ntok && !set[i]) {
        set[i] = 1;
        if (i == ntok || kind[i] == TOK_CHAR)
            break;
        i++; /* a star may match nothing */
    }
}

bool
pol_glob_match(const char *glob, const char *s, size_t len, char sep, bool nocase)
{
    unsigned char kind[GLOB_MAX_TOKENS], ch[GLOB_MAX_TOKENS];
    unsigned char cur[GLOB_MAX_TOKENS + 1], next[GLOB_MAX_TOKENS + 1];
    size_t ntok = 0, i, p;
    bool live;

    if (glob == NULL || s == NULL)
        return false;
    /* tokenise: "**" (or more stars) crosses separators, "*" does not */
    for (i = 0; glob[i] != '\0'; i++) {
        if (ntok == GLOB_MAX_TOKENS)
            return false; /* longer than any glob the config accepts: fail closed */
        if (glob[i] == '*') {
            size_t run = 1;
            while (glob[i + 1] == '*') {
                i++;
                run++;
            }
            kind[ntok] = run > 1 ? TOK_DSTAR : TOK_STAR;
        } else {
            kind[ntok] = TOK_CHAR;
            ch[ntok] = fold((unsigned char)glob[i], nocase);
        }
        ntok++;
    }
    memset(cur, 0, ntok + 1);
    add_state(cur, kind, ntok, 0);
    for (p = 0; p < len; p++) {
        unsigned char c = fold((unsigned char)s[p], nocase);
        memset(next, 0, ntok + 1);
        live = false;
        for (i = 0; i < ntok; i++) {
            if (!cur[i])
                continue;
            if (kind[i] == TOK_CHAR) {
                if (ch[i] == c) {
                    add_state(next, kind, ntok, i + 1);
                    live = true;
                }
            } else if (kind[i] == TOK_DSTAR || sep == '\0' || (unsigned char)sep != c) {
                add_state(next, kind, ntok, i); /* the star eats c and may go on */
                live = true;
            }
        }
        if (!live)
            return false;
        memcpy(cur, next, ntok + 1);
    }
    return cur[ntok] != 0;
}

static bool
any_matches(const struct pol_pattern *p, const char *const *names, size_t n, char sep, bool nocase)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (names[i] != NULL && pol_glob_match(p->glob, names[i], strlen(names[i]), sep, nocase))
            return true;
    return false;
}

bool
pol_route_allows(const struct pol_route *r, const struct pol_names *names,
                 const struct pol_pattern **matched)
{
    size_t i;

    if (matched != NULL)
        *matched = NULL;
    if (r == NULL)
        return false;
    if (r->nallow == 0)
        return true;
    if (names == NULL)
        return false;
    for (i = 0; i < r->nallow; i++) {
        const struct pol_pattern *p = &r->allow[i];
        bool ok = false;
        switch (p->kind) {
        case POL_PAT_URI:
            ok = any_matches(p, names->uri, names->nuri, '/', false);
            break;
        case POL_PAT_DNS:
            ok = any_matches(p, names->dns, names->ndns, '.', true);
            break;
        case POL_PAT_EMAIL:
            ok = any_matches(p, names->email, names->nemail, '\0', false);
            break;
        case POL_PAT_CN:
            ok = names->cn != NULL &&
                 pol_glob_match(p->glob, names->cn, strlen(names->cn), '\0', false);
            break;
        }
        if (ok) {
            if (matched != NULL)
                *matched = p;
            return true;
        }
    }
    return false;
}

unsigned
pol_method_bit(const char *m, size_t len)
{
    static const struct {
        const char *name;
        unsigned bit;
    } methods[] = {{"GET", POL_M_GET},        {"HEAD", POL_M_HEAD},     {"POST", POL_M_POST},
                   {"PUT", POL_M_PUT},        {"DELETE", POL_M_DELETE}, {"PATCH", POL_M_PATCH},
                   {"OPTIONS", POL_M_OPTIONS}};
    size_t i;

    /* methods are case-sensitive (RFC 9110 9.1): "get" is another method */
    for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
        if (strlen(methods[i].name) == len && memcmp(methods[i].name, m, len) == 0)
            return methods[i].bit;
    return POL_M_OTHER;
}
