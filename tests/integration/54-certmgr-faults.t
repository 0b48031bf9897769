#!/usr/bin/python3
# Faults, each ending with a clear log line, no half-written file, and
# success on the next run: a hook that fails; a TXT record that never
# appears (propagation timeout); a CA answering 429 with Retry-After (a
# small HTTPS proxy in front of pebble), waited out in place or, when long,
# honoured by the daemon; certmgr killed between finalize and download
# (PORTCULLIS_CERTMGR_TEST_EXIT_AFTER=finalize) continuing the same order;
# and killed between writing the key and the chain (=key).
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

wd = workdir()
pb = Pebble("pebble", nosleep=True, nonce_reject=None)
TEST_EXIT = "PORTCULLIS_CERTMGR_TEST_EXIT_AFTER"


def setup(tag, mode="ok", propagation="20s", directory=None):
    calls = os.path.join(wd, tag + ".calls")
    hook = write_dns_hook(os.path.join(wd, tag + "-hook.sh"), pb, mode=mode, calls=calls)
    state = os.path.join(wd, "state-" + tag)
    conf = write(os.path.join(wd, tag + ".yaml"),
                 acme_yaml(pb, state, dns_cert(tag, ["*.%s.test" % tag, "%s.test" % tag], hook,
                                               pb, propagation=propagation),
                           directory=directory))
    return conf, state, calls


def fixed(tag, mode="ok"):
    write_dns_hook(os.path.join(wd, tag + "-hook.sh"), pb, mode=mode,
                   calls=os.path.join(wd, tag + ".calls"))


def clean(state, tag, what):
    ok(not os.path.exists(os.path.join(state, "certs", tag)), "%s: no certificate written" % what)
    ok(not stray_temp_files(state), "%s: no temporary file left" % what, stray_temp_files(state))


def issued(state, tag, r, what):
    chain = os.path.join(state, "certs", tag, "fullchain.pem")
    good, out = pb.verify(chain) if os.path.exists(chain) else (False, r.stderr)
    ok(r.returncode == 0 and good and
       key_matches(chain, os.path.join(state, "certs", tag, "privkey.pem")), what, out)


# --- 1. a hook that fails -----------------------------------------------------------
conf, state, calls = setup("hookfail", mode="fail")
r = certmgr(conf, "--once")
is_(r.returncode, 1, "failing hook: --once exits 1")
like(r.stderr, r"hookfail: hook present _acme-challenge\.hookfail\.test\.: \| hook: the DNS "
     r"provider refused the update", "failing hook: its stderr is logged")
like(r.stderr, r"hookfail: hook present _acme-challenge\.hookfail\.test\.: \S+ exited with "
     r"status 3", "failing hook: the exit status is logged")
like(r.stderr, r"hookfail: renewal failed \(1 in a row\); next attempt in \d+s",
     "failing hook: the failure and the retry time are logged")
ok("cleanup _acme-challenge.hookfail.test." in open(calls).read(),
   "failing hook: cleanup was still attempted")
clean(state, "hookfail", "failing hook")
fixed("hookfail")
r = certmgr(conf, "--once")
issued(state, "hookfail", r, "failing hook: the next run succeeds once the hook works")
like(r.stderr, r"hookfail: continuing order", "... continuing the order in flight")

# --- 2. a TXT record that never appears -----------------------------------------------
conf, state, calls = setup("nodns", mode="noop", propagation="3s")
t0 = time.time()
r = certmgr(conf, "--once")
is_(r.returncode, 1, "record never visible: --once exits 1")
like(r.stderr, r"nodns: dns-01: TXT _acme-challenge\.nodns\.test = \S+ is not visible at every "
     r"resolver after 3s \(dns\.propagation_timeout\): not asking the CA to validate",
     "record never visible: a clear log line")
ok(time.time() - t0 < 30, "record never visible: gave up after propagation_timeout")
unlike(r.stderr, r"nodns: challenge .*: ready for validation", "record never visible: the CA "
       "was never asked to validate")
ok("cleanup" in open(calls).read(), "record never visible: cleanup was attempted")
clean(state, "nodns", "record never visible")
# SIGTERM while the daemon waits for a record that does not appear (a 120 s
# propagation_timeout): it stops within a second or two, cleaning up
conf_t, state_t, calls_t = setup("nodnsterm", mode="noop", propagation="120s")
d = spawn([certmgr_bin(), "-c", conf_t], "nodnsterm-daemon")
ok(wait_for(lambda: "dns: waiting up to" in read_log(d), 30),
   "daemon: waiting for the TXT record", read_log(d)[-800:])
t0 = time.time()
rc = stop(d, signal.SIGTERM, 10)
took = time.time() - t0
ok(rc == 0 and took < 3, "SIGTERM during the propagation wait: exit 0 after %.1fs" % took,
   read_log(d)[-800:])
like(read_log(d), r"nodnsterm: dns-01: propagation check of TXT _acme-challenge\.nodnsterm\.test "
     r"abandoned: stopping", "... logged as abandoned")
ok("cleanup" in open(calls_t).read(), "... and the record was cleaned up")
clean(state_t, "nodnsterm", "SIGTERM during the propagation wait")
fixed("nodns")
r = certmgr(conf, "--once")
issued(state, "nodns", r, "record never visible: the next run succeeds")

# --- 3. 429 with Retry-After from a proxy in front of pebble ----------------------------


def proxy(tag, orders429, retry_after):
    port = free_port()
    log = os.path.join(wd, tag + "-proxy.log")
    p = spawn([PY, os.path.join(HERE, "acme_proxy.py"), str(port), str(pb.port), pb.cert, pb.key,
               pb.ca_file, log, "--429-orders", str(orders429), "--retry-after",
               str(retry_after)], tag + "-proxy")
    if not wait_port(port, 10, proc=p):
        raise RuntimeError("proxy: " + read_log(p))
    return "https://127.0.0.1:%d/dir" % port, log, p


directory, plog, pp = proxy("rl", 1, 2)
conf, state, _ = setup("ratelimit", directory=directory)
r = certmgr(conf, "--once")
like(r.stderr, r"ratelimit: newOrder: rate limited \(429\): waiting 2s as Retry-After asks, "
     r"then retrying", "429 + Retry-After: 2: waited out in place, logged")
issued(state, "ratelimit", r, "429 + Retry-After: 2: the same run succeeds")
seen = open(plog).read().splitlines()
# (pebble rejects 5% of nonces here: a 400 badNonce retry may come between)
is_([l for l in seen if "/order-plz" in l and not l.endswith(" 400")],
    ["POST /order-plz 429", "POST /order-plz 201"],
    "the CA saw the refused newOrder and exactly one more (badNonce retries aside)")
n = acme_requests(r.stderr)
if n:
    diag("issuance through the proxy: %d ACME requests counted by certmgr, %d seen by the proxy "
         "(the proxy also sees the directory GET of the pass)" % (n[0][0], len(seen)))
stop(pp)

directory, plog, pp = proxy("rl2", 1, 3600)
conf, state, _ = setup("ratelong", directory=directory)
r = certmgr(conf, "--once")
is_(r.returncode, 1, "429 + Retry-After: 3600: the run fails")
like(r.stderr, r"ratelong: newOrder: problem urn:ietf:params:acme:error:rateLimited: test proxy: "
     r"too many new orders \(status 429\)", "... logging the CA's problem")
like(r.stderr, r"ratelong: newOrder: the CA asks to wait 3600s \(Retry-After\)",
     "... and its Retry-After")
st = json.load(open(os.path.join(state, "acme", "status.json")))["certs"]["ratelong"]
ok(st["next_attempt"] >= int(time.time()) + 3500, "... and the next attempt honours it", st)
clean(state, "ratelong", "429 + Retry-After: 3600")
d = spawn([certmgr_bin(), "-c", conf], "ratelong-daemon")
ok(wait_for(lambda: "next pass in" in read_log(d), 20) and
   "waiting for the retry time" in read_log(d),
   "the daemon does not ask before the CA's Retry-After", read_log(d))
like(read_log(d), r"next pass in (3[0-5]\d\d|3600)s", "... and sleeps until then")
rc = stop(d, signal.SIGTERM, 10)
ok(rc == 0 and "stopping" in read_log(d), "SIGTERM stops the daemon cleanly (exit 0)",
   read_log(d)[-500:])
r = certmgr(conf, "--once")
issued(state, "ratelong", r, "429 + Retry-After: 3600: a later explicit --once succeeds")
stop(pp)

# --- 4. killed between finalize and download ------------------------------------------
directory, plog, pp = proxy("kill", 0, 0)
conf, state, _ = setup("killed", directory=directory)
r = certmgr(conf, "--once", env={TEST_EXIT: "finalize"})
is_(r.returncode, 75, "killed after finalize (test hook): the process is gone")
like(r.stderr, r"PORTCULLIS_CERTMGR_TEST_EXIT_AFTER=finalize: exiting here as asked",
     "... saying so")
clean(state, "killed", "killed after finalize")
ok(os.path.exists(os.path.join(state, "acme", "orders", "killed.json")),
   "killed after finalize: the order in flight is recorded")
is_(file_mode(os.path.join(state, "acme", "orders", "killed.key")), 0o600,
    "killed after finalize: its pending key is on disk, 0600")
orders_before = sum(1 for l in open(plog) if "POST /order-plz" in l)
r = certmgr(conf, "--once")
issued(state, "killed", r, "killed after finalize: the next run installs the certificate")
like(r.stderr, r"killed: continuing order https://\S+ \((valid|processing)\)",
     "... from the same order")
is_(sum(1 for l in open(plog) if "POST /order-plz" in l), orders_before, "... without a new order")
n = acme_requests(r.stderr)
if n:
    diag("resuming after finalize: %d ACME requests" % n[0][0])
ok(not os.path.exists(os.path.join(state, "acme", "orders", "killed.json")) and
   not os.path.exists(os.path.join(state, "acme", "orders", "killed.key")),
   "... and the order record and pending key are gone")

# --- 5. killed between the key and the chain ---------------------------------------------
old_chain = open(os.path.join(state, "certs", "killed", "fullchain.pem")).read()
r = certmgr(conf, "--once", "--force-renew", "killed", env={TEST_EXIT: "key"})
is_(r.returncode, 75, "killed between key and chain: the process is gone")
chain = os.path.join(state, "certs", "killed", "fullchain.pem")
ok(open(chain).read() == old_chain and
   not key_matches(chain, os.path.join(state, "certs", "killed", "privkey.pem")),
   "... leaving the old chain (the commit point) with the new key")
ok(not stray_temp_files(state), "... and no temporary file")
r = certmgr(conf, "--once")
like(r.stderr, r"killed: an order is in flight: issuing", "the next run sees the order in flight")
issued(state, "killed", r, "... and completes the pair")
ok(open(chain).read() != old_chain, "... with the new chain")
stop(pp)

done_testing()
