#!/usr/bin/python3
# Renewal decisions against pebble: --once renews the certificate below the
# threshold (a short-lived self-signed certificate written into its slot)
# and leaves the others alone, for renew_before as a share (33%) and as a
# duration (30d); a slot whose names no longer match is renewed; pebble
# offers no renewalInfo (RFC 9773) and that is said, not failed.  Then the
# daemon: it sleeps until the next due time, SIGHUP re-reads certmgr.yaml
# (a broken file is refused and the old one kept), and SIGTERM stops it.
import datetime
import hashlib
import os
import signal
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

wd = workdir()
pb = Pebble("pebble", nosleep=True, nonce_reject=None)
hook = write_dns_hook(os.path.join(wd, "hook.sh"), pb)
now = datetime.datetime.now(datetime.timezone.utc)
day = datetime.timedelta(days=1)


def slot(state, name, names, before, after):
    d = os.path.join(state, "certs", name)
    os.makedirs(d, exist_ok=True)
    return selfsigned(os.path.join(d, "fullchain.pem"), os.path.join(d, "privkey.pem"), names,
                      now - before, now + after)


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


# --- renew_before: 33% (the default) ------------------------------------------------
state = os.path.join(wd, "pct")
old = slot(state, "old", ["old.example.test"], 9 * day, 1 * day)        # 10% left: due
fresh = slot(state, "fresh", ["fresh.example.test"], 1 * day, 89 * day)  # 99% left: not due
moved = slot(state, "moved", ["gone.example.test"], 1 * day, 89 * day)   # names changed
fresh_sum = digest(fresh[0])
conf = write(os.path.join(wd, "pct.yaml"),
             acme_yaml(pb, state,
                       dns_cert("old", ["old.example.test"], hook, pb) +
                       dns_cert("fresh", ["fresh.example.test"], hook, pb) +
                       dns_cert("moved", ["moved.example.test"], hook, pb)))
r = certmgr(conf, "--once")
is_(r.returncode, 0, "33%: --once exits 0")
like(r.stderr, r"old: valid until \S+, renewal was due at \S+: issuing",
     "33%: the certificate with 10% of its lifetime left is due")
like(cert_issuer(old[0]), r"Pebble", "33%: ... and renewed by pebble")
ok(key_matches(old[0], old[1]), "33%: ... with its new key")
like(r.stderr, r"fresh: valid until \S+, renewal due at ", "33%: the fresh one is not due")
is_(digest(fresh[0]), fresh_sum, "33%: ... and left alone")
like(r.stderr, r"moved: the installed certificate does not name exactly the domains: issuing",
     "a slot whose names changed is renewed")
like(x509_text(moved[0]), r"DNS:moved\.example\.test", "... for the configured names")
like(r.stderr, r"the CA offers no renewalInfo \(RFC 9773\): renew_before decides",
     "no renewalInfo in pebble's directory: said once, renew_before applies")
m = open(os.path.join(state, "acme", "metrics.prom")).read()
like(m, r'portcullis_certmgr_renewals_total\{name="old"\} 1\n', "metrics: old renewed once")
like(m, r'portcullis_certmgr_renewals_total\{name="fresh"\} 0\n', "metrics: fresh not renewed")
exp = re.search(r'portcullis_certmgr_cert_expiry_seconds\{name="fresh"\} (\d+)', m)
ok(exp and 88 * 86400 < int(exp.group(1)) <= 89 * 86400,
   "metrics: seconds to expiry of the fresh one", m)

# --- renew_before: 30d -------------------------------------------------------------------
state = os.path.join(wd, "dur")
mid = slot(state, "mid", ["mid.example.test"], 60 * day, 20 * day)     # 20d left < 30d: due
far = slot(state, "far", ["far.example.test"], 10 * day, 80 * day)     # 80d left: not due
far_sum = digest(far[0])
conf = write(os.path.join(wd, "dur.yaml"),
             acme_yaml(pb, state, dns_cert("mid", ["mid.example.test"], hook, pb) +
                       dns_cert("far", ["far.example.test"], hook, pb),
                       extra="renew_before: 30d\n"))
r = certmgr(conf, "--once")
is_(r.returncode, 0, "30d: --once exits 0")
like(cert_issuer(mid[0]), r"Pebble", "30d: the certificate with 20 days left is renewed")
is_(digest(far[0]), far_sum, "30d: the one with 80 days left is left alone")

# --- the daemon: sleeps, SIGHUP re-reads, SIGTERM stops ------------------------------------
state = os.path.join(wd, "daemon")
a = slot(state, "a", ["a.example.test"], 1 * day, 89 * day)
good = acme_yaml(pb, state, dns_cert("a", ["a.example.test"], hook, pb))
conf = write(os.path.join(wd, "daemon.yaml"), good)
d = spawn([certmgr_bin(), "-c", conf], "daemon")
ok(wait_for(lambda: re.search(r"next pass in \d+s", read_log(d)), 20),
   "daemon: nothing due, it sleeps (at most an hour)", read_log(d))
like(read_log(d), r"next pass in (3[0-5]\d\d|3600|[1-2]?\d{1,3})s", "... an hour at most")
write(conf, good + "  - name: b\n    domains: [b.example.test]\n    bogus: 1\n")
os.kill(d.pid, signal.SIGHUP)
ok(wait_for(lambda: "refused: keeping the configuration in use" in read_log(d), 20),
   "daemon: SIGHUP with a broken file keeps the configuration in use", read_log(d)[-1500:])
like(read_log(d), r"daemon\.yaml:\d+:\d+: certificates\[1\]: unknown key \"bogus\"",
     "... and says why, with file:line:col")
write(conf, good + dns_cert("b", ["b.example.test"], hook, pb))
os.kill(d.pid, signal.SIGHUP)
ok(wait_for(lambda: os.path.exists(os.path.join(state, "certs", "b", "fullchain.pem")), 60),
   "daemon: SIGHUP with a new certificate issues it", read_log(d)[-1500:])
ok(wait_for(lambda: read_log(d).count("next pass in") >= 2, 20), "... and sleeps again")
rc = stop(d, signal.SIGTERM, 15)
is_(rc, 0, "daemon: SIGTERM exits 0")
like(read_log(d), r"info: stopping\n", "... saying so")
good, out = pb.verify(os.path.join(state, "certs", "b", "fullchain.pem"))
ok(good, "daemon: the certificate it issued verifies", out)

done_testing()
