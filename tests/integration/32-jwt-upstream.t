#!/usr/bin/python3
# What a verified token gives the upstream (X-Auth-Subject, X-Auth-Scopes,
# claims_to_headers; Authorization removed unless forward_token), and the
# verified-token cache: a cached token is still checked for time, audience,
# scope and binding on every request.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403
from tokens import *  # noqa: E402,F403

ISS = "https://idp.gw.test/"
rig = Rig()
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web")
k = Key("ec256", kid="ec-1")
jwks_path = write(os.path.join(workdir(), "jwks.json"), jwks(k))
issuers = ("issuers:\n  corp:\n    issuer: \"%s\"\n    jwks_file: %s\n"
           "    algorithms: [ES256]\n    leeway: 0s\n" % (ISS, jwks_path))
up = rig.ups["billing"].port
routes = ("  - name: plain\n    match: { host: api.gw.test, path_prefix: /plain/ }\n"
          "    upstream: \"http://127.0.0.1:%d\"\n"
          "    jwt:\n      issuer: corp\n      audience: billing\n"
          "      claims_to_headers: { email: x-user-email, groups: x-user-groups, tier: x-tier, ctl: x-ctl }\n"
          "  - name: fwd\n    match: { host: api.gw.test, path_prefix: /fwd/ }\n"
          "    upstream: \"http://127.0.0.1:%d\"\n"
          "    jwt: { issuer: corp, audience: billing, forward_token: true }\n"
          "  - name: admin\n    match: { host: api.gw.test, path_prefix: /admin/ }\n"
          "    upstream: \"http://127.0.0.1:%d\"\n"
          "    jwt: { issuer: corp, audience: billing, scopes: [billing:admin] }\n"
          "  - name: other-aud\n    match: { host: api.gw.test, path_prefix: /payroll/ }\n"
          "    upstream: \"http://127.0.0.1:%d\"\n"
          "    jwt: { issuer: corp, audience: payroll }\n" % (up, up, up, up))
gw = Gateway(rig.config(routes, extra=issuers))

tok = k.token(claims(ISS, "billing", sub="alice", scope="billing:read billing:write",
                     email="alice@gw.test", groups=["ops", "dev"], tier=3, ctl="a\nb"))
spoof = ["X-Auth-Subject: root", "X-Auth-Scopes: billing:admin", "X-User-Email: evil@x"]
r = rig.curl("api.gw.test", "/plain/x", web, headers=["Authorization: Bearer " + tok] + spoof)
is_(r.status, 200, "a valid token: 200")
h = upstream_headers(r)
is_(h.get("x-auth-subject"), ["alice"], "X-Auth-Subject is the token's sub (the client's copy dropped)")
is_(h.get("x-auth-scopes"), ["billing:read billing:write"], "X-Auth-Scopes is the token's scopes")
is_(h.get("x-user-email"), ["alice@gw.test"], "claims_to_headers: a string claim (spoofed copy dropped)")
is_(h.get("x-user-groups"), ["ops,dev"], "claims_to_headers: an array of strings, comma-joined")
is_(h.get("x-tier"), ["3"], "claims_to_headers: a number")
ok("x-ctl" not in h, "a claim with control bytes is not sent as a header", h.get("x-ctl"))
ok("authorization" not in h, "Authorization is removed before proxying by default", h.get("authorization"))

r = rig.curl("api.gw.test", "/fwd/x", web, headers=["Authorization: Bearer " + tok])
is_(upstream_headers(r).get("authorization"), ["Bearer " + tok], "forward_token: true keeps it")

# the same token, now in the cache, on routes with other requirements
r = rig.curl("api.gw.test", "/admin/x", web, headers=["Authorization: Bearer " + tok])
is_(r.status, 403, "the cached token still lacks billing:admin: 403")
r = rig.curl("api.gw.test", "/payroll/x", web, headers=["Authorization: Bearer " + tok])
is_(r.status, 401, "the cached token has the wrong audience for another route: 401")
short = k.token(claims(ISS, "billing", ttl=2))
is_(rig.curl("api.gw.test", "/plain/x", web, headers=["Authorization: Bearer " + short]).status, 200,
    "a token valid for 2s: 200 (and cached)")
time.sleep(3)
is_(rig.curl("api.gw.test", "/plain/x", web, headers=["Authorization: Bearer " + short]).status, 401,
    "... 3s later the cached token has expired: 401")
# the key leaves the JWKS file: tokens cached with it are dropped
k2 = Key("ec256", kid="ec-2")
write(jwks_path + ".new", jwks(k2))
os.rename(jwks_path + ".new", jwks_path)
ok(wait_for(lambda: "1 key(s) from %s" % jwks_path in gw.log().split("ready:")[-1], 3),
   "the changed jwks_file is reloaded", gw.log()[-400:])
r = rig.curl("api.gw.test", "/plain/x", web, headers=["Authorization: Bearer " + tok])
is_(r.status, 401, "a cached token whose key left the JWKS: 401")
r = rig.curl("api.gw.test", "/plain/x", web,
             headers=["Authorization: Bearer " + k2.token(claims(ISS, "billing"))])
is_(r.status, 200, "a token from the new key: 200")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
