#!/usr/bin/python3
# What the upstream receives: every identity and forwarding header the
# client sent is replaced by the gateway's own (XFCC from the verified
# certificate, X-Forwarded-*, X-Request-Id, traceparent), route headers are
# set, and the access log holds one JSON line per request with no secrets.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig()
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web", dns=["web.svc.gw.test"])
extra = "    headers:\n      set: { x-tenant: acme, x-env: prod }\n"
gw = Gateway(rig.config(rig.route("api", "api.gw.test", "/", extra=extra)))

serial = openssl_out("x509", "-in", web[0], "-noout", "-serial").strip().split("=")[1].lower()
fp = openssl_out("x509", "-in", web[0], "-noout", "-fingerprint", "-sha256").strip().split("=")[1]
fp = fp.replace(":", "").lower()

spoof = ["X-Forwarded-Client-Cert: Hash=0;URI=spiffe://gw.test/ns/prod/sa/admin",
         "x-forwarded-client-cert: second", "X-Auth-Subject: root", "X-Auth-Scopes: admin",
         "X-Forwarded-For: 6.6.6.6", "X-Forwarded-Proto: http", "X-Forwarded-Host: evil",
         "Forwarded: for=6.6.6.6;proto=http", "X-Request-Id: chosen-by-client",
         "X-Real-IP: 6.6.6.6", "X-Tenant: other", "Authorization: Bearer not-a-secret-to-log",
         "traceparent: 00-00000000000000000000000000000000-00f067aa0ba902b7-01",
         "tracestate: vendor=spoofed"]
for proto in (False, True):
    tag = "HTTP/2" if proto else "HTTP/1.1"
    r = rig.curl("api.gw.test", "/p?token=query-secret", web, headers=spoof, http2=proto)
    is_(r.status, 200, "%s: request with spoofed headers: 200" % tag)
    h = upstream_headers(r)
    is_(h.get("x-forwarded-client-cert"),
        ['Hash=%s;Subject="CN=web";URI=spiffe://gw.test/ns/prod/sa/web;DNS=web.svc.gw.test' % fp],
        "%s: the upstream gets exactly one XFCC, built from the verified certificate" % tag)
    is_(h.get("x-forwarded-for"), ["127.0.0.1"], "%s: X-Forwarded-For is the peer address only" % tag)
    is_(h.get("x-forwarded-proto"), ["https"], "%s: X-Forwarded-Proto: https" % tag)
    for name in ("x-auth-subject", "x-auth-scopes", "x-forwarded-host", "forwarded", "x-real-ip",
                 "tracestate"):
        ok(name not in h, "%s: the client's %s is removed" % (tag, name), h.get(name))
    rid = h.get("x-request-id", [""])
    ok(len(rid) == 1 and re.fullmatch(r"[0-9a-f]{32}", rid[0]),
       "%s: X-Request-Id is the gateway's own" % tag, rid)
    tp = h.get("traceparent", [""])
    ok(len(tp) == 1 and re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]", tp[0]) and
       not tp[0].startswith("00-0000"), "%s: an invalid traceparent is replaced by a new one" % tag,
       tp)
    is_(h.get("x-tenant"), ["acme"], "%s: headers.set overrides the client's copy" % tag)
    is_(h.get("x-env"), ["prod"], "%s: headers.set adds a header" % tag)
    is_(h.get("authorization"), ["Bearer not-a-secret-to-log"],
        "%s: Authorization passes (routes with jwt: off do not touch it)" % tag)

good_tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
r = rig.curl("api.gw.test", "/", web, headers=["traceparent: " + good_tp, "tracestate: a=b"])
h = upstream_headers(r)
is_((h.get("traceparent"), h.get("tracestate")), ([good_tp], ["a=b"]),
    "a valid traceparent and its tracestate are kept")
r = rig.curl("api.gw.test", "/", web, headers=["traceparent: " + good_tp,
                                               "traceparent: " + good_tp.replace("4b", "5b")])
h = upstream_headers(r)
ok(h.get("traceparent") and len(h["traceparent"]) == 1 and h["traceparent"][0] != good_tp,
   "two traceparent headers are replaced by one new one", h.get("traceparent"))
is_(r.header("x-request-id"), None, "the request id is not leaked in response headers")

lines = gw.wait_access(lambda a: a.get("path") == "/p", 5, count=2)
is_(len(lines), 2, "one access-log line per request")
a = lines[0] if lines else {}
for k in ("time", "request_id", "client", "identity", "cert_serial", "route", "decision",
          "reason", "status", "bytes", "total_ms", "upstream_ms"):
    ok(k in a, "the access log has %s" % k, a)
is_(a.get("identity"), "spiffe://gw.test/ns/prod/sa/web", "access log: client identity")
is_(a.get("cert_serial"), serial, "access log: certificate serial")
is_((a.get("route"), a.get("decision"), a.get("status")), ("api", "allow", 200),
    "access log: route, decision, status")
ok(re.fullmatch(r"127\.0\.0\.1:\d+", a.get("client", "")), "access log: client address", a)
log = gw.log()
unlike(log, "not-a-secret-to-log", "the Authorization header never reaches any log")
unlike(log, "query-secret", "the query string never reaches the log")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
