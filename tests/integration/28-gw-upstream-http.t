#!/usr/bin/python3
# The HTTP/1.1 client towards upstreams: every response framing (length,
# chunked, until close, none), large bodies streamed to HTTP/1.1 and HTTP/2
# clients, 1xx skipped, upstream keep-alive reuse and its limits, request
# bodies, cookies joined for HTTP/2 clients, and a reused connection the
# upstream closed meanwhile retried transparently.
import hashlib
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig()
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web")
gw = Gateway(rig.config(rig.route("api", "api.gw.test", "/"),
                        extra="limits:\n  upstream_keepalive: 1s\n"))

def get(path, http2=False, **kw):
    return rig.curl("api.gw.test", path, web, http2=http2, **kw)

for h2 in (False, True):
    tag = "HTTP/2" if h2 else "HTTP/1.1"
    r = get("/big/3000000", h2)
    ok(r.status == 200 and len(r.body) == 3000000 and set(r.body) == {"x"},
       "%s: a 3 MB body with content-length arrives whole" % tag, (r.status, len(r.body)))
    r = get("/chunked/2500000", h2)
    ok(r.status == 200 and len(r.body) == 2500000 and set(r.body) == {"y"},
       "%s: a 2.5 MB chunked body arrives whole" % tag, (r.status, len(r.body)))
    r = get("/eof/1200000", h2)
    ok(r.status == 200 and len(r.body) == 1200000 and set(r.body) == {"z"},
       "%s: a body delimited by the upstream closing arrives whole" % tag, (r.status, len(r.body)))
    r = get("/status/204", h2)
    is_((r.status, r.body), (204, ""), "%s: 204 without a body" % tag)
    r = get("/big/5000", h2, method="HEAD", extra=["-I"])
    is_((r.status, r.header("content-length")), (200, "5000"),
        "%s: HEAD keeps the upstream's content-length and sends no body" % tag)
    r = get("/continue", h2)
    is_((r.status, (r.json() or {}).get("path")), (200, "/continue"),
        "%s: a 100 Continue from the upstream is skipped" % tag)
    r = get("/close", h2)
    is_(r.status, 200, "%s: a response with Connection: close" % tag)
    body = os.urandom(300000).hex()
    r = get("/post", h2, method="POST", data=body)
    is_((r.status, (r.json() or {}).get("body_len")), (200, len(body)),
        "%s: a 600 kB request body reaches the upstream" % tag)

r = get("/x", True, headers=["cookie: a=1", "cookie: b=2"])
h = upstream_headers(r)
is_(h.get("cookie"), ["a=1; b=2"], "HTTP/2 cookie fields are joined into one for the upstream")
is_(r.header("server"), "portcullis", "the upstream's Server header is replaced")
is_(r.header("x-upstream"), "billing", "other upstream response headers pass")

# keep-alive to the upstream: one connection serves a series of requests
conns = [(get("/ka").json() or {}).get("conn") for _ in range(5)]
ok(len(set(conns)) <= 2,
   "five sequential requests reuse the upstream connections of the 2 workers (%s)" % conns)
# the upstream keeps the connection; ours expires after upstream_keepalive (1s)
time.sleep(1.5)
c2 = (get("/ka").json() or {}).get("conn")
ok(c2 not in conns, "after limits.upstream_keepalive (1s) idle, a new upstream connection is used")

# restart the upstream: pooled connections die; the next request must still succeed
port = rig.ups["billing"].port
stop(rig.ups["billing"])
p = spawn([PY, os.path.join(HERE, "upstream.py"), str(port), "--name", "billing2"], "upstream-b2")
ok(wait_port(port, 10, proc=p), "the upstream restarts on the same port")
r = get("/after-restart")
is_((r.status, (r.json() or {}).get("upstream")), (200, "billing2"),
    "a request after the upstream restarted succeeds (the dead pooled connection is not used)")
ok(gw.proc.poll() is None, "the gateway is still running")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
