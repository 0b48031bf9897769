#!/usr/bin/python3
# cm_dns_wait_txt() and cm_rfc2136_txt() against servers that misbehave:
# nothing listening, a black hole, spoofed and foreign datagrams, truncated
# answers (TCP), malformed answers (compression loops, forward pointers), a
# value that shows up late, one laggard among two resolvers, CNAME chains,
# and update answers that are unsigned or badly signed.  Each fake server is
# a thread of this script on a loopback port (UDP and TCP).
import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

V = "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0"
NAME = "_acme-challenge.example.test"


def wire(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.strip(".").split(".")) + b"\0"


def txt_rr(value, owner=b"\xc0\x0c"):
    v = value.encode()
    return owner + struct.pack(">HHIH", 16, 1, 60, len(v) + 1) + bytes([len(v)]) + v


def cname_rr(owner, target):
    t = wire(target)
    return owner + struct.pack(">HHIH", 5, 1, 60, len(t)) + t


def answer(q, rrs=(), flags=0x8180, qid=None):
    """An answer to the query q: q's ID (or qid) and question, then rrs."""
    hdr = (qid if qid is not None else q[:2]) + struct.pack(">HHHHH", flags, 1, len(rrs), 0, 0)
    return hdr + q[12:] + b"".join(rrs)


class FakeDNS:
    """UDP and TCP on one loopback port; handler(query, proto, n) returns the
    messages to send back (n counts the queries so far, from 1)."""

    def __init__(self, handler):
        self.handler, self.n, self.queries = handler, 0, []
        self.port = free_port()
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", self.port))
        self.tcp = socket.socket()
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(8)
        for f in (self._udp, self._tcp):
            threading.Thread(target=f, daemon=True).start()

    def addr(self):
        return "127.0.0.1:%d" % self.port

    def _answer(self, q, proto):
        self.n += 1
        self.queries.append((proto, q))
        try:
            return self.handler(q, proto, self.n)
        except Exception as e:  # a bug in a handler must show, not hang the test
            diag("handler: %r" % e)
            return []

    def _udp(self):
        while True:
            q, peer = self.udp.recvfrom(65535)
            for m in self._answer(q, "udp"):
                self.udp.sendto(m, peer)

    def _tcp(self):
        while True:
            c, _ = self.tcp.accept()
            try:
                c.settimeout(5)
                n = struct.unpack(">H", c.recv(2, socket.MSG_WAITALL))[0]
                q = c.recv(n, socket.MSG_WAITALL)
                for m in self._answer(q, "tcp"):
                    c.sendall(struct.pack(">H", len(m)) + m)
            except (OSError, struct.error):
                pass
            c.close()


dns_driver()

# --- nobody there ----------------------------------------------------------
closed = "127.0.0.1:%d" % free_port()
w = dns_wait(NAME, V, [closed], 2500)
is_(w.result, "timed out", "nothing listening: timeout")
ok(2.3 < w.elapsed < 6, "after the timeout, not before, not much after (%.1fs)" % w.elapsed)
like(w.log, r"%s did not show TXT" % closed, "the silent resolver is named")
r = dns_update("add", closed, NAME, V)
is_(r.result, "timed out", "update to a closed port: timeout")
like(r.err, r"^no answer from %s after 3 tries \(port unreachable\)$" % closed,
     "... 'no answer after 3 tries (port unreachable)'")

hole = FakeDNS(lambda q, proto, n: [])
w = dns_wait(NAME, V, [hole.addr()], 2500)
is_(w.result, "timed out", "a black hole: timeout")
ok(2.3 < w.elapsed < 6, "after the timeout (%.1fs)" % w.elapsed)
ok(len(hole.queries) == 3, "one query per second (%d)" % len(hole.queries))
hole.queries.clear()
r = dns_update("add", hole.addr(), NAME, V)
is_(r.result, "timed out", "update to a black hole: timeout")
is_(r.err, "no answer from %s after 3 tries" % hole.addr(), "... 'no answer after 3 tries'")
ok(2.8 < r.elapsed < 6, "three 1 s tries (%.1fs)" % r.elapsed)
ok([p for p, _ in hole.queries] == ["udp"] * 3, "three UDP datagrams")
ok(len(set(q[:2] for _, q in hole.queries)) == 1, "the same signed message each try")

# --- spoofed and foreign datagrams are ignored -----------------------------
def spoofer(q, proto, n):
    other = bytearray(answer(q, [txt_rr(V)]))
    other[12 + 2] ^= 0x20  # "_Acme-...": the question in another case is still ours
    wrong_q = answer(q[:12] + wire("x.example.test") + b"\0\x10\0\x01", [txt_rr(V)])
    bad_id = answer(q, [txt_rr(V)], qid=bytes([q[0] ^ 0x55, q[1]]))
    not_qr = answer(q, [txt_rr(V)], flags=0x0180)
    return [bad_id, wrong_q, not_qr, bytes(other)]
spoof = FakeDNS(spoofer)
w = dns_wait(NAME, V, [spoof.addr()], 5000)
is_(w.result, "ok", "a wrong ID, another question, a query: ignored; then the answer counts")
is_(w.log.count("ignored a datagram that is not our answer"), 3, "... three ignored")
ok(w.elapsed < 1.5, "... no retry needed (%.1fs)" % w.elapsed)

ids = FakeDNS(lambda q, proto, n: [answer(q, [])])
dns_wait(NAME, V, [ids.addr()], 3500)
qids = [q[:2] for _, q in ids.queries]
ok(len(qids) >= 3 and len(set(qids)) == len(qids), "a fresh random ID per query (%d)" % len(qids))

# --- truncation: TCP ------------------------------------------------------
def truncating(q, proto, n):
    if proto == "udp":
        return [answer(q, [], flags=0x8380)]
    return [answer(q, [txt_rr("v%03d-%s" % (i, V)) for i in range(20)] + [txt_rr(V)])]
tc = FakeDNS(truncating)
w = dns_wait(NAME, V, [tc.addr()], 5000)
is_(w.result, "ok", "TC over UDP, the value over TCP: seen")
like(w.log, r"answer truncated, asking again over TCP", "... TCP after TC")
ok([p for p, _ in tc.queries] == ["udp", "tcp"], "... one UDP, one TCP question")

def tcp_liar(q, proto, n):
    if proto == "udp":
        return [answer(q, [], flags=0x8380)]
    return [answer(q, [txt_rr(V)], qid=bytes([q[0] ^ 1, q[1]]))]
liar = FakeDNS(tcp_liar)
w = dns_wait(NAME, V, [liar.addr()], 2500)
is_(w.result, "timed out", "a TCP answer with another ID: not believed")
like(w.log, r"TCP answer is not for our question", "... and said so")

# --- malformed answers ----------------------------------------------------
def malformed(q, proto, n):
    # the answer record starts at 46, its RDATA at 58: a CNAME pointing at itself
    loop = answer(q, [b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 60, 2) + b"\xc0\x3a"])
    fwd = answer(q, [b"\xc0\x40" + struct.pack(">HHIH", 16, 1, 60, 2) + b"\x01x"])
    short = answer(q, [txt_rr(V)])[:-5]
    overrun = answer(q, [b"\xc0\x0c" + struct.pack(">HHIH", 16, 1, 60, 44) + b"\x2c" + V.encode()])
    return [[loop, fwd, short, overrun][(n - 1) % 4]]
bad = FakeDNS(malformed)
w = dns_wait(NAME, V, [bad.addr()], 4500)
is_(w.result, "timed out", "malformed answers (self pointer, forward pointer, cut, overrun)")
is_(w.log.count("bad answer"), len(bad.queries), "... each refused and logged")
ok(len(bad.queries) >= 4, "... and the resolver asked again next round (%d)" % len(bad.queries))
ok(w.rc == 1, "... no crash (exit %d)" % w.rc)

# --- a value that shows up late; one laggard among two --------------------
late = FakeDNS(lambda q, proto, n: [answer(q, [txt_rr(V)] if n >= 3 else [],
                                           flags=0x8180 if n >= 3 else 0x8183)])
w = dns_wait(NAME, V, [late.addr()], 10000)
is_(w.result, "ok", "the value appears on the third poll: seen")
ok(1.8 < w.elapsed < 4, "... about 2 s later: one poll a second (%.1fs)" % w.elapsed)
is_(w.log.count("NXDOMAIN, value not seen yet"), 2, "... two NXDOMAIN polls logged")

has = FakeDNS(lambda q, proto, n: [answer(q, [txt_rr("other"), txt_rr(V)])])
hasnt = FakeDNS(lambda q, proto, n: [answer(q, [txt_rr("other")])])
w = dns_wait(NAME, V, [has.addr(), hasnt.addr()], 3000)
is_(w.result, "timed out", "one of two resolvers lacks the value: timeout")
like(w.log, r"%s sees TXT" % has.addr(), "... the one that has it is logged")
like(w.log, r"%s did not show TXT" % hasnt.addr(), "... the laggard is named")
unlike(w.log, r"%s did not show" % has.addr(), "... and only the laggard")
ok(len(has.queries) == 1, "... the one that saw it is not asked again (%d)" % len(has.queries))

# --- CNAME (the usual _acme-challenge delegation) --------------------------
chain = FakeDNS(lambda q, proto, n: [answer(q, [
    cname_rr(b"\xc0\x0c", "x.acme.test"),
    cname_rr(wire("x.acme.test"), "y.acme.test"),
    txt_rr(V, wire("y.acme.test"))])])
w = dns_wait(NAME, V, [chain.addr()], 5000)
is_(w.result, "ok", "the value behind a CNAME chain: seen")

# --- update answers without a good signature -------------------------------
unsigned = FakeDNS(lambda q, proto, n: [q[:2] + struct.pack(">HHHHH", 0xa800, 1, 0, 0, 0) +
                                        q[12:12 + len(wire("example.test")) + 4]])
r = dns_update("add", unsigned.addr(), NAME, V)
is_(r.result, "cryptographic failure", "an unsigned NOERROR to our signed update: refused")
is_(r.err, "NOERROR answer refused: answer is not signed (no TSIG record)", "... and said so")

def mirror(q, proto, n):
    # the request itself, as an answer: our TSIG record (key, algorithm, a
    # full-length MAC), but a MAC over the request, not over the answer
    return [bytes([q[0], q[1], 0xa8, 0x00]) + q[4:]]
m = FakeDNS(mirror)
r = dns_update("add", m.addr(), NAME, V)
is_(r.result, "cryptographic failure", "a NOERROR with a replayed TSIG: refused")
like(r.err, r"does not verify", "... the MAC does not verify")

done_testing()
