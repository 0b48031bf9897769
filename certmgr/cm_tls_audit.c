/*
 * portcullis-admin tls audit HOST:PORT: grade the TLS a server offers
 * against tls-policy.yaml.  This file is the command: its options, the
 * policy (pol_tls_load(), the gateway's own loader), the report (text with
 * ✓/✗ lines, or --json) and the exit status: 0 compliant, 1 a violation or
 * a connection failure (one line on stderr), 2 bad usage.  The probes are in
 * cm_tls_audit_probe.c, the grading in cm_tls_audit_grade.c; the method and
 * the rules in docs/internals/TLS-AUDIT.md.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "policy/pol.h"
#include "cm.h"

#define CM_DEFAULT_TLS_POLICY "/etc/portcullis/tls-policy.yaml"

enum { O_AUDIT_POLICY, O_AUDIT_SNI, O_AUDIT_CAFILE, O_AUDIT_CERT, O_AUDIT_KEY, O_AUDIT_JSON };

static const struct cm_opt audit_opts[] = {
    [O_AUDIT_POLICY] = {"--policy", CM_OPT_VALUE, "FILE",
                        "the TLS policy (default " CM_DEFAULT_TLS_POLICY ")"},
    [O_AUDIT_SNI] = {"--sni", CM_OPT_VALUE, "NAME",
                     "server name sent and checked (default HOST when it is a name)"},
    [O_AUDIT_CAFILE] = {"--cafile", CM_OPT_VALUE, "FILE",
                        "trust for the server's chain (default the system store)"},
    [O_AUDIT_CERT] = {"--cert", CM_OPT_VALUE, "CERT.pem", "client certificate to present"},
    [O_AUDIT_KEY] = {"--key", CM_OPT_VALUE, "KEY.pem", "its private key (mode 0600)"},
    [O_AUDIT_JSON] = {"--json", CM_OPT_FLAG, NULL, "a JSON report instead of text"},
};

static const char *
res_key(enum cm_audit_res r)
{
    switch (r) {
    case CM_AUDIT_REFUSED:
        return "refused";
    case CM_AUDIT_ACCEPTED:
        return "accepted";
    case CM_AUDIT_ACCEPTED_CERTREQ:
        return "accepted_client_cert_required";
    case CM_AUDIT_ACCEPTED_FAILED:
        return "accepted_then_failed";
    case CM_AUDIT_UNTESTED:
        break;
    }
    return "untested";
}

static const char *
profile_name(const struct pol_tls *pol)
{
    return pol->profile == POL_TLS_MODERN ? "modern" : "intermediate";
}

/* --- text ------------------------------------------------------------------------- */

static void
print_text(const char *target, const struct cm_audit_target *t, const struct pol_tls *pol,
           const struct cm_audit_report *r)
{
    size_t i;
    int sec = -1;

    printf("TLS audit of %s", target);
    if (t->sni != NULL)
        printf(" (SNI %s)", t->sni);
    printf("\npolicy: %s (profile %s)\n", pol->path, profile_name(pol));
    for (i = 0; i < r->n; i++) {
        const struct cm_audit_finding *f = &r->f[i];
        if ((int)f->sec != sec) {
            sec = (int)f->sec;
            printf("\n%s\n", cm_audit_sec_name(f->sec, false));
        }
        printf("  %s %s\n",
               f->mark == CM_AUDIT_OK          ? "\u2713"
               : f->mark == CM_AUDIT_VIOLATION ? "\u2717"
                                               : " ",
               f->text);
    }
    if (r->nviolations == 0)
        printf("\nSummary: \u2713 compliant with %s\n", pol->path);
    else
        printf("\nSummary: \u2717 not compliant with %s: %zu violation%s\n", pol->path,
               r->nviolations, r->nviolations == 1 ? "" : "s");
}

/* --- JSON -------------------------------------------------------------------------- */

static json_t *
str_or_null(const char *s)
{
    return s != NULL && s[0] != '\0' ? json_string(s) : json_null();
}

static json_t *
items_json(const struct cm_audit_item *it, size_t n)
{
    json_t *arr = json_array();
    size_t i;
    int v;

    for (i = 0; i < n; i++) {
        json_t *vers;
        if (!cm_audit_res_accepted(it[i].res))
            continue;
        vers = json_array();
        for (v = CM_AUDIT_NVER - 1; v >= 0; v--)
            if ((it[i].vers & (1u << v)) != 0)
                json_array_append_new(vers, json_string(cm_audit_ver_name((enum cm_audit_ver)v)));
        json_array_append_new(arr, json_pack("{s:s, s:s, s:o}", "name", it[i].name, "result",
                                             res_key(it[i].res), "versions", vers));
    }
    return arr;
}

static json_t *
cert_json(const struct cm_audit_obs *o, time_t now)
{
    char nb[CM_TIME_LEN + 1], na[CM_TIME_LEN + 1];
    json_t *chain = json_array();
    size_t i;

    for (i = 0; i < o->nchain; i++) {
        const struct cm_audit_cert *c = &o->chain[i];
        long long left = ((long long)c->not_after - (long long)now) / 86400;
        json_array_append_new(
            chain,
            json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:I}", "subject", c->subject, "issuer",
                      c->issuer, "key", c->key, "signature", c->sig, "names", str_or_null(c->sans),
                      "not_before", cm_time_format(c->not_before, nb), "not_after",
                      cm_time_format(c->not_after, na), "days_left", (json_int_t)left));
    }
    return json_pack("{s:o, s:s, s:b, s:o, s:s, s:b}", "chain", chain, "trust", o->trust,
                     "verified", o->nchain > 0 && o->chain_verified, "verify_error",
                     str_or_null(o->nchain > 0 ? o->verify_error : "no certificate received"),
                     "name", o->name, "name_ok", o->nchain > 0 && o->name_ok);
}

static json_t *
hsts_json(const struct pol_tls *pol, const struct cm_audit_obs *o)
{
    json_t *req = pol->hsts_max_age == 0
                      ? json_null()
                      : json_pack("{s:I, s:b, s:b}", "max_age", (json_int_t)pol->hsts_max_age,
                                  "include_subdomains", pol->hsts_include_subdomains, "preload",
                                  pol->hsts_preload);
    json_t *seen =
        !o->hsts_present
            ? json_null()
            : json_pack("{s:s, s:b, s:I, s:b, s:b}", "header", o->hsts_raw, "valid", o->hsts.valid,
                        "max_age", (json_int_t)o->hsts.max_age, "include_subdomains",
                        o->hsts.include_subdomains, "preload", o->hsts.preload);

    return json_pack("{s:o, s:b, s:o, s:o, s:o}", "required", req, "read", o->http_done, "status",
                     o->http_done ? json_integer(o->http_status) : json_null(), "error",
                     str_or_null(o->http_done ? NULL : o->http_error), "sent", seen);
}

static int
print_json(const char *target, const struct cm_audit_target *t, const struct pol_tls *pol,
           const struct cm_audit_obs *o, const struct cm_audit_report *r, time_t now)
{
    json_t *doc, *protos = json_object(), *findings = json_array();
    size_t i;
    int v, rc = PC_OK;

    for (v = 0; v < CM_AUDIT_NVER; v++)
        json_object_set_new(protos, cm_audit_ver_name((enum cm_audit_ver)v),
                            json_string(res_key(o->ver[v])));
    for (i = 0; i < r->n; i++) {
        const struct cm_audit_finding *f = &r->f[i];
        json_array_append_new(findings, json_pack("{s:s, s:s, s:s}", "section",
                                                  cm_audit_sec_name(f->sec, true), "result",
                                                  f->mark == CM_AUDIT_OK          ? "ok"
                                                  : f->mark == CM_AUDIT_VIOLATION ? "violation"
                                                                                  : "info",
                                                  "text", f->text));
    }
    doc = json_pack(
        "{s:s, s:o, s:s, s:s, s:b, s:I, s:o, s:{s:b, s:b, s:b}, s:o, s:o, s:o, s:o, s:o, s:o, "
        "s:I, s:b, s:o}",
        "target", target, "sni", str_or_null(t->sni), "policy", pol->path, "profile",
        profile_name(pol), "compliant", r->nviolations == 0, "violations",
        (json_int_t)r->nviolations, "protocols", protos, "client_certificate", "presented",
        o->client_cert, "requested", o->cert_requested, "required", o->cert_required, "negotiated",
        str_or_null(o->negotiated), "tls12_ciphers", items_json(o->tls12, o->ntls12),
        "tls13_ciphersuites", items_json(o->tls13, o->ntls13), "groups",
        items_json(o->groups, o->ngroups), "certificate", cert_json(o, now), "hsts",
        hsts_json(pol, o), "handshakes", (json_int_t)o->handshakes, "complete", !o->incomplete,
        "findings", findings);
    if (doc == NULL || json_dumpf(doc, stdout, JSON_INDENT(2)) != 0) {
        cm_err_set("cannot write the JSON report");
        rc = PC_ERR_INTERNAL;
    } else {
        fputc('\n', stdout);
    }
    json_decref(doc);
    return rc;
}

/* --- the command ------------------------------------------------------------------------ */

static enum cm_exit
check_args(const struct cm_args *a, struct cm_audit_target *t)
{
    char esc[CM_ESC_MAX];

    memset(t, 0, sizeof(*t));
    if (cm_audit_target_parse(a->pos[0], t) != PC_OK)
        return CM_EXIT_USAGE;
    t->sni = cm_args_get(a, O_AUDIT_SNI);
    t->cafile = cm_args_get(a, O_AUDIT_CAFILE);
    t->cert = cm_args_get(a, O_AUDIT_CERT);
    t->key = cm_args_get(a, O_AUDIT_KEY);
    if ((t->cert == NULL) != (t->key == NULL)) {
        cm_err_set("--cert and --key go together");
        return CM_EXIT_USAGE;
    }
    if (t->sni != NULL &&
        (strlen(t->sni) > CM_AUDIT_HOST_MAX || !cm_dns_is_valid(t->sni, strlen(t->sni)))) {
        cm_err_set("--sni \"%s\": not a DNS name", cm_esc(esc, t->sni, strlen(t->sni)));
        return CM_EXIT_USAGE;
    }
    return CM_EXIT_OK;
}

static enum cm_exit
run_tls_audit(const char *dir, const struct cm_args *a)
{
    const char *policy = cm_args_get(a, O_AUDIT_POLICY);
    bool json = cm_args_get(a, O_AUDIT_JSON) != NULL;
    struct cm_audit_target t;
    struct cm_audit_obs *obs = NULL;
    struct cm_audit_report rep;
    struct pol_errors errs;
    struct pol_tls pol;
    char target[CM_AUDIT_HOST_MAX + 16];
    time_t now;
    enum cm_exit ex;

    (void)dir;
    memset(&rep, 0, sizeof(rep));
    memset(&errs, 0, sizeof(errs));
    memset(&pol, 0, sizeof(pol));
    ex = check_args(a, &t);
    if (ex != CM_EXIT_OK)
        return ex;
    ex = CM_EXIT_FAIL;
    if (pol_tls_load(policy != NULL ? policy : CM_DEFAULT_TLS_POLICY, &pol, &errs) != PC_OK) {
        cm_err_set("%s%s", errs.n > 0 ? errs.msg[0] : "the TLS policy cannot be loaded",
                   errs.n + errs.dropped > 1 ? " (and more)" : "");
        goto out;
    }
    snprintf(target, sizeof(target), strchr(t.host, ':') != NULL ? "[%s]:%u" : "%s:%u", t.host,
             (unsigned)t.port);
    /* a server closing while we write must be an error, not our death */
    signal(SIGPIPE, SIG_IGN);
    obs = pc_xcalloc(1, sizeof(*obs));
    if (cm_audit_probe(&t, obs) != PC_OK)
        goto out;
    now = time(NULL);
    cm_audit_grade(&pol, obs, now, &rep);
    if (!json)
        print_text(target, &t, &pol, &rep);
    else if (print_json(target, &t, &pol, obs, &rep, now) != PC_OK)
        goto out;
    if (rep.nviolations == 0) {
        ex = CM_EXIT_OK;
    } else if (!cm_audit_res_accepted(obs->ver[CM_AUDIT_TLS10]) &&
               !cm_audit_res_accepted(obs->ver[CM_AUDIT_TLS11]) &&
               !cm_audit_res_accepted(obs->ver[CM_AUDIT_TLS12]) &&
               !cm_audit_res_accepted(obs->ver[CM_AUDIT_TLS13])) {
        cm_err_set("%s: no TLS handshake succeeded (%s)", target,
                   obs->first_error[0] != '\0' ? obs->first_error : "every version refused");
    } else {
        cm_err_set("%s is not compliant with %s: %zu violation%s", target, pol.path,
                   rep.nviolations, rep.nviolations == 1 ? "" : "s");
    }
out:
    cm_audit_report_clear(&rep);
    free(obs);
    pol_tls_clear(&pol);
    pol_errors_clear(&errs);
    return ex;
}

const struct cm_cmd cm_cmd_tls_audit = {
    .group = "tls",
    .name = "audit",
    .synopsis = "HOST:PORT [--policy FILE] [--sni NAME] [--cafile FILE] [--cert CERT.pem --key "
                "KEY.pem] [--json]",
    .summary = "grade a server's TLS against the TLS policy",
    .help = "Connects to HOST:PORT and probes it: TLS 1.0 to 1.3, every TLS 1.2 and 1.3\n"
            "cipher suite and every group one at a time, the certificate chain, and the\n"
            "Strict-Transport-Security header of GET /.  Each finding is graded against\n"
            "the policy (profile, ciphers, ciphersuites, groups, hsts) and a certificate\n"
            "expiring within 14 days.  A server that requires a client certificate is\n"
            "probed without one unless --cert/--key are given.\n"
            "Exit status: 0 compliant, 1 not compliant or unreachable, 2 bad usage.",
    .opts = audit_opts,
    .nopts = sizeof(audit_opts) / sizeof(audit_opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run_tls_audit,
};
