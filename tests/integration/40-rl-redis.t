#!/usr/bin/python3
# Rate limiting in a real redis-server: GCRA burst then 429 with an exact
# Retry-After and the RateLimit headers, refill, keys per identity and per
# token subject, one global limit across two gateways, SCRIPT FLUSH, and
# exactly one Redis command per request.
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403
from tokens import *  # noqa: E402,F403

ISS = "https://idp.gw.test/"
rig = Rig()
alice = rig.ca.issue("alice", spiffe="spiffe://gw.test/ns/prod/sa/alice")
bob = rig.ca.issue("bob", spiffe="spiffe://gw.test/ns/prod/sa/bob")
key = Key("ec256", kid="k1")
jwks_path = write(os.path.join(workdir(), "jwks.json"), jwks(key))
redis = Redis()
extra = ("redis:\n  url: \"redis://127.0.0.1:%d/0\"\n  timeout: 200ms\n"
         "issuers:\n  corp:\n    issuer: \"%s\"\n    jwks_file: %s\n    algorithms: [ES256]\n"
         % (redis.port, ISS, jwks_path))
def rl(rate, burst, k="identity", fail="deny"):
    return ("    rate_limit: { key: %s, rate: %s, burst: %d, on_backend_failure: %s }\n"
            % (k, rate, burst, fail))
up = rig.ups["billing"].port
routes = (rig.route("ident", "api.gw.test", "/ident/", extra=rl("1/s", 3)) +
          rig.route("global", "api.gw.test", "/global/", extra=rl("10/m", 10, "route")) +
          "  - name: subj\n    match: { host: api.gw.test, path_prefix: /subj/ }\n"
          "    upstream: \"http://127.0.0.1:%d\"\n"
          "    jwt: { issuer: corp, audience: billing }\n" % up + rl("1/h", 2, "subject") +
          rig.route("free", "api.gw.test", "/free/"))
cfg = rig.config(routes, extra=extra)
gw = Gateway(cfg)
port2 = free_port()
cfg2 = rig.config(routes, extra=extra, listeners=rig.listener(port=port2), admin_port=free_port())

def get(path, client=alice, headers=()):
    return rig.curl("api.gw.test", path, client, headers=list(headers))

codes = [get("/ident/x").status for _ in range(4)]
is_(codes, [200, 200, 200, 429], "burst 3 at 1/s: three pass, the fourth is 429")
r = get("/ident/x")
is_(r.status, 429, "still limited")
is_(r.header("content-type"), "application/problem+json", "... problem+json")
is_((r.json() or {}).get("type"), "https://portcullis.dev/problems/rate-limited", "... rate-limited")
ra = r.header("retry-after")
ok(ra in ("1",), "Retry-After is 1 second (one cell at 1/s)", ra)
like(r.header("ratelimit-policy") or "", r'^"ident";q=3;w=3$', "RateLimit-Policy: quota 3, window 3s")
like(r.header("ratelimit") or "", r'^"ident";r=0;t=\d+$', "RateLimit: nothing remaining")
is_(get("/ident/x", bob).status, 200, "another identity has its own bucket")
time.sleep(1.05)
r = get("/ident/x")
is_(r.status, 200, "after Retry-After, the next request passes")
like(r.header("ratelimit") or "", r'^"ident";r=0;t=\d+$', "... and a 200 carries the RateLimit header too")
is_(get("/free/x").header("ratelimit"), None, "a route without rate_limit sends no RateLimit header")

# subject: the key follows the token's sub, whatever the certificate
t_ann = key.token(claims(ISS, "billing", sub="ann"))
t_ben = key.token(claims(ISS, "billing", sub="ben"))
codes = [get("/subj/x", c, ["Authorization: Bearer " + t_ann]).status for c in (alice, bob, alice)]
is_(codes, [200, 200, 429], "key: subject -- ann's two requests from two certificates share a bucket")
is_(get("/subj/x", alice, ["Authorization: Bearer " + t_ben]).status, 200, "ben has his own")

# one global limit across two gateways sharing the redis-server
gw2 = Gateway(cfg2, name="gw2")
def get2(path):
    return curl("https://api.gw.test:%d%s" % (port2, path), cert=alice[0], key=alice[1],
                cacert=rig.spki.ca, resolve=["api.gw.test:%d:127.0.0.1" % port2])
results = []
lock = threading.Lock()
def worker(fn):
    for _ in range(8):
        s = fn("/global/x").status
        with lock:
            results.append(s)
ts = [threading.Thread(target=worker, args=(f,)) for f in (get, get2)]
for t in ts:
    t.start()
for t in ts:
    t.join()
is_(results.count(200), 10, "two gateways, 16 requests, route limit 10/m burst 10: exactly 10 pass")
is_(results.count(429), 6, "... and 6 are refused")

# SCRIPT FLUSH: the next charge reloads the script; nothing visible changes
redis.cli("SCRIPT", "FLUSH")
r = get("/ident/y", bob)
ok(r.status in (200, 429) and r.status != 503, "after SCRIPT FLUSH a charge still decides (%d)" % r.status)
before = redis.commandstat("evalsha")
n = 0
for _ in range(5):
    get("/free/x")  # no rate limit: no command
for _ in range(6):
    get("/ident/z")
    n += 1
is_(redis.commandstat("evalsha") - before, n, "exactly one EVALSHA per rate-limited request")
like(redis.cli("INFO", "commandstats"), r"cmdstat_evalsha", "INFO commandstats shows EVALSHA")
keys = redis.cli("KEYS", "pc:*")
ok("spiffe" not in keys and "alice" not in keys and "ann" not in keys,
   "Redis keys hold hashes, never identities", keys)
like(keys, r"pc:\{ident\}:i:[0-9a-f]{32}", "keys carry the route as a hash tag")
ttl = int(redis.cli("PTTL", keys.split()[0]) or "0")
ok(0 < ttl <= 3600 * 1000 * 3, "keys expire when idle (PTTL %d ms)" % ttl)
acc = gw.wait_access(lambda a: a.get("reason") == "rate-limited")
ok(acc and acc[0].get("rl_key", "").startswith("pc:{") and acc[0].get("rl_backend") == "redis" and
   "rl_remaining" in acc[0], "the access log has the (hashed) limit key, the backend and the quota left",
   acc[:1])
ok(rig.metric(r'reason="rate-limited"') >= 1, "rate-limited requests are counted")
is_(gw.stop(), 0, "gateway 1 exits 0")
is_(gw2.stop(), 0, "gateway 2 exits 0")
done_testing()
