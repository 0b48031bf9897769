#!/usr/bin/python3
# portcullis-admin client sign: a good CSR (openssl req) gives a certificate
# with our extensions and nothing the CSR asked for; a CSR with a broken
# signature, a forbidden SAN or a weak key is refused and changes nothing.
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F401,F403

from cryptography import x509  # noqa: E402
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID  # noqa: E402

W = workdir()
CA = os.path.join(W, "ca")
CAPEM = os.path.join(CA, "ca.pem")
is_(admin("ca", "init", ca_dir=CA).returncode, 0, "ca init")


def csr(name, subj, *addext, newkey=("ec", "-pkeyopt", "ec_paramgen_curve:P-256")):
    path = os.path.join(W, name + ".csr")
    cmd = ["req", "-new", "-newkey", newkey[0]] + list(newkey[1:]) + [
        "-nodes", "-keyout", os.path.join(W, name + ".key"), "-subj", subj, "-out", path]
    for e in addext:
        cmd += ["-addext", e]
    r = openssl(*cmd)
    assert r.returncode == 0, r.stderr
    return path


def count():
    with open(os.path.join(CA, "index.json")) as fh:
        return len(json.load(fh)["certs"])


def load_pem(text):
    return x509.load_pem_x509_certificate(text.encode())


# --- a good CSR, which asks for more than it gets ------------------------------
good = csr("dave", "/CN=dave/O=Evil Corp",
           "subjectAltName=URI:spiffe://example.com/ns/dev/sa/dave,DNS:dave.example.com,email:dave@example.com",
           "basicConstraints=critical,CA:TRUE", "keyUsage=critical,keyCertSign",
           "extendedKeyUsage=serverAuth,clientAuth,codeSigning")
r = admin("client", "sign", good, ca_dir=CA)
is_(r.returncode, 0, "client sign CSR (to stdout)")
ok(r.stdout.startswith("-----BEGIN CERTIFICATE-----") and r.stdout.count("BEGIN") == 1,
   "stdout holds the PEM certificate and nothing else", r.stdout[:200])
crt = write(os.path.join(W, "dave.crt"), r.stdout)
r2 = openssl("verify", "-CAfile", CAPEM, crt)
is_(r2.returncode, 0, "openssl verify -CAfile ca.pem: OK")
c = load_pem(r.stdout)
is_(c.subject.rfc4514_string(), "CN=dave", "subject is CN only (the CSR's O is dropped)")
bc = c.extensions.get_extension_for_class(x509.BasicConstraints)
ok(bc.critical and bc.value.ca is False, "CA:FALSE although the CSR asked CA:TRUE")
ku = c.extensions.get_extension_for_class(x509.KeyUsage).value
ok(ku.digital_signature and not ku.key_cert_sign, "keyUsage is ours, not the CSR's")
is_(list(c.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value),
    [ExtendedKeyUsageOID.CLIENT_AUTH], "EKU clientAuth only (the CSR asked serverAuth, codeSigning)")
san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
is_((san.get_values_for_type(x509.UniformResourceIdentifier), san.get_values_for_type(x509.DNSName),
     san.get_values_for_type(x509.RFC822Name)),
    (["spiffe://example.com/ns/dev/sa/dave"], ["dave.example.com"], ["dave@example.com"]),
    "SANs copied from the CSR")
r1 = openssl("x509", "-in", crt, "-noout", "-pubkey")
r2 = openssl("pkey", "-in", os.path.join(W, "dave.key"), "-pubout")
is_(r1.stdout, r2.stdout, "the certificate carries the CSR's key")
ok(os.path.exists(os.path.join(CA, "issued", "%x.pem" % c.serial_number)), "copy in DIR/issued/")
is_(count(), 1, "one index entry")

# --- options: --out, --name, --days, SAN options replace the CSR's ---------------
out = os.path.join(W, "dave2.crt")
r = admin("client", "sign", good, "--out", out, "--name", "dave-ci", "--dns", "ci.example.com",
          "--days", "7", ca_dir=CA)
is_(r.returncode, 0, "client sign --out --name --dns --days")
like(r.stdout, r"^serial: [0-9a-f]{32}\n", "with --out it prints the serial")
is_(file_mode(out), 0o644, "--out file is 0644")
c = load_pem(open(out).read())
is_(c.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value, "dave-ci", "--name sets the CN")
san = c.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
is_([str(g.value) for g in san], ["ci.example.com"], "SAN options replace the CSR's SAN entirely")
ok(abs((c.not_valid_after - c.not_valid_before).total_seconds() - (7 * 86400 + 60)) <= 5, "--days 7")
r = run([admin_bin(), "--ca-dir", CA, "client", "sign", "-"], input=open(good).read())
ok(r.returncode == 0 and "BEGIN CERTIFICATE" in r.stdout, "CSR from stdin with '-'", r.stderr)

for kind, args in (("ec384", ("ec", "-pkeyopt", "ec_paramgen_curve:P-384")), ("ed25519", ("ed25519",)),
                   ("rsa3072", ("rsa:3072",))):
    p = csr("k-" + kind, "/CN=k-" + kind, newkey=args)
    r = admin("client", "sign", p, ca_dir=CA)
    is_(r.returncode, 0, "a %s CSR is signed" % kind)

# --- refusals, each one line, exit 1, nothing issued ----------------------------
n = count()
issued = sorted(os.listdir(os.path.join(CA, "issued")))

pem = open(good).read()
der = bytearray(base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----"))))
der[-1] ^= 0x01  # the last byte is inside the signature value
bad = write(os.path.join(W, "badsig.csr"), "-----BEGIN CERTIFICATE REQUEST-----\n" +
            "\n".join(re.findall(".{1,64}", base64.b64encode(bytes(der)).decode())) +
            "\n-----END CERTIFICATE REQUEST-----\n")
r = openssl("req", "-in", bad, "-noout", "-verify")
like(r.stdout + r.stderr, r"verify failure", "(openssl agrees the flipped CSR does not verify)")
refusals = [
    (bad, [], r"CSR signature does not verify", "signature flipped"),
    (csr("ip", "/CN=ip", "subjectAltName=DNS:ip.example.com,IP:10.0.0.1"), [],
     r"entry of type IP address is not allowed", "IP SAN"),
    (csr("wild", "/CN=wild", "subjectAltName=DNS:*.example.com"), [], r"not a valid DNS name", "wildcard SAN"),
    (csr("rid", "/CN=rid", "subjectAltName=RID:1.2.3.4"), [], r"registeredID is not allowed", "RID SAN"),
    (csr("weak", "/CN=weak", newkey=("rsa:1024",)), [], r"RSA key of 1024 bits is not accepted", "RSA 1024"),
    (csr("p521", "/CN=p521", newkey=("ec", "-pkeyopt", "ec_paramgen_curve:P-521")), [],
     r"EC curve secp521r1 is not accepted", "P-521"),
    (csr("nocn", "/O=NoCN"), [], r"no CN; give --name", "no CN"),
    (csr("badcn", "/CN=has space"), [], r"is not a valid name", "CN that is not a NAME"),
    (csr("twocn", "/CN=a/CN=b"), [], r"more than one CN", "two CNs"),
    (write(os.path.join(W, "junk.csr"), "hello\n"), [], r"not a PEM certificate request", "not PEM"),
    (os.path.join(W, "missing.csr"), [], r"missing\.csr: No such file", "missing file"),
]
for path, extra, pattern, what in refusals:
    r = admin("client", "sign", path, *extra, ca_dir=CA)
    ok(failed_with(r, 1, pattern) and r.stdout == "", "client sign refuses: %s" % what, r.stderr)
r = admin("client", "sign", good, "--out", os.path.join(W, "nodir", "x.crt"), ca_dir=CA)
ok(failed_with(r, 1, r"its directory does not exist"), "--out into a missing directory: refused first",
   r.stderr)
big = write(os.path.join(W, "big.csr"), "A" * (1024 * 1024 + 1))
r = admin("client", "sign", big, ca_dir=CA)
ok(failed_with(r, 1, r"larger than the limit of 1048576 bytes"), "a CSR over PC_PEM_MAX_BYTES is refused",
   r.stderr)
is_(count(), n, "nothing was added to the index by the refusals")
is_(sorted(os.listdir(os.path.join(CA, "issued"))), issued, "nothing was written to issued/")

# with SAN options, the CSR's SAN (even an IP) is not used, so it is no reason to refuse
r = admin("client", "sign", os.path.join(W, "ip.csr"), "--dns", "ip.example.com", ca_dir=CA)
is_(r.returncode, 0, "IP SAN in the CSR is ignored when --dns replaces the SAN")
r = admin("client", "sign", os.path.join(W, "nocn.csr"), "--name", "named", ca_dir=CA)
is_(r.returncode, 0, "a CSR without CN is signed with --name")
r = admin("client", "sign", good, "--name", ".bad", ca_dir=CA)
is_(r.returncode, 2, "--name that is not a NAME is a usage error")
r = admin("client", "sign", good, "--spiffe", "spiffe://x", ca_dir=CA)
is_(r.returncode, 2, "a bad --spiffe is a usage error")

done_testing()
