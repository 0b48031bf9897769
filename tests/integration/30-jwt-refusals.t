#!/usr/bin/python3
# The JWT stage refuses every known attack and every invalid token with 401
# (WWW-Authenticate: Bearer error="invalid_token"), a missing scope with 403
# (insufficient_scope), and lets valid tokens through -- minted by our CLI
# and, independently, by python3-jwt.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403
from tokens import *  # noqa: E402,F403

ISS = "https://idp.gw.test/"
rig = Rig()
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web")
other = rig.ca.issue("other", spiffe="spiffe://gw.test/ns/prod/sa/other")
rsa_k = Key("rsa", kid="rsa-1")
ec_k = Key("ec256", kid="ec-1")
ed_k = Key("ed25519", kid="ed-1")
attacker = Key("rsa", kid="rsa-1")  # same kid, attacker's own key
jwks_path = write(os.path.join(workdir(), "jwks.json"), jwks(rsa_k, ec_k, ed_k))
rsa_pem = write(os.path.join(workdir(), "rsa.pem"), rsa_k.pem().decode(), 0o600)

issuers = ("issuers:\n  corp:\n    issuer: \"%s\"\n    jwks_file: %s\n"
           "    algorithms: [RS256, ES256, EdDSA]\n    leeway: 30s\n    max_token_bytes: 4096\n"
           % (ISS, jwks_path))
def jwt_route(name, prefix, extra=""):
    return ("  - name: %s\n    match: { host: api.gw.test, path_prefix: %s }\n"
            "    upstream: \"http://127.0.0.1:%d\"\n"
            "    jwt:\n      issuer: corp\n      audience: billing\n%s"
            % (name, prefix, rig.ups["billing"].port, extra))
routes = (jwt_route("read", "/read/", "      scopes: [billing:read]\n") +
          jwt_route("bound", "/bound/", "      bind_to_client_cert: true\n"))
gw = Gateway(rig.config(routes, extra=issuers))

def call(token, path="/read/x", client=web, extra_headers=()):
    hdrs = list(extra_headers)
    if token is not None:
        hdrs.append("Authorization: Bearer " + token)
    return rig.curl("api.gw.test", path, client, headers=hdrs)

def good(key=rsa_k, **kw):
    c = claims(ISS, "billing", scope="billing:read", **kw)
    return key.token(c)

# accepted
for k in (rsa_k, ec_k, ed_k):
    r = call(good(k))
    is_(r.status, 200, "a valid %s token from python3-jwt: 200" % k.alg)
r = admin("token", "issue", "--key", rsa_pem, "--iss", ISS, "--aud", "billing", "--sub", "bob",
          "--scope", "billing:read", "--kid", "rsa-1")
ok(r.returncode == 0, "portcullis-admin token issue", r.stderr)
cli_tok = r.stdout.strip()
is_(call(cli_tok).status, 200, "a token minted by portcullis-admin: 200")

now = int(time.time())
base = claims(ISS, "billing", scope="billing:read")
pub_pem = rsa_k.pub_pem()
refusals = [
    ("no Authorization header", None, ()),
    ("two Authorization headers", good(), ("Authorization: Bearer " + good(),)),
    ("alg none without a signature", hand_token({"alg": "none", "kid": "rsa-1"}, base), ()),
    ("alg none with a signature", hand_token({"alg": "none", "kid": "rsa-1"}, base, b"sig"), ()),
    ("HS256 keyed with the RSA public key PEM",
     hs256(pub_pem, {"alg": "HS256", "kid": "rsa-1"}, base), ()),
    ("HS256 keyed with the RSA JWK bytes",
     hs256(json.dumps(rsa_k.jwk()).encode(), {"alg": "HS256", "kid": "rsa-1"}, base), ()),
    ("RS256 header over an ES256 signature",
     hand_signed(ec_k, {"alg": "RS256", "kid": "ec-1"}, base), ()),
    ("ES256 header naming the RSA key",
     hand_signed(ec_k, {"alg": "ES256", "kid": "rsa-1"}, base), ()),
    ("a tampered payload", tamper_payload(good(), sub="admin"), ()),
    ("a tampered signature", tamper_signature(good()), ()),
    ("an unknown kid", Key("rsa", kid="nope").token(base), ()),
    ("an expired token", rsa_k.token(dict(base, exp=now - 120, iat=now - 600, nbf=now - 600)), ()),
    ("nbf in the future", rsa_k.token(dict(base, nbf=now + 600)), ()),
    ("iat in the future beyond leeway", rsa_k.token(dict(base, iat=now + 600)), ()),
    ("no exp", rsa_k.token({k: v for k, v in base.items() if k != "exp"}), ()),
    ("a wrong iss", rsa_k.token(dict(base, iss="https://evil.example/")), ()),
    ("iss without the trailing slash", rsa_k.token(dict(base, iss=ISS.rstrip("/"))), ()),
    ("no aud", rsa_k.token({k: v for k, v in base.items() if k != "aud"}), ()),
    ("a wrong aud", rsa_k.token(dict(base, aud="payroll")), ()),
    ("an aud array without ours", rsa_k.token(dict(base, aud=["payroll", "hr"])), ()),
    ("a JWE (five parts)", "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d", ()),
    ("a token over max_token_bytes",
     rsa_k.token(dict(base, pad="x" * 5000)), ()),
    ("bad base64url", good().replace(".", ".=", 1), ()),
    ("a crit header", rsa_k.token(base, headers={"crit": ["exp"], "exp": 1}), ()),
    ("an embedded jwk header with the attacker's key",
     attacker.token(base, headers={"jwk": attacker.jwk()}), ()),
    ("a jku header pointing elsewhere",
     attacker.token(base, headers={"jku": "https://evil.example/jwks.json"}), ()),
    ("Basic instead of Bearer", None, ("Authorization: Basic YWxpY2U6cGFzcw==",)),
]
for what, tok, extra in refusals:
    r = call(tok, extra_headers=extra)
    is_(r.status, 401, "%s: 401" % what)
    ok(r.header("www-authenticate") == 'Bearer error="invalid_token"',
       "... with WWW-Authenticate: Bearer error=\"invalid_token\"", r.headers)
    if tok:
        ok(tok not in r.body and all(part not in r.body for part in tok.split(".") if len(part) > 12),
           "... and the body never echoes the token")
r = call(rsa_k.token(dict(base, iat=now + 10)))
is_(r.status, 200, "iat 10s in the future is within the 30s leeway: 200")
r = call(rsa_k.token(dict(base, aud=["payroll", "billing"])))
is_(r.status, 200, "an aud array containing ours: 200")
r = call(rsa_k.token(dict(base, scope=None, scp=["billing:read", "x"])))
is_(r.status, 200, "scopes as an scp array: 200")

r = call(rsa_k.token(dict(base, scope="billing:write")))
is_(r.status, 403, "a valid token without the route's scope: 403")
is_(r.header("www-authenticate"), 'Bearer error="insufficient_scope", scope="billing:read"',
    "... with WWW-Authenticate insufficient_scope and the required scope")
is_((r.json() or {}).get("type"), "https://portcullis.dev/problems/insufficient-scope", "... problem type")

# RFC 8705 certificate-bound tokens
x5t = cert_x5t(web[0])
bound = rsa_k.token(dict(base, cnf={"x5t#S256": x5t}))
is_(call(bound, "/bound/x").status, 200, "a token bound to this client certificate: 200")
is_(call(bound, "/bound/x", client=other).status, 401,
    "the same bound token from another client certificate: 401")
is_(call(good(), "/bound/x").status, 401, "an unbound token where binding is required: 401")
is_(call(rsa_k.token(dict(base, cnf={"x5t#S256": x5t[:-2] + "AA"})), "/bound/x").status, 401,
    "a wrong cnf x5t#S256: 401")
r = admin("token", "issue", "--key", rsa_pem, "--iss", ISS, "--aud", "billing", "--sub", "bob",
          "--kid", "rsa-1", "--bind-cert", web[0])
is_(call(r.stdout.strip(), "/bound/x").status, 200,
    "portcullis-admin token issue --bind-cert makes a bound token the gateway accepts")

lines = gw.wait_access(lambda a: a.get("reason") == "invalid-token",
                       count=len(refusals))
ok(len(lines) >= len(refusals), "every refusal is in the access log as invalid-token")
ok(all(l.get("detail") for l in lines), "... with a short reason", lines[:2])
acc = gw.wait_access(lambda a: a.get("status") == 200 and a.get("route") == "read")
ok(acc and acc[0].get("sub") == "alice" and acc[0].get("iss") == ISS and acc[0].get("kid") and
   acc[0].get("jti"), "the access log has sub, iss, kid and jti", acc[:1])
log = gw.log()
ok(all(t not in log for _, t, _ in refusals if t), "no token ever appears in the logs")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
