#!/usr/bin/python3
# portcullis-admin client issue / list / show: certificates that verify, say
# exactly what was asked, keys that stay private; --p12; expired and not yet
# valid certificates; ten parallel issues; a corrupted index refuses all.
import os
import pty
import select
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F401,F403

from cryptography import x509  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

W = workdir()
CA = os.path.join(W, "ca")
OUT = os.path.join(W, "out")
os.makedirs(OUT)
CAPEM = os.path.join(CA, "ca.pem")
is_(admin("ca", "init", ca_dir=CA).returncode, 0, "ca init")


def load(path):
    with open(path, "rb") as fh:
        return x509.load_pem_x509_certificate(fh.read())


def index():
    with open(os.path.join(CA, "index.json")) as fh:
        return json.load(fh)


def serial_of(stdout):
    m = re.search(r"^serial: ([0-9a-f]+)$", stdout, re.M)
    return m.group(1) if m else None


# --- a full client certificate -------------------------------------------------
r = admin("client", "issue", "billing", "--spiffe", "spiffe://example.com/ns/prod/sa/billing",
          "--dns", "billing.svc.example.com", "--dns", "billing-2.svc.example.com",
          "--email", "billing@example.com", "--out", OUT, ca_dir=CA)
is_(r.returncode, 0, "client issue with SPIFFE, two DNS and email")
serial = serial_of(r.stdout)
ok(serial is not None and len(serial) == 32, "prints a 128-bit serial (32 hex digits)", r.stdout)
like(r.stdout, r"certificate: .*/billing\.crt", "prints the certificate path")
like(r.stdout, r"key: .*/billing\.key", "prints the key path")
crt, key = os.path.join(OUT, "billing.crt"), os.path.join(OUT, "billing.key")
r = openssl("verify", "-CAfile", CAPEM, crt)
is_(r.stdout.strip(), crt + ": OK", "openssl verify -CAfile ca.pem: OK")
r = openssl("verify", "-CAfile", CAPEM, "-purpose", "sslclient", crt)
is_(r.returncode, 0, "verifies for purpose sslclient")
r = openssl("verify", "-CAfile", CAPEM, "-purpose", "sslserver", crt)
ok(r.returncode != 0, "does NOT verify for purpose sslserver")
is_(file_mode(key), 0o600, "key file is 0600")
is_(file_mode(crt), 0o644, "certificate file is 0644")
r = openssl("pkey", "-in", key, "-noout", "-text")
like(r.stdout, r"ASN1 OID: prime256v1", "default key is EC P-256")
r1 = openssl("x509", "-in", crt, "-noout", "-pubkey")
r2 = openssl("pkey", "-in", key, "-pubout")
is_(r1.stdout, r2.stdout, "the key matches the certificate")

c = load(crt)
is_(c.serial_number.bit_length(), 128, "serial is exactly 128 bits")
is_("%x" % c.serial_number, serial, "printed serial is the certificate's")
is_(c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, "billing", "subject CN=NAME")
is_(len(c.subject), 1, "subject has the CN only")
eku = c.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
is_(list(eku.value), [ExtendedKeyUsageOID.CLIENT_AUTH], "EKU is clientAuth only")
bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
ok(bc.critical and bc.value.ca is False, "basicConstraints critical CA:FALSE")
ku = c.extensions.get_extension_for_class(x509.KeyUsage)
ok(ku.critical and ku.value.digital_signature and not ku.value.key_encipherment
   and not ku.value.key_cert_sign, "keyUsage critical digitalSignature only (EC)")
san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
is_(san.get_values_for_type(x509.UniformResourceIdentifier), ["spiffe://example.com/ns/prod/sa/billing"],
    "SAN URI")
is_(san.get_values_for_type(x509.DNSName), ["billing.svc.example.com", "billing-2.svc.example.com"],
    "SAN DNS (both)")
is_(san.get_values_for_type(x509.RFC822Name), ["billing@example.com"], "SAN email")
is_(len(list(san)), 4, "no other SAN entry")
ski = c.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
aki = c.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
cas = load(CAPEM).extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
ok(ski is not None and aki.value.key_identifier == cas.value.digest, "SKI present, AKI = the CA's SKI")
is_(sorted(e.oid.dotted_string for e in c.extensions),
    sorted(["2.5.29.19", "2.5.29.15", "2.5.29.37", "2.5.29.14", "2.5.29.35", "2.5.29.17"]),
    "exactly BC, KU, EKU, SKI, AKI, SAN")
life = c.not_valid_after - c.not_valid_before
ok(abs(life.total_seconds() - (90 * 86400 + 60)) <= 5, "default validity now-60s .. +90 days", life)
t = x509_text(crt)
like(t, r"X509v3 Extended Key Usage: \s*\n\s*TLS Web Client Authentication\n", "openssl -text: EKU clientAuth only")
like(t, r"URI:spiffe://example.com/ns/prod/sa/billing, DNS:billing.svc.example.com", "openssl -text: SANs")

copy = os.path.join(CA, "issued", serial + ".pem")
ok(os.path.exists(copy) and open(copy).read() == open(crt).read(), "a copy is kept in DIR/issued/SERIAL.pem")
e = index()["certs"][0]
is_((e["serial"], e["name"], e["uri"], e["dns"], e["email"], e["status"]),
    (serial, "billing", ["spiffe://example.com/ns/prod/sa/billing"],
     ["billing.svc.example.com", "billing-2.svc.example.com"], ["billing@example.com"], "valid"),
    "index entry has serial, name, SANs, status")
like(e["not_after"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", "index not_after is ISO 8601 Z")

# --- never overwrite a key -----------------------------------------------------
old_key = open(key).read()
r = admin("client", "issue", "billing", "--out", OUT, ca_dir=CA)
ok(failed_with(r, 1, r"billing\.key exists; refusing to overwrite"), "existing key: exit 1", r.stderr)
is_(open(key).read(), old_key, "... the key is untouched")
is_(len(index()["certs"]), 1, "... and nothing was issued")
r = admin("client", "issue", "billing", "--out", OUT, "--force", ca_dir=CA)
is_(r.returncode, 0, "--force replaces it")
ok(open(key).read() != old_key and file_mode(key) == 0o600, "... with a new 0600 key")
r = admin("client", "issue", "x", "--out", os.path.join(W, "missing"), ca_dir=CA)
ok(failed_with(r, 1, r"not an existing directory"), "--out to a missing directory: exit 1", r.stderr)

# --- expired and not yet valid -------------------------------------------------
r = admin("client", "issue", "old", "--out", OUT, "--not-before", "2020-01-01T00:00:00Z",
          "--not-after", "2020-02-01T00:00:00Z", ca_dir=CA)
is_(r.returncode, 0, "issue with --not-before/--not-after in the past")
r = openssl("verify", "-CAfile", CAPEM, os.path.join(OUT, "old.crt"))
ok(r.returncode != 0 and "certificate has expired" in r.stdout + r.stderr, "openssl verify: expired",
   r.stdout + r.stderr)
r = admin("client", "issue", "future", "--out", OUT, "--not-before", "+1d", ca_dir=CA)
is_(r.returncode, 0, "issue with --not-before +1d")
r = openssl("verify", "-CAfile", CAPEM, os.path.join(OUT, "future.crt"))
ok(r.returncode != 0 and "not yet valid" in r.stdout + r.stderr, "openssl verify: not yet valid",
   r.stdout + r.stderr)
c = load(os.path.join(OUT, "future.crt"))
ok(abs((c.not_valid_after - c.not_valid_before).total_seconds() - 90 * 86400) <= 1,
   "--not-before alone: notAfter = notBefore + days")
r = admin("client", "issue", "short", "--out", OUT, "--days", "1", ca_dir=CA)
c = load(os.path.join(OUT, "short.crt"))
ok(r.returncode == 0 and abs((c.not_valid_after - c.not_valid_before).total_seconds() - 86460) <= 5,
   "--days 1")
r = admin("client", "issue", "toolong", "--out", OUT, "--not-after", "2099-01-01T00:00:00Z", ca_dir=CA)
ok(failed_with(r, 1, r"would outlive the CA certificate"), "notAfter past the CA's: exit 1", r.stderr)

# --- list and show ---------------------------------------------------------------
r = admin("client", "list", ca_dir=CA)
is_(r.returncode, 0, "client list")
lines = r.stdout.splitlines()
like(lines[0], r"^SERIAL\s+NAME\s+NOT AFTER\s+STATUS\s+SANS$", "table header")
like(r.stdout, r"\n%s\s+billing\s+\S+\s+valid\s+uri:spiffe://example.com/ns/prod/sa/billing,"
     r"dns:billing.svc.example.com" % serial, "billing row with SANs")
like(r.stdout, r"\n[0-9a-f]{32}\s+old\s+2020-02-01T00:00:00Z\s+expired\s+-\n", "expired row")
r = admin("client", "list", "--json", ca_dir=CA)
rows = json.loads(r.stdout)
is_(len(rows), len(index()["certs"]), "--json has every entry")
is_(set(rows[0]), {"serial", "name", "uri", "dns", "email", "not_before", "not_after", "status",
                   "revoked_at", "reason"}, "--json fields")
is_([x["status"] for x in rows if x["name"] == "old"], ["expired"], "--json status expired")
r = admin("client", "show", serial.upper(), ca_dir=CA)
ok(r.returncode == 0 and re.search(r"^name: +billing$", r.stdout, re.M)
   and re.search(r"^email: +billing@example.com$", r.stdout, re.M)
   and re.search(r"^status: +valid$", r.stdout, re.M), "client show SERIAL (upper case)", r.stdout + r.stderr)
r = admin("client", "show", "billing", ca_dir=CA)
is_(r.stdout.count("serial:"), 2, "client show NAME shows every certificate of that name")
r = admin("client", "show", "nobody", ca_dir=CA)
ok(failed_with(r, 1, r"no certificate with serial or name \"nobody\""), "show unknown: exit 1", r.stderr)

# --- PKCS#12 -------------------------------------------------------------------
env = {"PORTCULLIS_P12_PASSWORD": "correct horse"}
r = admin("client", "issue", "p12user", "--out", OUT, "--p12", ca_dir=CA, env=env)
is_(r.returncode, 0, "--p12 with the password from the environment")
p12 = os.path.join(OUT, "p12user.p12")
is_(file_mode(p12), 0o600, ".p12 is 0600")
r = run(["openssl", "pkcs12", "-info", "-in", p12, "-noout", "-passin", "env:PORTCULLIS_P12_PASSWORD"], env=env)
is_(r.returncode, 0, "openssl pkcs12 -info opens it")
info = r.stdout + r.stderr
like(info, r"MAC: sha256", "MAC is SHA-256")
like(info, r"Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC", "key bag PBES2 AES-256-CBC")
like(info, r"PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC", "cert bag PBES2 AES-256-CBC")
unlike(info, r"RC2|3DES|DES-EDE|sha1", "no RC2/3DES/SHA-1")
r = run(["openssl", "pkcs12", "-in", p12, "-nokeys", "-passin", "env:PORTCULLIS_P12_PASSWORD"], env=env)
is_(r.stdout.count("BEGIN CERTIFICATE"), 2, "holds the certificate and the CA")
r = run(["openssl", "pkcs12", "-in", p12, "-noout", "-passin", "pass:wrong"])
ok(r.returncode != 0, "a wrong password does not open it")
n = len(index()["certs"])
r = admin_detached("client", "issue", "nopass", "--out", OUT, "--p12", ca_dir=CA,
                   drop_env=("PORTCULLIS_P12_PASSWORD",))
ok(failed_with(r, 1, r"--p12 needs a password: set PORTCULLIS_P12_PASSWORD or run on a terminal"),
   "--p12 without env and without a tty: exit 1 with the reason", r.stderr)
ok(not os.path.exists(os.path.join(OUT, "nopass.key")) and len(index()["certs"]) == n,
   "... nothing issued, nothing written")
r = admin_detached("client", "issue", "nopass", "--out", OUT, "--p12", ca_dir=CA,
                   env={"PORTCULLIS_P12_PASSWORD": ""})
ok(failed_with(r, 1, r"empty"), "an empty password is refused", r.stderr)

# --- the password asked on the terminal (a pty), twice, without echo ---------------
def on_tty(name, answers):
    """Run client issue --p12 on a new pty; type `answers`; return (exit status, tty output)."""
    pid, fd = pty.fork()
    if pid == 0:
        e = dict(os.environ)
        e.pop("PORTCULLIS_P12_PASSWORD", None)
        os.execve(admin_bin(), [admin_bin(), "--ca-dir", CA, "client", "issue", name, "--out", OUT,
                                "--p12"], e)
    out = b""
    for a in answers:
        deadline = time.time() + 10
        while b"password" not in out.split(b"\n")[-1] and time.time() < deadline:
            if select.select([fd], [], [], 0.2)[0]:
                out += os.read(fd, 4096)
        os.write(fd, a)
        out += b"\n"  # the next prompt comes on a new line
    while True:
        try:
            if not select.select([fd], [], [], 10)[0]:
                break
            d = os.read(fd, 4096)
        except OSError:
            break
        if not d:
            break
        out += d
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st), out.decode("utf-8", "replace")


code, out = on_tty("ttyuser", [b"tty secret\n", b"tty secret\n"])
is_(code, 0, "--p12 without env on a terminal: asks twice, exit 0")
is_(out.count("PKCS#12 password"), 2, "... two prompts")
unlike(out, r"tty secret", "... the password is not echoed")
r = run(["openssl", "pkcs12", "-info", "-in", os.path.join(OUT, "ttyuser.p12"), "-noout", "-passin",
         "pass:tty secret"])
is_(r.returncode, 0, "... and it opens the .p12")
n = len(index()["certs"])
code, out = on_tty("ttymismatch", [b"one\n", b"two\n"])
ok(code == 1 and "portcullis-admin: --p12: the passwords do not match" in out, "mismatched passwords: exit 1",
   out)
ok(len(index()["certs"]) == n and not os.path.exists(os.path.join(OUT, "ttymismatch.key")),
   "... nothing issued")

# --- ten in parallel ---------------------------------------------------------------
PAR = os.path.join(W, "par")
os.makedirs(PAR)
before = len(index()["certs"])
procs = [subprocess.Popen([admin_bin(), "--ca-dir", CA, "client", "issue", "p%d" % i, "--out", PAR],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(10)]
outs = [p.communicate(timeout=120) for p in procs]
is_([p.returncode for p in procs], [0] * 10, "ten parallel client issue all exit 0")
serials = [serial_of(o[0]) for o in outs]
is_(len(set(s for s in serials if s)), 10, "ten distinct serials")
idx = index()
is_(len(idx["certs"]), before + 10, "index has exactly ten more entries (valid JSON)")
ok(set(serials) <= {e["serial"] for e in idx["certs"]}, "every printed serial is in the index")
is_(len(os.listdir(os.path.join(CA, "issued"))), len(idx["certs"]), "one issued/ copy per entry")
ok(all(openssl("verify", "-CAfile", CAPEM, os.path.join(PAR, "p%d.crt" % i)).returncode == 0
       for i in range(10)), "all ten verify")
ok(not [f for f in os.listdir(CA) if ".tmp." in f], "no temporary files left in DIR")

# --- a corrupted index refuses everything and changes nothing ---------------------
ipath = os.path.join(CA, "index.json")
good = open(ipath, "rb").read()
for bad, what in [(b"{ this is not json", r"index\.json: not valid JSON"),
                  (json.dumps({"version": 2, "crl_number": 1, "certs": []}).encode(), r"unsupported version 2"),
                  (json.dumps({"version": 1, "certs": []}).encode(), r"crl_number"),
                  (good.replace(b'"name": "billing"', b'"name": 7', 1), r"certs\[0\]\.name: must be a string"),
                  (good.replace(serial.encode(), b"XYZ", 1), r"certs\[0\]\.serial"),
                  (good.replace(idx["certs"][1]["serial"].encode(), serial.encode(), 1),
                   r"appears more than once")]:
    with open(ipath, "wb") as fh:
        fh.write(bad)
    st = os.stat(ipath)
    issued = sorted(os.listdir(os.path.join(CA, "issued")))
    r = admin("client", "issue", "victim", "--out", OUT, ca_dir=CA)
    ok(failed_with(r, 1, what), "corrupted index (%s): issue exits 1 with the reason" % what, r.stderr)
    ok(open(ipath, "rb").read() == bad and os.stat(ipath).st_mtime_ns == st.st_mtime_ns,
       "... index.json unchanged")
    ok(not os.path.exists(os.path.join(OUT, "victim.crt")) and not os.path.exists(os.path.join(OUT, "victim.key"))
       and sorted(os.listdir(os.path.join(CA, "issued"))) == issued, "... no certificate written")
    for args in (["client", "list"], ["client", "revoke", serial], ["crl"]):
        r = admin(*args, ca_dir=CA)
        ok(failed_with(r, 1, r"index\.json"), "... %s also refuses (exit 1)" % " ".join(args), r.stderr)
    is_(open(ipath, "rb").read(), bad, "... still unchanged")
with open(ipath, "wb") as fh:
    fh.write(good)
is_(admin("client", "list", ca_dir=CA).returncode, 0, "restored index works again")

done_testing()
