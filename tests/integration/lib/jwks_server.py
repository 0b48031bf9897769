#!/usr/bin/python3
"""
An HTTPS JWKS endpoint for tests: serves FILE at /jwks.json with
Cache-Control: max-age=MAXAGE, re-reading FILE on every request (so a test
rotates keys by rewriting it), and prints one line per request on stdout.
Usage: jwks_server.py PORT CERT KEY FILE [MAXAGE]
"""
import http.server
import ssl
import sys


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        print("GET %s" % self.path, flush=True)
        if self.path != "/jwks.json":
            self.send_response(404)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        with open(self.server.file, "rb") as f:
            body = f.read()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("cache-control", "public, max-age=%s" % self.server.maxage)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


port, cert, key, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
srv.file = path
srv.maxage = sys.argv[5] if len(sys.argv) > 5 else "300"
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("listening", flush=True)
srv.serve_forever()
