#!/usr/bin/python3
# A burst of new TLS connections must not look like a Redis failure.  64
# clients connecting at once keep one worker's loop busy with handshakes
# for longer than redis.timeout (25 ms); Redis answers in time, but its
# replies wait in the socket behind the handshakes.  Those charges are
# decided by Redis (read one loop turn later, counted in
# portcullis_redis_late_reads_total), not failed: no 503 from a route in
# `deny` mode, no timeout counted, the breaker stays closed.
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig()
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web")
redis = Redis()
cfg = rig.config(rig.route("api", "localhost", "/", extra=(
    "    rate_limit: { key: identity, rate: 1000000/s, burst: 1000000, "
    "on_backend_failure: deny }\n")),
    threads=1, extra="redis:\n  url: \"redis://127.0.0.1:%d/0\"\n  timeout: 25ms\n" % redis.port)
gw = Gateway(cfg)
is_(rig.curl("localhost", "/", web).status, 200, "one charge through Redis: 200")

r, env = client_cert_env(web, rig.spki.ca)
ok(r.returncode == 0, "the client-certificate shim for wrk builds", r.stderr)


def wrk(seconds, *extra):
    out = subprocess.run(["wrk", "-t1", "-c64", "--timeout", "10s", "-d%ds" % seconds] + list(extra) +
                         ["https://localhost:%d/" % rig.port], env=env, capture_output=True,
                         text=True, timeout=seconds + 30).stdout
    done = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return (int(done.group(1)) if done else 0, int(non2xx.group(1)) if non2xx else 0,
            sum(int(x) for x in errs.groups()) if errs else 0, out)


for what, args in (("64 keep-alive connections opened at once", ()),
                   ("a new TLS connection per request, 64 at a time", ("-H", "Connection: close"))):
    n, bad, errs, out = wrk(3, *args)
    ok(n > 100 and bad == 0 and errs == 0,
       "%s: every request decided by Redis (%d requests, %d non-2xx, %d socket errors)"
       % (what, n, bad, errs), out)

m = rig.metrics()
timeouts = rig.metric(r'portcullis_redis_failures_total\{kind="timeout"\}')
breaker = rig.metric(r'portcullis_redis_failures_total\{kind="breaker_open"\}')
is_((timeouts, breaker), (0, 0), "no charge counted as a Redis timeout, none refused by the breaker")
like(m, r"(?m)^portcullis_redis_late_reads_total \d+$", "late reads are exported")
diag("replies read one loop turn after redis.timeout: %d"
     % rig.metric(r"portcullis_redis_late_reads_total"))
unlike(gw.log(), r"circuit breaker open", "the log never says the breaker opened")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
