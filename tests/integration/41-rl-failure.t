#!/usr/bin/python3
# When Redis fails, each route's on_backend_failure decides -- deny (503),
# allow (200), local (the same GCRA in process memory) -- no request waits
# longer than the timeout once the breaker is open, nothing crashes, and
# Redis decides again within a second of coming back.  Also: Redis with a
# password and with an ACL user; the in-process limiter without redis:.
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig()
alice = rig.ca.issue("alice", spiffe="spiffe://gw.test/ns/prod/sa/alice")
redis = Redis(args=["--requirepass", "s3cret-pw"])
def rl(rate, burst, fail):
    return ("    rate_limit: { key: identity, rate: %s, burst: %d, on_backend_failure: %s }\n"
            % (rate, burst, fail))
routes = (rig.route("deny", "api.gw.test", "/deny/", extra=rl("100/s", 100, "deny")) +
          rig.route("allow", "api.gw.test", "/allow/", extra=rl("100/s", 100, "allow")) +
          rig.route("local", "api.gw.test", "/local/", extra=rl("1/m", 3, "local")) +
          # its key lives for minutes (a 100/s key expires 10 ms after one request)
          rig.route("slow", "api.gw.test", "/slow/", extra=rl("1/m", 10, "deny")))
cfg = rig.config(routes, extra="redis:\n  url: \"redis://:s3cret-pw@127.0.0.1:%d/2\"\n"
                               "  timeout: 100ms\n" % redis.port)
gw = Gateway(cfg)
def get(path):
    t0 = time.time()
    r = rig.curl("api.gw.test", path, alice)
    r.elapsed = time.time() - t0
    return r

is_(get("/slow/x").status, 200, "Redis with a password (requirepass), db 2: 200")
ok(int(redis.cli("-n", "2", "DBSIZE", password="s3cret-pw") or 0) >= 1, "the key is in db 2")
unlike(gw.log(), "s3cret-pw", "the Redis password never appears in the log")

# stop Redis under load
stop_flag = []
load = []
def loader():
    while not stop_flag:
        load.append(get("/allow/load").status)
t = threading.Thread(target=loader)
t.start()
time.sleep(0.5)
redis.stop()
time.sleep(1.0)
deny = [get("/deny/x") for _ in range(5)]
is_([r.status for r in deny], [503] * 5, "Redis down, on_backend_failure: deny -> 503")
is_((deny[0].json() or {}).get("type"), "https://portcullis.dev/problems/rate-limit-unavailable",
    "... problem type rate-limit-unavailable")
ok(max(r.elapsed for r in deny[1:]) < 0.5,
   "... and with the breaker open no request waits for a Redis timeout (max %.3fs)"
   % max(r.elapsed for r in deny[1:]))
allow = [get("/allow/x").status for _ in range(5)]
is_(allow, [200] * 5, "Redis down, on_backend_failure: allow -> 200")
local = [get("/local/x").status for _ in range(5)]
is_(local, [200, 200, 200, 429, 429], "Redis down, on_backend_failure: local -> limited in process (burst 3)")
stop_flag.append(1)
t.join()
ok(gw.proc.poll() is None, "the gateway survived Redis going away under load (%d requests)" % len(load))
ok(set(load) <= {200}, "the allow route kept answering 200 throughout", set(load))

# Redis comes back: decisions come from Redis again within about a second
redis.start()
t0 = time.time()
ok(wait_for(lambda: get("/deny/y").status == 200, 3, 0.05),
   "after redis-server restarts, Redis decides again (%.2fs)" % (time.time() - t0))
ok(time.time() - t0 < 1.5, "... within about a second")
like(rig.metrics(), r"(?m)^portcullis_redis_breaker_open \d", "the breaker state is exported")
ok(rig.metric(r'reason="rate-limit-unavailable"') >= 5, "503s are counted")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")

# an ACL user
redis2 = Redis(name="redis-acl")
redis2.cli("ACL", "SETUSER", "pcgw", "on", ">acl-pw", "~pc:*", "+evalsha", "+eval",
           "+script|load", "+ping", "+select", "+time", "+get", "+set")
cfg2 = rig.config(rig.route("acl", "api.gw.test", "/acl/", extra=rl("100/s", 100, "deny")),
                  extra="redis:\n  url: \"redis://pcgw:acl-pw@127.0.0.1:%d/0\"\n" % redis2.port)
gw2 = Gateway(cfg2, name="gw-acl")
is_(get("/acl/x").status, 200, "Redis with an ACL user: 200")
ok(redis2.commandstat("evalsha") >= 1 and "user=pcgw" in redis2.cli("CLIENT", "LIST"),
   "... charged over a connection authenticated as that user")
is_(gw2.stop(), 0, "exits 0")
cfg3 = cfg2.replace("acl-pw", "wrong-pw")
gw3 = Gateway(cfg3, name="gw-badpw")
is_(get("/acl/x").status, 503, "a wrong Redis password: the route's deny mode answers 503")
like(gw3.log(), r"(?i)auth", "... and the log says authentication failed")
unlike(gw3.log(), "wrong-pw", "... without the password")
is_(gw3.stop(), 0, "exits 0")

# no redis: the in-process limiter, shared by the worker threads
cfg4 = rig.config(rig.route("mem", "api.gw.test", "/mem/", extra=rl("1/m", 4, "deny")), threads=2)
gw4 = Gateway(cfg4, name="gw-mem")
codes = [get("/mem/x").status for _ in range(6)]
is_(codes, [200] * 4 + [429] * 2, "without redis: the in-process GCRA across 2 workers: burst 4 then 429")
is_(gw4.stop(), 0, "exits 0")
done_testing()
