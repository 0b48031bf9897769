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
