#!/usr/bin/python3
# Keys from a real HTTPS JWKS endpoint on loopback: fetched off the event
# loop, a rotated key is accepted on its first request (unknown kid ->
# refetch, single flight, rate-limited), cached keys keep serving while the
# endpoint is down, and /readyz is not ready until the issuer has keys.
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403
from tokens import *  # noqa: E402,F403

ISS = "https://idp.gw.test/"
rig = Rig()
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web")
idp_pki = ServerPKI(os.path.join(workdir(), "idp-pki"), name="IdP CA")
idp_cert = idp_pki.issue("idp", ["localhost"])
k1, k2, k3 = Key("rsa", kid="k1"), Key("ec256", kid="k2"), Key("rsa", kid="k3")
jwks_file = write(os.path.join(workdir(), "served.json"), jwks(k1))
jport = free_port()

def start_idp():
    p = spawn([PY, os.path.join(HERE, "jwks_server.py"), str(jport), idp_cert[0], idp_cert[1],
               jwks_file], "idp")
    ok(wait_port(jport, 10, proc=p), "the JWKS endpoint is up")
    return p

def idp_hits(p):
    return read_log(p).count("GET /jwks.json")

issuers = ("issuers:\n  corp:\n    issuer: \"%s\"\n"
           "    jwks_uri: \"https://localhost:%d/jwks.json\"\n    ca_file: %s\n"
           "    algorithms: [RS256, ES256]\n    min_refetch_interval: 1s\n    max_stale: 1h\n"
           % (ISS, jport, idp_pki.ca))
route = ("  - name: api\n    match: { host: api.gw.test, path_prefix: / }\n"
         "    upstream: \"http://127.0.0.1:%d\"\n"
         "    jwt: { issuer: corp, audience: billing }\n" % rig.ups["billing"].port)
cfg = rig.config(route, extra=issuers)

def readyz():
    return curl("http://127.0.0.1:%d/readyz" % rig.admin_port)

def call(key):
    return rig.curl("api.gw.test", "/x", web,
                    headers=["Authorization: Bearer " + key.token(claims(ISS, "billing"))])

idp = start_idp()
gw = Gateway(cfg)
ok(wait_for(lambda: readyz().status == 200, 10), "/readyz becomes ready once the keys are fetched")
is_(call(k1).status, 200, "a token signed with the published key k1: 200")
like(rig.metrics(), r'portcullis_jwks_loads_total\{issuer="corp",result="ok"\} [1-9]',
     "the successful fetch is counted per issuer")
like(rig.metrics(), r'portcullis_jwks_age_seconds\{issuer="corp"\} \d', "... with the keys' age")

# rotation: k2 appears at the IdP; its first token must not fail
time.sleep(1.1)  # past min_refetch_interval since the first fetch
write(jwks_file, jwks(k1, k2))
before = idp_hits(idp)
t0 = time.time()
r = call(k2)
is_(r.status, 200, "after rotation, the first token with the new kid k2: 200 (no restart)")
ok(time.time() - t0 < 3, "... with a short wait for the refetch (%.2fs)" % (time.time() - t0))
is_(idp_hits(idp) - before, 1, "... which fetched the JWKS exactly once")

# many requests with an unknown kid at once: one fetch (single flight)
time.sleep(1.1)  # past min_refetch_interval
before = idp_hits(idp)
results = []
threads = [threading.Thread(target=lambda: results.append(call(k3).status)) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
is_(sorted(results), [401] * 8, "8 concurrent tokens with an unpublished kid: all 401")
ok(idp_hits(idp) - before <= 1, "... after at most one fetch (%d)" % (idp_hits(idp) - before))
before = idp_hits(idp)
is_(call(k3).status, 401, "again at once: 401")
is_(idp_hits(idp) - before, 0, "... without another fetch (min_refetch_interval)")

# the IdP goes away: the last good keys keep serving
stop(idp)
is_(call(k1).status, 200, "JWKS endpoint down: k1 still accepted")
is_(call(k2).status, 200, "JWKS endpoint down: k2 still accepted")
is_(readyz().status, 200, "... and the gateway stays ready (keys within max_stale)")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")

# start with the endpoint down: not ready, tokens refused, then ready when it comes back
gw2 = Gateway(cfg, name="gw2")
r = readyz()
is_(r.status, 503, "started with the JWKS endpoint down: /readyz is 503")
like(r.body, "issuer corp has no keys", "... and says why")
like(rig.metrics(), r'portcullis_jwks_age_seconds\{issuer="corp"\} -1', "metrics: no keys (age -1)")
r = call(k1)
is_(r.status, 401, "... and tokens are refused (no keys: fail closed)")
ok(wait_for(lambda: "fetching https://localhost:%d/jwks.json failed" % jport in gw2.log(), 5),
   "the failed fetch is logged", gw2.log()[-500:])
idp = start_idp()
ok(wait_for(lambda: readyz().status == 200, 15), "when the endpoint returns, the gateway becomes ready")
is_(call(k1).status, 200, "... and accepts tokens")
lines = [a for a in gw2.access() if a.get("reason") == "invalid-token"]
ok(len(lines) >= 1,
   "the refusal is logged as invalid-token", lines[:1])
is_(gw2.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
