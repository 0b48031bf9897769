#!/usr/bin/python3
# Revocation reaches live traffic: the gateway reloads a changed CRL file
# without a restart, and the certificate state is checked on every request,
# so keep-alive HTTP/1.1 and HTTP/2 connections opened before the revocation
# get 403 on their next request.  A bad CRL keeps the previous one.
import os
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig()
alice = rig.ca.issue("alice", spiffe="spiffe://gw.test/ns/prod/sa/alice")
bob = rig.ca.issue("bob", spiffe="spiffe://gw.test/ns/prod/sa/bob")
gw = Gateway(rig.config(rig.route("api", "api.gw.test", "/")))

h1 = H1Conn("api.gw.test", rig.port, rig.ctx(alice))
h2c = H2Conn("api.gw.test", rig.port, rig.ctx(alice))
is_(h1.get("/before")[0], 200, "HTTP/1.1 keep-alive connection: 200 before the revocation")
is_(h2c.get("/before")[0], 200, "HTTP/2 connection: 200 before the revocation")
bob_conn = H1Conn("api.gw.test", rig.port, rig.ctx(bob))
is_(bob_conn.get("/")[0], 200, "another client's connection: 200")

t0 = time.time()
rig.ca.revoke("alice", "keyCompromise")
ok(wait_for(lambda: "reloaded: 1 revoked" in gw.log(), 3), "the gateway reloads the new CRL",
   gw.log()[-800:])
s, h, body = h1.get("/after")
is_(s, 403, "the same HTTP/1.1 connection now gets 403")
is_(json.loads(body).get("type"), "https://portcullis.dev/problems/cert-revoked", "... cert-revoked")
ok(time.time() - t0 < 2.0, "... within 2 s of the revoke command (%.2fs)" % (time.time() - t0))
s, h, body = h2c.get("/after")
is_(s, 403, "the same HTTP/2 connection now gets 403")
is_(bob_conn.get("/after")[0], 200, "the other client's connection is unaffected")
ok(handshake_refused("api.gw.test", rig.port, rig.ctx(alice)),
   "a new handshake with the revoked certificate is refused")

# a broken CRL is refused and the previous one stays in force
good = open(rig.ca.crl).read()
write(rig.ca.crl + ".new", "-----BEGIN X509 CRL-----\nnot a crl\n-----END X509 CRL-----\n")
os.rename(rig.ca.crl + ".new", rig.ca.crl)
ok(wait_for(lambda: "keeping the previous CRL" in gw.log(), 3),
   "a malformed CRL is refused and logged", gw.log()[-800:])
is_(h1.get("/still")[0], 403, "... and the revocation stays in force")
is_(bob_conn.get("/still")[0], 200, "... and valid clients still pass")
other = ClientCA(os.path.join(workdir(), "other-ca"), name="Portcullis Client CA")
shutil.copy(other.crl, rig.ca.crl + ".new")
os.rename(rig.ca.crl + ".new", rig.ca.crl)
ok(wait_for(lambda: gw.log().count("keeping the previous CRL") >= 2, 3),
   "a CRL signed by another CA with the same name is refused")
is_(h1.get("/still")[0], 403, "... and the revocation stays in force")
write(rig.ca.crl + ".new", good)
os.rename(rig.ca.crl + ".new", rig.ca.crl)
ok(wait_for(lambda: gw.log().count("reloaded: 1 revoked") >= 2, 3), "the good CRL is taken again")

lines = gw.wait_access(lambda a: a.get("reason") == "cert-revoked", count=2)
ok(len(lines) >= 2, "the access log records cert-revoked denials")
ok(rig.metric(r'reason="cert-revoked"') >= 2, "metrics count cert-revoked denials")
ok(rig.metric(r'portcullis_crl_revoked_certificates') == 1, "metrics: one serial in the CRL in force")
ok(rig.metric(r'portcullis_crl_loads_total\{result="refused"\}') >= 2, "metrics count refused CRL files")
h1.close()
h2c.close()
bob_conn.close()
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
