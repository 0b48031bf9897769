#!/usr/bin/python3
# Operations: SIGTERM drains (requests in flight finish), the daemon drops
# root after binding, detaches by default with a pid file, the plain
# listener redirects to https and serves ACME http-01, and the admin
# listener answers /healthz, /readyz and /metrics.
import os
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig()
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web")
plain_port = free_port()
# the daemon drops to `nobody`: what it reads or writes at run time must be reachable
os.chmod(workdir(), 0o755)
webroot = os.path.join(workdir(), "acme")
os.makedirs(webroot)
rundir = os.path.join(workdir(), "run")
os.makedirs(rundir)
os.chmod(rundir, 0o777)
write(os.path.join(webroot, "tok-EN_123"), "tok-EN_123.thumbprint\n")
pidfile = os.path.join(rundir, "gw.pid")
listeners = rig.listener() + "  - address: \"127.0.0.1:%d\"\n    plain: true\n" % plain_port
extra = "pid_file: %s\nacme_webroot: %s\n" % (pidfile, webroot)
as_root = os.geteuid() == 0
if as_root:
    extra += "user: nobody\n"
cfg = rig.config(rig.route("api", "api.gw.test", "/"), extra=extra, listeners=listeners)
gw = Gateway(cfg)

# admin endpoints
r = curl("http://127.0.0.1:%d/healthz" % rig.admin_port)
is_((r.status, r.body), (200, "ok\n"), "/healthz: 200 ok")
r = curl("http://127.0.0.1:%d/readyz" % rig.admin_port)
is_(r.status, 200, "/readyz: 200 when serving")
rig.curl("api.gw.test", "/x", web)
m = rig.metrics()
for name in ("portcullis_requests_total", "portcullis_request_duration_seconds_bucket",
             "portcullis_connections_open", "portcullis_tls_handshake_failures_total"):
    like(m, r"(?m)^%s" % name, "/metrics has %s" % name)
r = curl("http://127.0.0.1:%d/nope" % rig.admin_port)
is_(r.status, 404, "unknown admin path: 404")

# privileges and pid file
pid = int(open(pidfile).read())
is_(pid, gw.proc.pid, "the pid file holds the daemon's pid")
status = open("/proc/%d/status" % pid).read()
uid = re.search(r"Uid:\s+(\d+)\s+(\d+)\s+(\d+)", status).groups()
if as_root:
    import pwd
    nobody = str(pwd.getpwnam("nobody").pw_uid)
    is_(uid, (nobody, nobody, nobody), "started as root, it runs as user nobody after binding")
    like(status, r"NoNewPrivs:\s+1", "... with no_new_privs set")
else:
    ok(True, "not root: privilege drop not applicable (skipped check)")
    ok(True, "not root: no_new_privs not checked")

# plain listener
r = curl("http://127.0.0.1:%d/a/b?c=d" % plain_port, headers=["Host: api.gw.test"])
is_((r.status, r.header("location")), (301, "https://api.gw.test/a/b?c=d"),
    "plain listener: GET is redirected to https (301)")
r = curl("http://127.0.0.1:%d/form" % plain_port, headers=["Host: api.gw.test"], method="POST",
         data="x")
is_(r.status, 308, "plain listener: POST is redirected with 308")
r = curl("http://127.0.0.1:%d/.well-known/acme-challenge/tok-EN_123" % plain_port,
         headers=["Host: api.gw.test"])
is_((r.status, r.body), (200, "tok-EN_123.thumbprint"), "plain listener serves ACME http-01 tokens")
r = curl("http://127.0.0.1:%d/.well-known/acme-challenge/missing" % plain_port)
is_(r.status, 404, "... and 404 for unknown tokens")
r = curl("http://127.0.0.1:%d/.well-known/acme-challenge/..%%2fgw.pid" % plain_port,
         extra=["--path-as-is"])
is_(r.status, 404, "... and never leaves the webroot")
s = socket.create_connection(("127.0.0.1", plain_port), 5)
s.sendall(b"GET /x HTTP/1.1\r\nHost: evil/../x\r\nConnection: close\r\n\r\n")
resp = s.recv(4096).decode("latin-1")
s.close()
like(resp, r"^HTTP/1\.1 400", "plain listener: a malformed Host is refused (400), never echoed into Location")

# SIGTERM with requests in flight: they finish
results = []
def slow(i):
    results.append(rig.curl("api.gw.test", "/sleep/1500", web).status)
threads = [threading.Thread(target=slow, args=(i,)) for i in range(4)]
for t in threads:
    t.start()
time.sleep(0.5)
gw.send_signal(signal.SIGTERM)
time.sleep(0.3)
r = rig.curl("api.gw.test", "/late", web, timeout=3)
is_(r.status, 0, "after SIGTERM no new connection is accepted")
for t in threads:
    t.join()
is_(sorted(results), [200] * 4, "the four requests in flight at SIGTERM all finish with 200")
rc = gw.proc.wait(15)
is_(rc, 0, "the gateway exits 0 once drained")
like(gw.log(), r"shutting down", "the shutdown is logged")
ok(not os.path.exists(pidfile), "the pid file is removed")

# detaching (no --foreground): the parent exits 0 once the child is ready
path = write(os.path.join(workdir(), "daemon.yaml"), cfg)
with open(os.path.join(workdir(), "daemon.log"), "wb") as dlog:
    # the detached child keeps stderr (its log): hand it a file, not a pipe
    rc = subprocess.run([gateway_bin(), "-c", path], stdout=dlog, stderr=dlog, timeout=20).returncode
is_(rc, 0, "without --foreground the parent exits 0 once ready")
ok(wait_for(lambda: os.path.exists(pidfile), 5), "the detached daemon writes its pid file")
dpid = int(open(pidfile).read())
r = rig.curl("api.gw.test", "/", web)
is_(r.status, 200, "the detached daemon serves")
os.kill(dpid, signal.SIGTERM)
ok(wait_for(lambda: not os.path.exists("/proc/%d" % dpid) or
            "zombie" in open("/proc/%d/status" % dpid).read().lower(), 10),
   "the detached daemon stops on SIGTERM")
r = run([gateway_bin(), "-c", write(os.path.join(workdir(), "bad.yaml"), "listen: []\n")])
is_(r.returncode, 1, "without --foreground a bad configuration still exits 1")
done_testing()
