/*
 * DIR/index.json: every certificate the CA signed, its SANs, validity and
 * revocation, plus the number of the last CRL.  Parsed with jansson under
 * PC_INDEX_MAX_BYTES and validated completely before anything uses it: a
 * wrong type, a missing or unknown field, a bad serial or a duplicate serial
 * refuses the whole file ("DIR/index.json: certs[3].serial: ...").  The
 * format is in docs/internals/CA.md.  See cm.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "cm.h"

#define CM_INDEX_VERSION 1 /* "version" we read and write */

void
cm_index_init(struct cm_index *idx)
{
    memset(idx, 0, sizeof(*idx));
}

void
cm_entry_clear(struct cm_entry *e)
{
    free(e->name);
    cm_sans_clear(&e->sans);
    memset(e, 0, sizeof(*e));
}

void
cm_index_clear(struct cm_index *idx)
{
    size_t i;

    for (i = 0; i < idx->n; i++)
        cm_entry_clear(&idx->certs[i]);
    free(idx->certs);
    cm_index_init(idx);
}

const char *
cm_status_name(enum cm_status st)
{
    switch (st) {
    case CM_STATUS_VALID:
        return "valid";
    case CM_STATUS_REVOKED:
        return "revoked";
    case CM_STATUS_EXPIRED:
        return "expired";
    }
    return "?";
}

enum cm_status
cm_entry_status(const struct cm_entry *e, time_t now)
{
    if (e->status == CM_STATUS_REVOKED)
        return CM_STATUS_REVOKED;
    return e->not_after < now ? CM_STATUS_EXPIRED : CM_STATUS_VALID;
}

/* Refuse keys outside `allowed`: a typo must not silently drop a field. */
static int
check_keys(json_t *obj, const char *const *allowed, size_t n, const char *what, const char *ctx)
{
    char esc[CM_ESC_MAX];
    const char *key;
    json_t *v;
    size_t i;

    json_object_foreach(obj, key, v)
    {
        for (i = 0; i < n; i++)
            if (strcmp(key, allowed[i]) == 0)
                break;
        if (i == n) {
            cm_err_set("%s: %sunknown field \"%s\"", what, ctx, cm_esc(esc, key, strlen(key)));
            return PC_ERR_INVALID;
        }
    }
    return PC_OK;
}

/* A string field; *s borrows from the JSON tree. */
static int
get_str(json_t *obj, const char *key, const char *what, const char *ctx, const char **s,
        size_t *len)
{
    json_t *v = json_object_get(obj, key);

    if (v == NULL) {
        cm_err_set("%s: %smissing field \"%s\"", what, ctx, key);
        return PC_ERR_INVALID;
    }
    if (!json_is_string(v)) {
        cm_err_set("%s: %s%s: must be a string", what, ctx, key);
        return PC_ERR_INVALID;
    }
    *s = json_string_value(v);
    *len = json_string_length(v);
    return PC_OK;
}

static int
get_time(json_t *obj, const char *key, const char *what, const char *ctx, time_t *t)
{
    const char *s;
    size_t len;
    int rc = get_str(obj, key, what, ctx, &s, &len);

    if (rc != PC_OK)
        return rc;
    if (cm_time_parse_iso(s, len, t) != PC_OK) {
        cm_err_set("%s: %s%s: not a time of the form YYYY-MM-DDTHH:MM:SSZ", what, ctx, key);
        return PC_ERR_INVALID;
    }
    return PC_OK;
}

static int
get_sans(json_t *obj, const char *key, const char *what, const char *ctx, struct cm_sans *sans)
{
    char where[CM_ERR_MAX];
    json_t *arr = json_object_get(obj, key), *v;
    size_t i;
    int rc;

    if (arr == NULL) {
        cm_err_set("%s: %smissing field \"%s\"", what, ctx, key);
        return PC_ERR_INVALID;
    }
    if (!json_is_array(arr)) {
        cm_err_set("%s: %s%s: must be an array", what, ctx, key);
        return PC_ERR_INVALID;
    }
    json_array_foreach(arr, i, v)
    {
        snprintf(where, sizeof(where), "%s: %s%s[%zu]", what, ctx, key, i);
        if (!json_is_string(v)) {
            cm_err_set("%s: must be a string", where);
            return PC_ERR_INVALID;
        }
        rc = cm_sans_add(sans, key, json_string_value(v), json_string_length(v), where);
        if (rc != PC_OK)
            return rc;
    }
    return PC_OK;
}

static int
parse_entry(json_t *o, size_t i, const char *what, struct cm_entry *e)
{
    static const char *const keys[] = {"serial",     "name",      "uri",    "dns",        "email",
                                       "not_before", "not_after", "status", "revoked_at", "reason"};
    char ctx[64];
    const char *s;
    size_t len;
    json_t *rv, *rr;
    int rc;

    snprintf(ctx, sizeof(ctx), "certs[%zu].", i);
    if (!json_is_object(o)) {
        cm_err_set("%s: certs[%zu]: must be an object", what, i);
        return PC_ERR_INVALID;
    }
    rc = check_keys(o, keys, sizeof(keys) / sizeof(keys[0]), what, ctx);
    if (rc == PC_OK)
        rc = get_str(o, "serial", what, ctx, &s, &len);
    if (rc != PC_OK)
        return rc;
    if (!cm_serial_is_canonical(s, len)) {
        cm_err_set("%s: %sserial: not a serial (lower-case hex, whole bytes, 1..20 bytes)", what,
                   ctx);
        return PC_ERR_INVALID;
    }
    memcpy(e->serial, s, len + 1);
    rc = get_str(o, "name", what, ctx, &s, &len);
    if (rc != PC_OK)
        return rc;
    if (!cm_name_is_valid(s, len)) {
        cm_err_set("%s: %sname: not a valid name ([A-Za-z0-9._-]{1,64})", what, ctx);
        return PC_ERR_INVALID;
    }
    e->name = pc_xstrndup(s, len);
    rc = get_sans(o, "uri", what, ctx, &e->sans);
    if (rc == PC_OK)
        rc = get_sans(o, "dns", what, ctx, &e->sans);
    if (rc == PC_OK)
        rc = get_sans(o, "email", what, ctx, &e->sans);
    if (rc == PC_OK)
        rc = get_time(o, "not_before", what, ctx, &e->not_before);
    if (rc == PC_OK)
        rc = get_time(o, "not_after", what, ctx, &e->not_after);
    if (rc == PC_OK)
        rc = get_str(o, "status", what, ctx, &s, &len);
    if (rc != PC_OK)
        return rc;
    if (e->not_after <= e->not_before) {
        cm_err_set("%s: %snot_after is not later than not_before", what, ctx);
        return PC_ERR_INVALID;
    }
    rv = json_object_get(o, "revoked_at");
    rr = json_object_get(o, "reason");
    if (strcmp(s, "valid") == 0) {
        e->status = CM_STATUS_VALID;
        if ((rv != NULL && !json_is_null(rv)) || (rr != NULL && !json_is_null(rr))) {
            cm_err_set("%s: %srevoked_at/reason set on a valid certificate", what, ctx);
            return PC_ERR_INVALID;
        }
        return PC_OK;
    }
    if (strcmp(s, "revoked") != 0) {
        cm_err_set("%s: %sstatus: must be \"valid\" or \"revoked\"", what, ctx);
        return PC_ERR_INVALID;
    }
    e->status = CM_STATUS_REVOKED;
    rc = get_time(o, "revoked_at", what, ctx, &e->revoked_at);
    if (rc == PC_OK)
        rc = get_str(o, "reason", what, ctx, &s, &len);
    if (rc != PC_OK)
        return rc;
    e->reason = cm_reason_parse(s);
    if (e->reason < 0 || strcmp(s, cm_reason_name(e->reason)) != 0) {
        cm_err_set("%s: %sreason: not an RFC 5280 reason name", what, ctx);
        return PC_ERR_INVALID;
    }
    return PC_OK;
}

static int
cmp_serial(const void *a, const void *b)
{
    const struct cm_entry *const *x = a, *const *y = b;
    size_t lx = strlen((*x)->serial), ly = strlen((*y)->serial);

    if (lx != ly) /* canonical: a shorter serial is a smaller number */
        return lx < ly ? -1 : 1;
    return strcmp((*x)->serial, (*y)->serial);
}

/* Duplicate serials would make revocation ambiguous: refuse them (O(n log n)). */
static int
check_unique(const struct cm_index *idx, const char *what)
{
    const struct cm_entry **v = NULL;
    size_t i;
    int rc = PC_OK;

    if (idx->n < 2)
        return PC_OK;
    v = pc_xcalloc(idx->n, sizeof(*v));
    for (i = 0; i < idx->n; i++)
        v[i] = &idx->certs[i];
    qsort(v, idx->n, sizeof(*v), cmp_serial);
    for (i = 1; i < idx->n; i++) {
        if (strcmp(v[i - 1]->serial, v[i]->serial) == 0) {
            cm_err_set("%s: serial %s appears more than once", what, v[i]->serial);
            rc = PC_ERR_INVALID;
            break;
        }
    }
    free(v);
    return rc;
}

int
cm_index_parse(const char *buf, size_t len, const char *what, struct cm_index *idx)
{
    static const char *const keys[] = {"version", "crl_number", "certs"};
    char esc[CM_ESC_MAX];
    json_error_t jerr;
    json_t *root = NULL, *v, *certs;
    json_int_t n;
    size_t i;
    int rc = PC_ERR_INVALID;

    cm_index_init(idx);
    if (len > PC_INDEX_MAX_BYTES) {
        cm_err_set("%s: larger than the limit of %d bytes", what, PC_INDEX_MAX_BYTES);
        return PC_ERR_TOO_LARGE;
    }
    /* duplicate keys would let two readers see two different files */
    root = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL) {
        cm_err_set("%s: not valid JSON (line %d, column %d: %s)", what, jerr.line, jerr.column,
                   cm_esc(esc, jerr.text, strlen(jerr.text)));
        rc = PC_ERR_PARSE;
        goto out;
    }
    if (!json_is_object(root)) {
        cm_err_set("%s: not a JSON object", what);
        goto out;
    }
    if (check_keys(root, keys, sizeof(keys) / sizeof(keys[0]), what, "") != PC_OK)
        goto out;
    v = json_object_get(root, "version");
    if (v == NULL || !json_is_integer(v)) {
        cm_err_set("%s: missing or non-integer \"version\"", what);
        goto out;
    }
    if (json_integer_value(v) != CM_INDEX_VERSION) {
        cm_err_set("%s: unsupported version %lld (this program reads version %d)", what,
                   (long long)json_integer_value(v), CM_INDEX_VERSION);
        goto out;
    }
    v = json_object_get(root, "crl_number");
    if (v == NULL || !json_is_integer(v)) {
        cm_err_set("%s: missing or non-integer \"crl_number\"", what);
        goto out;
    }
    n = json_integer_value(v);
    if (n < 0 || (uint64_t)n > CM_CRL_NUMBER_MAX) {
        cm_err_set("%s: crl_number out of range", what);
        goto out;
    }
    idx->crl_number = (uint64_t)n;
    certs = json_object_get(root, "certs");
    if (certs == NULL || !json_is_array(certs)) {
        cm_err_set("%s: missing \"certs\" array", what);
        goto out;
    }
    if (json_array_size(certs) > CM_INDEX_MAX_CERTS) {
        cm_err_set("%s: more than %d certificates", what, CM_INDEX_MAX_CERTS);
        rc = PC_ERR_TOO_LARGE;
        goto out;
    }
    idx->alloc = json_array_size(certs);
    idx->certs = pc_xcalloc(idx->alloc == 0 ? 1 : idx->alloc, sizeof(*idx->certs));
    json_array_foreach(certs, i, v)
    {
        idx->n++; /* count it first: a half-parsed entry is freed with the rest */
        rc = parse_entry(v, i, what, &idx->certs[i]);
        if (rc != PC_OK)
            goto out;
    }
    rc = check_unique(idx, what);
out:
    json_decref(root);
    if (rc != PC_OK)
        cm_index_clear(idx);
    return rc;
}

int
cm_index_load(const char *path, struct cm_index *idx)
{
    char *buf = NULL;
    size_t len = 0;
    int rc;

    cm_index_init(idx);
    rc = cm_file_read(path, PC_INDEX_MAX_BYTES, &buf, &len);
    if (rc == PC_OK)
        rc = cm_index_parse(buf, len, path, idx);
    free(buf);
    return rc;
}

static json_t *
strv_json(const struct cm_strv *sv)
{
    json_t *a = json_array();
    size_t i;

    for (i = 0; i < sv->n; i++)
        json_array_append_new(a, json_string(sv->v[i]));
    return a;
}

static json_t *
time_json(time_t t)
{
    char buf[CM_TIME_LEN + 1];

    return json_string(cm_time_format(t, buf));
}

json_t *
cm_entry_json(const struct cm_entry *e, time_t now)
{
    json_t *o = json_object();
    enum cm_status st = now == 0 ? e->status : cm_entry_status(e, now);
    bool revoked = e->status == CM_STATUS_REVOKED;

    json_object_set_new(o, "serial", json_string(e->serial));
    json_object_set_new(o, "name", json_string(e->name));
    json_object_set_new(o, "uri", strv_json(&e->sans.uri));
    json_object_set_new(o, "dns", strv_json(&e->sans.dns));
    json_object_set_new(o, "email", strv_json(&e->sans.email));
    json_object_set_new(o, "not_before", time_json(e->not_before));
    json_object_set_new(o, "not_after", time_json(e->not_after));
    json_object_set_new(o, "status", json_string(cm_status_name(st)));
    json_object_set_new(o, "revoked_at", revoked ? time_json(e->revoked_at) : json_null());
    json_object_set_new(o, "reason",
                        revoked ? json_string(cm_reason_name(e->reason)) : json_null());
    return o;
}

int
cm_index_dump(const struct cm_index *idx, char **out, size_t *len)
{
    json_t *root = json_object(), *certs = json_array();
    char *text = NULL;
    size_t i, n;

    *out = NULL;
    *len = 0;
    for (i = 0; i < idx->n; i++)
        json_array_append_new(certs, cm_entry_json(&idx->certs[i], 0));
    json_object_set_new(root, "version", json_integer(CM_INDEX_VERSION));
    json_object_set_new(root, "crl_number", json_integer((json_int_t)idx->crl_number));
    json_object_set_new(root, "certs", certs);
    text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    if (text == NULL) {
        cm_err_set("cannot serialise the index"); /* only OOM or a bug gets here */
        return PC_ERR_INTERNAL;
    }
    n = strlen(text);
    *out = pc_xrealloc(text, n + 2);
    (*out)[n] = '\n';
    (*out)[n + 1] = '\0';
    *len = n + 1;
    return PC_OK;
}

int
cm_index_save(const char *path, const struct cm_index *idx)
{
    char *text = NULL;
    size_t len = 0;
    int rc;

    rc = cm_index_dump(idx, &text, &len);
    if (rc == PC_OK)
        rc = cm_file_write(path, text, len, 0644);
    free(text);
    return rc;
}

struct cm_entry *
cm_index_find(const struct cm_index *idx, const char *serial)
{
    size_t i;

    for (i = 0; i < idx->n; i++)
        if (strcmp(idx->certs[i].serial, serial) == 0)
            return &idx->certs[i];
    return NULL;
}

void
cm_index_add(struct cm_index *idx, struct cm_entry *e)
{
    if (idx->n == idx->alloc) {
        idx->alloc = idx->alloc < 16 ? 16 : idx->alloc * 2;
        idx->certs = pc_xreallocarray(idx->certs, idx->alloc, sizeof(*idx->certs));
    }
    idx->certs[idx->n++] = *e;
    memset(e, 0, sizeof(*e)); /* ownership moved to the index */
}

void
cm_index_match(const struct cm_index *idx, const char *arg, size_t **which, size_t *n,
               bool *by_serial)
{
    char serial[CM_SERIAL_HEX_MAX + 1];
    size_t i;

    *which = pc_xcalloc(idx->n == 0 ? 1 : idx->n, sizeof(**which));
    *n = 0;
    *by_serial = false;
    /* a serial first: names like "cafe" are also hex, serials are what is unique */
    if (cm_serial_parse(arg, serial) == PC_OK) {
        for (i = 0; i < idx->n; i++) {
            if (strcmp(idx->certs[i].serial, serial) == 0) {
                (*which)[(*n)++] = i;
                *by_serial = true;
                return;
            }
        }
    }
    for (i = 0; i < idx->n; i++)
        if (strcmp(idx->certs[i].name, arg) == 0)
            (*which)[(*n)++] = i;
}
