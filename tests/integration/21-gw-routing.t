#!/usr/bin/python3
# Routing and the route's client policy: allowed and disallowed identities,
# longest path prefix, wildcard hosts, methods, 404 without detail, 421 when
# the Host is not the TLS server name, malformed requests, HTTP/1.1 and
# HTTP/2, keep-alive reuse.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig(upstreams=("billing", "admin", "wild"))
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web")
batch = rig.ca.issue("batch", spiffe="spiffe://gw.test/ns/dev/sa/batch")
dnsonly = rig.ca.issue("dnsonly", dns=["worker.svc.gw.test"])
mailer = rig.ca.issue("mailer", email="ops@gw.test")

routes = (rig.route("billing", "api.gw.test", "/api/", "billing",
                    allow=["spiffe://gw.test/ns/prod/sa/*", "dns:*.svc.gw.test"]) +
          rig.route("billing-admin", "api.gw.test", "/api/admin/", "admin",
                    allow=["email:ops@gw.test"]) +
          rig.route("wildcard", "*.gw.test", "/", "wild") +
          rig.route("readonly", "ro.gw.test", "/", "billing", methods=["GET", "HEAD"]))
gw = Gateway(rig.config(routes))

def up(r):
    return (r.json() or {}).get("upstream")

r = rig.curl("api.gw.test", "/api/invoices", web)
is_(r.status, 200, "SPIFFE identity allowed by a URI glob: 200")
is_(up(r), "billing", "... from the billing upstream")
r = rig.curl("api.gw.test", "/api/invoices", dnsonly)
is_(r.status, 200, "DNS identity allowed by dns:*.svc.gw.test: 200")
r = rig.curl("api.gw.test", "/api/invoices", batch)
is_(r.status, 403, "identity not in mtls.allow: 403")
is_(r.header("content-type"), "application/problem+json", "... as application/problem+json")
is_((r.json() or {}).get("type"), "https://portcullis.dev/problems/cert-not-allowed",
    "... with a stable problem type")
ok("spiffe" not in r.body, "... which does not echo the identity back", r.body)

r = rig.curl("api.gw.test", "/api/admin/users", mailer)
is_((r.status, up(r)), (200, "admin"), "the longest path_prefix wins (/api/admin/ over /api/)")
r = rig.curl("api.gw.test", "/api/admin/users", web)
is_(r.status, 403, "... and its own mtls.allow applies: the web identity is refused there")
r = rig.curl("api.gw.test", "/api", web)
is_(r.status, 404, "/api does not match the prefix /api/")
r = rig.curl("x.gw.test", "/anything", batch)
is_((r.status, up(r)), (200, "wild"), "*.gw.test matches x.gw.test; no mtls.allow = any client cert")
r = rig.curl("API.GW.TEST", "/api/x", web)
is_(r.status, 200, "host matching is case-insensitive")

r = rig.curl("ro.gw.test", "/", web)
is_(r.status, 200, "methods: [GET, HEAD] allows GET")
r = rig.curl("ro.gw.test", "/", web, method="DELETE")
is_(r.status, 404, "... and nothing else matches (DELETE: 404)")

r = rig.curl("gw.test", "/", web)
is_(r.status, 404, "a host no route names: 404")
is_(r.json(), {"type": "about:blank", "title": "Not Found", "status": 404},
    "... with no detail at all")

r = rig.curl("api.gw.test", "/api/x", web, headers=["Host: x.gw.test"])
is_(r.status, 421, "Host differs from the TLS server name: 421 (even though the certificate covers both)")
is_((r.json() or {}).get("type"), "https://portcullis.dev/problems/misdirected-request", "... problem type")
r = rig.curl("api.gw.test", "/api/x", web, headers=["Host: api.gw.test:9999"])
is_(r.status, 200, "the Host's port is ignored")
r = curl("https://127.0.0.1:%d/api/x" % rig.port, cert=web[0], key=web[1], extra=["-k"],
         headers=["Host: api.gw.test"])
is_(r.status, 421, "no SNI at all: 421")

r = rig.curl("api.gw.test", "/api/%2e%2e/admin/users", web, extra=["--path-as-is"])
is_(r.status, 400, "an encoded dot segment is refused: 400")
r = rig.curl("api.gw.test", "/api/../api/admin/users", mailer, extra=["--path-as-is"])
is_(r.status, 400, "a dot segment is refused: 400")
r = rig.curl("api.gw.test", "/api%2Fadmin/users", web)
is_(r.status, 400, "an encoded slash is refused: 400")
r = rig.curl("api.gw.test", "/api/%61dmin/users", web)
is_(r.status, 403, "percent-encoding cannot dodge a route: /api/%61dmin/ is /api/admin/ (403 for web)")
r = rig.curl("api.gw.test", "/api/x", web, headers=["X-Big: " + "a" * 40000])
is_(r.status, 431, "request headers above limits.max_header_bytes: 431")
r = rig.curl("api.gw.test", "/api/x", web, method="CONNECT")
ok(r.status in (400, 405), "CONNECT is not proxied (%d)" % r.status)

r = rig.curl("api.gw.test", "/api/x", web, http2=True)
is_((r.status, r.version), (200, "2"), "HTTP/2 over ALPN works")
r = rig.curl("api.gw.test", "/api/x", web)
is_((r.status, r.version), (200, "1.1"), "HTTP/1.1 works")

c = H1Conn("api.gw.test", rig.port, rig.ctx(web))
statuses = [c.get("/api/n%d" % i)[0] for i in range(5)]
is_(statuses, [200] * 5, "five requests on one HTTP/1.1 keep-alive connection")
s, h, _ = c.get("/api/x", {"Host": "x.gw.test"})
is_(s, 421, "... a later request on it with another Host: 421")
c.close()
h2c = H2Conn("api.gw.test", rig.port, rig.ctx(web))
statuses = [h2c.get("/api/h2-%d" % i)[0] for i in range(5)]
is_(statuses, [200] * 5, "five streams on one HTTP/2 connection")
s, _, _ = h2c.get("/api/x", authority="x.gw.test")
is_(s, 421, "... a stream with another :authority on it: 421")
h2c.close()

acc = gw.wait_access(lambda a: a.get("status") == 421)
ok(acc and acc[0].get("reason") == "misdirected-request", "the access log records the 421 reason")
ok(rig.metric(r'portcullis_requests_total\{route="billing",decision="allow"') >= 3,
   "allowed requests are counted by route")
ok(rig.metric(r'reason="cert-not-allowed"') >= 1, "denials are counted by reason")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
