#!/usr/bin/python3
"""
A real HTTP/1.1 upstream for tests and the demo, on 127.0.0.1.

  GET /anything          200, JSON: {"method", "path", "headers": [[name, value], ...],
                          "body_len", "upstream": NAME, "conn": N}
  GET /status/NNN        that status, same JSON body
  GET /sleep/MS          waits MS milliseconds first (for timeouts and drains)
  GET /big/N             N bytes of 'x' (content-length)
  GET /chunked/N         N bytes of 'y' in chunks of at most 1000 (transfer-encoding: chunked)
  GET /eof/N             N bytes of 'z', no length: the body ends when the connection closes
  GET /close             the JSON body with Connection: close
  GET /continue          a 100 Continue first, then the JSON body

Keep-alive is on (HTTP/1.1).  --tls CERT KEY serves https instead.
Usage: upstream.py PORT [--name NAME] [--tls CERT KEY]
"""
import http.server
import json
import socket
import ssl
import sys
import threading
import time

conn_counter = [0]
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "pc-upstream"

    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle and the
        # gateway's delayed ACK add 40 ms to every response
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with lock:
            conn_counter[0] += 1
            self.conn_id = conn_counter[0]

    def log_message(self, fmt, *args):
        pass

    def _serve(self):
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        path = self.path
        status = 200
        if path.startswith("/sleep/"):
            try:
                ms = int(path.split("/")[2].split("?")[0])
            except ValueError:
                ms = 0
            time.sleep(ms / 1000.0)
        if path.startswith("/status/"):
            try:
                status = int(path.split("/")[2].split("?")[0])
            except ValueError:
                status = 400
        if path.startswith("/chunked/") or path.startswith("/eof/"):
            n = int(path.split("/")[2].split("?")[0])
            chunked = path.startswith("/chunked/")
            self.send_response(status)
            self.send_header("content-type", "application/octet-stream")
            self.send_header("x-upstream", self.server.name)
            if chunked:
                self.send_header("transfer-encoding", "chunked")
            else:
                self.send_header("connection", "close")
                self.close_connection = True
            self.end_headers()
            if self.command == "HEAD":
                return
            left = n
            while left > 0:
                k = min(left, 1000)
                data = (b"y" if chunked else b"z") * k
                if chunked:
                    self.wfile.write(b"%x\r\n" % k + data + b"\r\n")
                else:
                    self.wfile.write(data)
                left -= k
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            return
        if path.startswith("/continue"):
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if path.startswith("/big/"):
            n = int(path.split("/")[2].split("?")[0])
            out = b"x" * n
            ctype = "application/octet-stream"
        else:
            out = json.dumps({
                "method": self.command,
                "path": path,
                "headers": [[k, v] for k, v in self.headers.items()],
                "body_len": len(body),
                "upstream": self.server.name,
                "conn": self.conn_id,
            }).encode()
            ctype = "application/json"
        self.send_response(status)
        self.send_header("content-type", ctype)
        if status not in (204, 304):
            self.send_header("content-length", str(len(out)))
        self.send_header("x-upstream", self.server.name)
        if path.startswith("/close"):
            self.send_header("connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and status not in (204, 304):
            self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


def main():
    port = int(sys.argv[1])
    name = "upstream"
    tls = None
    args = sys.argv[2:]
    while args:
        a = args.pop(0)
        if a == "--name":
            name = args.pop(0)
        elif a == "--tls":
            tls = (args.pop(0), args.pop(0))
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    srv.daemon_threads = True
    srv.name = name
    if tls:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(tls[0], tls[1])
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    print("listening on 127.0.0.1:%d" % port, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
