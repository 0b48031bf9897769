#!/usr/bin/python3
# portcullis-certmgr against a real pebble + pebble-challtestsrv on loopback:
# *.example.test + example.test through dns-01 with an exec hook that sets
# the TXT records in challtestsrv, the propagation check against
# challtestsrv's DNS, pebble's defaults (5% of nonces rejected, random
# validation sleeps), the result checked with `openssl verify` against
# pebble's root; then a second run leaves it alone, --force-renew makes a
# new key, other key types, and badNonce retries under heavy rejection.
# The time and the number of ACME requests of each issuance are printed as
# TAP comments.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

wd = workdir()

# --- pebble as it comes: 5% bad nonces, validation sleeps --------------------
pb = Pebble("pebble", nosleep=False, nonce_reject=None)
calls = os.path.join(wd, "hook.calls")
hook = write_dns_hook(os.path.join(wd, "hook.sh"), pb, calls=calls)
state = os.path.join(wd, "state")
conf = write(os.path.join(wd, "certmgr.yaml"),
             acme_yaml(pb, state, dns_cert("wild", ["*.example.test", "example.test"], hook, pb)))
t0 = time.time()
r = certmgr(conf, "--once")
secs = time.time() - t0
ok(r.returncode == 0, "wildcard + base name issued through dns-01 (exit 0)", r.stderr)
chain = os.path.join(state, "certs", "wild", "fullchain.pem")
key = os.path.join(state, "certs", "wild", "privkey.pem")
good, out = pb.verify(chain) if os.path.exists(chain) else (False, "no chain")
ok(good, "openssl verify of fullchain.pem against pebble's root", out)
like(x509_text(chain) if os.path.exists(chain) else "", r"DNS:\*\.example\.test, DNS:example\.test",
     "the certificate names *.example.test and example.test")
ok(os.path.exists(key) and key_matches(chain, key), "privkey.pem is the certificate's key")
is_(file_mode(key) if os.path.exists(key) else None, 0o600, "privkey.pem is 0600")
is_(file_mode(chain) if os.path.exists(chain) else None, 0o644, "fullchain.pem is 0644")
hc = open(calls).read().split("\n") if os.path.exists(calls) else []
is_(sorted(c.split(" ")[0] for c in hc if c), ["cleanup", "cleanup", "present", "present"],
    "the hook was called to present and clean up both TXT values")
ok(all(" _acme-challenge.example.test. " in c for c in hc if c),
   "... for _acme-challenge.example.test. (absolute name)")
like(r.stderr, r"wild: dns-01: 2 TXT value\(s\) visible at 1 resolver\(s\)",
     "certmgr waited until the TXT values were visible at the resolver")
like(r.stderr, r"wild: hook present _acme-challenge\.example\.test\.: \| hook present",
     "the hook's output is logged")
n = acme_requests(r.stderr)
ok(len(n) == 1, "one issuance logged with its request count", r.stderr)
if n:
    diag("pebble defaults (5%% bad nonces, VA sleeps): wildcard issued in %.1fs (wall %.1fs), "
         "%d ACME requests" % (n[0][1], secs, n[0][0]))
    diag("badNonce retries in that run: %d" % r.stderr.count("badNonce: retrying"))
ok(not stray_temp_files(state), "no temporary file left behind")
m = open(os.path.join(state, "acme", "metrics.prom")).read()
like(m, r'portcullis_certmgr_cert_expiry_seconds\{name="wild"\} [1-9]\d+\n',
     "metrics.prom: seconds to expiry")
like(m, r'portcullis_certmgr_renewals_total\{name="wild"\} 1\n', "metrics.prom: one renewal")

# --- a second pass leaves it alone -----------------------------------------
before = open(chain).read()
r = certmgr(conf, "--once")
ok(r.returncode == 0 and "wild: valid until" in r.stderr and "issuing" not in r.stderr,
   "a second --once finds nothing due", r.stderr)
ok(open(chain).read() == before, "... and leaves the certificate alone")
like(r.stderr, r"renewal due at", "... and says when it will be due")

# --- pebble at full speed: the figures for the report, key types, --force-renew ------
pf = Pebble("pebble-fast", nosleep=True, nonce_reject=0)
hook2 = write_dns_hook(os.path.join(wd, "hook2.sh"), pf)
state2 = os.path.join(wd, "state2")
conf2 = write(os.path.join(wd, "certmgr2.yaml"),
              acme_yaml(pf, state2,
                        dns_cert("wild", ["*.example.test", "example.test"], hook2, pf) +
                        dns_cert("rsa", ["rsa.example.test"], hook2, pf,
                                 extra="    key_type: rsa2048\n") +
                        dns_cert("p384", ["p384.example.test"], hook2, pf,
                                 extra="    key_type: ec384\n")))
r = certmgr(conf2, "--once")
ok(r.returncode == 0, "pebble without sleeps: three certificates issued", r.stderr)
n = acme_requests(r.stderr)
if len(n) == 3:
    diag("pebble without sleeps or bad nonces: wildcard issued in %.1fs with %d ACME requests "
         "(the first issuance includes newAccount)" % (n[0][1], n[0][0]))
    diag("single name (rsa2048): %.1fs, %d ACME requests" % (n[1][1], n[1][0]))
like(x509_text(os.path.join(state2, "certs", "rsa", "fullchain.pem")),
     r"Public-Key: \(2048 bit\)", "key_type rsa2048 gives an RSA 2048 key")
like(x509_text(os.path.join(state2, "certs", "p384", "fullchain.pem")),
     r"NIST CURVE: P-384", "key_type ec384 gives a P-384 key")
k1 = open(os.path.join(state2, "certs", "wild", "privkey.pem")).read()
r = certmgr(conf2, "--once", "--force-renew", "wild")
ok(r.returncode == 0 and "wild: renewal forced (--force-renew)" in r.stderr,
   "--force-renew renews a certificate that is not due", r.stderr)
ok("rsa: valid until" in r.stderr and "p384: valid until" in r.stderr,
   "... and leaves the others alone")
ok(open(os.path.join(state2, "certs", "wild", "privkey.pem")).read() != k1,
   "... with a fresh key")
n = acme_requests(r.stderr)
if n:
    diag("renewal with an existing account: %.1fs, %d ACME requests" % (n[0][1], n[0][0]))

# --- a CA that rejects a quarter of the nonces -------------------------------
pn = Pebble("pebble-nonce", nosleep=True, nonce_reject=25)
hook3 = write_dns_hook(os.path.join(wd, "hook3.sh"), pn)
state3 = os.path.join(wd, "state3")
conf3 = write(os.path.join(wd, "certmgr3.yaml"),
              acme_yaml(pn, state3, dns_cert("wild", ["*.example.test", "example.test"], hook3,
                                             pn)))
# A pass makes about 13 requests: with 25% rejected, one pass in 40 meets no
# badNonce at all, so renew until one did (at most 4 passes: 1 in 70,000).
runs, logs = [], ""
for i in range(4):
    r = certmgr(conf3, "--once", *(["--force-renew", "wild"] if i else []))
    runs.append(r.returncode)
    logs += r.stderr
    if "badNonce: retrying" in r.stderr:
        break
ok(all(rc == 0 for rc in runs), "with 25%% of the nonces rejected every issuance succeeds (%d run(s))"
   % len(runs), logs[-3000:])
like(logs, r"badNonce: retrying with the fresh nonce the CA sent",
     "... retrying each badNonce with the nonce of the error")
diag("badNonce retries with 25%% rejection: %d in %d pass(es)"
     % (logs.count("badNonce: retrying"), len(runs)))

done_testing()
