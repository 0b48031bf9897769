/*
 * libyaml events -> a small DOM of scalars, sequences and mappings, each
 * node with its 1-based line:col.  Only the plain subset of YAML a
 * configuration needs is accepted: no anchors, aliases or tags (they make
 * what is checked differ from what is read), one document, unique scalar
 * keys.  Structural refusals stop the parse at the first one; the schema
 * layer above collects its own errors.
 *
 * Contracts of the functions defined here: policy/internal.h.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "common/pc_limits.h"
#include "common/pc_mem.h"
#include "policy/internal.h"

#define YAML_KIDS_INITIAL 4 /* first allocation of a collection's children */

struct build {
    struct pol_ctx *ctx;
    const char *file;
    struct pol_node *root;
    struct pol_node *stack[PC_CONF_MAX_DEPTH]; /* open collections */
    size_t depth;
    size_t nodes;
    size_t ndocs;
};

void
pol_node_free(struct pol_node *n)
{
    size_t i;

    if (n == NULL)
        return;
    for (i = 0; i < n->nkids; i++)
        pol_node_free(n->kids[i]);
    free(n->kids);
    /* the DOM may hold secrets (redis.url carries a password) */
    pc_free_secret(n->str, n->len);
    free(n);
}

static unsigned
mark_num(size_t v)
{
    return v >= UINT32_MAX ? UINT32_MAX : (unsigned)v + 1;
}

static void
err_mark(struct build *b, const yaml_mark_t *m, const char *msg)
{
    pol_err_at(b->ctx, b->file, mark_num(m->line), mark_num(m->column), "%s", msg);
}

/* Hang a new node under the open collection (or make it the root). */
static int
attach(struct build *b, struct pol_node *n, const yaml_mark_t *m)
{
    struct pol_node *p;

    if (++b->nodes > PC_CONF_MAX_NODES) {
        pol_err_at(b->ctx, b->file, n->line, n->col, "more than %d YAML nodes in one file",
                   PC_CONF_MAX_NODES);
        pol_node_free(n);
        return PC_ERR_INVALID;
    }
    if (b->depth == 0) {
        b->root = n; /* one document, so this happens once */
        return PC_OK;
    }
    p = b->stack[b->depth - 1];
    if (p->kind == POL_NODE_MAP && p->nkids % 2 == 0 && n->kind != POL_NODE_SCALAR) {
        err_mark(b, m, "mapping keys must be plain strings");
        pol_node_free(n);
        return PC_ERR_INVALID;
    }
    if (p->nkids == p->cap) {
        p->cap = p->cap == 0 ? YAML_KIDS_INITIAL : p->cap * 2;
        p->kids = pc_xreallocarray(p->kids, p->cap, sizeof(*p->kids));
    }
    p->kids[p->nkids++] = n;
    return PC_OK;
}

static struct pol_node *
node_new(struct build *b, enum pol_node_kind kind, const yaml_mark_t *m)
{
    struct pol_node *n = pc_xcalloc(1, sizeof(*n));

    n->kind = kind;
    n->file = b->file;
    n->line = mark_num(m->line);
    n->col = mark_num(m->column);
    return n;
}

/* Anchors and tags on any node are refused: no node means two things. */
static int
check_props(struct build *b, const yaml_mark_t *m, const yaml_char_t *anchor,
            const yaml_char_t *tag)
{
    if (anchor != NULL) {
        err_mark(b, m, "anchors (&name) and aliases are not supported");
        return PC_ERR_INVALID;
    }
    if (tag != NULL) {
        err_mark(b, m, "tags (!tag) are not supported");
        return PC_ERR_INVALID;
    }
    return PC_OK;
}

static int
on_scalar(struct build *b, const yaml_event_t *ev)
{
    const yaml_mark_t *m = &ev->start_mark;
    struct pol_node *n;
    size_t len = ev->data.scalar.length;

    if (check_props(b, m, ev->data.scalar.anchor, ev->data.scalar.tag) != PC_OK)
        return PC_ERR_INVALID;
    if (len > PC_CONF_MAX_STR) {
        pol_err_at(b->ctx, b->file, mark_num(m->line), mark_num(m->column),
                   "a value of %zu bytes, more than the limit of %d", len, PC_CONF_MAX_STR);
        return PC_ERR_INVALID;
    }
    if (len != 0 && memchr(ev->data.scalar.value, '\0', len) != NULL) {
        err_mark(b, m, "a NUL byte inside a value");
        return PC_ERR_INVALID;
    }
    n = node_new(b, POL_NODE_SCALAR, m);
    n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
    n->str = pc_xmalloc(len + 1);
    if (len != 0)
        memcpy(n->str, ev->data.scalar.value, len);
    n->str[len] = '\0';
    n->len = len;
    return attach(b, n, m);
}

static int
on_start(struct build *b, const yaml_event_t *ev, enum pol_node_kind kind)
{
    const yaml_mark_t *m = &ev->start_mark;
    const yaml_char_t *anchor, *tag;
    struct pol_node *n;

    if (kind == POL_NODE_MAP) {
        anchor = ev->data.mapping_start.anchor;
        tag = ev->data.mapping_start.tag;
    } else {
        anchor = ev->data.sequence_start.anchor;
        tag = ev->data.sequence_start.tag;
    }
    if (check_props(b, m, anchor, tag) != PC_OK)
        return PC_ERR_INVALID;
    if (b->depth == PC_CONF_MAX_DEPTH) {
        pol_err_at(b->ctx, b->file, mark_num(m->line), mark_num(m->column),
                   "nested deeper than %d levels", PC_CONF_MAX_DEPTH);
        return PC_ERR_INVALID;
    }
    n = node_new(b, kind, m);
    if (attach(b, n, m) != PC_OK)
        return PC_ERR_INVALID;
    b->stack[b->depth++] = n;
    return PC_OK;
}

/* Order keys by text, then by position, so duplicates sit side by side. */
static int
key_cmp(const void *a, const void *b)
{
    const struct pol_node *x = *(struct pol_node *const *)a;
    const struct pol_node *y = *(struct pol_node *const *)b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n == 0 ? 0 : memcmp(x->str, y->str, n);

    if (c != 0)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    if (x->line != y->line)
        return x->line < y->line ? -1 : 1;
    return x->col < y->col ? -1 : x->col > y->col;
}

/* Duplicate keys: sort a copy of the key pointers, O(n log n). */
static int
check_dup_keys(struct build *b, const struct pol_node *map)
{
    struct pol_node **keys = NULL;
    size_t n = POL_MAP_PAIRS(map), i;
    int rc = PC_OK;

    if (n < 2)
        return PC_OK;
    keys = pc_xcalloc(n, sizeof(*keys));
    for (i = 0; i < n; i++)
        keys[i] = POL_MAP_KEY(map, i);
    qsort(keys, n, sizeof(*keys), key_cmp);
    for (i = 1; i < n; i++) {
        char desc[POL_DESC_MAX];
        if (keys[i]->len != keys[i - 1]->len ||
            (keys[i]->len != 0 && memcmp(keys[i]->str, keys[i - 1]->str, keys[i]->len) != 0))
            continue;
        pol_err_at(b->ctx, b->file, keys[i]->line, keys[i]->col,
                   "duplicate key %s (first at line %u:%u)",
                   pol_node_desc(keys[i], desc, sizeof(desc)), keys[i - 1]->line, keys[i - 1]->col);
        rc = PC_ERR_INVALID;
        break;
    }
    free(keys);
    return rc;
}

static int
on_end(struct build *b)
{
    struct pol_node *n;

    if (b->depth == 0)
        return PC_ERR_INTERNAL; /* libyaml balances events; never happens */
    n = b->stack[--b->depth];
    if (n->kind == POL_NODE_MAP)
        return check_dup_keys(b, n);
    return PC_OK;
}

/* Line and column of a byte offset (reader errors carry only the offset). */
static void
offset_pos(const char *buf, size_t len, size_t off, unsigned *line, unsigned *col)
{
    size_t i, l = 1, c = 1;

    for (i = 0; i < off && i < len; i++) {
        if (buf[i] == '\n') {
            l++;
            c = 1;
        } else {
            c++;
        }
    }
    *line = l > UINT32_MAX ? UINT32_MAX : (unsigned)l;
    *col = c > UINT32_MAX ? UINT32_MAX : (unsigned)c;
}

static void
parser_error(struct build *b, const yaml_parser_t *p, const char *buf, size_t len)
{
    const char *problem = p->problem != NULL ? p->problem : "malformed YAML";
    unsigned line, col;

    switch (p->error) {
    case YAML_MEMORY_ERROR:
        pol_err_at(b->ctx, b->file, 1, 1, "out of memory while parsing");
        break;
    case YAML_READER_ERROR:
        offset_pos(buf, len, p->problem_offset, &line, &col);
        if (p->problem_value != -1)
            pol_err_at(b->ctx, b->file, line, col, "%s (byte 0x%02x)", problem,
                       (unsigned)p->problem_value & 0xffu);
        else
            pol_err_at(b->ctx, b->file, line, col, "%s", problem);
        break;
    default:
        line = mark_num(p->problem_mark.line);
        col = mark_num(p->problem_mark.column);
        if (p->context != NULL)
            pol_err_at(b->ctx, b->file, line, col, "%s (%s at line %u:%u)", problem, p->context,
                       mark_num(p->context_mark.line), mark_num(p->context_mark.column));
        else
            pol_err_at(b->ctx, b->file, line, col, "%s", problem);
        break;
    }
}

static int
on_event(struct build *b, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        if (++b->ndocs > 1) {
            err_mark(b, &ev->start_mark, "multiple documents are not supported");
            return PC_ERR_INVALID;
        }
        return PC_OK;
    case YAML_ALIAS_EVENT:
        err_mark(b, &ev->start_mark, "aliases are not supported");
        return PC_ERR_INVALID;
    case YAML_SCALAR_EVENT:
        return on_scalar(b, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(b, ev, POL_NODE_SEQ);
    case YAML_MAPPING_START_EVENT:
        return on_start(b, ev, POL_NODE_MAP);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(b);
    case YAML_NO_EVENT:
    case YAML_STREAM_START_EVENT:
    case YAML_STREAM_END_EVENT:
    case YAML_DOCUMENT_END_EVENT:
        return PC_OK;
    }
    return PC_ERR_INTERNAL;
}

int
pol_yaml_parse(struct pol_ctx *ctx, const char *file, const char *buf, size_t len,
               struct pol_node **out)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    struct build b;
    int rc = PC_ERR_INVALID, parser_ok = 0, have_ev = 0, done = 0;

    *out = NULL;
    memset(&b, 0, sizeof(b));
    b.ctx = ctx;
    b.file = file;
    if (len > PC_CONF_MAX_BYTES) {
        pol_errf(ctx, "%s: %zu bytes, more than the limit of %d", file, len, PC_CONF_MAX_BYTES);
        rc = PC_ERR_TOO_LARGE;
        goto out;
    }
    if (yaml_parser_initialize(&parser) == 0) {
        pol_errf(ctx, "%s: cannot initialise the YAML parser", file);
        goto out;
    }
    parser_ok = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
    while (!done) {
        if (yaml_parser_parse(&parser, &ev) == 0) {
            parser_error(&b, &parser, buf, len);
            goto out;
        }
        have_ev = 1;
        done = ev.type == YAML_STREAM_END_EVENT;
        if (on_event(&b, &ev) != PC_OK)
            goto out;
        if (ev.type == YAML_SCALAR_EVENT)
            OPENSSL_cleanse(ev.data.scalar.value, ev.data.scalar.length);
        yaml_event_delete(&ev);
        have_ev = 0;
    }
    *out = b.root;
    b.root = NULL;
    rc = PC_OK;
out:
    if (have_ev) {
        if (ev.type == YAML_SCALAR_EVENT)
            OPENSSL_cleanse(ev.data.scalar.value, ev.data.scalar.length);
        yaml_event_delete(&ev);
    }
    if (parser_ok)
        yaml_parser_delete(&parser);
    pol_node_free(b.root);
    return rc;
}
