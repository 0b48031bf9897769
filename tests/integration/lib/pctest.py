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
            for line in str(diag).splitlines()[:40]:
                print("#   " + line, flush=True)
    return bool(cond)


def is_(got, expected, name):
    return ok(got == expected, name, "got:      %r\nexpected: %r" % (got, expected))


def like(got, pattern, name):
    return ok(got is not None and re.search(pattern, got) is not None, name,
              "got: %r\ndoes not match: %r" % (got, pattern))


def unlike(got, pattern, name):
    return ok(got is not None and re.search(pattern, got) is None, name,
              "got: %r\nmatches: %r" % (got, pattern))


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
    e = dict(os.environ)
    e.pop("SSL_CERT_FILE", None)
    e.pop("SSL_CERT_DIR", None)
    if env:
        e.update(env)
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=e, cwd=cwd,
                         start_new_session=True)
    p.logfile = log.name
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
        return f.read().decode("utf-8", "replace")


def run(cmd, input=None, timeout=60, env=None, cwd=None):
    """Run a command to completion; returns CompletedProcess with text output."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run(cmd, input=input, capture_output=True, text=True, timeout=timeout,
                          env=e, cwd=cwd)


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

def openssl(*args, input=None):
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
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
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
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-keyout", key, "-out", csr, "-subj", "/CN=" + dns[0])
        openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
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

    def wait_access(self, pred, timeout=5):
        return wait_for(lambda: [a for a in self.access() if pred(a)], timeout)

    def signal(self, sig):
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
