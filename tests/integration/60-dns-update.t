#!/usr/bin/python3
# cm_rfc2136_txt() and cm_dns_wait_txt() against a real authoritative server
# (knotd, foreground, on a loopback port) that lets TSIG keys update
# example.test: refusals first (wrong secret, unknown key, wrong algorithm,
# zone not served, zone locked, name outside the zone: each a clear reason
# and no change), then add / see / delete, idempotence, a delete that leaves
# the other challenge's record, hmac-sha384/512 keys, a long value (TCP
# update) and an answer too big for UDP (TC, then TCP).
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

V1 = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
V2 = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
NAME = "_acme-challenge.example.test"
S512 = "c2VjcmV0LW9mLXRoZS1zaGE1MTIta2V5LWZvci1wb3J0Y3VsbGlzLXRlc3RzLTY0Yg=="
S384 = "c2VjcmV0LW9mLXRoZS1zaGEzODQta2V5LWZvci1wb3J0Y3VsbGlz"
WRONG = "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyE="  # last byte differs

if not ((shutil.which("knotd") or os.path.exists("/usr/sbin/knotd")) and shutil.which("kdig")):
    # make deps installs them; a missing server is a failure, never a skip
    print("1..1\nnot ok 1 - knotd or kdig missing (Debian packages knot, knot-dnsutils: make deps)",
          flush=True)
    sys.exit(1)

knot = Knot(zones=("example.test", "locked.test"), locked=("locked.test",),
            keys={"portcullis-key": ("hmac-sha256", DNS_SECRET),
                  "key512": ("hmac-sha512", S512), "key384": ("hmac-sha384", S384)})
srv = knot.addr()
dns_driver()
serial0 = knot.serial()
ok(serial0 == 1, "knotd serves example.test (serial 1)", knot.log())

# --- refusals: a clear reason, nothing changes ---------------------------
r = dns_update("add", srv, NAME, V1, secret=WRONG)
is_(r.result, "denied", "wrong secret: refused")
like(r.err, r"^TSIG BADSIG: .*wrong secret", "wrong secret: the reason is BADSIG")

r = dns_update("add", srv, NAME, V1, key="nobody-key")
is_(r.result, "denied", "unknown key name: refused")
like(r.err, r"^TSIG BADKEY", "unknown key name: the reason is BADKEY")

r = dns_update("add", srv, NAME, V1, alg="hmac-sha512")
like(r.err, r"^TSIG BADKEY: .*hmac-sha512", "right key, wrong algorithm: BADKEY names it")

r = dns_update("add", srv, "_acme-challenge.other.test", V1, zone="other.test")
is_(r.result, "denied", "a zone the server does not serve: refused")
like(r.err, r"^update refused: (NOTAUTH|NOTZONE) ", "... with NOTAUTH/NOTZONE as the reason")

r = dns_update("add", srv, "_acme-challenge.locked.test", V1, zone="locked.test")
is_(r.result, "denied", "a zone the key may not update: refused")
# knotd answers BADKEY when the key is not in the zone's ACL; BIND says REFUSED
like(r.err, r"^(update refused: (NOTAUTH|REFUSED) |TSIG BADKEY)", "... with the reason")

n_ddns = knot.log().count("DDNS, processing")
r = dns_update("add", srv, "_acme-challenge.example.org", V1)
is_(r.result, "invalid", "a name outside the zone: refused before sending")
is_(r.err, "_acme-challenge.example.org is not in zone example.test", "... and said so")
is_(knot.log().count("DDNS, processing"), n_ddns, "... nothing reached the server")

r = dns_update("add", srv, NAME, V1, alg="hmac-md5")
like(r.err, r"hmac-sha256", "hmac-md5 is not offered")

is_(knot.dig(NAME), [], "no refused update left a record")
is_(knot.serial(), serial0, "the zone serial did not move")

# --- add, see, delete ------------------------------------------------------
r = dns_update("add", srv, NAME, V1)
ok(r.result == "ok", "add TXT with hmac-sha256", r)
is_(knot.dig(NAME), [V1], "kdig sees the record")
ok(knot.dig(NAME, tcp=True) == [V1], "also over TCP")
ttl = run(["kdig", "@127.0.0.1", "-p", str(knot.port), NAME, "TXT", "+noall", "+answer"]).stdout
like(ttl, r"\s60\s+IN\s+TXT", "with TTL 60")
like(r.log, r"rfc2136: added TXT %s at %s" % (NAME, re.escape(srv)), "the add is logged")

r = dns_update("add", srv, NAME, V1)
is_(r.result, "ok", "adding it again is fine (idempotent)")
is_(knot.dig(NAME), [V1], "still one record")

w = dns_wait(NAME, V1, [srv], 10000)
ok(w.result == "ok", "cm_dns_wait_txt sees it", w)
ok(w.elapsed < 3, "at once (%.1fs)" % w.elapsed)
like(w.log, r"sees TXT %s \(1 of 1" % NAME, "progress is logged")

w = dns_wait(NAME.upper() + ".", V1, [srv], 10000)
ok(w.result == "ok", "the name is case-insensitive, the trailing dot optional", w)

if knot.v6:
    w = dns_wait(NAME, V1, [srv, knot.addr(v6=True)], 10000)
    ok(w.result == "ok", "two resolvers, one over IPv6 ([::1]:port)", w)
    r = dns_update("add", knot.addr(v6=True), NAME, V2)
    ok(r.result == "ok", "an update over IPv6", r)
    r = dns_update("del", knot.addr(v6=True), NAME, V2)
    ok(r.result == "ok", "and its delete", r)
else:
    for i in range(3):
        ok(True, "# SKIP no IPv6 loopback")

r = dns_update("add", srv, NAME, V2, key="key512", secret=S512, alg="hmac-sha512")
ok(r.result == "ok", "a second challenge value, hmac-sha512 key", r)
is_(sorted(knot.dig(NAME)), sorted([V1, V2]), "both values are there")

r = dns_update("del", srv, NAME, V1, key="KEY384", secret=S384, alg="HMAC-SHA384")
ok(r.result == "ok", "delete V1 with the hmac-sha384 key (names case-insensitive)", r)
is_(knot.dig(NAME), [V2], "only V1 went: the other challenge's record stays")

w = dns_wait(NAME, V1, [srv], 2500)
is_(w.result, "timed out", "cm_dns_wait_txt no longer sees V1: timeout")
ok(2.3 < w.elapsed < 6, "after the timeout (%.1fs)" % w.elapsed)
like(w.log, r"did not show TXT %s within 2500 ms" % NAME, "the laggard is named")

r = dns_update("del", srv, NAME, V1)
is_(r.result, "ok", "deleting a record that is gone is fine (idempotent)")
r = dns_update("del", srv, NAME, V2)
is_(r.result, "ok", "delete V2")
is_(knot.dig(NAME), [], "the name is empty again")

# --- long values and big answers ----------------------------------------
long_value = "x" * 200 + "-" + "y" * 200 + "-" + "z" * 110  # 512 bytes: 3 strings
r = dns_update("add", srv, "long.example.test", long_value)
ok(r.result == "ok", "a 512-byte value (update over 512 bytes: sent over TCP)", r)
like(r.log, r"added TXT long.example.test .*\(TCP\)", "... the log says TCP")
is_(knot.dig("long.example.test"), [long_value], "kdig sees it whole (strings joined)")
w = dns_wait("long.example.test", long_value, [srv], 10000)
ok(w.result == "ok", "cm_dns_wait_txt joins the strings", w)

for i in range(12):
    r = dns_update("add", srv, "big.example.test", "value-%02d-%s" % (i, V1))
    if r.result != "ok":
        break
is_(r.result, "ok", "12 records at one name")
last = "value-11-" + V1
w = dns_wait("big.example.test", last, [srv], 10000)
ok(w.result == "ok", "an answer over 512 bytes: seen", w)
like(w.log, r"answer truncated, asking again over TCP", "... after TC, over TCP")
like(w.log, r"NOERROR \(TCP\), value seen", "... the TCP answer had it")

unlike(knot.log(), r"error:", "knotd logged no error")
rc = knot.stop()
ok(rc == 0, "knotd stops cleanly (%s)" % rc)
done_testing()
