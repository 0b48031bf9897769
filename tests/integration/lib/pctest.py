"""
Shared helpers for Portcullis integration tests (TAP producers).

Each test script is a /usr/bin/python3 program that prints TAP ("ok N - ...",
"not ok N - ..." and a "1..N" plan).  Everything it starts -- the gateway,
redis-server, upstreams -- is started here, on 127.0.0.1 ports picked here,
in its own process group, and stopped at exit even when the test fails.
Set PC_KEEP=1 to keep the scratch directory for a post-mortem.
"""
import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
BUILD = os.environ.get("PORTCULLIS_BUILD") or os.path.join(ROOT, "build")
PY = "/usr/bin/python3"

# --------------------------------------------------------------------------
# TAP

_n = 0
_failed = 0


def ok(cond, name, diag=None):
    """One TAP assertion; returns cond so callers can chain."""
    global _n, _failed
    _n += 1
    name = name.replace("\n", " ")
    if cond:
        print("ok %d - %s" % (_n, name), flush=True)
    else:
        _failed += 1
        print("not ok %d - %s" % (_n, name), flush=True)
        if diag is not None:
            for line in str(diag)[-4000:].splitlines()[-40:]:
                print("#   " + line, flush=True)
    return bool(cond)


def is_(got, expected, name):
    return ok(got == expected, name, "got:      %r\nexpected: %r" % (got, expected))


def _short(v, n=1500):
    r = repr(v)
    return r if len(r) <= n else r[:n // 2] + " ... " + r[-n // 2:]


def like(got, pattern, name):
    return ok(got is not None and re.search(pattern, got) is not None, name,
              "got: %s\ndoes not match: %r" % (_short(got), pattern))


def unlike(got, pattern, name):
    return ok(got is not None and re.search(pattern, got) is None, name,
              "got: %s\nmatches: %r" % (_short(got), pattern))


def diag(msg):
    for line in str(msg).splitlines():
        print("# " + line, flush=True)


def done_testing():
    print("1..%d" % _n, flush=True)
    sys.exit(1 if _failed else 0)


# --------------------------------------------------------------------------
# scratch space and processes

_procs = []
_workdir = None


def workdir():
    global _workdir
    if _workdir is None:
        _workdir = tempfile.mkdtemp(prefix="pc-test-")
    return _workdir


def _cleanup():
    for p in reversed(_procs):
        _stop(p, signal.SIGTERM, 3)
    if _workdir and not os.environ.get("PC_KEEP"):
        shutil.rmtree(_workdir, ignore_errors=True)
    elif _workdir:
        print("# kept " + _workdir, flush=True)


def _stop(p, sig, wait):
    if p.poll() is not None:
        return p.returncode
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        return p.poll()
    try:
        return p.wait(wait)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return p.wait(5)


atexit.register(_cleanup)
signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))


def spawn(cmd, name, env=None, cwd=None):
    """Start cmd in its own process group, output to WORKDIR/name.log."""
    log = open(os.path.join(workdir(), name + ".log"), "ab")
    start = log.seek(0, os.SEEK_END)  # a name used again: this process's output only
    e = dict(os.environ)
    e.pop("SSL_CERT_FILE", None)
    e.pop("SSL_CERT_DIR", None)
    if env:
        e.update(env)
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=e, cwd=cwd,
                         start_new_session=True)
    p.logfile = log.name
    p.logstart = start
    p.name = name
    _procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, wait=10):
    """Stop a process started by spawn(); returns its exit status."""
    rc = _stop(p, sig, wait)
    if p in _procs:
        _procs.remove(p)
    return rc


def read_log(p):
    with open(p.logfile, "rb") as f:
        f.seek(getattr(p, "logstart", 0))
        return f.read().decode("utf-8", "replace")


def run(cmd, input=None, timeout=60, env=None, cwd=None):
    """Run a command to completion; returns CompletedProcess with text output."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                          env=e, cwd=cwd)


def client_cert_env(cert, ca):
    """Build tests/bench/clientcert.c (an LD_PRELOAD shim that gives wrk and h2load a client
    certificate) and return (the build's CompletedProcess, the environment that loads it with
    cert = (cert file, key file) and trusts ca)."""
    shim = os.path.join(workdir(), "clientcert.so")
    r = run(["cc", "-D_GNU_SOURCE", "-O2", "-shared", "-fPIC", "-o", shim,
             os.path.join(ROOT, "tests", "bench", "clientcert.c"), "-ldl"])
    return r, dict(os.environ, LD_PRELOAD=shim, CLIENTCERT_CERT=cert[0], CLIENTCERT_KEY=cert[1],
                   SSL_CERT_FILE=ca)


_used_ports = set()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now (not reused in this test)."""
    for _ in range(200):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        if port not in _used_ports:
            _used_ports.add(port)
            return port
    raise RuntimeError("no free port")


def wait_port(port, timeout=10.0, host="127.0.0.1", proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            socket.create_connection((host, port), 0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def write(path, text, mode=0o644):
    d = os.path.dirname(path)
    if d:
        os.makedirs(d, exist_ok=True)
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


# --------------------------------------------------------------------------
# programs

def admin_bin():
    return os.path.join(BUILD, "portcullis-admin")


def gateway_bin():
    return os.path.join(BUILD, "portcullis")


def certmgr_bin():
    return os.path.join(BUILD, "portcullis-certmgr")


def admin(*args, ca_dir=None, input=None, env=None):
    cmd = [admin_bin()]
    if ca_dir is not None:
        cmd += ["--ca-dir", ca_dir]
    return run(cmd + list(args), input=input, env=env)


# --------------------------------------------------------------------------
# certificates

def openssl_out(*args, input=None):
    """Run the openssl CLI; returns its stdout, raises on failure."""
    r = run(["openssl"] + list(args), input=input)
    if r.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), r.stderr))
    return r.stdout


class ServerPKI:
    """A throw-away server CA and server certificates, made with the openssl CLI
    (the gateway's own certificates come from ACME in production)."""

    def __init__(self, d=None, name="Test Server CA"):
        self.dir = d or os.path.join(workdir(), "server-pki")
        os.makedirs(self.dir, exist_ok=True)
        self.ca = os.path.join(self.dir, "ca.pem")
        self.ca_key = os.path.join(self.dir, "ca.key")
        openssl_out("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", self.ca_key, "-out", self.ca, "-days", "30", "-subj", "/CN=" + name,
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def issue(self, name, dns, ips=("127.0.0.1",), eku="serverAuth"):
        key = os.path.join(self.dir, name + ".key")
        csr = os.path.join(self.dir, name + ".csr")
        crt = os.path.join(self.dir, name + ".pem")
        ext = os.path.join(self.dir, name + ".ext")
        sans = ",".join(["DNS:" + d for d in dns] + ["IP:" + i for i in ips])
        write(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n"
                   "extendedKeyUsage=%s\nsubjectAltName=%s\n" % (eku, sans))
        openssl_out("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=" + dns[0])
        openssl_out("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                "-CAcreateserial", "-days", "30", "-out", crt, "-extfile", ext)
        return crt, key


class ClientCA:
    """The client CA, run with portcullis-admin as an operator would."""

    def __init__(self, d=None, name=None):
        self.dir = d or os.path.join(workdir(), "client-ca")
        self.out = os.path.join(self.dir, "clients")
        os.makedirs(self.out, exist_ok=True)
        args = ["ca", "init"] + (["--name", name] if name else [])
        r = admin(*args, ca_dir=self.dir)
        if r.returncode != 0:
            raise RuntimeError("ca init: " + r.stderr)
        self.ca = os.path.join(self.dir, "ca.pem")
        self.crl = os.path.join(self.dir, "crl.pem")

    def issue(self, name, spiffe=None, dns=(), email=None, extra=()):
        args = ["client", "issue", name, "--out", self.out]
        if spiffe:
            args += ["--spiffe", spiffe]
        for d in dns:
            args += ["--dns", d]
        if email:
            args += ["--email", email]
        r = admin(*(args + list(extra)), ca_dir=self.dir)
        if r.returncode != 0:
            raise RuntimeError("client issue %s: %s" % (name, r.stderr))
        m = re.search(r"serial[: ]+([0-9a-fA-F:]+)", r.stdout + r.stderr)
        crt = os.path.join(self.out, name + ".crt")
        key = os.path.join(self.out, name + ".key")
        serial = m.group(1).replace(":", "").lower() if m else None
        return crt, key, serial

    def revoke(self, what, reason=None):
        args = ["client", "revoke", what] + (["--reason", reason] if reason else [])
        r = admin(*args, ca_dir=self.dir)
        if r.returncode != 0:
            raise RuntimeError("client revoke %s: %s" % (what, r.stderr))
        return r


# --------------------------------------------------------------------------
# services

def start_upstream(name="upstream", tls=None):
    port = free_port()
    cmd = [PY, os.path.join(HERE, "upstream.py"), str(port), "--name", name]
    if tls:
        cmd += ["--tls", tls[0], tls[1]]
    p = spawn(cmd, "upstream-" + name)
    if not wait_port(port, 10, proc=p):
        raise RuntimeError("upstream did not start: " + read_log(p))
    p.port = port
    return p


class Gateway:
    """portcullis in the foreground with an inline YAML configuration."""

    def __init__(self, config, name="gw", wait=True, files=None):
        self.name = name
        self.path = write(os.path.join(workdir(), name + ".yaml"), config)
        for fname, text in (files or {}).items():
            write(os.path.join(workdir(), fname), text)
        self.proc = spawn([gateway_bin(), "-c", self.path, "--foreground"], name)
        self.ready = wait_for(lambda: "ready:" in self.log() or self.proc.poll() is not None, 20)
        self.ready = self.ready and self.proc.poll() is None and "ready:" in self.log()
        if wait and not self.ready:
            raise RuntimeError("gateway did not start:\n" + self.log())

    def log(self):
        return read_log(self.proc)

    def access(self):
        """The access-log lines (JSON objects) written so far."""
        out = []
        for line in self.log().splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    out.append({"unparsable": line})
        return out

    def wait_access(self, pred, timeout=5, count=1):
        """The access-log lines that match pred, once at least count of them are written
        (a line is written after the response went out: a client can be faster than it)."""
        def lines():
            got = [a for a in self.access() if pred(a)]
            return got if len(got) >= count else None
        return wait_for(lines, timeout) or [a for a in self.access() if pred(a)]

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, wait=30):
        return stop(self.proc, sig, wait)


class Resp:
    def __init__(self, status, version, headers, body, rc, err):
        self.status, self.version, self.headers, self.body = status, version, headers, body
        self.rc, self.err = rc, err

    def header(self, name):
        v = self.headers.get(name.lower())
        return v[0] if v else None

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError:
            return None

    def __repr__(self):
        return "Resp(%s, rc=%s, err=%r, body=%r)" % (self.status, self.rc, self.err[:200],
                                                     self.body[:300])


_ncurl = [0]


def curl(url, cert=None, key=None, cacert=None, resolve=(), headers=(), http2=False,
         method=None, data=None, timeout=10, extra=()):
    """One request with the curl CLI; returns Resp (status 0 when no response)."""
    _ncurl[0] += 1
    base = os.path.join(workdir(), "curl%d" % _ncurl[0])
    cmd = ["curl", "-sS", "--max-time", str(timeout), "-o", base + ".body", "-D", base + ".hdr",
           "-w", "%{http_code} %{http_version}"]
    cmd += ["--http2"] if http2 else ["--http1.1"]
    if cert:
        cmd += ["--cert", cert, "--key", key]
    if cacert:
        cmd += ["--cacert", cacert]
    for r in resolve:
        cmd += ["--resolve", r]
    for h in headers:
        cmd += ["-H", h]
    if method:
        cmd += ["-X", method]
    if data is not None:
        if len(data) > 32768:  # too long for a command line
            with open(base + ".req", "w") as f:
                f.write(data)
            data = "@" + base + ".req"
        cmd += ["--data-binary", data]
    cmd += list(extra) + [url]
    r = run(cmd, timeout=timeout + 10)
    out = r.stdout.split()
    status = int(out[0]) if out and out[0].isdigit() else 0
    version = out[1] if len(out) > 1 else ""
    hdrs = {}
    if os.path.exists(base + ".hdr"):
        with open(base + ".hdr", "rb") as f:
            for line in f.read().decode("latin-1").splitlines():
                if ":" in line:
                    k, v = line.split(":", 1)
                    hdrs.setdefault(k.strip().lower(), []).append(v.strip())
    body = ""
    if os.path.exists(base + ".body"):
        with open(base + ".body", "rb") as f:
            body = f.read().decode("utf-8", "replace")
    return Resp(status, version, hdrs, body, r.returncode, r.stderr)


def upstream_headers(resp):
    """The headers the upstream received, from the echo upstream's JSON body."""
    j = resp.json() or {}
    out = {}
    for k, v in j.get("headers", []):
        out.setdefault(k.lower(), []).append(v)
    return out


# --------------------------------------------------------------------------
# long-lived client connections (keep-alive, HTTP/2, TLS resumption)

import http.client
import ssl as _ssl


def tls_context(cert=None, key=None, cafile=None, version=None, alpn=("http/1.1",)):
    ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT)
    if cafile:
        ctx.load_verify_locations(cafile)
    if cert:
        ctx.load_cert_chain(cert, key)
    if version == "1.2":
        ctx.maximum_version = _ssl.TLSVersion.TLSv1_2
    elif version == "1.3":
        ctx.minimum_version = _ssl.TLSVersion.TLSv1_3
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


class H1Conn:
    """One HTTP/1.1 keep-alive connection over TLS to 127.0.0.1:port with SNI `host`."""

    def __init__(self, host, port, ctx, session=None, timeout=10):
        self.host, self.port = host, port
        raw = socket.create_connection(("127.0.0.1", port), timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=host, session=session)
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.conn.sock = self.sock
        self.local = self.sock.getsockname()

    def get(self, path, headers=None, method="GET"):
        """Returns (status, headers dict, body); raises if the connection was replaced."""
        h = {"Host": self.host}
        h.update(headers or {})
        self.conn.request(method, path, headers=h)
        r = self.conn.getresponse()
        body = r.read().decode("utf-8", "replace")
        if self.conn.sock is None or self.conn.sock.getsockname() != self.local:
            raise RuntimeError("connection was not kept alive")
        return r.status, {k.lower(): v for k, v in r.getheaders()}, body

    def session(self):
        return self.sock.session

    def reused(self):
        return self.sock.session_reused

    def close(self):
        self.conn.close()


def _has_goaway_frame(data):
    """Whether raw HTTP/2 bytes hold a GOAWAY frame (type 7), walking frame headers."""
    i = 0
    while i + 9 <= len(data):
        length = int.from_bytes(data[i:i + 3], "big")
        if data[i + 3] == 7:
            return True
        i += 9 + length
    return False


class H2Unprocessed(Exception):
    """The server said (GOAWAY) it did not process this stream: safe to retry."""


class H2Conn:
    """One HTTP/2 connection (python3-h2) over TLS; requests one at a time.
    After a GOAWAY, `goaway` is set: open a new connection for more requests."""

    goaway = False

    def __init__(self, host, port, ctx, session=None, timeout=10):
        import h2.config
        import h2.connection
        ctx.set_alpn_protocols(["h2"])
        self.host = host
        raw = socket.create_connection(("127.0.0.1", port), timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname=host, session=session)
        if self.sock.selected_alpn_protocol() != "h2":
            raise RuntimeError("h2 not negotiated")
        self.h2 = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.sock.sendall(self.h2.data_to_send())

    def get(self, path, headers=None, authority=None, timeout=10):
        import h2.events
        import h2.exceptions
        sid = self.h2.get_next_available_stream_id()
        hdrs = [(":method", "GET"), (":scheme", "https"), (":authority", authority or self.host),
                (":path", path)] + list((headers or {}).items())
        self.h2.send_headers(sid, hdrs, end_stream=True)
        self.sock.sendall(self.h2.data_to_send())
        status, rh, body = None, {}, b""
        self.sock.settimeout(timeout)
        while True:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("connection closed")
            try:
                events = self.h2.receive_data(data)
            except h2.exceptions.ProtocolError:
                if self.goaway or _has_goaway_frame(data):
                    # python3-h2 4.1 closes its state machine on GOAWAY and cannot read
                    # the responses the server still sends: the client cannot tell
                    raise H2Unprocessed("response after GOAWAY unreadable by python3-h2")
                raise
            for ev in events:
                if isinstance(ev, h2.events.ResponseReceived) and ev.stream_id == sid:
                    for k, v in ev.headers:
                        k = k.decode() if isinstance(k, bytes) else k
                        v = v.decode() if isinstance(v, bytes) else v
                        if k == ":status":
                            status = int(v)
                        else:
                            rh[k] = v
                elif isinstance(ev, h2.events.DataReceived) and ev.stream_id == sid:
                    body += ev.data
                    self.h2.acknowledge_received_data(ev.flow_controlled_length, sid)
                elif isinstance(ev, h2.events.StreamEnded) and ev.stream_id == sid:
                    self.sock.sendall(self.h2.data_to_send())
                    return status, rh, body.decode("utf-8", "replace")
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    # RFC 9113 6.8: streams above last_stream_id were not processed
                    self.goaway = True
                    if ev.last_stream_id is not None and sid > ev.last_stream_id:
                        raise H2Unprocessed("stream %d above GOAWAY last id %d"
                                            % (sid, ev.last_stream_id))
            self.sock.sendall(self.h2.data_to_send())

    def close(self):
        try:
            self.h2.close_connection()
            self.sock.sendall(self.h2.data_to_send())
        except Exception:
            pass
        self.sock.close()


def handshake_refused(host, port, ctx):
    """True when the TLS handshake (or the first read) fails: mTLS refusal.
    In TLS 1.3 the client learns of the refusal only when it reads."""
    try:
        raw = socket.create_connection(("127.0.0.1", port), 5)
        s = ctx.wrap_socket(raw, server_hostname=host)
        s.sendall(b"GET / HTTP/1.1\r\nHost: " + host.encode() + b"\r\n\r\n")
        data = s.recv(100)
        s.close()
        return not data
    except (OSError, _ssl.SSLError):
        return True


# --------------------------------------------------------------------------
# a ready rig: server PKI, client CA, an upstream, and a config writer

class Rig:
    """Everything most gateway tests need.  Hosts are *.gw.test, resolved to 127.0.0.1."""

    def __init__(self, upstreams=("billing",)):
        self.spki = ServerPKI()
        self.server_cert, self.server_key = self.spki.issue("server", ["*.gw.test", "gw.test", "localhost"])
        self.ca = ClientCA()
        self.ups = {n: start_upstream(n) for n in upstreams}
        self.port = free_port()
        self.admin_port = free_port()

    def listener(self, crl=True, port=None):
        return ("  - address: \"127.0.0.1:%d\"\n"
                "    certificates:\n"
                "      - { cert: %s, key: %s }\n"
                "    client_ca: %s\n%s") % (
            port or self.port, self.server_cert, self.server_key, self.ca.ca,
            ("    crl: %s\n" % self.ca.crl) if crl else "")

    def config(self, routes, extra="", crl=True, threads=2, listeners=None, admin_port=None):
        return ("listen:\n%s"
                "threads: %d\n"
                "admin:\n  listen: \"127.0.0.1:%d\"\n"
                "log:\n  access: stdout\n  level: info\n"
                "%s"
                "routes:\n%s") % (listeners or self.listener(crl), threads,
                                  admin_port or self.admin_port, extra, routes)

    def route(self, name, host, prefix="/", upstream="billing", allow=None, extra="",
              methods=None):
        up = self.ups[upstream].port if upstream in self.ups else upstream
        m = (", methods: [%s]" % ", ".join(methods)) if methods else ""
        s = ("  - name: %s\n"
             "    match: { host: \"%s\", path_prefix: %s%s }\n"
             "    upstream: \"%s\"\n") % (
            name, host, prefix, m, up if isinstance(up, str) else "http://127.0.0.1:%d" % up)
        if allow:
            s += "    mtls:\n      allow: [%s]\n" % ", ".join('"%s"' % a for a in allow)
        s += "    jwt: off\n" + extra
        return s

    def curl(self, host, path="/", client=None, **kw):
        """curl to https://host:port/path with SNI=host, trusting the server CA."""
        cert = key = None
        if client:
            cert, key = client[0], client[1]
        return curl("https://%s:%d%s" % (host, self.port, path), cert=cert, key=key,
                    cacert=self.spki.ca, resolve=["%s:%d:127.0.0.1" % (host, self.port)], **kw)

    def ctx(self, client=None, version=None, alpn=("http/1.1",)):
        return tls_context(client[0] if client else None, client[1] if client else None,
                           self.spki.ca, version, alpn)

    def metrics(self):
        r = curl("http://127.0.0.1:%d/metrics" % self.admin_port)
        return r.body

    def metric(self, pattern):
        """Sum of the samples whose line matches the regex `pattern`."""
        total = 0
        for line in self.metrics().splitlines():
            if not line.startswith("#") and re.search(pattern, line):
                total += float(line.rsplit(" ", 1)[1])
        return total


# --------------------------------------------------------------------------
# client CA (portcullis-admin ca/client/crl; tests/integration/1x-*.t)

def openssl(*args, input=None):
    """Run the openssl CLI; returns CompletedProcess (text)."""
    return run(["openssl"] + list(args), input=input)


def x509_text(path):
    """`openssl x509 -noout -text` of a PEM certificate."""
    return openssl("x509", "-in", path, "-noout", "-text").stdout


def failed_with(r, code, pattern=None):
    """True when r exited with `code` and, for code 1, printed exactly one
    line "portcullis-admin: <reason>" (matching pattern) on stderr."""
    if r.returncode != code:
        return False
    if code == 1:
        lines = r.stderr.splitlines()
        if len(lines) != 1 or not lines[0].startswith("portcullis-admin: "):
            return False
    return pattern is None or re.search(pattern, r.stderr) is not None


def admin_detached(*args, ca_dir=None, env=None, drop_env=()):
    """portcullis-admin in a new session: no controlling terminal, stdin /dev/null."""
    cmd = [admin_bin()]
    if ca_dir is not None:
        cmd += ["--ca-dir", ca_dir]
    e = dict(os.environ)
    for k in drop_env:
        e.pop(k, None)
    if env:
        e.update(env)
    return subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=60, env=e,
                          stdin=subprocess.DEVNULL, start_new_session=True)


def file_mode(path):
    return os.stat(path).st_mode & 0o7777


# --------------------------------------------------------------------------
# tokens (portcullis-admin token issue, jwks; tests/integration/14-admin-token.t)

_KEYGEN = {
    "rsa2048": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "ec256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "ec384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "ec521": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-521"],
    "ed25519": ["-algorithm", "ED25519"],
}


def genkey(path, kind="ec256"):
    """A private key made by `openssl genpkey` (mode 0600); kind is a key of _KEYGEN."""
    openssl_out("genpkey", *_KEYGEN[kind], "-out", path)
    os.chmod(path, 0o600)
    return path


def b64url(data):
    """base64url without padding (JOSE)."""
    import base64
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def issue_token(key, iss, aud, sub, *extra):
    """portcullis-admin token issue; returns the token, raises on failure."""
    r = admin("token", "issue", "--key", key, "--iss", iss, "--aud", aud, "--sub", sub, *extra)
    if r.returncode != 0:
        raise RuntimeError("token issue: " + r.stderr)
    return r.stdout.strip()


def write_jwks(path, *keys_and_opts):
    """portcullis-admin jwks [--kid ID]... KEY.pem... into path; returns the document."""
    r = admin("jwks", *keys_and_opts)
    if r.returncode != 0:
        raise RuntimeError("jwks: " + r.stderr)
    write(path, r.stdout)
    return json.loads(r.stdout)


# --------------------------------------------------------------------------
# redis-server, started and stopped by the test

class Redis:
    def __init__(self, port=None, args=(), name="redis"):
        self.port = port or free_port()
        self.args = list(args)
        self.name = name
        self.proc = None
        self.start()

    def start(self):
        self.proc = spawn(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1",
                           "--save", "", "--appendonly", "no", "--daemonize", "no"] + self.args,
                          self.name)
        if not wait_port(self.port, 10, proc=self.proc):
            raise RuntimeError("redis-server did not start: " + read_log(self.proc))

    def stop(self):
        stop(self.proc, signal.SIGKILL)

    def cli(self, *args, password=None, user=None):
        cmd = ["redis-cli", "-p", str(self.port), "--no-auth-warning"]
        if user:
            cmd += ["--user", user]
        if password:
            cmd += ["-a", password]
        return run(cmd + list(args)).stdout.strip()

    def commandstat(self, cmd, **kw):
        """calls= of INFO commandstats for `cmd` (e.g. "evalsha")."""
        out = self.cli("INFO", "commandstats", **kw)
        m = re.search(r"cmdstat_%s:calls=(\d+)" % cmd, out)
        return int(m.group(1)) if m else 0


# --------------------------------------------------------------------------
# TLS audit (portcullis-admin tls audit; tests/integration/16-admin-tls-audit.t)

def tls_audit(target, *args):
    """portcullis-admin tls audit TARGET ARGS...; returns CompletedProcess (text)."""
    return run([admin_bin(), "tls", "audit", target] + list(args), timeout=120)


def issue_server_cert(pki, name, dns, ips=("127.0.0.1",), key="ec", days=30):
    """A server certificate of `pki` (ServerPKI) with an EC P-256 or RSA 2048 key
    ("ec" / "rsa"), valid for `days` days from now; days=-1 gives one that
    has already expired.  Returns (cert, key)."""
    keyf = os.path.join(pki.dir, name + ".key")
    csr = os.path.join(pki.dir, name + ".csr")
    crt = os.path.join(pki.dir, name + ".pem")
    ext = os.path.join(pki.dir, name + ".ext")
    sans = ",".join(["DNS:" + d for d in dns] + ["IP:" + i for i in ips])
    write(ext, "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature%s\n"
               "extendedKeyUsage=serverAuth\nsubjectAltName=%s\n"
          % (",keyEncipherment" if key == "rsa" else "", sans))
    newkey = ["rsa:2048"] if key == "rsa" else ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    openssl_out("req", "-newkey", *newkey, "-nodes", "-keyout", keyf, "-out", csr,
                "-subj", "/CN=" + dns[0])
    openssl_out("x509", "-req", "-in", csr, "-CA", pki.ca, "-CAkey", pki.ca_key,
                "-CAcreateserial", "-days", str(days), "-out", crt, "-extfile", ext)
    return crt, keyf


def start_s_server(cert, key, *args, name="s_server"):
    """`openssl s_server -www` on a free 127.0.0.1 port with extra args; returns its port."""
    port = free_port()
    p = spawn(["openssl", "s_server", "-accept", "127.0.0.1:%d" % port, "-cert", cert,
               "-key", key, "-www", "-quiet"] + list(args), name)
    if not wait_port(port, 10, proc=p):
        raise RuntimeError("s_server did not start: " + read_log(p))
    return port


class Nginx:
    """One nginx (the Debian package) serving HTTPS `server {}` blocks on 127.0.0.1.
    servers: a list of dicts {cert, key, protocols, ciphers, curves, hsts}
    (hsts None: no Strict-Transport-Security header).  .ports[i] is server i's port."""

    def __init__(self, servers, name="nginx"):
        self.dir = os.path.join(workdir(), name)
        for sub in ("tmp", "logs"):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        self.ports = [free_port() for _ in servers]
        blocks = []
        for port, s in zip(self.ports, servers):
            b = ("  server {\n"
                 "    listen 127.0.0.1:%d ssl;\n"
                 "    ssl_certificate %s;\n    ssl_certificate_key %s;\n"
                 "    ssl_protocols %s;\n    ssl_ciphers %s;\n    ssl_ecdh_curve %s;\n") % (
                port, s["cert"], s["key"], s.get("protocols", "TLSv1.2 TLSv1.3"),
                s.get("ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                                 "ECDHE-ECDSA-CHACHA20-POLY1305"),
                s.get("curves", "X25519:prime256v1"))
            if s.get("hsts") is not None:
                b += "    add_header Strict-Transport-Security \"%s\" always;\n" % s["hsts"]
            b += "    location / { return 200 \"ok\\n\"; }\n  }\n"
            blocks.append(b)
        t = os.path.join(self.dir, "tmp")
        conf = ("daemon off;\nworker_processes 1;\npid %s/nginx.pid;\n"
                "error_log %s/logs/error.log;\n"
                "events { worker_connections 64; }\n"
                "http {\n  access_log off;\n"
                "  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
                "  fastcgi_temp_path %s/fcgi;\n  uwsgi_temp_path %s/uwsgi;\n"
                "  scgi_temp_path %s/scgi;\n%s}\n") % (
            self.dir, self.dir, t, t, t, t, t, "".join(blocks))
        self.conf = write(os.path.join(self.dir, "nginx.conf"), conf)
        self.proc = spawn(["nginx", "-p", self.dir, "-c", self.conf], name)
        for port in self.ports:
            if not wait_port(port, 10, proc=self.proc):
                raise RuntimeError("nginx did not start: " + read_log(self.proc) +
                                   open(os.path.join(self.dir, "logs", "error.log")).read())
# DNS: knotd as the authoritative server, and a driver of certmgr/cm_dns.h
# (tests/integration/6x-dns-*.t; Debian packages knot and knot-dnsutils)

# the unit tests' TSIG secret: the 32 bytes 0x01..0x20
DNS_SECRET = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA="


def has_ipv6_loopback():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


class Knot:
    """knotd in the foreground on a free port of 127.0.0.1 (and ::1 when there
    is one), authoritative for `zones`; each key in `keys` (name -> (alg,
    base64 secret)) may update every zone, except the zones in `locked`."""

    def __init__(self, zones=("example.test",), keys=None, locked=(), name="knotd"):
        self.dir = os.path.join(workdir(), name)
        os.makedirs(os.path.join(self.dir, "db"), exist_ok=True)
        self.port = free_port()
        self.v6 = has_ipv6_loopback()
        keys = keys or {"portcullis-key": ("hmac-sha256", DNS_SECRET)}
        listen = "127.0.0.1@%d" % self.port
        if self.v6:
            listen = "[ %s, ::1@%d ]" % (listen, self.port)
        conf = ("server:\n    rundir: \"%s\"\n    listen: %s\n    pidfile: \"%s/knot.pid\"\n"
                "log:\n  - target: stderr\n    any: info\n"
                "database:\n    storage: \"%s/db\"\n" % (self.dir, listen, self.dir, self.dir))
        conf += "key:\n" + "".join("  - id: %s\n    algorithm: %s\n    secret: %s\n" % (k, a, s)
                                   for k, (a, s) in keys.items())
        conf += "acl:\n  - id: update\n    key: [ %s ]\n    action: update\n" % ", ".join(keys)
        conf += "zone:\n"
        for z in zones:
            write(os.path.join(self.dir, z + ".zone"),
                  "$ORIGIN %s.\n$TTL 300\n@ SOA ns.%s. hostmaster.%s. 1 3600 900 604800 60\n"
                  "@ NS ns\nns A 127.0.0.1\n" % (z, z, z))
            conf += ("  - domain: %s\n    storage: \"%s\"\n    file: \"%s.zone\"\n"
                     "    zonefile-sync: -1\n" % (z, self.dir, z))
            if z not in locked:
                conf += "    acl: update\n"
        self.conf = write(os.path.join(self.dir, "knot.conf"), conf)
        knotd = shutil.which("knotd") or "/usr/sbin/knotd"
        self.proc = spawn([knotd, "-c", self.conf], name)
        if not (wait_port(self.port, 10, proc=self.proc) and
                wait_for(lambda: "server started" in self.log(), 10)):
            raise RuntimeError("knotd did not start:\n" + self.log())

    def addr(self, v6=False):
        return ("[::1]:%d" if v6 else "127.0.0.1:%d") % self.port

    def log(self):
        return read_log(self.proc)

    def dig(self, name, rtype="TXT", tcp=False):
        """The records (kdig +short) of name/rtype, TXT strings joined, quotes removed."""
        cmd = ["kdig", "@127.0.0.1", "-p", str(self.port), name, rtype, "+short", "+norecurse"]
        r = run(cmd + (["+tcp"] if tcp else []), timeout=20)
        out = []
        for line in r.stdout.splitlines():
            if line.startswith(";;") or not line.strip():
                continue  # kdig's warnings ("retrying over TCP")
            if rtype == "TXT":
                line = "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', line))
            out.append(line)
        return out

    def serial(self, zone="example.test"):
        soa = self.dig(zone, "SOA")
        return int(soa[0].split()[2]) if soa else None

    def stop(self):
        return stop(self.proc)


_DNSDRIVE_C = r'''
/* Drives certmgr/cm_dns.h for tests/integration/6x-dns-*.t (built by pctest.py).
 *   dnsdrive add|del SERVER ZONE KEYNAME ALG SECRET_B64 FQDN VALUE
 *   dnsdrive wait TIMEOUT_MS FQDN VALUE RESOLVER...
 * Prints "result: <ok|pc_strerror>" and for updates "err: <reason>"; the
 * log (debug) goes to stderr.  Exit 0 on PC_OK, 1 otherwise, 2 on usage. */
#include <stdio.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "certmgr/cm_dns.h"
#include "common/pc_err.h"
#include "common/pc_log.h"
#include "common/pc_str.h"

int
main(int argc, char **argv)
{
    unsigned char secret[CM_DNS_TSIG_SECRET_MAX + 3];
    char err[512] = "";
    uint64_t ms = 0;
    size_t len;
    int rc, n;

    pc_log_init("dnsdrive", LOG_DEBUG);
    if (argc == 9 && (strcmp(argv[1], "add") == 0 || strcmp(argv[1], "del") == 0)) {
        struct cm_rfc2136 srv = {argv[2], argv[3], argv[4], argv[5], secret, 0};
        len = strlen(argv[6]);
        if (len % 4 != 0 || len > (CM_DNS_TSIG_SECRET_MAX / 3) * 4)
            return 2;
        n = EVP_DecodeBlock(secret, (const unsigned char *)argv[6], (int)len);
        if (n < 0)
            return 2;
        srv.secret_len = (size_t)n - (len > 0 && argv[6][len - 1] == '=') -
                         (len > 1 && argv[6][len - 2] == '=');
        rc = cm_rfc2136_txt(&srv, argv[7], argv[8], argv[1][0] == 'a', err, sizeof(err));
        OPENSSL_cleanse(secret, sizeof(secret));
        printf("result: %s\nerr: %s\n", rc == 0 ? "ok" : pc_strerror(rc), err);
        return rc == 0 ? 0 : 1;
    }
    if (argc >= 5 && strcmp(argv[1], "wait") == 0 &&
        pc_parse_u64(argv[2], strlen(argv[2]), UINT64_MAX, &ms) == PC_OK) {
        rc = cm_dns_wait_txt((const char *const *)(argv + 5), (size_t)(argc - 5), argv[3],
                             argv[4], ms);
        printf("result: %s\n", rc == 0 ? "ok" : pc_strerror(rc));
        return rc == 0 ? 0 : 1;
    }
    fprintf(stderr, "usage: dnsdrive add|del SERVER ZONE KEY ALG SECRET FQDN VALUE\n"
                    "       dnsdrive wait MS FQDN VALUE RESOLVER...\n");
    return 2;
}
'''

_dnsdrive = [None]


def dns_driver():
    """Build the driver of certmgr/cm_dns.h against BUILD's libraries (once per test)."""
    if _dnsdrive[0]:
        return _dnsdrive[0]
    src = write(os.path.join(workdir(), "dnsdrive.c"), _DNSDRIVE_C)
    out = os.path.join(workdir(), "dnsdrive")
    libcm = os.path.join(BUILD, "lib", "libcm.a")
    libpc = os.path.join(BUILD, "lib", "libpc.a")
    with open(libpc, "rb") as f:
        san = b"__asan_" in f.read()
    cmd = ["gcc", "-std=gnu17", "-O1", "-g", "-I", ROOT, "-o", out, src, libcm, libpc,
           "-lssl", "-lcrypto"]
    if san:
        cmd[1:1] = ["-fsanitize=address,undefined", "-fno-omit-frame-pointer"]
    r = run(cmd, timeout=120)
    if r.returncode != 0:
        raise RuntimeError("cannot build dnsdrive: " + r.stderr)
    _dnsdrive[0] = out
    return out


class DnsResult:
    def __init__(self, r, elapsed):
        self.rc, self.out, self.log, self.elapsed = r.returncode, r.stdout, r.stderr, elapsed
        m = re.search(r"^result: (.*)$", r.stdout, re.M)
        self.result = m.group(1) if m else None
        m = re.search(r"^err: (.*)$", r.stdout, re.M)
        self.err = m.group(1) if m else None

    def __repr__(self):
        return "DnsResult(rc=%s, result=%r, err=%r, %.1fs, log=%r)" % (
            self.rc, self.result, self.err, self.elapsed, self.log[-1500:])


def dns_update(op, server, fqdn, value, zone="example.test", key="portcullis-key",
               alg="hmac-sha256", secret=DNS_SECRET):
    """cm_rfc2136_txt through the driver; op is "add" or "del"."""
    t0 = time.time()
    r = run([dns_driver(), op, server, zone, key, alg, secret, fqdn, value], timeout=60)
    return DnsResult(r, time.time() - t0)


def dns_wait(fqdn, value, resolvers, timeout_ms):
    """cm_dns_wait_txt through the driver."""
    t0 = time.time()
    r = run([dns_driver(), "wait", str(timeout_ms), fqdn, value] + list(resolvers),
            timeout=timeout_ms / 1000 + 60)
    return DnsResult(r, time.time() - t0)


# --------------------------------------------------------------------------
# ACME: pebble + pebble-challtestsrv and portcullis-certmgr
# (tests/integration/5x-certmgr-*.t)

class Pebble:
    """pebble (the ACME test CA) and pebble-challtestsrv (its DNS) on loopback
    ports picked here.  pebble's API certificate comes from a throw-away CA
    made with openssl (Debian's pebble ships none); certmgr trusts it through
    acme.ca_file.  http01_port: where pebble's VA dials for http-01 (the
    gateway's plain listener in the http-01 test); dnsserver: the DNS server
    pebble's VA asks ("IP:port", default challtestsrv's)."""

    def __init__(self, name="pebble", eab=None, nosleep=True, nonce_reject=0, http01_port=None,
                 dnsserver=None):
        self.name = name
        self.pki = ServerPKI(os.path.join(workdir(), name + "-pki"), "Pebble API test CA")
        self.cert, self.key = self.pki.issue(name + "-api", ["localhost"])
        self.ca_file = self.pki.ca
        self.port, self.mgmt, self.dns, self.cts = free_port(), free_port(), free_port(), free_port()
        self.http01_port = http01_port or free_port()
        conf = {"listenAddress": "127.0.0.1:%d" % self.port,
                "managementListenAddress": "127.0.0.1:%d" % self.mgmt,
                "certificate": self.cert, "privateKey": self.key,
                "httpPort": self.http01_port, "tlsPort": free_port(),
                "ocspResponderURL": "", "externalAccountBindingRequired": bool(eab)}
        if eab:
            conf["externalAccountMACKeys"] = eab
        self.config = write(os.path.join(workdir(), name + ".json"),
                            json.dumps({"pebble": conf}, indent=2))
        self.cts_proc = spawn(["pebble-challtestsrv", "-management", "127.0.0.1:%d" % self.cts,
                               "-dns01", "127.0.0.1:%d" % self.dns, "-http01", "", "-https01", "",
                               "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
                              name + "-challtestsrv")
        if not wait_port(self.cts, 10, proc=self.cts_proc):
            raise RuntimeError("pebble-challtestsrv did not start: " + read_log(self.cts_proc))
        # unset means pebble's defaults: random VA sleeps, 5% of nonces rejected
        for k in ("PEBBLE_VA_NOSLEEP", "PEBBLE_WFE_NONCEREJECT", "PEBBLE_VA_ALWAYS_VALID"):
            os.environ.pop(k, None)
        env = {}
        if nosleep:
            env["PEBBLE_VA_NOSLEEP"] = "1"
        if nonce_reject is not None:
            env["PEBBLE_WFE_NONCEREJECT"] = str(nonce_reject)
        self.proc = spawn(["pebble", "-config", self.config, "-dnsserver",
                           dnsserver or "127.0.0.1:%d" % self.dns], name, env=env, cwd=workdir())
        if not wait_port(self.port, 15, proc=self.proc):
            raise RuntimeError("pebble did not start: " + read_log(self.proc))
        self.directory = "https://127.0.0.1:%d/dir" % self.port

    def log(self):
        return read_log(self.proc)

    def mgmt_get(self, path):
        r = run(["curl", "-sS", "--fail", "--cacert", self.ca_file,
                 "https://127.0.0.1:%d%s" % (self.mgmt, path)])
        if r.returncode != 0:
            raise RuntimeError("pebble management %s: %s" % (path, r.stderr))
        return r.stdout

    def roots(self, path=None):
        """pebble's root and intermediate (regenerated at each start) in one file."""
        path = path or os.path.join(workdir(), self.name + "-roots.pem")
        write(path, self.mgmt_get("/roots/0"))
        write(path + ".int", self.mgmt_get("/intermediates/0"))
        return path

    def verify(self, chain, leaf_only=False):
        """`openssl verify` of a fullchain.pem (or a lone leaf, with pebble's
        intermediate) against pebble's root; returns (ok, output)."""
        root = self.roots()
        r = run(["openssl", "verify", "-CAfile", root, "-untrusted",
                 root + ".int" if leaf_only else chain, chain])
        return r.returncode == 0, r.stdout + r.stderr

    def cts_post(self, what, body):
        r = run(["curl", "-sS", "--fail", "-X", "POST", "-d", json.dumps(body),
                 "http://127.0.0.1:%d/%s" % (self.cts, what)])
        return r.returncode == 0


def write_dns_hook(path, pebble, mode="ok", calls=None):
    """An exec hook (`present|cleanup FQDN. VALUE`) that sets/clears the TXT in
    pebble-challtestsrv.  mode "fail": present prints a reason and exits 3;
    "noop": present succeeds without setting anything (the record never appears).
    Every call is appended to `calls`."""
    calls = calls or path + ".calls"
    present = {
        "ok": 'curl -sS --fail -X POST -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" '
              'http://127.0.0.1:%d/set-txt || exit 1' % pebble.cts,
        "fail": 'echo "hook: the DNS provider refused the update for $2" >&2; exit 3',
        "noop": 'echo "hook: pretending to publish $2"',
    }[mode]
    write(path, "#!/bin/sh\n"
                "echo \"$1 $2 $3\" >> %s\n"
                "case \"$1\" in\n"
                "present) %s ;;\n"
                "cleanup) curl -sS --fail -X POST -d \"{\\\"host\\\":\\\"$2\\\"}\" "
                "http://127.0.0.1:%d/clear-txt || exit 1 ;;\n"
                "*) exit 2 ;;\n"
                "esac\n"
                "echo \"hook $1 $2: done\"\n" % (calls, present, pebble.cts), 0o755)
    return path


def acme_yaml(pebble, state_dir, certs, eab=None, extra="", directory=None, email=True):
    """A certmgr.yaml for pebble; certs is the YAML text of certificates: entries."""
    s = ("acme:\n"
         "  directory: \"%s\"\n"
         "  ca_file: %s\n" % (directory or pebble.directory, pebble.ca_file))
    if email:
        s += "  email: \"admin@example.test\"\n"
    if eab:
        s += "  eab: { kid: \"%s\", hmac_key: \"%s\" }\n" % eab
    return s + "state_dir: %s\n%scertificates:\n%s" % (state_dir, extra, certs)


def dns_cert(name, domains, hook, pebble, resolvers=True, extra="", propagation="20s"):
    s = ("  - name: %s\n"
         "    domains: [%s]\n"
         "    challenge: dns-01\n"
         "    dns:\n"
         "      provider: exec\n"
         "      command: %s\n"
         "      command_timeout: 20s\n" % (name, ", ".join('"%s"' % d for d in domains), hook))
    if resolvers:
        s += ("      resolvers: [\"127.0.0.1:%d\"]\n"
              "      propagation_timeout: %s\n" % (pebble.dns, propagation))
    return s + extra


def certmgr(config_path, *args, env=None, timeout=240, binary=None):
    """portcullis-certmgr -c config_path ARGS to completion (CompletedProcess).
    A sanitizer report in its output (SANITIZE=1 builds) is a failed assertion
    of its own, whatever the exit status the test expects."""
    r = run([binary or certmgr_bin(), "-c", config_path] + list(args), env=env,
            timeout=timeout)
    if re.search(r"(Address|Leak|UndefinedBehavior)Sanitizer|runtime error:", r.stderr):
        ok(False, "portcullis-certmgr %s: sanitizer report" % " ".join(args), r.stderr)
    return r


def stray_temp_files(d):
    """Files a crash could leave half-written: our temporaries are NAME.tmp.XXXXXX."""
    out = []
    for root, _dirs, files in os.walk(d):
        out += [os.path.join(root, f) for f in files if ".tmp." in f]
    return out


def acme_requests(log):
    """The ACME request count certmgr reports per issuance ("issued: N ACME requests in S")."""
    return [(int(n), float(s)) for n, s in
            re.findall(r"issued: (\d+) ACME requests in ([0-9.]+)s", log)]


def selfsigned(cert, key, names, not_before, not_after, key_path_mode=0o600):
    """A self-signed EC P-256 certificate for names valid [not_before, not_after)
    (datetime), written as PEM; for the renewal tests (a slot to renew or not)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    k = ec.generate_private_key(ec.SECP256R1())
    subj = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    c = (x509.CertificateBuilder().subject_name(subj).issuer_name(subj)
         .public_key(k.public_key()).serial_number(x509.random_serial_number())
         .not_valid_before(not_before).not_valid_after(not_after)
         .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
         .sign(k, hashes.SHA256()))
    write(cert, c.public_bytes(serialization.Encoding.PEM).decode())
    write(key, k.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption()).decode(), key_path_mode)
    return cert, key


def cert_issuer(path):
    return openssl("x509", "-in", path, "-noout", "-issuer").stdout.strip()


def key_matches(cert, key):
    """Whether the private key is the certificate's (compare the public keys)."""
    a = openssl("x509", "-in", cert, "-noout", "-pubkey").stdout
    b = openssl("pkey", "-in", key, "-pubout").stdout
    return bool(a) and a == b
