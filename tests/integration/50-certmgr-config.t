#!/usr/bin/python3
# portcullis-certmgr without a CA: the command line (--help, --version, bad
# usage), certmgr.yaml checked as strictly as portcullis.yaml (file:line:col,
# a wildcard needs dns-01, secrets never echoed, a TSIG key file others can
# read), the shipped etc/certmgr.yaml, and a CA that cannot be reached: a
# clear log line, exit 1, nothing half-written.
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

CM = certmgr_bin()
wd = workdir()

# --- command line ----------------------------------------------------------
r = run([CM, "--help"])
ok(r.returncode == 0 and "usage: portcullis-certmgr [-c FILE] [--once] [--force-renew NAME]"
   in r.stdout, "--help prints the usage and exits 0", r)
r = run([CM, "--version"])
like(r.stdout, r"^portcullis-certmgr \d+\.\d+\.\d+\n$", "--version")
r = run([CM, "--bogus"])
ok(r.returncode == 2 and "--bogus" in r.stderr, "an unknown option exits 2 and names it", r)
r = run([CM, "-c"])
is_(r.returncode, 2, "-c without a value exits 2")
r = run([CM, "extra-arg"])
is_(r.returncode, 2, "a stray argument exits 2")

# --- the shipped default validates -----------------------------------------
r = run([CM, "-c", os.path.join(ROOT, "etc", "certmgr.yaml"), "--check"])
ok(r.returncode == 0 and "configuration ok" in r.stdout, "etc/certmgr.yaml passes --check", r)

# --- strict schema, file:line:col ------------------------------------------
def check(text, name="c.yaml"):
    p = write(os.path.join(wd, name), text)
    return p, run([CM, "-c", p, "--check"])

base = ("acme:\n  directory: \"https://ca.example.test/dir\"\n"
        "state_dir: %s\n" % os.path.join(wd, "state"))
p, r = check(base + "certificates:\n"
             "  - name: www\n"
             "    domains: [\"www.example.test\", \"*.example.test\"]\n"
             "    challenge: http-01\n")
ok(r.returncode == 1, "a wildcard with http-01 is refused", r)
like(r.stderr, r"%s:6:35: certificates\[0\]\.domains\[1\]: wildcard name \"\*\.example\.test\" "
     r"requires challenge: dns-01" % re.escape(p), "... with file:line:col and why")

p, r = check(base + "colour: blue\ncertificates:\n"
             "  - { name: a, domains: [a.example.test], challenge: dns-01,\n"
             "      dns: { provider: exec, command: /bin/true, resolvers: [\"127.0.0.1\"] } }\n")
like(r.stderr, r"%s:4:1: unknown key \"colour\"" % re.escape(p), "an unknown key is an error")
like(r.stderr, r"%s:7:\d+: certificates\[0\]\.dns\.resolvers\[0\]: expected a numeric "
     r"IPv4:port" % re.escape(p), "a resolver without a port is refused")

p, r = check("acme:\n  directory: \"http://ca.example.test/dir\"\n"
             "  eab: { kid: k1, hmac_key: \"not*base64url-SECRET\" }\ncertificates: []\n")
like(r.stderr, r"acme\.directory: expected an https:// URL", "the directory must be https")
like(r.stderr, r"acme\.eab\.hmac_key: expected the base64url MAC key", "a bad EAB key is refused")
unlike(r.stderr, r"SECRET", "... without echoing the secret")
like(r.stderr, r"certificates: expected 1 to 64 certificates, got 0", "no certificates is refused")

p, r = check(base + "renew_before: 30\nreload: { pid_file: /run/x.pid, command: \"x\" }\n"
             "certificates:\n"
             "  - name: a\n    domains: [a.example.test]\n    challenge: dns-01\n")
like(r.stderr, r"renew_before: expected a duration", "renew_before needs a unit or %")
like(r.stderr, r"reload: expected exactly one of pid_file .* or command", "reload: one way only")
like(r.stderr, r"certificates\[0\]: challenge dns-01 needs a dns: mapping", "dns-01 needs dns:")

tsig = write(os.path.join(wd, "tsig.key"), "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0\n", 0o644)
p, r = check(base + "certificates:\n"
             "  - name: a\n    domains: [a.example.test]\n    challenge: dns-01\n"
             "    dns:\n      provider: rfc2136\n"
             "      rfc2136: { server: \"127.0.0.1:53\", zone: example.test, key_name: k.test,\n"
             "                 key_alg: hmac-sha256, key_file: %s }\n" % tsig)
like(r.stderr, r"rfc2136\.key_file: %s holds a secret: .*chmod 600" % re.escape(tsig),
     "a TSIG key file others can read is refused")
os.chmod(tsig, 0o600)
p, r = check(open(p).read())
ok(r.returncode == 0, "... and accepted once it is 0600", r)

p, r = check(base + "certificates:\n  - name: a\n    domains: [a.example.test]\n"
             "    challenge: dns-01\n    dns: { provider: exec, command: /bin/true }\n"
             "  - name: a\n    domains: [b.example.test]\n    challenge: http-01\n")
like(r.stderr, r"certificates\[1\]: name \"a\" is used twice", "certificate names are unique")

r = run([CM, "-c", os.path.join(wd, "missing.yaml"), "--once"])
ok(r.returncode == 1 and "missing.yaml" in r.stderr, "a missing file: exit 1 with the path", r)

# --- a CA that cannot be reached --------------------------------------------
state = os.path.join(wd, "state")
p = write(os.path.join(wd, "down.yaml"),
          "acme:\n  directory: \"https://127.0.0.1:%d/dir\"\n"
          "state_dir: %s\ncertificates:\n"
          "  - name: a\n    domains: [a.example.test]\n    challenge: http-01\n"
          % (free_port(), state))
r = run([CM, "-c", p, "--force-renew", "nope"])
ok(r.returncode == 1 and "--force-renew nope: no certificate of that name" in r.stderr,
   "--force-renew of an unknown name: exit 1 with the reason", r)
r = run([CM, "-c", p, "--once"], timeout=60)
is_(r.returncode, 1, "--once against a CA that is down exits 1")
like(r.stderr, r"a: the CA's directory cannot be read", "... with a clear log line")
like(r.stderr, r"a: renewal failed \(1 in a row\); next attempt in \d+s", "... and the retry time")
ok(not os.path.exists(os.path.join(state, "certs", "a")), "... and no certificate directory")
ok(file_mode(os.path.join(state, "acme")) == 0o711, "state_dir/acme is 0711 (no listing)")
ok(file_mode(os.path.join(state, "acme", "orders")) == 0o700, "state_dir/acme/orders is 0700")
ok(file_mode(os.path.join(state, "acme", "account.key")) == 0o600, "the account key is 0600")
st = json.load(open(os.path.join(state, "acme", "status.json")))
is_(st["certs"]["a"]["failures"], 1, "status.json counts the failure")
m = open(os.path.join(state, "acme", "metrics.prom")).read()
like(m, r'portcullis_certmgr_renewal_failures_total\{name="a"\} 1\n', "metrics.prom has it too")
like(m, r'portcullis_certmgr_cert_present\{name="a"\} 0\n', "... and no certificate present")

done_testing()
