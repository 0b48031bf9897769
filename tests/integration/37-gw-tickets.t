#!/usr/bin/python3
# Session resumption.  By default (and with `session_tickets: off`) sessions
# live in the listener's cache: TLS 1.3 gets one stateful ticket (a session
# id), TLS 1.2 resumes by session id and gets no ticket.  With
# `session_tickets: { rotate: ..., count: N }` TLS 1.3 gets N stateless
# tickets (one by default: OpenSSL's two cost a second copy of the session,
# the client certificate parsed again) and TLS 1.2 a stateless ticket.  Each
# resumes.  Counted on the wire with `openssl s_client -msg`.
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig()
alice = rig.ca.issue("alice", spiffe="spiffe://gw.test/ns/prod/sa/alice")
W = workdir()


def tickets(version="-tls1_3", sess_out=None, sess_in=None):
    """(NewSessionTicket messages, reused?, HTTP status line) of one s_client run."""
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % rig.port, "-servername",
            "api.gw.test", "-cert", alice[0], "-key", alice[1], "-CAfile", rig.spki.ca,
            "-verify_return_error", "-msg", "-ign_eof", version]
    if sess_out:
        args += ["-sess_out", sess_out]
    if sess_in:
        args += ["-sess_in", sess_in]
    p = subprocess.run(args, input=b"GET /t HTTP/1.1\r\nHost: api.gw.test\r\nConnection: close\r\n\r\n",
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    out = p.stdout.decode("utf-8", "replace")
    n = len(re.findall(r"<<< TLS 1\.3, Handshake \[length [0-9a-f]+\], NewSessionTicket", out))
    if version == "-tls1_2":
        n = len(re.findall(r"<<< TLS 1\.2, Handshake \[length [0-9a-f]+\], NewSessionTicket", out))
    status = re.search(r"HTTP/1\.1 \d{3}", out)
    return n, "Reused, TLS" in out, status.group(0) if status else out[-300:]


def policy(name, text):
    path = os.path.join(W, name + ".yaml")
    with open(path, "w") as f:
        f.write("profile: intermediate\ngroups: [X25519, P-256]\n" + text)
    return path


route = rig.route("api", "api.gw.test")
for what, pol, want12 in (("default", None, 0), ("count: 3", "session_tickets: { count: 3 }\n", 1),
                          ("rotate", "session_tickets: { rotate: 12h }\n", 1),
                          ("off", "session_tickets: off\n", 0)):
    rig.port, rig.admin_port = free_port(), free_port()
    extra = ("tls_policy: %s\n" % policy(what.split(":")[0], pol)) if pol else ""
    gw = Gateway(rig.config(route, extra=extra), name="gw-tickets")
    want = 3 if what == "count: 3" else 1
    sess = os.path.join(W, "sess-%s.pem" % what.split(":")[0])
    n, reused, status = tickets(sess_out=sess)
    is_((n, status), (want, "HTTP/1.1 200"),
        "%s: a full TLS 1.3 handshake gets %d NewSessionTicket(s) and the request passes" % (what, want))
    n, reused, status = tickets(sess_in=sess)
    ok(reused and status == "HTTP/1.1 200", "%s: the ticket resumes (TLS 1.3) and the request "
       "passes" % what, (reused, status))
    sess12 = sess + ".tls12"
    n, reused, status = tickets("-tls1_2", sess_out=sess12)
    is_((n, status), (want12, "HTTP/1.1 200"),
        "%s: TLS 1.2 %s" % (what, "gets a stateless ticket" if want12 else "gets no ticket"))
    n, reused, status = tickets("-tls1_2", sess_in=sess12)
    ok(reused and status == "HTTP/1.1 200", "%s: TLS 1.2 resumes (%s) and the request passes"
       % (what, "ticket" if want12 else "session id"), (reused, status))
    gw.stop()

bad = policy("bad", "session_tickets: { count: 9 }\n")
cfg = os.path.join(W, "bad-tickets.yaml")
write(cfg, rig.config(route, extra="tls_policy: %s\n" % bad))
r = run([gateway_bin(), "-c", cfg, "--check"])
ok(r.returncode == 1 and re.search(r"bad\.yaml:\d+:\d+: .*count", r.stderr),
   "count out of 1..4: --check exits 1 with file:line", r.stderr)
done_testing()
