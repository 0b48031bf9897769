/*
 * The commands that read the index or revoke: client list, client show,
 * client revoke, crl.  See cm_admin.c for the conventions of a handler.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "cm.h"

/* --- client list ----------------------------------------------------------- */

enum { O_LIST_JSON };

static const struct cm_opt list_opts[] = {
    [O_LIST_JSON] = {"--json", CM_OPT_FLAG, NULL, "a JSON array instead of a table"},
};

/* "uri:a,dns:b,email:c" or "-". */
static void
sans_line(const struct cm_sans *s, struct pc_buf *b)
{
    static const char *const kinds[] = {"uri", "dns", "email"};
    const struct cm_strv *sv[] = {&s->uri, &s->dns, &s->email};
    size_t k, i;

    pc_buf_reset(b);
    for (k = 0; k < 3; k++)
        for (i = 0; i < sv[k]->n; i++)
            pc_buf_addf(b, "%s%s:%s", b->len > 0 ? "," : "", kinds[k], sv[k]->v[i]);
    if (b->len == 0)
        pc_buf_adds(b, "-");
}

static int
list_json(const struct cm_index *idx, time_t now)
{
    json_t *arr = json_array();
    size_t i;
    int rc = PC_OK;

    for (i = 0; i < idx->n; i++)
        json_array_append_new(arr, cm_entry_json(&idx->certs[i], now));
    if (json_dumpf(arr, stdout, JSON_INDENT(2)) != 0) {
        cm_err_set("writing to standard output failed");
        rc = PC_ERR_IO;
    }
    putchar('\n');
    json_decref(arr);
    return rc;
}

static void
list_table(const struct cm_index *idx, time_t now)
{
    char tbuf[CM_TIME_LEN + 1];
    struct pc_buf b;
    size_t i, w = 4;

    /* every SAN is at most CM_SAN_MAX_BYTES, CM_SANS_MAX of them */
    pc_buf_init(&b, (size_t)CM_SANS_MAX * (CM_SAN_MAX_BYTES + 8));
    for (i = 0; i < idx->n; i++)
        if (strlen(idx->certs[i].name) > w)
            w = strlen(idx->certs[i].name);
    printf("%-32s  %-*s  %-20s  %-7s  %s\n", "SERIAL", (int)w, "NAME", "NOT AFTER", "STATUS",
           "SANS");
    for (i = 0; i < idx->n; i++) {
        const struct cm_entry *e = &idx->certs[i];
        sans_line(&e->sans, &b);
        printf("%-32s  %-*s  %-20s  %-7s  %s\n", e->serial, (int)w, e->name,
               cm_time_format(e->not_after, tbuf), cm_status_name(cm_entry_status(e, now)), b.data);
    }
    pc_buf_clear(&b);
}

static enum cm_exit
run_client_list(const char *dir, const struct cm_args *a)
{
    struct cm_ca *ca = NULL;
    enum cm_exit ex = CM_EXIT_FAIL;

    if (cm_ca_open(dir, false, false, &ca) != PC_OK)
        goto out;
    if (a->nval[O_LIST_JSON] > 0) {
        if (list_json(cm_ca_index(ca), time(NULL)) != PC_OK)
            goto out;
    } else {
        list_table(cm_ca_index(ca), time(NULL));
    }
    ex = CM_EXIT_OK;
out:
    cm_ca_close(ca);
    return ex;
}

const struct cm_cmd cm_cmd_client_list = {
    .group = "client",
    .name = "list",
    .synopsis = "[--json]",
    .summary = "list issued certificates (serial, name, not after, status, SANs)",
    .help = "Status is valid, revoked or expired.  --json prints every field of the index.",
    .opts = list_opts,
    .nopts = sizeof(list_opts) / sizeof(list_opts[0]),
    .run = run_client_list,
};

/* --- client show ----------------------------------------------------------- */

/* Entries matching SERIAL|NAME; records the reason when there is none. */
static int
match(const struct cm_index *idx, const char *arg, size_t **which, size_t *n, bool *by_serial)
{
    char esc[CM_ESC_MAX];

    cm_index_match(idx, arg, which, n, by_serial);
    if (*n > 0)
        return PC_OK;
    cm_err_set("no certificate with serial or name \"%s\"", cm_esc(esc, arg, strlen(arg)));
    return PC_ERR_NOT_FOUND;
}

static void
show_entry(const char *dir, const struct cm_entry *e, time_t now)
{
    static const char *const kinds[] = {"uri", "dns", "email"};
    const struct cm_strv *sv[] = {&e->sans.uri, &e->sans.dns, &e->sans.email};
    char tbuf[CM_TIME_LEN + 1];
    size_t k, i;

    printf("serial:      %s\n", e->serial);
    printf("name:        %s\n", e->name);
    printf("status:      %s\n", cm_status_name(cm_entry_status(e, now)));
    printf("not before:  %s\n", cm_time_format(e->not_before, tbuf));
    printf("not after:   %s\n", cm_time_format(e->not_after, tbuf));
    for (k = 0; k < 3; k++)
        for (i = 0; i < sv[k]->n; i++)
            printf("%s:%*s%s\n", kinds[k], (int)(12 - strlen(kinds[k])), "", sv[k]->v[i]);
    if (e->status == CM_STATUS_REVOKED) {
        printf("revoked at:  %s\n", cm_time_format(e->revoked_at, tbuf));
        printf("reason:      %s\n", cm_reason_name(e->reason));
    }
    printf("certificate: %s/issued/%s.pem\n", dir, e->serial);
}

static enum cm_exit
run_client_show(const char *dir, const struct cm_args *a)
{
    struct cm_ca *ca = NULL;
    size_t *which = NULL, n = 0, i;
    bool by_serial;
    time_t now = time(NULL);
    enum cm_exit ex = CM_EXIT_FAIL;

    if (cm_ca_open(dir, false, false, &ca) != PC_OK ||
        match(cm_ca_index(ca), a->pos[0], &which, &n, &by_serial) != PC_OK)
        goto out;
    for (i = 0; i < n; i++) {
        if (i > 0)
            putchar('\n');
        show_entry(dir, &cm_ca_index(ca)->certs[which[i]], now);
    }
    ex = CM_EXIT_OK;
out:
    free(which);
    cm_ca_close(ca);
    return ex;
}

const struct cm_cmd cm_cmd_client_show = {
    .group = "client",
    .name = "show",
    .synopsis = "SERIAL|NAME",
    .summary = "show every field of the matching certificates",
    .help = "SERIAL is hex (any case, colons allowed); a serial in the index wins over a NAME.",
    .min_pos = 1,
    .max_pos = 1,
    .run = run_client_show,
};

/* --- client revoke --------------------------------------------------------- */

enum { O_REV_REASON };

static const struct cm_opt revoke_opts[] = {
    [O_REV_REASON] = {"--reason", CM_OPT_VALUE, "REASON",
                      "unspecified (default), keyCompromise, cACompromise, affiliationChanged, "
                      "superseded, cessationOfOperation, privilegeWithdrawn"},
};

/* Keep the entries not yet revoked; the reason when none is left. */
static int
only_valid(const struct cm_index *idx, const char *arg, bool by_serial, size_t *which, size_t *n)
{
    char esc[CM_ESC_MAX];
    size_t i, k = 0;

    for (i = 0; i < *n; i++)
        if (idx->certs[which[i]].status != CM_STATUS_REVOKED)
            which[k++] = which[i];
    if (k > 0) {
        *n = k;
        return PC_OK;
    }
    if (by_serial)
        cm_err_set("certificate %s is already revoked", idx->certs[which[0]].serial);
    else
        cm_err_set("every certificate named \"%s\" is already revoked",
                   cm_esc(esc, arg, strlen(arg)));
    return PC_ERR_EXISTS;
}

static enum cm_exit
run_client_revoke(const char *dir, const struct cm_args *a)
{
    const char *rs = cm_args_get(a, O_REV_REASON);
    struct cm_ca *ca = NULL;
    struct cm_index *idx;
    size_t *which = NULL, n = 0, i;
    uint64_t number = 0;
    bool by_serial;
    int reason = CM_REASON_UNSPECIFIED;
    enum cm_exit ex = CM_EXIT_FAIL;

    if (rs != NULL) {
        reason = cm_reason_parse(rs);
        if (reason < 0) {
            cm_err_set("--reason: one of %s", revoke_opts[O_REV_REASON].help);
            return CM_EXIT_USAGE;
        }
    }
    if (cm_ca_open(dir, true, true, &ca) != PC_OK)
        goto out;
    idx = cm_ca_index(ca);
    if (match(idx, a->pos[0], &which, &n, &by_serial) != PC_OK ||
        only_valid(idx, a->pos[0], by_serial, which, &n) != PC_OK ||
        cm_ca_revoke(ca, which, n, reason, time(NULL)) != PC_OK)
        goto out;
    for (i = 0; i < n; i++)
        printf("revoked %s (%s)\n", idx->certs[which[i]].serial, idx->certs[which[i]].name);
    if (cm_ca_crl(ca, NULL, CM_CRL_NEXT_DEFAULT_SEC, &number) != PC_OK) {
        cm_err_prefix("revoked in the index, but the CRL was not regenerated (run: "
                      "portcullis-admin crl)");
        goto out;
    }
    printf("crl: %s/crl.pem (number %llu)\n", dir, (unsigned long long)number);
    ex = CM_EXIT_OK;
out:
    free(which);
    cm_ca_close(ca);
    return ex;
}

const struct cm_cmd cm_cmd_client_revoke = {
    .group = "client",
    .name = "revoke",
    .synopsis = "SERIAL|NAME [--reason REASON]",
    .summary = "revoke certificates and regenerate the CRL",
    .help = "A NAME revokes every certificate of that name that is not yet revoked.\n"
            "DIR/crl.pem is regenerated (next update in 30 days).",
    .opts = revoke_opts,
    .nopts = sizeof(revoke_opts) / sizeof(revoke_opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run_client_revoke,
};

/* --- crl ------------------------------------------------------------------- */

enum { O_CRL_OUT, O_CRL_NEXT };

static const struct cm_opt crl_opts[] = {
    [O_CRL_OUT] = {"--out", CM_OPT_VALUE, "FILE", "write here instead of DIR/crl.pem"},
    [O_CRL_NEXT] = {"--next-update", CM_OPT_VALUE, "DURATION",
                    "nextUpdate = now + DURATION (default 30d; e.g. 7d, 12h)"},
};

static enum cm_exit
run_crl(const char *dir, const struct cm_args *a)
{
    const char *out = cm_args_get(a, O_CRL_OUT), *sn = cm_args_get(a, O_CRL_NEXT);
    char tbuf[CM_TIME_LEN + 1], path[PATH_MAX];
    struct cm_ca *ca = NULL;
    uint64_t ms = (uint64_t)CM_CRL_NEXT_DEFAULT_SEC * 1000, number = 0;
    enum cm_exit ex = CM_EXIT_FAIL;

    if (sn != NULL && (pc_parse_duration_ms(sn, strlen(sn), &ms) != PC_OK || ms < 1000 ||
                       ms > (uint64_t)CM_CRL_NEXT_MAX_SEC * 1000 || ms % 1000 != 0)) {
        cm_err_set("--next-update: a duration such as 7d or 12h, from 1s to 3650d");
        return CM_EXIT_USAGE;
    }
    if (cm_ca_open(dir, true, true, &ca) != PC_OK ||
        cm_ca_crl(ca, out, (time_t)(ms / 1000), &number) != PC_OK)
        goto out;
    if (out == NULL && cm_path(path, sizeof(path), dir, "crl.pem") == PC_OK)
        out = path;
    printf("crl: %s (number %llu, next update %s)\n", out, (unsigned long long)number,
           cm_time_format(time(NULL) + (time_t)(ms / 1000), tbuf));
    ex = CM_EXIT_OK;
out:
    cm_ca_close(ca);
    return ex;
}

const struct cm_cmd cm_cmd_crl = {
    .group = NULL,
    .name = "crl",
    .synopsis = "[--out FILE] [--next-update DURATION]",
    .summary = "regenerate the CRL from the index (revoke does it too)",
    .help = "Every revoked certificate with its date and reason; the CRL number grows by one\n"
            "each time (it is kept in the index).",
    .opts = crl_opts,
    .nopts = sizeof(crl_opts) / sizeof(crl_opts[0]),
    .run = run_crl,
};
