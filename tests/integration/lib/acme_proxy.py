#!/usr/bin/python3
"""
A tiny HTTPS proxy in front of pebble for tests/integration/5x-certmgr-*.t.

    acme_proxy.py PORT UPSTREAM_PORT CERT KEY UPSTREAM_CA LOG [--429-orders N] [--retry-after S]

Every request is forwarded to https://127.0.0.1:UPSTREAM_PORT with its Host
header unchanged (pebble builds its URLs from Host, so every URL it hands out
points back at the proxy) and logged to LOG as "METHOD PATH STATUS".  The
first N POSTs to newOrder (/order-plz) are answered 429 with Retry-After: S
and an RFC 8555 rateLimited problem, without reaching pebble.
"""
import argparse
import http.client
import http.server
import socketserver
import ssl
import sys
import threading

HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "upgrade",
       "proxy-connection", "te", "trailer"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("upstream", type=int)
    ap.add_argument("cert")
    ap.add_argument("key")
    ap.add_argument("ca")
    ap.add_argument("log")
    ap.add_argument("--429-orders", dest="orders429", type=int, default=0)
    ap.add_argument("--retry-after", default="2")
    a = ap.parse_args()
    lock = threading.Lock()
    state = {"refused": 0}
    up_ctx = ssl.create_default_context(cafile=a.ca)

    def record(line):
        with lock, open(a.log, "a") as f:
            f.write(line + "\n")

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def relay(self, method):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else None
            if method == "POST" and self.path.startswith("/order-plz"):
                with lock:
                    refuse = state["refused"] < a.orders429
                    if refuse:
                        state["refused"] += 1
                if refuse:
                    out = (b'{"type":"urn:ietf:params:acme:error:rateLimited",'
                           b'"detail":"test proxy: too many new orders","status":429}')
                    self.send_response(429)
                    self.send_header("Content-Type", "application/problem+json")
                    self.send_header("Retry-After", a.retry_after)
                    self.send_header("Content-Length", str(len(out)))
                    self.end_headers()
                    self.wfile.write(out)
                    record("%s %s 429" % (method, self.path))
                    return
            c = http.client.HTTPSConnection("127.0.0.1", a.upstream, context=up_ctx, timeout=30)
            hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            c.request(method, self.path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            self.send_response(r.status)
            for k, v in r.getheaders():
                if k.lower() not in HOP:
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if method != "HEAD":
                self.wfile.write(data)
            c.close()
            record("%s %s %d" % (method, self.path, r.status))

        def do_GET(self):
            self.relay("GET")

        def do_HEAD(self):
            self.relay("HEAD")

        def do_POST(self):
            self.relay("POST")

    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        allow_reuse_address = True

    srv = S(("127.0.0.1", a.port), H)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening on %d" % a.port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
