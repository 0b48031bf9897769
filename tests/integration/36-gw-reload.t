#!/usr/bin/python3
# Zero-downtime reload: `portcullis-admin reload` and SIGHUP build a new
# configuration generation beside the running one; a bad configuration is
# refused with its reasons and changes nothing; under HTTP/1.1 (wrk) and
# HTTP/2 (h2load) keep-alive load, 20 reloads (two valid configurations
# alternating, plus an invalid one) fail no request.  Prints requests/s
# during reloads and without as TAP comments.
import os
import subprocess
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

rig = Rig(upstreams=("blue", "green"))
web = rig.ca.issue("web", spiffe="spiffe://gw.test/ns/prod/sa/web")
pid_file = os.path.join(workdir(), "gw.pid")
extra = "pid_file: %s\n" % pid_file
cfg_blue = rig.config(rig.route("api", "localhost", "/", "blue"), extra=extra)
cfg_green = rig.config(rig.route("api", "localhost", "/", "green"), extra=extra)
gw = Gateway(cfg_blue)
path = gw.path

def who():
    r = curl("https://localhost:%d/" % rig.port, cert=web[0], key=web[1], cacert=rig.spki.ca)
    return (r.json() or {}).get("upstream")

is_(who(), "blue", "generation 1 serves the blue upstream")
write(path, cfg_green)
r = admin("reload", "-c", path)
ok(r.returncode == 0 and "generation 2" in r.stdout, "portcullis-admin reload: exit 0, generation 2",
   r.stdout + r.stderr)
is_(who(), "green", "the new generation serves the green upstream")
write(path, cfg_blue.replace("threads: 2", "threads: 2\nbogus_key: 1"))
r = admin("reload", "-c", path)
is_(r.returncode, 1, "a configuration with an unknown key: portcullis-admin reload exits 1")
like(r.stderr, r"bogus_key", "... and says why")
write(path, cfg_blue.replace(rig.server_cert, "/nonexistent.pem"))
r = admin("reload", "-c", path)
ok(r.returncode == 1 and "nonexistent" in r.stderr,
   "a configuration whose certificate cannot be read: refused by the gateway with the reason",
   r.stderr)
is_(who(), "green", "after refused reloads the running generation keeps serving")
write(path, cfg_blue)
gw.send_signal(signal.SIGHUP)
ok(wait_for(lambda: who() == "blue", 5), "SIGHUP reloads too (blue again)")

# load during 20 reloads: wrk (HTTP/1.1) and h2load (HTTP/2), keep-alive, with a client cert
r, env = client_cert_env(web, rig.spki.ca)
ok(r.returncode == 0, "the client-certificate shim for wrk/h2load builds", r.stderr)

def h2_client(seconds, stats, lock):
    """An HTTP/2 client as browsers and gRPC behave: after a GOAWAY it finishes
    its stream, opens a new connection for the next one, and resends a stream
    the server says it did not process (RFC 9113 6.8).  Anything else that
    goes wrong is a failure."""
    end = time.time() + seconds
    conn = None
    ok_n = fail_n = retried = 0
    while time.time() < end:
        try:
            if conn is None or conn.goaway:
                if conn is not None:
                    conn.close()
                conn = H2Conn("localhost", rig.port, rig.ctx(web, alpn=("h2",)))
            s, _, _ = conn.get("/")
            if s == 200:
                ok_n += 1
            else:
                fail_n += 1
        except H2Unprocessed:
            retried += 1
            conn = None
        except Exception as e:
            fail_n += 1
            stats.setdefault("h2_errors", []).append(repr(e)[:120])
            conn = None
    with lock:
        stats["h2_ok"] = stats.get("h2_ok", 0) + ok_n
        stats["h2_fail"] = stats.get("h2_fail", 0) + fail_n
        stats["h2_retried"] = stats.get("h2_retried", 0) + retried

def load(seconds):
    outs = {}
    lock = threading.Lock()
    def wrk():
        outs["wrk"] = subprocess.run(["wrk", "-t1", "-c8", "-d%ds" % seconds,
                                      "https://localhost:%d/" % rig.port], env=env,
                                     capture_output=True, text=True).stdout
    ts = [threading.Thread(target=wrk)]
    ts += [threading.Thread(target=h2_client, args=(seconds, outs, lock)) for _ in range(4)]
    for t in ts:
        t.start()
    return ts, outs

def parse(outs):
    w, h = outs.get("wrk", ""), ""
    done = re.search(r"(\d+) requests in", w)
    errs = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", w)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", w)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", w)
    return {
        "wrk_done": int(done.group(1)) if done else 0,
        "wrk_errors": sum(int(x) for x in errs.groups()) if errs else 0,
        "wrk_non2xx": int(non2xx.group(1)) if non2xx else 0,
        "wrk_rps": float(rps.group(1)) if rps else 0.0,
        "h2_succeeded": outs.get("h2_ok", 0),
        "h2_failed": outs.get("h2_fail", 0),
        "h2_retried": outs.get("h2_retried", 0),
        "h2_errors": outs.get("h2_errors", []),
    }, w, h

ts, outs = load(6)
for t in ts:
    t.join()
base, _, _ = parse(outs)
ok(base["wrk_done"] > 0 and base["h2_succeeded"] > 0, "baseline load without reloads ran", base)

mark = len(gw.access())
ts, outs = load(12)
time.sleep(1)
refused = 0
results = []
for i in range(21):
    if i == 10:
        write(path, cfg_green.replace("routes:", "routes: [\n"))  # invalid YAML
    else:
        write(path, cfg_green if i % 2 == 0 else cfg_blue)
    r = admin("reload", "-c", path)
    results.append(r.returncode)
    time.sleep(0.4)
for t in ts:
    t.join()
during, w_out, h_out = parse(outs)
is_(results.count(0), 20, "20 reloads accepted")
ok(results[10] == 1, "the invalid configuration in the middle was refused", results)
is_((during["wrk_errors"], during["wrk_non2xx"]), (0, 0),
    "HTTP/1.1 keep-alive (wrk) through 20 reloads: 0 socket errors, 0 non-2xx (%d requests)"
    % during["wrk_done"])
is_(during["h2_failed"], 0, "HTTP/2 through 20 reloads: 0 failed (%d succeeded, %d unprocessed "
    "streams resent after GOAWAY)" % (during["h2_succeeded"], during["h2_retried"]))
diag("requests/s without reloads: wrk (HTTP/1.1) %.0f, HTTP/2 clients %.0f"
     % (base["wrk_rps"], base["h2_succeeded"] / 6.0))
diag("requests/s during 20 reloads: wrk (HTTP/1.1) %.0f, HTTP/2 clients %.0f"
     % (during["wrk_rps"], during["h2_succeeded"] / 12.0))
diag("failed requests during reloads: wrk %d errors + %d non-2xx, HTTP/2 %d"
     % (during["wrk_errors"], during["wrk_non2xx"], during["h2_failed"]))
if during["wrk_errors"] or during["h2_failed"]:
    diag(w_out)
    diag("\n".join(during["h2_errors"][:10]))
served = gw.access()[mark:]
bad = [a for a in served if a.get("status") != 200]
ok(len(served) > 0 and not bad,
   "the gateway's access log: all %d requests during the reloads were answered 200" % len(served),
   bad[:5])
ok(wait_for(lambda: gw.log().count("drained") >= 15, 10), "old generations drain and are freed")
is_(gw.stop(), 0, "the gateway exits 0 on SIGTERM")
done_testing()
