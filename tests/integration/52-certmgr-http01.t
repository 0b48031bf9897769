#!/usr/bin/python3
# http-01 through a REAL gateway: portcullis with a plain listener and
# acme_webroot serves the key authorization that portcullis-certmgr writes,
# pebble's VA dials that listener (challtestsrv's own http-01 server is
# off), certmgr installs the certificate and sends SIGHUP to the pid in the
# gateway's pid_file, and the gateway then serves the new certificate
# (checked with `openssl s_client` and `openssl verify` against pebble's
# root).  certmgr finds the webroot and the pid file through gateway_config.
import datetime
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

wd = workdir()
tls_port, plain_port, admin_port = free_port(), free_port(), free_port()
pb = Pebble("pebble", nosleep=True, nonce_reject=None, http01_port=plain_port)
ca = ClientCA()
client = ca.issue("ops", spiffe="spiffe://example.test/ops")
up = start_upstream("site")

state = os.path.join(wd, "state")
slot = os.path.join(state, "certs", "site")
os.makedirs(slot)
now = datetime.datetime.now(datetime.timezone.utc)
# a placeholder with a tenth of its lifetime left: below renew_before (33%)
selfsigned(os.path.join(slot, "fullchain.pem"), os.path.join(slot, "privkey.pem"),
           ["site.example.test"], now - datetime.timedelta(days=9),
           now + datetime.timedelta(days=1))
webroot = os.path.join(wd, "webroot")
os.makedirs(webroot)
pidfile = os.path.join(wd, "gw.pid")
gw_yaml = ("listen:\n"
           "  - address: \"127.0.0.1:%d\"\n"
           "    certificates:\n"
           "      - { cert: %s/fullchain.pem, key: %s/privkey.pem }\n"
           "    client_ca: %s\n"
           "  - address: \"127.0.0.1:%d\"\n"
           "    plain: true\n"
           "threads: 1\n"
           "pid_file: %s\n"
           "acme_webroot: %s\n"
           "admin:\n  listen: \"127.0.0.1:%d\"\n"
           "log:\n  access: stdout\n  level: info\n"
           "routes:\n"
           "  - name: site\n"
           "    match: { host: site.example.test, path_prefix: / }\n"
           "    upstream: \"http://127.0.0.1:%d\"\n"
           "    jwt: off\n") % (tls_port, slot, slot, ca.ca, plain_port, pidfile, webroot,
                                admin_port, up.port)
gw = Gateway(gw_yaml, name="gw")


def served_issuer():
    r = run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % tls_port, "-servername",
             "site.example.test", "-cert", client[0], "-key", client[1]], input="", timeout=20)
    m = re.search(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", r.stdout, re.S)
    if not m:
        return None, r.stdout + r.stderr
    p = write(os.path.join(wd, "served.pem"), m.group(0) + "\n")
    return cert_issuer(p), p


iss, _ = served_issuer()
unlike(iss or "", r"Pebble", "before: the gateway serves the placeholder")

conf = write(os.path.join(wd, "certmgr.yaml"),
             acme_yaml(pb, state,
                       "  - name: site\n"
                       "    domains: [\"site.example.test\"]\n"
                       "    challenge: http-01\n",
                       extra="gateway_config: %s\n" % gw.path))
r = certmgr(conf, "--once")
ok(r.returncode == 0, "http-01 through the gateway's plain listener (exit 0)", r.stderr)
like(r.stderr, r"site: valid until .*renewal was due at", "the placeholder was due (33% rule)")
like(r.stderr, r"site: http-01: %s/[A-Za-z0-9_-]+ written" % re.escape(webroot),
     "the key authorization went to the gateway's acme_webroot")
ok(gw.wait_access(lambda a: "acme" in json.dumps(a), 5),
   "the gateway answered pebble's http-01 request")
chain = os.path.join(slot, "fullchain.pem")
good, out = pb.verify(chain)
ok(good, "openssl verify of the new fullchain.pem against pebble's root", out)
ok(key_matches(chain, os.path.join(slot, "privkey.pem")), "the new key matches the new chain")
is_(os.listdir(webroot), [], "the webroot is clean again")
like(r.stderr, r"reload: SIGHUP sent to the gateway, pid %d \(from %s\)" %
     (gw.proc.pid, re.escape(pidfile)), "certmgr sent SIGHUP to the pid in the gateway's pid_file")
ok(wait_for(lambda: re.search(r"reload: generation \d+ is serving", gw.log()), 10),
   "the gateway logged the reload", gw.log()[-2000:])
iss = wait_for(lambda: "Pebble" in (served_issuer()[0] or "") and served_issuer()[0], 10)
like(iss or "", r"Pebble Intermediate", "after: the gateway serves the certificate pebble issued")
_, served = served_issuer()
if os.path.exists(served):
    good, out = pb.verify(served, leaf_only=True)
    ok(good and open(served).read().split("-----END")[0] == open(chain).read().split("-----END")[0],
       "openssl s_client: the served leaf is the installed one and verifies", out)
else:
    ok(False, "openssl s_client: no certificate served", served)

# a reload command instead of the pid file
flag = os.path.join(wd, "reloaded")
conf2 = write(os.path.join(wd, "certmgr2.yaml"),
              acme_yaml(pb, state,
                        "  - name: site\n"
                        "    domains: [\"site.example.test\"]\n"
                        "    challenge: http-01\n"
                        "    http: { webroot: %s }\n" % webroot,
                        extra="reload: { command: [\"/bin/sh\", \"-c\", \"echo reloading; "
                              "touch %s\"] }\n" % flag))
r = certmgr(conf2, "--once", "--force-renew", "site")
ok(r.returncode == 0 and os.path.exists(flag), "reload.command runs after an install", r.stderr)
like(r.stderr, r"reload: \| reloading", "... and its output is logged")
gw.stop()

done_testing()
