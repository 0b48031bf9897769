#!/usr/bin/python3
# The proxy: 502 when the upstream refuses, 504 when it is too slow, https
# upstreams verified including their name (also on TLS 1.3, which h2o 2.2.5
# does not check itself), keep-alive connection pools per upstream.
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig(upstreams=("billing",))
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web")
upki = ServerPKI(os.path.join(workdir(), "upstream-pki"), name="Upstream CA")
good_crt = upki.issue("localhost", ["localhost"])
wrong_crt = upki.issue("wrong", ["wrong.example"], ips=())
tls_good = start_upstream("tls-good", tls=good_crt)
tls_wrong = start_upstream("tls-wrong", tls=wrong_crt)
dead = free_port()  # nothing listens here

routes = (rig.route("plain", "api.gw.test", "/") +
          rig.route("dead", "dead.gw.test", "/", "http://127.0.0.1:%d" % dead) +
          "  - name: slow\n    match: { host: slow.gw.test, path_prefix: / }\n"
          "    upstream: { url: \"http://127.0.0.1:%d\", timeout: 300ms }\n    jwt: off\n"
          % rig.ups["billing"].port +
          "  - name: tls-good\n    match: { host: tls.gw.test, path_prefix: / }\n"
          "    upstream: { url: \"https://localhost:%d\", ca_file: %s }\n    jwt: off\n"
          % (tls_good.port, upki.ca) +
          "  - name: tls-ip\n    match: { host: tlsip.gw.test, path_prefix: / }\n"
          "    upstream: { url: \"https://127.0.0.1:%d\", ca_file: %s }\n    jwt: off\n"
          % (tls_good.port, upki.ca) +
          "  - name: tls-wrong\n    match: { host: tlswrong.gw.test, path_prefix: / }\n"
          "    upstream: { url: \"https://localhost:%d\", ca_file: %s }\n    jwt: off\n"
          % (tls_wrong.port, upki.ca) +
          "  - name: tls-untrusted\n    match: { host: untrusted.gw.test, path_prefix: / }\n"
          "    upstream: { url: \"https://localhost:%d\", ca_file: %s }\n    jwt: off\n"
          % (tls_good.port, rig.spki.ca))
gw = Gateway(rig.config(routes))

r = rig.curl("dead.gw.test", "/", web)
is_(r.status, 502, "upstream refuses the connection: 502")
is_((r.json() or {}).get("type"), "https://portcullis.dev/problems/upstream-unavailable",
    "... as problem+json")
is_(r.header("content-type"), "application/problem+json", "... content type")
r = rig.curl("slow.gw.test", "/sleep/2000", web)
is_(r.status, 504, "upstream slower than the route's timeout (300ms): 504")
is_((r.json() or {}).get("type"), "https://portcullis.dev/problems/upstream-timeout", "... problem type")
r = rig.curl("slow.gw.test", "/sleep/50", web)
is_(r.status, 200, "a response within the timeout: 200")
r = rig.curl("api.gw.test", "/status/503", web)
is_((r.status, r.header("content-type")), (503, "application/json"),
    "an upstream's own 5xx passes through untouched")
r = rig.curl("api.gw.test", "/status/502", web)
is_((r.status, (r.json() or {}).get("upstream")), (502, "billing"),
    "an upstream's own 502 is not mistaken for ours")

r = rig.curl("tls.gw.test", "/", web)
is_((r.status, (r.json() or {}).get("upstream")), (200, "tls-good"),
    "https upstream with a certificate for its name: 200")
r = rig.curl("tlsip.gw.test", "/", web)
is_(r.status, 200, "https upstream by IP with an IP SAN: 200")
r = rig.curl("tlswrong.gw.test", "/", web)
is_(r.status, 502, "https upstream whose certificate names another host: 502 (TLS 1.3)")
r = rig.curl("untrusted.gw.test", "/", web)
is_(r.status, 502, "https upstream with a certificate from an untrusted CA: 502")
ok(not [a for a in gw.access() if a.get("route") == "tls-wrong" and a.get("status") == 200],
   "nothing was ever answered by the wrong-name upstream")

# keep-alive towards the upstream: many client connections, few upstream connections
conns = set()
for i in range(10):
    r = rig.curl("api.gw.test", "/ka/%d" % i, web)
    conns.add((r.json() or {}).get("conn"))
ok(len(conns) <= 2, "10 client connections reused pooled upstream connections (%d used)" % len(conns),
   conns)

lines = gw.wait_access(lambda a: a.get("route") == "slow" and a.get("status") == 504)
ok(lines and lines[0].get("reason") == "upstream-timeout", "the access log records upstream-timeout")
ok(lines and lines[0].get("decision") == "allow", "... as an allowed request that failed upstream")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
