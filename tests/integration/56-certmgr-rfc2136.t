#!/usr/bin/python3
# dns-01 with provider rfc2136 end to end: knotd is authoritative for
# example.test and lets a TSIG key update it, pebble's VA asks knotd,
# portcullis-certmgr adds the two TXT records of *.example.test and
# example.test with TSIG-signed updates (certmgr/cm_dns.c), waits until
# knotd answers them, gets the certificate and deletes the records again.
# A wrong TSIG secret fails with the server's reason and no certificate.
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

if not ((shutil.which("knotd") or os.path.exists("/usr/sbin/knotd")) and shutil.which("kdig")):
    # make deps installs them; a missing server is a failure, never a skip
    print("1..1\nnot ok 1 - knotd or kdig missing (Debian packages knot, knot-dnsutils: make deps)",
          flush=True)
    sys.exit(1)

wd = workdir()
knot = Knot(zones=("example.test",))
pb = Pebble("pebble", nosleep=True, nonce_reject=None, dnsserver=knot.addr())


def conf(tag, secret):
    key = write(os.path.join(wd, tag + ".tsig"), secret + "\n", 0o600)
    state = os.path.join(wd, "state-" + tag)
    return state, write(os.path.join(wd, tag + ".yaml"), acme_yaml(
        pb, state,
        "  - name: wild\n"
        "    domains: [\"*.example.test\", \"example.test\"]\n"
        "    challenge: dns-01\n"
        "    dns:\n"
        "      provider: rfc2136\n"
        "      propagation_timeout: 10s\n"
        "      rfc2136:\n"
        "        server: \"%s\"\n"
        "        zone: example.test\n"
        "        key_name: portcullis-key\n"
        "        key_alg: hmac-sha256\n"
        "        key_file: %s\n" % (knot.addr(), key)))


wrong = base64.b64encode(bytes(range(1, 33))[:-1] + b"\xff").decode()
state, c = conf("wrong", wrong)
r = certmgr(c, "--once")
is_(r.returncode, 1, "a wrong TSIG secret: exit 1")
like(r.stderr, r"wild: rfc2136 add _acme-challenge\.example\.test at 127\.0\.0\.1:\d+: TSIG",
     "... with the server's TSIG refusal logged")
ok(not os.path.exists(os.path.join(state, "certs", "wild")), "... and no certificate")

state, c = conf("good", DNS_SECRET)
r = certmgr(c, "--once")
ok(r.returncode == 0, "wildcard + base name through RFC 2136 updates to knotd (exit 0)", r.stderr)
is_(len(re.findall(r"wild: rfc2136 added TXT _acme-challenge\.example\.test", r.stderr)), 2,
    "two TXT records added")
like(r.stderr, r"wild: dns-01: 2 TXT value\(s\) visible at 1 resolver\(s\)",
     "certmgr waited until knotd answered both")
is_(len(re.findall(r"wild: rfc2136 deleted TXT _acme-challenge\.example\.test", r.stderr)), 2,
    "both deleted afterwards")
is_(knot.dig("_acme-challenge.example.test"), [], "knotd no longer has them")
chain = os.path.join(state, "certs", "wild", "fullchain.pem")
good, out = pb.verify(chain) if os.path.exists(chain) else (False, r.stderr)
ok(good, "openssl verify of the certificate against pebble's root", out)
n = acme_requests(r.stderr)
if n:
    diag("rfc2136 through knotd: %.1fs, %d ACME requests" % (n[0][1], n[0][0]))

done_testing()
