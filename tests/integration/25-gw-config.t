#!/usr/bin/python3
# Configuration errors: `portcullis --check`, starting the daemon and
# `portcullis-admin config check` all refuse a bad configuration with
# "file:line:col: message" and exit 1; a good one passes.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig()
good = rig.config(rig.route("api", "api.gw.test", "/"))
path = write(os.path.join(workdir(), "good.yaml"), good)
r = run([gateway_bin(), "-c", path, "--check"])
is_(r.returncode, 0, "--check passes a good configuration")
like(r.stdout, r"configuration ok", "... and says so")
r = admin("config", "check", "-c", path)
is_(r.returncode, 0, "portcullis-admin config check passes it too")

def bad(name, text, pattern, files=None, where=None):
    p = write(os.path.join(workdir(), name + ".yaml"), text)
    for f, t in (files or {}).items():
        write(os.path.join(workdir(), f), t)
    r = run([gateway_bin(), "-c", p, "--check"])
    is_(r.returncode, 1, "%s: --check exits 1" % name)
    like(r.stderr, re.escape(where or p) + r":\d+:\d+: .*(" + pattern + ")",
         "%s: --check names file:line:col and the reason" % name)
    r2 = run([gateway_bin(), "-c", p, "--foreground"], timeout=20)
    is_(r2.returncode, 1, "%s: the daemon refuses to start (exit 1)" % name)
    r3 = admin("config", "check", "-c", p)
    is_(r3.returncode, 1, "%s: portcullis-admin config check exits 1" % name)
    return r

bad("unknown-key", good.replace("threads: 2", "threads: 2\nthreds: 3"), "threds")
bad("bad-address", good.replace("127.0.0.1:%d" % rig.port, "127.0.0.1:99999"), "address")
bad("no-jwt-decision", good.replace("    jwt: off\n", ""), "jwt")
bad("ftp-upstream", good.replace("http://127.0.0.1", "ftp://127.0.0.1"), "upstream")
bad("no-client-ca", good.replace("    client_ca: %s\n" % rig.ca.ca, ""), "client_ca")
bad("bad-duration", good.replace("routes:", "limits:\n  upstream_timeout: 30\nroutes:"),
    "upstream_timeout")
inc = rig.config(rig.route("api", "api.gw.test", "/")).replace(
    "routes:\n", "include: %s/inc/*.yaml\nroutes:\n" % workdir())
r = bad("duplicate-route", inc, "duplicate",
        files={"inc/a.yaml": "routes:\n" + rig.route("api", "b.gw.test", "/")},
        where=os.path.join(workdir(), "inc/a.yaml"))
like(r.stderr, re.escape(os.path.join(workdir(), "duplicate-route.yaml")) + r":\d+:\d+",
     "duplicate-route: the message names the first definition too")
# errors found when the files are loaded (TLS stage), still with the listener's position
bad("missing-cert", good.replace(rig.server_cert, "/nonexistent/cert.pem"), "certificate")
other = ClientCA(os.path.join(workdir(), "other-ca"), name="Other CA")
bad("foreign-crl", good.replace(rig.ca.crl, other.crl), "crl")
bad("key-mismatch", good.replace(rig.server_key, rig.spki.ca_key), "does not match")

r = run([gateway_bin(), "--bogus"])
is_(r.returncode, 2, "an unknown option exits 2")
r = run([gateway_bin(), "--version"])
ok(r.returncode == 0 and r.stdout.startswith("portcullis "), "--version")
r = run([gateway_bin(), "--help"])
ok(r.returncode == 0 and "--check" in r.stdout, "--help")
done_testing()
