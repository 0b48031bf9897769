#!/usr/bin/python3
# portcullis-admin policy explain: the right decision and reason, offline, for
# an allowed request and for every denial of DESIGN.md that can be known
# without a connection (certificate of another CA, expired, not yet valid,
# revoked; not allowed on the route; missing, invalid, expired token; missing
# scope; an unknown Host; a bad path) -- and the same decision as the real
# gateway: each case is also sent to `portcullis` with curl, on the same
# configuration, and explain's status (or TLS refusal reason) must be the
# gateway's.  Then the output forms: text, --json, exit statuses, stdin
# tokens, a jwks_uri issuer (signature not checkable offline), usage errors.
import json
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

ISS = "https://idp.gw.test/"
W = workdir()
rig = Rig()
ca = rig.ca
SA = "spiffe://gw.test/ns/prod/sa/"
web = ca.issue("web", spiffe=SA + "web")
other = ca.issue("other", spiffe=SA + "other")
expired = ca.issue("expired", spiffe=SA + "old", extra=["--not-before", "-10d", "--not-after", "-1d"])
future = ca.issue("future", spiffe=SA + "new", extra=["--not-before", "+1d", "--not-after", "+10d"])
revoked = ca.issue("revoked", spiffe=SA + "gone")
ca.revoke("revoked", "keyCompromise")
foreign = ClientCA(os.path.join(W, "other-ca"), name="Other CA").issue("web", spiffe=SA + "web")

signer = genkey(os.path.join(W, "signer.pem"), "ec256")
stranger = genkey(os.path.join(W, "stranger.pem"), "ec256")
jwks_path = os.path.join(W, "jwks.json")
write_jwks(jwks_path, "--kid", "k1", signer)


def tok(*extra, key=signer, aud="billing", iss=ISS):
    return issue_token(key, iss, aud, "alice", "--kid", "k1", *extra)


UP = "http://127.0.0.1:%d" % rig.ups["billing"].port
issuers = ("issuers:\n  corp:\n    issuer: \"%s\"\n    jwks_file: %s\n"
           "    algorithms: [ES256]\n    leeway: 30s\n" % (ISS, jwks_path))


def jwt_route(name, prefix, jwt_extra="", extra=""):
    return ("  - name: %s\n    match: { host: api.gw.test, path_prefix: %s, methods: [GET] }\n"
            "    upstream: \"%s\"\n%s"
            "    jwt:\n      issuer: corp\n      audience: billing\n%s" % (
                name, prefix, UP, extra, jwt_extra))


routes = (jwt_route("read", "/read/", "      scopes: [billing:read]\n",
                    "    mtls:\n      allow: [\"%sweb\"]\n" % SA)
          + "    rate_limit: { key: identity, rate: 100/s, burst: 200 }\n"
          + jwt_route("bound", "/bound/", "      bind_to_client_cert: true\n")
          + rig.route("open", "api.gw.test", "/open/"))
gw = Gateway(rig.config(routes, extra=issuers))
CFG = gw.path


def explain(cert, host, path, token=None, method=None, json_out=True, cfg=None, stdin=None):
    args = ["policy", "explain", "-c", cfg or CFG, "--cert", cert[0], "--host", host,
            "--path", path]
    if token is not None:
        args += ["--token", token]
    if method:
        args += ["--method", method]
    if json_out:
        args += ["--json"]
    return admin(*args, input=stdin)


def explain_json(r):
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {}


good = tok("--scope", "billing:read")
bound_web = tok("--bind-cert", web[0])

# (what, cert, token, host, path, method, expected: (decision, status or None, reason))
cases = [
    ("a valid certificate and token", web, good, "api.gw.test", "/read/x", None,
     ("allow", None, "ok")),
    ("a route with jwt: off, no token", web, None, "api.gw.test", "/open/x", None,
     ("allow", None, "ok")),
    ("a certificate from another CA", foreign, good, "api.gw.test", "/read/x", None,
     ("deny", None, "unknown_ca")),
    ("an expired certificate", expired, good, "api.gw.test", "/read/x", None,
     ("deny", None, "expired")),
    ("a certificate not yet valid", future, None, "api.gw.test", "/open/x", None,
     ("deny", None, "not_yet_valid")),
    ("a revoked certificate", revoked, None, "api.gw.test", "/open/x", None,
     ("deny", None, "revoked")),
    ("an identity not allowed on the route", other, good, "api.gw.test", "/read/x", None,
     ("deny", 403, "cert-not-allowed")),
    ("no token", web, None, "api.gw.test", "/read/x", None,
     ("deny", 401, "invalid-token")),
    ("a token signed by another key", web, tok("--scope", "billing:read", key=stranger),
     "api.gw.test", "/read/x", None, ("deny", 401, "invalid-token")),
    ("an expired token", web, tok("--scope", "billing:read", "--now", "-2h", "--ttl", "1h"),
     "api.gw.test", "/read/x", None, ("deny", 401, "invalid-token")),
    ("a token for another audience", web, tok("--scope", "billing:read", aud="payroll"),
     "api.gw.test", "/read/x", None, ("deny", 401, "invalid-token")),
    ("a token without the route's scope", web, tok("--scope", "billing:write"),
     "api.gw.test", "/read/x", None, ("deny", 403, "insufficient-scope")),
    ("a bound token from the bound certificate", web, bound_web, "api.gw.test", "/bound/x",
     None, ("allow", None, "ok")),
    ("a bound token from another certificate", other, bound_web, "api.gw.test", "/bound/x",
     None, ("deny", 401, "invalid-token")),
    ("a Host no route serves", web, good, "nope.gw.test", "/read/x", None,
     ("deny", 404, "not-found")),
    ("an IP address as Host (no TLS server name is sent)", web, None, "127.0.0.1", "/open/x",
     None, ("deny", 421, "misdirected-request")),
    ("a method the route does not take", web, good, "api.gw.test", "/read/x", "POST",
     ("deny", 404, "not-found")),
    ("a dot segment in the path", web, good, "api.gw.test", "/read/../admin", None,
     ("deny", 400, "bad-request")),
    ("an encoded slash in the path", web, good, "api.gw.test", "/read/a%2fb", None,
     ("deny", 400, "bad-request")),
]

for what, cert, token, host, path, method, (dec, status, reason) in cases:
    r = explain(cert, host, path, token, method)
    j = explain_json(r)
    got = (j.get("decision"), j.get("status"), j.get("reason"))
    is_(got, (dec, status, reason), "explain, %s: %s" % (
        what, "allow" if dec == "allow" else "deny %s %s" % (status or "TLS", reason)))
    is_(r.returncode, 0 if dec == "allow" else 1, "... exit %d" % (0 if dec == "allow" else 1))
    refused = j.get("tls_handshake") == "refused"
    if dec == "deny" and status is None:
        ok(refused and (j.get("stage") or "").startswith("tls."),
           "... refused in the TLS handshake", j.get("stage"))
    # the same request to the real gateway, judged against what explain said
    before = gw.log().count("reason=%s " % j.get("reason"))
    hdrs = ["Authorization: Bearer " + token] if token else []
    resp = rig.curl(host, path, cert, headers=hdrs, method=method, extra=["--path-as-is"])
    if refused:
        ok(resp.status == 0 and resp.rc != 0, "gateway agrees: no HTTP response", resp)
        ok(wait_for(lambda: gw.log().count("reason=%s " % j.get("reason")) > before, 3),
           "gateway agrees: handshake refused with reason=%s" % j.get("reason"),
           gw.log()[-600:])
    else:
        want = j.get("status") if j.get("decision") == "deny" else 200
        is_(resp.status, want, "gateway agrees: %s" % want)
        if j.get("decision") == "deny" and want != 404:  # a 404 says nothing (about:blank)
            is_((resp.json() or {}).get("type"),
                "https://portcullis.dev/problems/" + str(j.get("reason")),
                "gateway agrees on the reason: %s" % j.get("reason"))
        if j.get("decision") == "allow":
            is_((resp.json() or {}).get("path"), path, "... and proxied it to the upstream")

# --- the text form -----------------------------------------------------------------
r = explain(web, "api.gw.test", "/read/x", good, json_out=False)
is_(r.returncode, 0, "text: exit 0 for an allowed request")
is_(r.stdout.splitlines()[-1], "decision: allow (route read → %s)" % UP,
    "text: the last line is 'decision: allow (route R → UPSTREAM)'")
like(r.stdout, r"(?m)^identity: spiffe://gw\.test/ns/prod/sa/web$", "text: the identity")
like(r.stdout, r"(?m)^names: +uri spiffe://gw\.test/ns/prod/sa/web, cn web$", "text: every name")
like(r.stdout, r"(?m)^  ok +mtls\.allow +\"spiffe://gw\.test/ns/prod/sa/web\" matches",
     "text: the mtls.allow pattern that matched")
like(r.stdout, r"(?m)^  note +tls\.sni +no TLS session offline: .*\"api\.gw\.test\"",
     "text: says the SNI is assumed to be the Host")
for check in ("signature", "alg", "typ", "kid", "iss", "aud", "exp", "nbf", "iat", "scopes",
              "binding"):
    like(r.stdout, r"(?m)^  ok +jwt\.%s " % check, "text: jwt.%s checked, ok" % check)
like(r.stdout, r"(?m)^  note +ratelimit +100/s, burst 200 .*key identity .*not charged offline",
     "text: the rate limit is described, not charged")
like(r.stdout, r"(?m)^  ok +upstream +%s " % re.escape(UP), "text: the upstream")
unlike(r.stdout + r.stderr, re.escape(good), "the token never appears in the output")

r = explain(other, "api.gw.test", "/read/x", good, json_out=False)
like(r.stdout.splitlines()[-1], r"^decision: deny 403 cert-not-allowed: %sother is not allowed "
     r"on route \"read\": no pattern of \[%sweb\] matches" % (SA, SA),
     "text: 'decision: deny STATUS SLUG: reason', naming the patterns")
ok(failed_with(r, 1, r"denied: 403 cert-not-allowed"), "text: exit 1, one line on stderr",
   r.stderr)
r = explain(web, "api.gw.test", "/read/x", tok("--scope", "billing:read", "--now", "-2h",
                                              "--ttl", "1h"), json_out=False)
like(r.stdout, r"(?m)^  FAIL +jwt\.exp +\S+ \(1h ago; leeway 30s\)$", "text: jwt.exp FAIL, 1h ago")
like(r.stdout, r"(?m)^  ok +jwt\.signature ", "... the signature was ok")
like(r.stdout, r"(?m)^stops at: jwt\.exp ", "... and explain says where the gateway stops")
r = explain(expired, "api.gw.test", "/read/x", None, json_out=False)
is_(r.stdout.splitlines()[-1], "decision: deny TLS expired: the TLS handshake is refused: "
    "certificate has expired", "text: a handshake refusal")
like(r.stdout, r"(?m)^  FAIL +cert\.state +expired at .*403",
     "... and what an older connection would get")
ok(failed_with(r, 1, r"denied: TLS handshake refused \(expired\)"), "... exit 1", r.stderr)
r = explain(foreign, "api.gw.test", "/read/x", None, json_out=False)
like(r.stdout, r"(?m)^  FAIL +tls\.chain +unable to get local issuer certificate .*CN=Other CA",
     "text: another CA is named")

# --- input forms and errors ----------------------------------------------------------
r = explain(web, "api.gw.test", "/read/x", "-", stdin=good + "\n")
is_(explain_json(r).get("decision"), "allow", "--token - reads the token from stdin")
r = explain(web, "API.GW.TEST:443", "/read/x", good)
is_((explain_json(r).get("decision"), explain_json(r).get("request", {}).get("sni_assumed")),
    ("allow", "API.GW.TEST"), "a Host with a port and other case routes like the gateway")
r = admin("policy", "explain", "-c", CFG, "--cert", web[0], "--path", "/read/x")
ok(failed_with(r, 2), "no --host: exit 2", r.stderr)
r = admin("policy", "explain", "-c", CFG, "--cert", web[0], "--host", "a", "--path", "/",
          "--method", "G T")
ok(failed_with(r, 2), "a method that is no HTTP token: exit 2", r.stderr)
r = admin("policy", "explain", "--cert", web[0], "--host", "a", "--path", "/", "-c",
          write(os.path.join(W, "bad.yaml"), "listen: 12\n"))
ok(r.returncode == 1 and re.search(r"bad\.yaml:1:\d+: ", r.stderr) and
   r.stderr.splitlines()[-1].startswith("portcullis-admin: "),
   "a bad configuration: exit 1 with file:line:col", r.stderr)
r = explain(("/nonexistent.pem",), "api.gw.test", "/read/x")
ok(failed_with(r, 1, r"/nonexistent\.pem"), "an unreadable certificate: exit 1, one line",
   r.stderr)
r = admin("policy", "explain", "--help")
ok(r.returncode == 0 and "--token TOKEN|-" in r.stdout, "--help")

# --- a jwks_uri issuer: no network, so the signature is not checked ----------------------
remote_cfg = write(os.path.join(W, "remote.yaml"), rig.config(
    "  - name: remote\n    match: { host: api.gw.test, path_prefix: / }\n"
    "    upstream: \"%s\"\n    jwt: { issuer: remote, audience: billing }\n" % UP,
    extra="issuers:\n  remote:\n    issuer: \"https://idp2.gw.test/\"\n"
          "    jwks_uri: \"https://idp2.gw.test/jwks.json\"\n    algorithms: [ES256]\n"))
r = explain(web, "api.gw.test", "/x", tok(iss="https://idp2.gw.test/"), json_out=False,
            cfg=remote_cfg)
like(r.stdout, r"(?m)^  note +jwt\.signature +cannot check the signature offline \(jwks_uri ",
     "jwks_uri: 'cannot check the signature offline'")
like(r.stdout, r"(?m)^  ok +jwt\.aud .*\(untrusted\)$", "... the claims are checked, untrusted")
like(r.stdout, r"(?m)^caveat: +cannot check the signature offline", "... and a caveat")
r = explain(web, "api.gw.test", "/x", tok(iss="https://idp2.gw.test/", aud="payroll"),
            cfg=remote_cfg)
j = explain_json(r)
is_((j.get("decision"), j.get("status"), j.get("certain")), ("deny", 401, False),
    "jwks_uri: wrong audience is still denied, marked uncertain")

is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
