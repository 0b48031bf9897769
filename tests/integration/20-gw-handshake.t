#!/usr/bin/python3
# mTLS is mandatory: every kind of bad client certificate is refused in the
# TLS handshake, and each refusal is logged with its reason and counted.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig()
ca = rig.ca
good = ca.issue("good", spiffe="spiffe://gw.test/ns/prod/sa/web")
expired = ca.issue("expired", spiffe="spiffe://gw.test/ns/prod/sa/old",
                   extra=["--not-before", "-10d", "--not-after", "-1d"])
future = ca.issue("future", spiffe="spiffe://gw.test/ns/prod/sa/new",
                  extra=["--not-before", "+1d", "--not-after", "+10d"])
revoked = ca.issue("revoked", spiffe="spiffe://gw.test/ns/prod/sa/gone")
ca.revoke("revoked", "keyCompromise")
other = ClientCA(os.path.join(workdir(), "other-ca"), name="Other CA")
foreign = other.issue("good", spiffe="spiffe://gw.test/ns/prod/sa/web")

# a certificate of the right CA, but for servers (EKU serverAuth only), and one without EKU
def sign_with_client_ca(name, ext):
    key = os.path.join(workdir(), name + ".key")
    csr = os.path.join(workdir(), name + ".csr")
    crt = os.path.join(workdir(), name + ".crt")
    extf = write(os.path.join(workdir(), name + ".ext"), ext)
    openssl_out("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key,
            "-out", csr, "-subj", "/CN=" + name)
    openssl_out("x509", "-req", "-in", csr, "-CA", ca.ca, "-CAkey", os.path.join(ca.dir, "ca.key"),
            "-set_serial", "0x" + os.urandom(8).hex(), "-days", "5", "-out", crt, "-extfile", extf)
    return crt, key

server_eku = sign_with_client_ca("serveronly", "extendedKeyUsage=serverAuth\n"
                                 "subjectAltName=URI:spiffe://gw.test/ns/prod/sa/web\n")
no_eku = sign_with_client_ca("noeku", "subjectAltName=URI:spiffe://gw.test/ns/prod/sa/web\n")

gw = Gateway(rig.config(rig.route("api", "api.gw.test")))

r = rig.curl("api.gw.test", "/x", good)
is_(r.status, 200, "a valid certificate from the client CA gets through")

cases = [
    ("no client certificate", None, "no_certificate"),
    ("a certificate from another CA", foreign, "unknown_ca"),
    ("an expired certificate", expired, "expired"),
    ("a certificate not yet valid", future, "not_yet_valid"),
    ("a certificate revoked in the CRL", revoked, "revoked"),
    ("a serverAuth-only certificate of the right CA", server_eku, "bad_purpose"),
    ("a certificate without extendedKeyUsage", no_eku, "bad_purpose"),
]
for what, cert, reason in cases:
    for version in ("1.2", "1.3"):
        refused = handshake_refused("api.gw.test", rig.port, rig.ctx(cert, version))
        ok(refused, "TLS %s: %s is refused in the handshake" % (version, what))
    r = rig.curl("api.gw.test", "/x", cert)
    ok(r.status == 0 and r.rc != 0, "curl with %s gets no HTTP response" % what, r)
    ok(wait_for(lambda: "reason=%s" % reason in gw.log(), 3),
       "the refusal is logged with reason=%s" % reason, gw.log()[-1500:])
    ok(rig.metric(r'portcullis_tls_handshake_failures_total\{reason="%s"\}' % reason) >= 1,
       "the refusal is counted in portcullis_tls_handshake_failures_total{reason=\"%s\"}" % reason)

ok(not [a for a in gw.access() if a.get("identity", "").endswith("/gone")],
   "nothing from the revoked certificate reached the access log")
like(gw.log(), r'tls handshake refused: peer=127\.0\.0\.1:\d+ sni=api\.gw\.test reason=expired',
     "the log names the peer address and the server name")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
