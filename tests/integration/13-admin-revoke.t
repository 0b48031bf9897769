#!/usr/bin/python3
# portcullis-admin client revoke and crl: revocation by serial and by name,
# reasons in the CRL, a CRL number that only grows, OpenSSL's CRL check says
# revoked, and the refusals.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F401,F403

from cryptography import x509  # noqa: E402

W = workdir()
CA = os.path.join(W, "ca")
OUT = os.path.join(W, "out")
os.makedirs(OUT)
CAPEM, CRLPEM = os.path.join(CA, "ca.pem"), os.path.join(CA, "crl.pem")
is_(admin("ca", "init", ca_dir=CA).returncode, 0, "ca init")


def issue(name, sub):
    d = os.path.join(OUT, sub)
    os.makedirs(d, exist_ok=True)
    r = admin("client", "issue", name, "--out", d, ca_dir=CA)
    assert r.returncode == 0, r.stderr
    return re.search(r"^serial: ([0-9a-f]+)$", r.stdout, re.M).group(1), os.path.join(d, name + ".crt")


def crl():
    with open(CRLPEM, "rb") as fh:
        return x509.load_pem_x509_crl(fh.read())


def crl_number():
    return crl().extensions.get_extension_for_class(x509.CRLNumber).value.crl_number


def index():
    with open(os.path.join(CA, "index.json")) as fh:
        return json.load(fh)


def verify(crt):
    r = openssl("verify", "-crl_check", "-CRLfile", CRLPEM, "-CAfile", CAPEM, crt)
    return r.returncode, r.stdout + r.stderr


alice, alice_crt = issue("alice", "a")
bob1, bob1_crt = issue("bob", "b1")
bob2, bob2_crt = issue("bob", "b2")
carol, carol_crt = issue("carol", "c")
is_(verify(alice_crt)[0], 0, "before revocation: verify -crl_check OK")
is_(crl_number(), 1, "CRL number 1 after init")

# --- by serial, with colons and upper case ---------------------------------------
colons = ":".join(alice[i:i + 2] for i in range(0, len(alice), 2)).upper()
r = admin("client", "revoke", colons, "--reason", "keyCompromise", ca_dir=CA)
is_(r.returncode, 0, "revoke by serial (AA:BB:.. form) exits 0")
like(r.stdout, r"revoked %s \(alice\)" % alice, "prints the revoked serial")
like(r.stdout, r"crl: .*crl\.pem \(number 2\)", "prints the CRL and its number")
is_(crl_number(), 2, "CRL number grew to 2")
code, text = verify(alice_crt)
ok(code != 0 and "certificate revoked" in text, "openssl verify -crl_check: revoked", text)
is_(verify(bob1_crt)[0], 0, "others still verify")
e = [c for c in index()["certs"] if c["serial"] == alice][0]
ok(e["status"] == "revoked" and e["reason"] == "keyCompromise"
   and re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", e["revoked_at"]), "index: revoked, reason, revoked_at")

# --- by name: every valid certificate of that name ---------------------------------
r = admin("client", "revoke", "bob", "--reason", "superseded", ca_dir=CA)
is_(r.returncode, 0, "revoke by name exits 0")
ok(("revoked %s (bob)" % bob1) in r.stdout and ("revoked %s (bob)" % bob2) in r.stdout,
   "prints each revoked serial", r.stdout)
is_(crl_number(), 3, "CRL number grew to 3")
ok(verify(bob1_crt)[0] != 0 and verify(bob2_crt)[0] != 0, "both bob certificates are revoked")

r = admin("client", "revoke", carol, ca_dir=CA)
is_(r.returncode, 0, "revoke with the default reason")
is_(crl_number(), 4, "CRL number grew to 4")

# --- the CRL itself ---------------------------------------------------------------
t = openssl("crl", "-in", CRLPEM, "-noout", "-text").stdout
for s in (alice, bob1, bob2, carol):
    like(t, r"Serial Number: %s" % s.upper(), "openssl crl -text lists %s" % s[:8])
like(t, r"Serial Number: %s\s+Revocation Date: [^\n]+\n\s+CRL entry extensions:\s+X509v3 CRL Reason Code:"
     r"\s+Key Compromise" % alice.upper(), "alice: reason Key Compromise")
is_(t.count("Superseded"), 2, "bob x2: reason Superseded")
like(t, r"Serial Number: %s\s+Revocation Date: [^\n]+\n(?!\s+CRL entry extensions)" % carol.upper(),
     "unspecified: no reasonCode extension (RFC 5280 5.3.1)")
like(t, r"X509v3 CRL Number: \s*\n\s*4\n", "openssl crl -text: CRL Number 4")
like(t, r"Authority Key Identifier", "CRL has an AKI")
c = crl()
ok(c.is_signature_valid(x509.load_pem_x509_certificate(open(CAPEM, "rb").read()).public_key()),
   "CRL signature verifies with the CA key")
ok(abs((c.next_update - c.last_update).total_seconds() - 30 * 86400) <= 1, "nextUpdate = lastUpdate + 30d")
is_(len(list(c)), 4, "exactly four entries")

# --- crl: number only grows, --next-update, --out ----------------------------------
r = admin("crl", "--next-update", "7d", ca_dir=CA)
is_(r.returncode, 0, "crl --next-update 7d")
is_(crl_number(), 5, "crl: number 5")
c = crl()
ok(abs((c.next_update - c.last_update).total_seconds() - 7 * 86400) <= 1, "nextUpdate = lastUpdate + 7d")
r = admin("crl", "--next-update", "12h", ca_dir=CA)
c = crl()
ok(r.returncode == 0 and crl_number() == 6 and abs((c.next_update - c.last_update).total_seconds() - 43200) <= 1,
   "crl --next-update 12h: number 6, 12 h")
other = os.path.join(W, "other-crl.pem")
r = admin("crl", "--out", other, ca_dir=CA)
is_(r.returncode, 0, "crl --out FILE")
is_(file_mode(other), 0o644, "--out CRL is 0644")
t = openssl("crl", "-in", other, "-noout", "-text").stdout
like(t, r"CRL Number: \s*\n\s*7\n", "--out CRL has number 7")
is_(index()["crl_number"], 7, "index keeps the last CRL number")
is_(crl_number(), 6, "DIR/crl.pem was not touched by --out")
nums = []
for _ in range(3):
    admin("crl", ca_dir=CA)
    nums.append(crl_number())
is_(nums, [8, 9, 10], "each regeneration adds one")

# --- refusals -------------------------------------------------------------------
before = open(os.path.join(CA, "index.json")).read()
r = admin("client", "revoke", alice, ca_dir=CA)
ok(failed_with(r, 1, r"certificate %s is already revoked" % alice), "revoke twice: exit 1 already revoked",
   r.stderr)
r = admin("client", "revoke", "bob", ca_dir=CA)
ok(failed_with(r, 1, r"every certificate named \"bob\" is already revoked"), "revoke name again: exit 1",
   r.stderr)
r = admin("client", "revoke", "nobody", ca_dir=CA)
ok(failed_with(r, 1, r"no certificate with serial or name \"nobody\""), "unknown name: exit 1", r.stderr)
r = admin("client", "revoke", "0123456789abcdef", ca_dir=CA)
ok(failed_with(r, 1, r"no certificate"), "unknown serial: exit 1", r.stderr)
r = admin("client", "revoke", ca_dir=CA)
is_(r.returncode, 2, "revoke without argument: usage error")
is_(open(os.path.join(CA, "index.json")).read(), before, "refusals changed nothing")
r = admin("client", "list", ca_dir=CA)
is_(len(re.findall(r"\srevoked\s", r.stdout)), 4, "client list shows four revoked")
r = admin("client", "show", alice, ca_dir=CA)
ok(re.search(r"^reason: +keyCompromise$", r.stdout, re.M) and re.search(r"^revoked at: +\S+Z$", r.stdout, re.M),
   "client show: reason and revocation time", r.stdout)

done_testing()
