#!/usr/bin/python3
# portcullis-admin: command line (usage, --help, --version, --ca-dir placement)
# and `ca init` (files, modes, CA extensions, refusals, every key type).
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F401,F403

W = workdir()

# --- usage: exit 2 with a hint; --help/--version: exit 0 --------------------
for args, what in [([], "no command"), (["bogus"], "unknown command"),
                   (["client"], "group without command"), (["client", "bogus"], "unknown subcommand"),
                   (["token", "issue"], "token is not implemented here: unknown"),
                   (["policy", "explain"], "policy: unknown"), (["frobnicate"], "frobnicate: unknown"),
                   (["client", "issue"], "missing NAME"), (["client", "issue", "a", "--bogus"], "unknown option"),
                   (["client", "issue", "a", "--days"], "option without value"),
                   (["client", "issue", "a", "--days", "0"], "--days 0"),
                   (["client", "issue", "a", "--days", "3651"], "--days 3651"),
                   (["client", "issue", ".a"], "NAME starting with '.'"),
                   (["client", "issue", "a/b"], "NAME with '/'"),
                   (["client", "issue", "a", "--dns", "*.example.com"], "wildcard --dns"),
                   (["client", "issue", "a", "--spiffe", "spiffe://example.com"], "SPIFFE ID without path"),
                   (["client", "issue", "a", "--spiffe", "not a uri"], "URI with spaces"),
                   (["client", "issue", "a", "--email", "nobody"], "bad --email"),
                   (["client", "issue", "a", "--key-type", "dsa"], "bad --key-type"),
                   (["client", "issue", "a", "--not-before", "yesterday"], "bad --not-before"),
                   (["client", "issue", "a", "--not-before", "+2d", "--not-after", "+1d"], "not-after before not-before"),
                   (["client", "revoke", "x", "--reason", "certificateHold"], "bad --reason"),
                   (["client", "list", "extra"], "extra argument"),
                   (["crl", "--next-update", "30"], "--next-update without unit"),
                   (["ca", "init", "--key-type", "rsa1024"], "rsa1024"),
                   (["--ca-dir", "a", "client", "list", "--ca-dir", "b"], "--ca-dir twice")]:
    r = admin(*args, ca_dir=None)
    ok(r.returncode == 2 and r.stdout == "" and "usage:" in r.stderr
       and r.stderr.startswith("portcullis-admin: "),
       "usage error exits 2 with a hint: %s" % what, "rc=%d\n%s" % (r.returncode, r.stderr))

for args in (["--help"], ["-h"], ["ca", "init", "--help"], ["client", "--help"],
             ["client", "issue", "--help"], ["client", "sign", "--help"], ["client", "list", "--help"],
             ["client", "show", "--help"], ["client", "revoke", "--help"], ["crl", "--help"],
             ["--help", "client", "issue"]):
    r = admin(*args)
    ok(r.returncode == 0 and "usage: portcullis-admin" in r.stdout and r.stderr == "",
       "%s: usage on stdout, exit 0" % " ".join(args), r.stderr)
r = admin("client", "issue", "--help")
like(r.stdout, r"--not-before TIME", "client issue --help documents --not-before")
for args in (["--version"], ["client", "list", "--version"], ["ca", "init", "--version"]):
    r = admin(*args)
    ok(r.returncode == 0 and re.match(r"^portcullis-admin \d+\.\d+\.\d+\n$", r.stdout),
       "%s prints the version, exit 0" % " ".join(args), r.stdout + r.stderr)

# --- ca init ------------------------------------------------------------------
ca = os.path.join(W, "parent", "ca")  # the parent does not exist either
r = admin("ca", "init", ca_dir=ca)
is_(r.returncode, 0, "ca init exits 0")
like(r.stdout, r"CA initialised in ", "ca init says so")
is_(file_mode(ca), 0o700, "DIR is created 0700")
is_(file_mode(os.path.join(ca, "ca.key")), 0o600, "ca.key is 0600")
for f in ("ca.pem", "index.json", "crl.pem"):
    is_(file_mode(os.path.join(ca, f)), 0o644, "%s is 0644" % f)
with open(os.path.join(ca, "index.json")) as fh:
    idx = json.load(fh)
is_(idx, {"version": 1, "crl_number": 1, "certs": []}, "index.json starts empty with crl_number 1")

t = x509_text(os.path.join(ca, "ca.pem"))
like(t, r"Subject: CN = Portcullis Client CA", "default CN")
like(t, r"Issuer: CN = Portcullis Client CA", "self-signed")
like(t, r"Basic Constraints: critical\s+CA:TRUE, pathlen:0", "basicConstraints critical CA:TRUE pathlen:0")
like(t, r"Key Usage: critical\s+Certificate Sign, CRL Sign\n", "keyUsage critical keyCertSign+cRLSign only")
like(t, r"Subject Key Identifier", "SKI present")
like(t, r"Authority Key Identifier", "AKI present")
like(t, r"ASN1 OID: prime256v1", "default key is EC P-256")
like(t, r"Signature Algorithm: ecdsa-with-SHA256", "signed with ECDSA SHA-256")
unlike(t, r"Extended Key Usage", "no EKU on the CA")
m = re.search(r"Serial Number:\s*\n\s*([0-9a-f:]+)", t)
ok(m and len(m.group(1).replace(":", "")) == 32, "CA serial is 128 bits", t[:400])
r = openssl("x509", "-in", os.path.join(ca, "ca.pem"), "-noout", "-startdate", "-enddate")
dates = dict(l.split("=", 1) for l in r.stdout.splitlines())
import datetime  # noqa: E402
fmt = "%b %d %H:%M:%S %Y GMT"
nb = datetime.datetime.strptime(" ".join(dates["notBefore"].split()), fmt)
na = datetime.datetime.strptime(" ".join(dates["notAfter"].split()), fmt)
ok(3649 <= (na - nb).days <= 3651, "CA valid for 10 years", (na - nb))
r = openssl("verify", "-CAfile", os.path.join(ca, "ca.pem"), os.path.join(ca, "ca.pem"))
is_(r.returncode, 0, "the CA certificate verifies against itself")

r = openssl("crl", "-in", os.path.join(ca, "crl.pem"), "-noout", "-text")
like(r.stdout, r"CRL Number: \s*\n\s*1\n", "initial CRL has number 1")
like(r.stdout, r"No Revoked Certificates", "initial CRL is empty")
like(r.stdout, r"Authority Key Identifier", "CRL has an AKI")
r = openssl("crl", "-in", os.path.join(ca, "crl.pem"), "-noout", "-CAfile", os.path.join(ca, "ca.pem"))
like(r.stderr + r.stdout, r"verify OK", "initial CRL is signed by the CA")

before = {f: open(os.path.join(ca, f), "rb").read() for f in ("ca.key", "ca.pem", "index.json", "crl.pem")}
r = admin("ca", "init", ca_dir=ca)
ok(failed_with(r, 1, r"CA already initialised in "), "second ca init: exit 1, one line", r.stderr)
ok(all(open(os.path.join(ca, f), "rb").read() == b for f, b in before.items()),
   "second ca init changes nothing")

# --- --ca-dir before and after the subcommand ---------------------------------
r1 = run([admin_bin(), "--ca-dir", ca, "client", "list"])
r2 = run([admin_bin(), "client", "list", "--ca-dir", ca])
r3 = run([admin_bin(), "client", "list", "--ca-dir=" + ca])
ok(r1.returncode == 0 and r2.returncode == 0 and r3.returncode == 0 and r1.stdout == r2.stdout == r3.stdout,
   "--ca-dir works before and after the subcommand", r1.stderr + r2.stderr + r3.stderr)
r = admin("client", "list", ca_dir=os.path.join(W, "nowhere"))
ok(failed_with(r, 1, r"CA not initialised"), "an uninitialised DIR is a one-line failure", r.stderr)

# --- other key types, a custom name ---------------------------------------------
for kt, pat in (("ec384", r"ASN1 OID: secp384r1"), ("ed25519", r"Public Key Algorithm: ED25519"),
                ("rsa2048", r"Public-Key: \(2048 bit\)")):
    d = os.path.join(W, "ca-" + kt)
    r = admin("ca", "init", "--key-type", kt, "--name", "Test %s CA" % kt, ca_dir=d)
    is_(r.returncode, 0, "ca init --key-type %s" % kt)
    t = x509_text(os.path.join(d, "ca.pem"))
    like(t, pat, "%s CA key" % kt)
    like(t, r"Subject: CN = Test %s CA" % kt, "--name sets the CN (%s)" % kt)
    out = os.path.join(W, "out-" + kt)
    os.makedirs(out)
    r = admin("client", "issue", "leaf", "--out", out, "--key-type", kt, ca_dir=d)
    is_(r.returncode, 0, "%s CA issues a %s leaf" % (kt, kt))
    r = openssl("verify", "-CAfile", os.path.join(d, "ca.pem"), os.path.join(out, "leaf.crt"))
    is_(r.returncode, 0, "%s leaf verifies" % kt)
    r = admin("crl", ca_dir=d)
    r2 = openssl("crl", "-in", os.path.join(d, "crl.pem"), "-noout", "-CAfile", os.path.join(d, "ca.pem"))
    ok(r.returncode == 0 and "verify OK" in r2.stderr + r2.stdout, "%s CRL signature verifies" % kt,
       r.stderr + r2.stderr)
t = x509_text(os.path.join(W, "out-rsa2048", "leaf.crt"))
like(t, r"Key Usage: critical\s+Digital Signature, Key Encipherment", "RSA leaf: +keyEncipherment")
r = admin("ca", "init", "--name", "bad\tname", ca_dir=os.path.join(W, "ca-badname"))
is_(r.returncode, 2, "a CA name with a control character is a usage error")

# --- a CA key readable by others is refused ------------------------------------
os.chmod(os.path.join(ca, "ca.key"), 0o640)
r = admin("client", "issue", "x", "--out", W, ca_dir=ca)
ok(failed_with(r, 1, r"ca\.key: private key is accessible by group or others \(mode 0640\)"),
   "group-readable ca.key: exit 1 with the reason", r.stderr)
ok(not os.path.exists(os.path.join(W, "x.key")), "... and no key written")
with open(os.path.join(ca, "index.json")) as fh:
    is_(len(json.load(fh)["certs"]), 0, "... and nothing in the index")
os.chmod(os.path.join(ca, "ca.key"), 0o600)

done_testing()
