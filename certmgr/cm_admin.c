/*
 * The client-CA commands of portcullis-admin: ca init, client issue, client
 * sign, client list, client show, client revoke, crl.  Each is a struct
 * cm_cmd (options, synopsis, handler) that cm_admin_main.c puts in its
 * dispatch table.  Handlers check the command line first (CM_EXIT_USAGE:
 * anything wrong that the command line alone shows), then act
 * (CM_EXIT_FAIL: the files or the CA said no).  Results go to stdout, the
 * one-line reason of a failure is recorded with cm_err_set().
 */
#include <sys/stat.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/pc_err.h"
#include "common/pc_mem.h"
#include "common/pc_str.h"
#include "cm.h"

/* --- shared option checks -------------------------------------------------- */

/* --spiffe, --dns..., --email into *sans. */
static enum cm_exit
opt_sans(const struct cm_args *a, size_t o_spiffe, size_t o_dns, size_t o_email,
         struct cm_sans *sans)
{
    static const struct {
        const char *kind, *what;
    } k[] = {{"uri", "--spiffe"}, {"dns", "--dns"}, {"email", "--email"}};
    size_t opt[3] = {o_spiffe, o_dns, o_email}, j, i;

    for (j = 0; j < 3; j++) {
        for (i = 0; i < a->nval[opt[j]]; i++) {
            const char *v = a->val[opt[j]][i];
            if (cm_sans_add(sans, k[j].kind, v, strlen(v), k[j].what) != PC_OK)
                return CM_EXIT_USAGE;
        }
    }
    return CM_EXIT_OK;
}

static enum cm_exit
opt_days(const struct cm_args *a, size_t o_days, uint64_t *days)
{
    const char *s = cm_args_get(a, o_days);

    *days = CM_DAYS_DEFAULT;
    if (s == NULL)
        return CM_EXIT_OK;
    if (pc_parse_u64(s, strlen(s), CM_DAYS_MAX, days) != PC_OK || *days == 0) {
        cm_err_set("--days: a whole number of days from 1 to %d", CM_DAYS_MAX);
        return CM_EXIT_USAGE;
    }
    return CM_EXIT_OK;
}

/*
 * Validity: notBefore = now - CM_BACKDATE_SEC or --not-before; notAfter =
 * --not-after, else (--not-before or now) + days.
 */
static enum cm_exit
opt_validity(const struct cm_args *a, size_t o_days, size_t o_nb, size_t o_na, time_t now,
             time_t *nb, time_t *na)
{
    const char *snb = o_nb < CM_ARGS_MAX_OPTS ? cm_args_get(a, o_nb) : NULL;
    const char *sna = o_na < CM_ARGS_MAX_OPTS ? cm_args_get(a, o_na) : NULL;
    uint64_t days;

    if (opt_days(a, o_days, &days) != CM_EXIT_OK)
        return CM_EXIT_USAGE;
    *nb = now - CM_BACKDATE_SEC;
    if (snb != NULL && cm_time_parse_arg(snb, now, nb) != PC_OK) {
        cm_err_set("--not-before: expected YYYY-MM-DDTHH:MM:SSZ, now, +N[smhd] or -N[smhd] "
                   "(1950..9999)");
        return CM_EXIT_USAGE;
    }
    *na = (snb != NULL ? *nb : now) + (time_t)days * 86400;
    if (sna != NULL && cm_time_parse_arg(sna, now, na) != PC_OK) {
        cm_err_set("--not-after: expected YYYY-MM-DDTHH:MM:SSZ, now, +N[smhd] or -N[smhd] "
                   "(1950..9999)");
        return CM_EXIT_USAGE;
    }
    if (*na > CM_TIME_MAX) {
        cm_err_set("the certificate would end after 9999-12-31");
        return CM_EXIT_USAGE;
    }
    if (*na <= *nb) {
        cm_err_set("--not-after must be later than --not-before");
        return CM_EXIT_USAGE;
    }
    return CM_EXIT_OK;
}

static enum cm_exit
opt_key_type(const struct cm_args *a, size_t o_kt, enum cm_key_type *kt)
{
    const char *s = cm_args_get(a, o_kt);
    int v;

    *kt = CM_KEY_EC256;
    if (s == NULL)
        return CM_EXIT_OK;
    v = cm_key_type_parse(s);
    if (v < 0) {
        cm_err_set("--key-type: one of ec256, ec384, ed25519, rsa2048");
        return CM_EXIT_USAGE;
    }
    *kt = (enum cm_key_type)v;
    return CM_EXIT_OK;
}

static enum cm_exit
check_name(const char *name, const char *what)
{
    char esc[CM_ESC_MAX];

    if (cm_name_is_valid(name, strlen(name)))
        return CM_EXIT_OK;
    cm_err_set("%s \"%s\": a name is 1 to 64 of A-Z a-z 0-9 . _ - and does not start with '.'",
               what, cm_esc(esc, name, strlen(name)));
    return CM_EXIT_USAGE;
}

/* --- ca init --------------------------------------------------------------- */

enum { O_INIT_NAME, O_INIT_KEY_TYPE };

static const struct cm_opt init_opts[] = {
    [O_INIT_NAME] = {"--name", CM_OPT_VALUE, "CN", "subject CN (default \"" CM_DEFAULT_CA_CN "\")"},
    [O_INIT_KEY_TYPE] = {"--key-type", CM_OPT_VALUE, "TYPE",
                         "ec256 (default), ec384, ed25519 or rsa2048"},
};

static enum cm_exit
run_ca_init(const char *dir, const struct cm_args *a)
{
    const char *cn = cm_args_get(a, O_INIT_NAME);
    enum cm_key_type kt;

    if (cn == NULL)
        cn = CM_DEFAULT_CA_CN;
    if (!cm_cn_is_valid(cn, strlen(cn))) {
        cm_err_set("--name: 1 to 64 bytes of UTF-8 without control characters");
        return CM_EXIT_USAGE;
    }
    if (opt_key_type(a, O_INIT_KEY_TYPE, &kt) != CM_EXIT_OK)
        return CM_EXIT_USAGE;
    if (cm_ca_init(dir, cn, kt) != PC_OK)
        return CM_EXIT_FAIL;
    printf("CA initialised in %s\n", dir);
    printf("certificate: %s/ca.pem\nkey: %s/ca.key\ncrl: %s/crl.pem\nindex: %s/index.json\n", dir,
           dir, dir, dir);
    return CM_EXIT_OK;
}

const struct cm_cmd cm_cmd_ca_init = {
    .group = "ca",
    .name = "init",
    .synopsis = "[--name CN] [--key-type ec256|ec384|ed25519|rsa2048]",
    .summary = "create the client CA (key, certificate, index, empty CRL)",
    .help = "Creates DIR (0700) if missing and writes ca.key (0600), ca.pem, index.json and\n"
            "crl.pem (an empty CRL, number 1).  The CA certificate is valid for 10 years,\n"
            "CA:TRUE pathlen:0, keyCertSign+cRLSign.  Refuses a DIR that already has ca.key.",
    .opts = init_opts,
    .nopts = sizeof(init_opts) / sizeof(init_opts[0]),
    .run = run_ca_init,
};

/* --- client issue ---------------------------------------------------------- */

enum {
    O_ISS_SPIFFE,
    O_ISS_DNS,
    O_ISS_EMAIL,
    O_ISS_DAYS,
    O_ISS_OUT,
    O_ISS_P12,
    O_ISS_KEY_TYPE,
    O_ISS_NOT_BEFORE,
    O_ISS_NOT_AFTER,
    O_ISS_FORCE,
};

static const struct cm_opt issue_opts[] = {
    [O_ISS_SPIFFE] = {"--spiffe", CM_OPT_VALUE, "URI", "SAN URI: spiffe://trust-domain/path"},
    [O_ISS_DNS] = {"--dns", CM_OPT_MULTI, "NAME", "SAN DNS name (repeatable; no wildcards)"},
    [O_ISS_EMAIL] = {"--email", CM_OPT_VALUE, "ADDR", "SAN email address"},
    [O_ISS_DAYS] = {"--days", CM_OPT_VALUE, "N", "lifetime in days, 1..3650 (default 90)"},
    [O_ISS_OUT] = {"--out", CM_OPT_VALUE, "DIR", "where NAME.crt/.key/.p12 go (default .)"},
    [O_ISS_P12] = {"--p12", CM_OPT_FLAG, NULL,
                   "also write NAME.p12 (password: $" CM_P12_PASS_ENV " or asked twice)"},
    [O_ISS_KEY_TYPE] = {"--key-type", CM_OPT_VALUE, "TYPE",
                        "ec256 (default), ec384, ed25519, rsa2048"},
    [O_ISS_NOT_BEFORE] = {"--not-before", CM_OPT_VALUE, "TIME",
                          "advanced: YYYY-MM-DDTHH:MM:SSZ, now, +Nd or -Nd"},
    [O_ISS_NOT_AFTER] = {"--not-after", CM_OPT_VALUE, "TIME",
                         "advanced: as --not-before; overrides --days"},
    [O_ISS_FORCE] = {"--force", CM_OPT_FLAG, NULL, "replace an existing NAME.key / NAME.p12"},
};

/* OUT/NAME.crt, .key, .p12 */
struct out_paths {
    char crt[PATH_MAX], key[PATH_MAX], p12[PATH_MAX];
};

static enum cm_exit
issue_paths(const char *out, const char *name, bool p12, bool force, struct out_paths *p)
{
    char file[CM_NAME_MAX + 8];
    struct stat st;

    if (stat(out, &st) == -1 || !S_ISDIR(st.st_mode)) {
        cm_err_set("--out %s: not an existing directory", out);
        return CM_EXIT_FAIL;
    }
    snprintf(file, sizeof(file), "%s.crt", name);
    if (cm_path(p->crt, sizeof(p->crt), out, file) != PC_OK)
        return CM_EXIT_FAIL;
    snprintf(file, sizeof(file), "%s.key", name);
    if (cm_path(p->key, sizeof(p->key), out, file) != PC_OK)
        return CM_EXIT_FAIL;
    snprintf(file, sizeof(file), "%s.p12", name);
    if (cm_path(p->p12, sizeof(p->p12), out, file) != PC_OK)
        return CM_EXIT_FAIL;
    /* checked before anything is issued; the write itself is exclusive too */
    if (!force && lstat(p->key, &st) == 0) {
        cm_err_set("%s exists; refusing to overwrite a private key (--force replaces it)", p->key);
        return CM_EXIT_FAIL;
    }
    if (!force && p12 && lstat(p->p12, &st) == 0) {
        cm_err_set("%s exists; refusing to overwrite it (--force replaces it)", p->p12);
        return CM_EXIT_FAIL;
    }
    return CM_EXIT_OK;
}

/* The key, the certificate and the PKCS#12, after the index has the certificate. */
static int
issue_write(const struct out_paths *p, bool force, EVP_PKEY *key, X509 *cert, X509 *ca,
            const char *name, const char *pass)
{
    char *key_pem = NULL, *cert_pem = NULL, *p12 = NULL;
    size_t key_len = 0, cert_len = 0, p12_len = 0;
    int rc;

    rc = cm_key_pem(key, &key_pem, &key_len);
    if (rc == PC_OK)
        rc = cm_cert_pem(cert, &cert_pem, &cert_len);
    if (rc == PC_OK && pass != NULL)
        rc = cm_p12_build(pass, name, key, cert, ca, &p12, &p12_len);
    if (rc != PC_OK)
        goto out;
    rc = force ? cm_file_write(p->key, key_pem, key_len, 0600)
               : cm_file_write_excl(p->key, key_pem, key_len, 0600);
    if (rc == PC_OK)
        rc = cm_file_write(p->crt, cert_pem, cert_len, 0644);
    if (rc == PC_OK && pass != NULL)
        rc = force ? cm_file_write(p->p12, p12, p12_len, 0600)
                   : cm_file_write_excl(p->p12, p12, p12_len, 0600);
out:
    pc_free_secret(key_pem, key_len); /* the private key bytes never outlive the write */
    free(cert_pem);
    free(p12);
    return rc;
}

static enum cm_exit
run_client_issue(const char *dir, const struct cm_args *a)
{
    const char *name = a->pos[0], *out = cm_args_get(a, O_ISS_OUT);
    bool p12 = a->nval[O_ISS_P12] > 0, force = a->nval[O_ISS_FORCE] > 0;
    char serial[CM_SERIAL_HEX_MAX + 1], tbuf[CM_TIME_LEN + 1];
    struct cm_sans sans;
    struct out_paths paths;
    struct cm_ca *ca = NULL;
    enum cm_key_type kt;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    char *pass = NULL;
    time_t nb, na;
    enum cm_exit ex = CM_EXIT_USAGE;

    memset(&sans, 0, sizeof(sans));
    if (out == NULL)
        out = ".";
    if (check_name(name, "NAME") != CM_EXIT_OK ||
        opt_sans(a, O_ISS_SPIFFE, O_ISS_DNS, O_ISS_EMAIL, &sans) != CM_EXIT_OK ||
        opt_key_type(a, O_ISS_KEY_TYPE, &kt) != CM_EXIT_OK ||
        opt_validity(a, O_ISS_DAYS, O_ISS_NOT_BEFORE, O_ISS_NOT_AFTER, time(NULL), &nb, &na) !=
            CM_EXIT_OK)
        goto out;
    ex = CM_EXIT_FAIL;
    /* everything that can refuse without side effects comes before the CA is touched */
    if (issue_paths(out, name, p12, force, &paths) != CM_EXIT_OK)
        goto out;
    if (p12 && cm_p12_password(&pass) != PC_OK)
        goto out;
    if (cm_key_generate(kt, &key) != PC_OK) /* outside the lock: RSA takes a while */
        goto out;
    if (cm_ca_open(dir, true, true, &ca) != PC_OK ||
        cm_ca_issue(ca, name, &sans, nb, na, key, &cert, serial) != PC_OK)
        goto out;
    cm_ca_unlock(ca); /* the index is written; what is left is outside DIR */
    if (issue_write(&paths, force, key, cert, cm_ca_cert(ca), name, pass) != PC_OK) {
        cm_err_prefix("certificate %s is issued and in the index, but its files are not all "
                      "written (revoke it and issue again)",
                      serial);
        goto out;
    }
    printf("serial: %s\nname: %s\nnot after: %s\ncertificate: %s\nkey: %s\n", serial, name,
           cm_time_format(na, tbuf), paths.crt, paths.key);
    if (p12)
        printf("p12: %s\n", paths.p12);
    ex = CM_EXIT_OK;
out:
    cm_ca_close(ca);
    X509_free(cert);
    EVP_PKEY_free(key);
    pc_free_secret_str(pass);
    cm_sans_clear(&sans);
    return ex;
}

const struct cm_cmd cm_cmd_client_issue = {
    .group = "client",
    .name = "issue",
    .synopsis = "NAME [--spiffe URI] [--dns NAME]... [--email ADDR] [--days N] [--out DIR] "
                "[--p12] [--key-type TYPE] [--not-before TIME] [--not-after TIME] [--force]",
    .summary = "issue a client certificate and a new key",
    .help = "Writes OUT/NAME.crt, OUT/NAME.key (0600, never overwritten without --force) and,\n"
            "with --p12, OUT/NAME.p12 (PBES2/AES-256, SHA-256 MAC).  Subject CN=NAME, EKU\n"
            "clientAuth only, a random 128-bit serial; a copy stays in DIR/issued/.\n"
            "--not-before/--not-after are for tests (expired or not yet valid certificates).",
    .opts = issue_opts,
    .nopts = sizeof(issue_opts) / sizeof(issue_opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run_client_issue,
};

/* --- client sign ----------------------------------------------------------- */

enum { O_SIGN_DAYS, O_SIGN_OUT, O_SIGN_NAME, O_SIGN_SPIFFE, O_SIGN_DNS, O_SIGN_EMAIL };

static const struct cm_opt sign_opts[] = {
    [O_SIGN_DAYS] = {"--days", CM_OPT_VALUE, "N", "lifetime in days, 1..3650 (default 90)"},
    [O_SIGN_OUT] = {"--out", CM_OPT_VALUE, "FILE", "write the certificate here (default stdout)"},
    [O_SIGN_NAME] = {"--name", CM_OPT_VALUE, "NAME", "subject CN (default: the CSR's CN)"},
    [O_SIGN_SPIFFE] = {"--spiffe", CM_OPT_VALUE, "URI",
                       "SAN URI (any SAN option replaces the CSR's)"},
    [O_SIGN_DNS] = {"--dns", CM_OPT_MULTI, "NAME", "SAN DNS name (repeatable)"},
    [O_SIGN_EMAIL] = {"--email", CM_OPT_VALUE, "ADDR", "SAN email address"},
};

/* The CSR file, or stdin for "-", at most PC_PEM_MAX_BYTES. */
static int
read_csr(const char *path, char **buf, size_t *len)
{
    struct pc_buf b;
    char chunk[4096];
    size_t n;

    if (strcmp(path, "-") != 0)
        return cm_file_read(path, PC_PEM_MAX_BYTES, buf, len);
    pc_buf_init(&b, PC_PEM_MAX_BYTES);
    while ((n = fread(chunk, 1, sizeof(chunk), stdin)) > 0) {
        if (pc_buf_add(&b, chunk, n) != PC_OK) {
            pc_buf_clear(&b);
            cm_err_set("standard input: larger than the limit of %d bytes", PC_PEM_MAX_BYTES);
            return PC_ERR_TOO_LARGE;
        }
    }
    if (ferror(stdin)) {
        pc_buf_clear(&b);
        cm_err_errno("standard input", errno);
        return PC_ERR_IO;
    }
    if (b.data == NULL)
        pc_buf_add(&b, "", 0);
    *buf = pc_buf_take(&b, len);
    return PC_OK;
}

/* --out FILE must be writable where it is: checked before anything is issued. */
static int
check_out_file(const char *path)
{
    char *copy = pc_xstrdup(path);
    struct stat st;
    int rc = PC_OK;

    if (stat(dirname(copy), &st) == -1 || !S_ISDIR(st.st_mode)) {
        cm_err_set("--out %s: its directory does not exist", path);
        rc = PC_ERR_NOT_FOUND;
    } else if (stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
        cm_err_set("--out %s: not a regular file", path);
        rc = PC_ERR_INVALID;
    }
    free(copy);
    return rc;
}

/* The subject CN: --name, else the CSR's CN checked like a NAME. */
static enum cm_exit
sign_name(const struct cm_args *a, const struct cm_csr *csr, const char **name)
{
    char esc[CM_ESC_MAX];

    *name = cm_args_get(a, O_SIGN_NAME);
    if (*name != NULL)
        return CM_EXIT_OK;
    if (csr->cn == NULL) {
        cm_err_set("the CSR subject has no CN; give --name");
        return CM_EXIT_FAIL;
    }
    if (!cm_name_is_valid(csr->cn, strlen(csr->cn))) {
        cm_err_set("the CSR subject CN \"%s\" is not a valid name ([A-Za-z0-9._-]{1,64}, "
                   "not starting with '.'); give --name",
                   cm_esc(esc, csr->cn, strlen(csr->cn)));
        return CM_EXIT_FAIL;
    }
    *name = csr->cn;
    return CM_EXIT_OK;
}

static enum cm_exit
run_client_sign(const char *dir, const struct cm_args *a)
{
    const char *path = a->pos[0], *out = cm_args_get(a, O_SIGN_OUT), *name = NULL;
    const char *what = strcmp(path, "-") == 0 ? "standard input" : path;
    char serial[CM_SERIAL_HEX_MAX + 1];
    struct cm_sans sans;
    struct cm_csr csr;
    struct cm_ca *ca = NULL;
    X509 *cert = NULL;
    char *buf = NULL, *pem = NULL;
    size_t len = 0, pem_len = 0;
    time_t nb, na;
    enum cm_exit ex = CM_EXIT_USAGE;

    memset(&sans, 0, sizeof(sans));
    memset(&csr, 0, sizeof(csr));
    if ((cm_args_get(a, O_SIGN_NAME) != NULL &&
         check_name(cm_args_get(a, O_SIGN_NAME), "--name") != CM_EXIT_OK) ||
        opt_sans(a, O_SIGN_SPIFFE, O_SIGN_DNS, O_SIGN_EMAIL, &sans) != CM_EXIT_OK ||
        opt_validity(a, O_SIGN_DAYS, CM_ARGS_MAX_OPTS, CM_ARGS_MAX_OPTS, time(NULL), &nb, &na) !=
            CM_EXIT_OK)
        goto out;
    ex = CM_EXIT_FAIL;
    if (out != NULL && check_out_file(out) != PC_OK)
        goto out;
    /* SAN options replace the CSR's SAN, which is then not even read */
    if (read_csr(path, &buf, &len) != PC_OK ||
        cm_csr_parse(buf, len, what, cm_sans_count(&sans) == 0, &csr) != PC_OK)
        goto out;
    ex = sign_name(a, &csr, &name);
    if (ex != CM_EXIT_OK)
        goto out;
    ex = CM_EXIT_FAIL;
    if (cm_ca_open(dir, true, true, &ca) != PC_OK ||
        cm_ca_issue(ca, name, cm_sans_count(&sans) > 0 ? &sans : &csr.sans, nb, na, csr.pub, &cert,
                    serial) != PC_OK)
        goto out;
    cm_ca_unlock(ca);
    if (cm_cert_pem(cert, &pem, &pem_len) != PC_OK)
        goto out;
    if (out != NULL) {
        if (cm_file_write(out, pem, pem_len, 0644) != PC_OK) {
            cm_err_prefix("certificate %s is issued and in the index (DIR/issued/%s.pem)", serial,
                          serial);
            goto out;
        }
        printf("serial: %s\nname: %s\ncertificate: %s\n", serial, name, out);
    } else {
        fwrite(pem, 1, pem_len, stdout); /* stdout holds the PEM and nothing else */
    }
    ex = CM_EXIT_OK;
out:
    cm_ca_close(ca);
    X509_free(cert);
    cm_csr_clear(&csr);
    cm_sans_clear(&sans);
    free(buf);
    free(pem);
    return ex;
}

const struct cm_cmd cm_cmd_client_sign = {
    .group = "client",
    .name = "sign",
    .synopsis = "CSR.pem [--days N] [--out FILE] [--name NAME] [--spiffe URI] [--dns NAME]... "
                "[--email ADDR]",
    .summary = "sign a certificate signing request (\"-\" reads stdin)",
    .help = "The CSR's signature must verify; its key must be EC P-256/P-384, Ed25519 or\n"
            "RSA >= 2048.  Only its CN and its URI/DNS/email SANs are used (SAN options\n"
            "replace them); every other requested extension is ignored.",
    .opts = sign_opts,
    .nopts = sizeof(sign_opts) / sizeof(sign_opts[0]),
    .min_pos = 1,
    .max_pos = 1,
    .run = run_client_sign,
};
