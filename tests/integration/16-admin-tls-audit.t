#!/usr/bin/python3
# portcullis-admin tls audit HOST:PORT grades a server's TLS against
# tls-policy.yaml: the real gateway under both profiles (with and without a
# client certificate) is compliant; nginx and openssl s_server configured
# against the policy are not, and the report names why.
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

W = workdir()
HSTS_FULL = "max-age=63072000; includeSubDomains; preload"
GCM = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384"


def policy(name, text):
    return write(os.path.join(W, name + ".yaml"), text)


def violations(r):
    """The ✗ lines of a text report."""
    return [l.strip()[2:] for l in r.stdout.splitlines() if l.strip().startswith("\u2717")]


MODERN = policy("modern", "profile: modern\n"
                          "ciphersuites: [TLS_AES_128_GCM_SHA256, TLS_AES_256_GCM_SHA384]\n"
                          "groups: [X25519, P-256]\n")
INTERMEDIATE = policy("intermediate", "profile: intermediate\n"
                                      "ciphers: [ECDHE-ECDSA-AES128-GCM-SHA256, "
                                      "ECDHE-ECDSA-AES256-GCM-SHA384, "
                                      "ECDHE-ECDSA-CHACHA20-POLY1305]\n"
                                      "groups: [X25519, P-256, P-384]\n")
PLAIN = policy("plain", "profile: intermediate\ngroups: [X25519, P-256]\n")
WITH_HSTS = policy("hsts", "profile: intermediate\ngroups: [X25519, P-256]\n"
                           "hsts: { max_age: 63072000, include_subdomains: true, preload: true }\n")

# --- bad usage and unreachable servers first ----------------------------------------
r = admin("tls", "audit")
ok(r.returncode == 2 and "missing argument" in r.stderr, "no HOST:PORT: exit 2", r.stderr)
for bad in ("127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:443", "exa mple:443",
            "[example.com]:443"):
    r = admin("tls", "audit", bad, "--policy", PLAIN)
    is_(r.returncode, 2, "HOST:PORT %r is bad usage (exit 2)" % bad)
r = admin("tls", "audit", "127.0.0.1:443", "--policy", PLAIN, "--cert", "/x.pem")
ok(r.returncode == 2 and "--cert and --key go together" in r.stderr,
   "--cert without --key: exit 2", r.stderr)
r = admin("tls", "audit", "127.0.0.1:443", "--policy", PLAIN, "--sni", "bad name")
is_(r.returncode, 2, "an --sni that is not a DNS name: exit 2")

bad_policy = policy("bad", "profile: modern\nciphers: [AES128-SHA]\n")
r = admin("tls", "audit", "127.0.0.1:443", "--policy", bad_policy)
ok(failed_with(r, 1, r"bad\.yaml:2:\d+: .*ciphers"), "a policy the loader refuses: exit 1 "
   "with file:line", r.stderr)
r = admin("tls", "audit", "127.0.0.1:443", "--policy", os.path.join(W, "none.yaml"))
ok(failed_with(r, 1, r"none\.yaml"), "a missing policy file: exit 1 naming it", r.stderr)

dead = free_port()
r = tls_audit("127.0.0.1:%d" % dead, "--policy", PLAIN)
ok(failed_with(r, 1, r"127\.0\.0\.1:%d: cannot connect: Connection refused" % dead),
   "(f) nothing listening: exit 1, one line naming the address", r.stderr)
is_(r.stdout, "", "(f) nothing listening: no report")
r = tls_audit("no-such-host.invalid:443", "--policy", PLAIN)
ok(failed_with(r, 1, r"cannot resolve no-such-host\.invalid"), "an unknown host: exit 1",
   r.stderr)

# a TCP listener that never answers: one timeout, not one per probe
import socket  # noqa: E402
silent = socket.socket()
silent.bind(("127.0.0.1", 0))
silent.listen(64)
r = tls_audit("127.0.0.1:%d" % silent.getsockname()[1], "--policy", PLAIN)
ok(failed_with(r, 1, r"no TLS answer within 5000 ms"), "a silent server: exit 1 after one "
   "timeout", r.stderr)
silent.close()

# --- (a) the real gateway, both profiles, with and without a client certificate ---
rig = Rig()
client = rig.ca.issue("auditor", spiffe="spiffe://gw.test/ns/ops/sa/audit")
route = rig.route("api", "api.gw.test")
common = ["--sni", "api.gw.test", "--cafile", rig.spki.ca]
with_cert = ["--cert", client[0], "--key", client[1]]

# not TLS at all: every version refused
r = tls_audit("127.0.0.1:%d" % rig.ups["billing"].port, "--policy", PLAIN)
ok(failed_with(r, 1, r"no TLS handshake succeeded"), "a plain HTTP server: exit 1, "
   "no TLS handshake succeeded", r.stdout + r.stderr)
like(r.stdout, r"\u2717 no TLS version accepted", "a plain HTTP server: the report says so")

for prof, pol in (("modern", MODERN), ("intermediate", INTERMEDIATE)):
    rig.port, rig.admin_port = free_port(), free_port()
    gw = Gateway(rig.config(route, extra="tls_policy: %s\n" % pol), name="gw-" + prof)
    target = "127.0.0.1:%d" % rig.port
    r = tls_audit(target, "--policy", pol, *common)
    ok(r.returncode == 0 and r.stderr == "", "(a) gateway, profile %s, no client cert: "
       "compliant (exit 0)" % prof, r.stdout + r.stderr)
    like(r.stdout, r"Summary: \u2713 compliant", "(a) %s: the summary line says so" % prof)
    like(r.stdout, r"\u2713 TLS 1\.3 accepted \(client certificate required\)",
         "(a) %s: TLS 1.3 counts as accepted although the gateway wants a certificate" % prof)
    like(r.stdout, r"the server requires a client certificate",
         "(a) %s: the report says a client certificate is required" % prof)
    like(r.stdout, r"\u2713 TLS 1\.0 refused\n  \u2713 TLS 1\.1 refused",
         "(a) %s: TLS 1.0 and 1.1 are refused" % prof)
    if prof == "modern":
        like(r.stdout, r"\u2713 TLS 1\.2 refused", "(a) modern: TLS 1.2 refused")
        unlike(r.stdout, r"TLS_CHACHA20_POLY1305_SHA256 accepted",
               "(a) modern: the suite the policy leaves out is refused")
        like(r.stdout, r"\u2713 TLS_AES_128_GCM_SHA256 accepted",
             "(a) modern: a listed TLS 1.3 suite is accepted")
    else:
        like(r.stdout, r"\u2713 TLS 1\.2 accepted \(client certificate required\)",
             "(a) intermediate: TLS 1.2 accepted: the handshake got past ServerHello")
        like(r.stdout, r"\u2713 ECDHE-ECDSA-AES128-GCM-SHA256 accepted",
             "(a) intermediate: a listed TLS 1.2 suite is accepted")
        unlike(r.stdout, r"ECDHE-ECDSA-AES128-SHA accepted",
               "(a) intermediate: a CBC suite is refused")
        like(r.stdout, r"\u2713 P-384 accepted", "(a) intermediate: P-384 (listed) accepted")
    like(r.stdout, r"\u2713 X25519 accepted", "(a) %s: X25519 accepted" % prof)
    unlike(r.stdout, r"X448 accepted|ffdhe2048 accepted", "(a) %s: unlisted groups refused" % prof)
    like(r.stdout, r"\u2713 the chain verifies against .*ca\.pem",
         "(a) %s: the chain verifies against --cafile" % prof)
    like(r.stdout, r"\u2713 the certificate is valid for api\.gw\.test",
         "(a) %s: the name is checked against --sni" % prof)

    r2 = tls_audit(target, "--policy", pol, *(common + with_cert))
    ok(r2.returncode == 0, "(a) gateway, profile %s, with --cert/--key: compliant (exit 0)" % prof,
       r2.stdout + r2.stderr)
    like(r2.stdout, r"a client certificate was presented in every handshake",
         "(a) %s: the report says the certificate was presented" % prof)
    unlike(r2.stdout, r"client certificate required",
           "(a) %s: with a certificate nothing is refused for want of one" % prof)
    like(r2.stdout, r"HSTS\n  \u2713 not required by the policy",
         "(a) %s: a policy without hsts: asks for no header" % prof)

    rj = tls_audit(target, "--policy", pol, "--json", *(common + with_cert))
    try:
        j = json.loads(rj.stdout)
    except ValueError:
        j = {}
    ok(rj.returncode == 0 and j.get("compliant") is True and j.get("violations") == 0,
       "(a) %s: --json says compliant" % prof, rj.stdout[-2000:] + rj.stderr)
    is_(j.get("protocols", {}).get("TLS 1.0"), "refused", "(a) %s: --json: TLS 1.0 refused" % prof)
    is_(j.get("protocols", {}).get("TLS 1.3"), "accepted", "(a) %s: --json: TLS 1.3 accepted" % prof)
    ok(j.get("certificate", {}).get("verified") is True and
       j.get("certificate", {}).get("chain", [{}])[0].get("key") == "EC P-256",
       "(a) %s: --json: the chain is described and verified" % prof, j.get("certificate"))
    ok(0 < j.get("handshakes", 0) <= 200 and j.get("complete") is True,
       "(a) %s: at most 200 handshakes (%s)" % (prof, j.get("handshakes")))

    if prof == "intermediate":
        # the same server graded against the stricter profile: TLS 1.2 is named
        r = tls_audit(target, "--policy", MODERN, *common)
        ok(failed_with(r, 1, r"not compliant with .*modern\.yaml"),
           "(a) the intermediate gateway against the modern policy: exit 1", r.stderr)
        ok(any(v.startswith("TLS 1.2 accepted") for v in violations(r)),
           "(a) ... and the report names TLS 1.2", r.stdout)
        # this gateway's policy has no hsts: it sends no header, which a policy asking for one
        # names as the violation
        is_(rig.curl("api.gw.test", "/", client).header("strict-transport-security"), None,
            "(a) a policy without hsts: the gateway sends no Strict-Transport-Security")
        r = tls_audit(target, "--policy", WITH_HSTS, "--sni", "api.gw.test", "--cafile",
                      rig.spki.ca, *with_cert)
        ok(r.returncode == 1 and any("no Strict-Transport-Security header" in v
                                     for v in violations(r)),
           "(a) the gateway sends no HSTS header: a policy with hsts: is not met", r.stdout)
        r = tls_audit(target, "--policy", WITH_HSTS, *common)
        ok(r.returncode == 1 and any("HSTS" in l or "could not be checked" in l
                                     for l in violations(r)),
           "(a) HSTS required but unreadable without a client certificate: a violation",
           r.stdout)
    gw.stop()

# --- (a) the gateway running the HSTS policy passes the audit of that policy ---------
rig.port, rig.admin_port = free_port(), free_port()
gw = Gateway(rig.config(route, extra="tls_policy: %s\n" % WITH_HSTS), name="gw-hsts")
target = "127.0.0.1:%d" % rig.port
is_(rig.curl("api.gw.test", "/", client).header("strict-transport-security"), HSTS_FULL,
    "(a) the gateway sends the policy's Strict-Transport-Security")
r = tls_audit(target, "--policy", WITH_HSTS, *(common + with_cert))
ok(r.returncode == 0, "(a) the gateway under the HSTS policy: compliant (exit 0)",
   r.stdout + r.stderr)
like(r.stdout, r"HSTS\n  \u2713 max-age=63072000; includeSubDomains; preload",
     "(a) the report shows the gateway's header as met")
gw.stop()

# --- HSTS graded against nginx, which sends (or omits) the header --------------------
spki = rig.spki
ng_cert, ng_key = issue_server_cert(spki, "nginx", ["www.gw.test"])
hsts_cases = [
    ("full header", HSTS_FULL, []),
    ("no header", None, [r"no Strict-Transport-Security header"]),
    ("(d) max-age lower than the policy", "max-age=300; includeSubDomains; preload",
     [r"max-age=300 is below the policy's 63072000"]),
    ("(d) includeSubDomains and preload missing", "max-age=63072000",
     [r"includeSubDomains is missing", r"preload is missing"]),
    ("an invalid header (max-age twice)", "max-age=63072000; max-age=1; includeSubDomains",
     [r"Strict-Transport-Security is invalid"]),
]
ng = Nginx([{"cert": ng_cert, "key": ng_key, "hsts": h} for _, h, _ in hsts_cases])
for (what, _, expect), port in zip(hsts_cases, ng.ports):
    r = tls_audit("127.0.0.1:%d" % port, "--policy", WITH_HSTS, "--sni", "www.gw.test",
                  "--cafile", spki.ca)
    v = violations(r)
    if not expect:
        ok(r.returncode == 0 and v == [], "nginx with the %s: compliant (exit 0)" % what,
           r.stdout + r.stderr)
        like(r.stdout, r"HSTS\n  \u2713 max-age=63072000; includeSubDomains; preload",
             "nginx with the %s: the header is shown" % what)
        continue
    ok(failed_with(r, 1, r"not compliant"), "nginx with %s: exit 1" % what, r.stdout + r.stderr)
    is_(len(v), len(expect), "nginx with %s: exactly %d violation(s)" % (what, len(expect)))
    for e in expect:
        ok(any(re.search(e, x) for x in v), "nginx with %s: the report says /%s/" % (what, e),
           r.stdout)
r = tls_audit("127.0.0.1:%d" % ng.ports[1], "--policy", PLAIN, "--sni", "www.gw.test",
              "--cafile", spki.ca)
ok(r.returncode == 0, "nginx without the header against a policy without hsts: compliant",
   r.stdout)

# the certificate checks, on the compliant nginx
r = tls_audit("127.0.0.1:%d" % ng.ports[0], "--policy", WITH_HSTS, "--sni", "other.test",
              "--cafile", spki.ca)
ok(r.returncode == 1 and violations(r) == ["the certificate is not valid for other.test"],
   "a name the certificate does not cover: exactly that violation", r.stdout)
r = tls_audit("127.0.0.1:%d" % ng.ports[0], "--policy", WITH_HSTS, "--sni", "www.gw.test")
ok(r.returncode == 1 and len(violations(r)) == 1 and
   "does not verify against the system store" in violations(r)[0],
   "a private CA without --cafile: the chain does not verify", r.stdout)

# --- (b) a server that allows TLS 1.0 ---------------------------------------------------
old_cert, old_key = issue_server_cert(spki, "legacy", ["legacy.gw.test"])
port = start_s_server(old_cert, old_key, "-min_protocol", "TLSv1", "-max_protocol", "TLSv1.2",
                      "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-SHA:"
                      "@SECLEVEL=0", "-groups", "X25519:P-256", name="s_server-tls10")
r = tls_audit("127.0.0.1:%d" % port, "--policy", PLAIN, "--cafile", spki.ca)
ok(failed_with(r, 1, r"127\.0\.0\.1:%d is not compliant" % port),
   "(b) TLS 1.0 allowed: exit 1 with one line on stderr", r.stdout + r.stderr)
ok(any(v.startswith("TLS 1.0 accepted: profile intermediate allows TLS 1.2 and 1.3")
       for v in violations(r)), "(b) the report names TLS 1.0", r.stdout)
ok(any(v.startswith("TLS 1.1 accepted") for v in violations(r)), "(b) ... and TLS 1.1", r.stdout)
like(r.stdout, r"\u2713 the certificate is valid for 127\.0\.0\.1",
     "(b) without --sni the address is checked against the IP SANs")

# --- (c) a server that allows a CBC suite -------------------------------------------------
rsa_cert, rsa_key = issue_server_cert(spki, "rsa", ["rsa.gw.test"], key="rsa")
port = start_s_server(rsa_cert, rsa_key, "-min_protocol", "TLSv1.2",
                      "-cipher", "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-SHA",
                      "-groups", "X25519:P-256", name="s_server-cbc")
r = tls_audit("127.0.0.1:%d" % port, "--policy", PLAIN, "--cafile", spki.ca)
ok(failed_with(r, 1, r"1 violation$"), "(c) a CBC suite allowed: exit 1, one violation",
   r.stdout + r.stderr)
is_(violations(r), ["ECDHE-RSA-AES128-SHA accepted: not ECDHE with an AEAD (GCM, CHACHA20)"],
    "(c) the report names the suite")
like(r.stdout, r"\u2713 ECDHE-RSA-AES128-GCM-SHA256 accepted", "(c) the AEAD suite passes")
like(r.stdout, r"key: RSA 2048", "(c) the RSA key is described")
rj = tls_audit("127.0.0.1:%d" % port, "--policy", PLAIN, "--cafile", spki.ca, "--json")
j = json.loads(rj.stdout) if rj.stdout.startswith("{") else {}
ok(rj.returncode == 1 and j.get("compliant") is False and
   [c["name"] for c in j.get("tls12_ciphers", [])] ==
   ["ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-SHA"],
   "(c) --json lists the accepted TLS 1.2 suites", rj.stdout[-1500:])

# --- (e) an expired certificate, and one expiring within 14 days ------------------------
exp_cert, exp_key = issue_server_cert(spki, "expired", ["old.gw.test"], days=-1)
port = start_s_server(exp_cert, exp_key, "-groups", "X25519:P-256", "-cipher", GCM,
                      name="s_server-expired")
r = tls_audit("127.0.0.1:%d" % port, "--policy", PLAIN, "--cafile", spki.ca)
v = violations(r)
ok(failed_with(r, 1, r"not compliant"), "(e) an expired certificate: exit 1", r.stdout + r.stderr)
ok(any(x.startswith("the certificate expired on") for x in v), "(e) the report says it expired",
   r.stdout)
ok(any("does not verify" in x and "certificate has expired" in x for x in v),
   "(e) ... and that the chain does not verify", r.stdout)

soon_cert, soon_key = issue_server_cert(spki, "soon", ["soon.gw.test"], days=5)
port = start_s_server(soon_cert, soon_key, "-groups", "X25519:P-256", "-cipher", GCM,
                      name="s_server-soon")
r = tls_audit("127.0.0.1:%d" % port, "--policy", PLAIN, "--cafile", spki.ca)
v = violations(r)
ok(r.returncode == 1 and len(v) == 1 and
   re.match(r"the certificate expires on \S+, in [45] days \(less than 14\)", v[0]) is not None,
   "a certificate expiring in 5 days: exactly that violation", r.stdout)

done_testing()
