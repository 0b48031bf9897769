#!/usr/bin/python3
# Named limits with config keys: request body size (413), HTTP/2 streams
# the client resets before their response ("rapid reset", CVE-2023-44487:
# the connection is cut past limits.http2_max_resets), and the HTTP/1.1
# request timeout for idle keep-alive connections.
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403
import ssl  # noqa: E402
import h2.connection  # noqa: E402
import h2.config  # noqa: E402
import h2.errors  # noqa: E402

rig = Rig()
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web")
limits = ("limits:\n  max_body_bytes: 1k\n  http2_max_resets: 50\n  request_timeout: 2s\n")
gw = Gateway(rig.config(rig.route("api", "api.gw.test", "/"), extra=limits))

r = rig.curl("api.gw.test", "/upload", web, method="POST", data="x" * 1000)
is_((r.status, (r.json() or {}).get("body_len")), (200, 1000), "a body within max_body_bytes passes")
r = rig.curl("api.gw.test", "/upload", web, method="POST", data="x" * 2000)
is_(r.status, 413, "a body above max_body_bytes (1k): 413")

# HTTP/2 rapid reset: open streams and reset them at once, many times
ctx = rig.ctx(web, alpn=("h2",))
raw = socket.create_connection(("127.0.0.1", rig.port), 5)
sock = ctx.wrap_socket(raw, server_hostname="api.gw.test")
conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
conn.initiate_connection()
sock.sendall(conn.data_to_send())
cut = False
sent = 0
try:
    for i in range(400):
        sid = conn.get_next_available_stream_id()
        conn.send_headers(sid, [(":method", "GET"), (":scheme", "https"),
                                (":authority", "api.gw.test"), (":path", "/sleep/3000")],
                          end_stream=True)
        conn.reset_stream(sid, h2.errors.ErrorCodes.CANCEL)
        sock.sendall(conn.data_to_send())
        sent += 1
        sock.settimeout(0.01)
        try:
            data = sock.recv(65536)
            if not data:
                cut = True
                break
            conn.receive_data(data)
        except (socket.timeout, ssl.SSLWantReadError):
            pass
    sock.settimeout(5)
    while not cut:
        data = sock.recv(65536)
        if not data:
            cut = True
except (OSError, ssl.SSLError):
    cut = True
sock.close()
ok(cut, "a client that resets streams before their response gets its connection cut "
        "(after %d resets)" % sent)
ok(sent < 400, "... well before it sent all of its 400 resets")
ok(wait_for(lambda: "limits.http2_max_resets 50" in gw.log(), 3),
   "the cut is logged with the identity and the limit", gw.log()[-600:])
like(gw.log(), r"closing the HTTP/2 connection of spiffe://gw\.test/ns/prod/sa/web",
     "... naming the client identity")
ok(rig.metric(r"^portcullis_http2_connections_cut_total") >= 1, "... and counted")
r = rig.curl("api.gw.test", "/after", web, http2=True)
is_(r.status, 200, "the client can still open a new connection (it is cut, not banned)")

# idle HTTP/1.1 keep-alive connections close after limits.request_timeout
c = H1Conn("api.gw.test", rig.port, rig.ctx(web))
is_(c.get("/")[0], 200, "a keep-alive connection")
time.sleep(3)
try:
    c.get("/again")
    closed = False
except Exception:
    closed = True
ok(closed, "... is closed by the gateway after request_timeout (2s) of idleness")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
