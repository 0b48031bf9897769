#!/usr/bin/python3
"""Benchmark helper for tests/bench/run.sh (Debian's /usr/bin/python3, stdlib only).

  bench.py ports N                      print N free 127.0.0.1 TCP ports
  bench.py measure --peer P ...         run one load-generator pass, print one JSON line
  bench.py redis-stats PORT              print "command calls" lines from Redis's INFO commandstats
  bench.py report OUTDIR                markdown report from OUTDIR/{meta.json,checks.tsv,raw.jsonl}

CPU accounting: utime+stime from /proc/<pid>/stat (all threads) summed over the
process tree of --peer-pid and of --upstream-pid (and of --redis-pid), read just
before the load generator starts and just after it exits; the load generator's
CPU comes from os.wait4() rusage.  µs/req = CPU seconds / completed requests.
With --redis-port, Redis's INFO commandstats is read before and after as well:
the per-command deltas (minus the one INFO of ours in between) go into the line.
"""
import argparse, json, os, re, socket, statistics, subprocess, sys, tempfile, time

TCK = os.sysconf("SC_CLK_TCK")
NOISY = 0.10  # other processes busier than this (cores) during a run: flag the cell


def free_ports(n):
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))


def tree_cpu_s(root):
    """utime+stime in seconds of root and all its live descendants."""
    if not root:
        return 0.0
    stat, kids = {}, {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    s = f.read()
            except OSError:
                continue
            fld = s[s.rindex(")") + 2:].split()  # fields after "(comm)": state ppid ...
            stat[int(d)] = int(fld[11]) + int(fld[12])
            kids.setdefault(int(fld[1]), []).append(int(d))
    tot, todo = 0, [root]
    while todo:
        p = todo.pop()
        tot += stat.get(p, 0)
        todo.extend(kids.get(p, []))
    return tot / TCK


def busy_s():
    """(busy in tasks, busy in irq+softirq) CPU seconds of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]  # user nice system idle iowait irq softirq steal
    return (v[0] + v[1] + v[2] + v[7]) / TCK, (v[5] + v[6]) / TCK


def redis_stats(port):
    """{command: calls} from INFO commandstats (redis-cli; Redis 7 also counts the commands a
    script runs, under their own names)."""
    out = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port), "INFO", "commandstats"],
                         capture_output=True, text=True, timeout=10).stdout
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^cmdstat_([^:]+):calls=(\d+)", out, re.M)}


def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out, _log):
    r = {"requests": 0, "rps": 0.0, "non2xx": 0, "sock_errors": 0, "p50_ms": None, "p99_ms": None}
    m = re.search(r"(\d+) requests in", out)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        r["rps"] = float(m.group(1))
    for p in ("50", "99"):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)
        if m:
            r[f"p{p}_ms"] = ms(*m.groups())
    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    r["sock_errors"] = sum(map(int, m.groups())) if m else 0
    return r


def parse_h2load(out, log):
    r = {"requests": 0, "rps": 0.0, "non2xx": 0, "sock_errors": 0, "p50_ms": None, "p99_ms": None}
    m = re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out)
    if m:
        r["rps"] = float(m.group(1))
    m = re.search(r"requests: \d+ total, \d+ started, (\d+) done, \d+ succeeded, (\d+) failed, "
                  r"(\d+) errored, (\d+) timeout", out)
    if m:
        r["requests"], r["sock_errors"] = int(m.group(1)), int(m.group(3)) + int(m.group(4))
    m = re.search(r"status codes: \d+ 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out)
    r["non2xx"] = sum(map(int, m.groups())) if m else 0
    m = re.search(r"Application protocol: (\S+)", out)
    r["alpn"] = m.group(1) if m else None
    lat = sorted(int(l.split()[2]) for l in open(log) if len(l.split()) >= 3)
    for p in (50, 99):
        r[f"p{p}_ms"] = lat[min(len(lat) - 1, len(lat) * p // 100)] / 1000 if lat else None
    return r


def measure(a):
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR", "LD_PRELOAD")}
    if a.url.startswith("https:"):
        env.update(LD_PRELOAD=a.shim, CLIENTCERT_CERT=a.cert, CLIENTCERT_KEY=a.key)
    hdrs = [x for h in a.header for x in ("-H", h)]
    if a.close:
        hdrs += ["-H", "Connection: close"]
    log = None
    if a.tool == "wrk":
        cmd = ["wrk", "-t1", f"-c{a.conns}", f"-d{a.dur}s", "--latency", "--timeout", "10s", "-s", a.lua]
        parse = parse_wrk
    else:
        fd, log = tempfile.mkstemp(prefix="h2load-", suffix=".log")
        os.close(fd)
        m = re.match(r"^https://localhost:(\d+)/", a.url)  # h2load sends no SNI for a numeric host
        cmd = ["h2load", "-t1", f"-c{a.conns}", f"-m{a.streams}", f"-D{a.dur}", "--log-file", log]
        cmd += [f"--connect-to=127.0.0.1:{m.group(1)}"] if m else []
        parse = parse_h2load
    cmd = ["taskset", "-c", a.cpu] + cmd + hdrs + [a.url]
    c0 = redis_stats(a.redis_port) if a.redis_port else None
    p0, u0, r0, (b0, i0) = tree_cpu_s(a.peer_pid), tree_cpu_s(a.upstream_pid), tree_cpu_s(a.redis_pid), busy_s()
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    p1, u1, r1, (b1, i1) = tree_cpu_s(a.peer_pid), tree_cpu_s(a.upstream_pid), tree_cpu_s(a.redis_pid), busy_s()
    c1 = redis_stats(a.redis_port) if a.redis_port else None
    rc = os.waitstatus_to_exitcode(status)
    r = parse(out, log)
    if log:
        os.unlink(log)
    n, cli = max(r["requests"], 1), ru.ru_utime + ru.ru_stime
    res = {"peer": a.peer, "scenario": a.scenario, "rep": a.rep, "tool": a.tool, "url": a.url,
           "conns": a.conns, "dur_s": a.dur, "wall_s": round(wall, 3), "rc": rc, **r,
           "peer_cpu_s": round(p1 - p0, 3), "upstream_cpu_s": round(u1 - u0, 3), "client_cpu_s": round(cli, 3),
           "peer_us_req": round((p1 - p0) / n * 1e6, 2) if a.peer_pid else None,
           "upstream_us_req": round((u1 - u0) / n * 1e6, 2), "client_us_req": round(cli / n * 1e6, 2),
           # Redis is on the SUT core unless --redis-apart put it on the client's
           "sut_util": round((p1 - p0 + u1 - u0 + (0 if a.redis_apart else r1 - r0)) / wall, 3),
           "client_util": round(cli / wall, 3),
           # softirq: mostly this run's own loopback TCP, charged to no process
           "softirq_util": round((i1 - i0) / wall, 3),
           # CPU used by any other process on the machine (other jobs, this script): noise
           "other_util": round(max(0.0, (b1 - b0) - (p1 - p0) - (u1 - u0) - (r1 - r0) - cli) / wall, 3)}
    if a.redis_pid:
        res.update(redis_cpu_s=round(r1 - r0, 3), redis_us_req=round((r1 - r0) / n * 1e6, 2),
                   redis_util=round((r1 - r0) / wall, 3), redis_apart=a.redis_apart)
    if c0 is not None:
        c0["info"] = c0.get("info", 0) + 1  # our own INFO before the run
        res["redis_cmds"] = {k: v - c0.get(k, 0) for k, v in sorted(c1.items()) if v != c0.get(k, 0)}
    errs = []
    if rc != 0:
        errs.append(f"exit {rc}")
    if r["requests"] == 0:
        errs.append("no requests")
    if r["non2xx"]:
        errs.append(f"{r['non2xx']} non-2xx")
    if r["sock_errors"]:
        errs.append(f"{r['sock_errors']} socket errors")
    if a.tool == "h2load" and a.url.startswith("https:") and r.get("alpn") != "h2":
        errs.append(f"alpn {r.get('alpn')}")
    res["errors"] = ", ".join(errs)
    if errs:
        sys.stderr.write(f"--- {a.peer} {a.scenario} rep {a.rep}: {res['errors']}\n{' '.join(cmd)}\n{out[-1500:]}\n")
    print(json.dumps(res), flush=True)


def fmt(v, f):
    return "-" if v is None else format(v, f)


def med(rows, k):
    v = [r[k] for r in rows if r.get(k) is not None]
    return statistics.median(v) if v else None


REDIS_NOTE = """\
- Redis (portcullis-redis*): one redis-server, moved between the runs: on the SUT core with the gateway and the
  upstream for portcullis-redis (its CPU competes with the gateway's: the conservative figure), on the client
  core for portcullis-redis-apart (as when Redis is a shared service on its own host, which is how several
  gateways share one limit).  Its CPU is redis-server's utime+stime over the run, reported apart from the
  gateway's; commands per request = INFO commandstats deltas ÷ completed requests.  `evalsha` is what the gateway
  sends; Redis 7 also counts the commands the script runs (`time`, `get`, `set`: one each per admitted charge)
  under their own names.  Requests in flight when the load generator stops were charged but not completed,
  so EVALSHA exceeds the completed requests by at most the connection count.
"""
SCRIPT_CMDS = ("time", "get", "set")  # run inside our EVALSHA (RATELIMIT.md), counted by commandstats too


def cmds_per_req(rows):
    """'evalsha 1.00; in the script: time 1.00 get 1.00 set 1.00; any other: none' (medians over rows;
    any other command that grew is named with its largest count)"""
    rows = [r for r in rows if "redis_cmds" in r and r["requests"]]
    if not rows:
        return "-"
    names = sorted({k for r in rows for k in r["redis_cmds"]})
    per = {k: statistics.median(r["redis_cmds"].get(k, 0) / r["requests"] for r in rows) for k in names}
    other = [k for k in names if k != "evalsha" and k not in SCRIPT_CMDS]
    return (f"evalsha {per.get('evalsha', 0):.2f}; in the script: "
            + " ".join(f"{k} {per.get(k, 0):.2f}" for k in SCRIPT_CMDS) + "; any other: "
            + (", ".join(f"**{k} +{max(r['redis_cmds'].get(k, 0) for r in rows)}**" for k in other) if other else "none"))


def report(d):
    meta = json.load(open(os.path.join(d, "meta.json")))
    checks = [l.rstrip("\n").split("\t") for l in open(os.path.join(d, "checks.tsv"))]
    rows = [json.loads(l) for l in open(os.path.join(d, "raw.jsonl")) if l.strip()]
    v = meta["versions"]
    print(f"# Portcullis benchmark {meta['stamp']}\n")
    print(f"- machine: {meta['nproc']} CPUs ({meta['cpu_model']}), kernel {meta['kernel']}")
    print("- versions: " + ", ".join(f"{k} {v[k]}" for k in v))
    print(f"- {meta['reps']} reps x {meta['dur_s']} s per cell ({meta['conns']} connections, h2 {meta['streams']} "
          f"stream(s)/conn), warm-up {meta['warmup_s']} s per peer start; per scenario the peers run back to "
          f"back, order alternating; values are medians over the clean reps")
    print(f"- pinning: peer + upstream (+ Redis, except for portcullis-redis-apart) on CPU {meta['peer_cpu']}, "
          f"load generator (1 thread) on CPU {meta['client_cpu']}")
    for note in meta.get("notes", []):
        print(f"- NOTE: {note}")
    print("\n## Enforcement checks (curl)\n")
    print("| peer | check | expected | got | result |\n|---|---|---|---|---|")
    for c in checks:
        print("| " + " | ".join(c) + " |")
    peers, cells = meta["peers"], {}
    sc_peers = {sc: meta.get("scenario_peers", {}).get(sc, peers) for sc in meta["scenarios"]}
    kind = meta.get("scenario_kind", {})
    for sc in meta["scenarios"]:
        for p in peers:
            rs = sorted((r for r in rows if r["peer"] == p and r["scenario"] == sc), key=lambda r: r["rep"])
            clean = [r for r in rs if not r["errors"]]
            cells[p, sc] = (rs, clean, med(clean, "rps"), med(clean, "peer_us_req"))

    def per_rep(sc, a, b, f):
        """median over the reps where a and b both ran clean of f(a's row, b's row); None if none"""
        if (a, sc) not in cells or (b, sc) not in cells:
            return None
        mine = {r["rep"]: r for r in cells[a, sc][1]}
        v = []
        for r in cells[b, sc][1]:
            if r["rep"] in mine:
                try:
                    v.append(f(mine[r["rep"]], r))
                except (TypeError, ZeroDivisionError):
                    pass
        return statistics.median(v) if v else None

    us_ratio = lambda a, b: a["peer_us_req"] / b["peer_us_req"]
    rps_ratio = lambda a, b: a["rps"] / b["rps"]

    def ratio(p, ref, sc):
        """median over reps of this rep's p / this rep's ref (µs/req, req/s), clean pairs only"""
        if p in (ref, "direct"):
            return "-"
        us, rps = per_rep(sc, p, ref, us_ratio), per_rep(sc, p, ref, rps_ratio)
        return "-" if us is None or rps is None else f"{us:.2f}x, {rps:.2f}x"

    def noisy(sc, ps):
        """the peers among ps whose cell in sc shared the machine with other work"""
        n = [p for p in ps if (p, sc) in cells and (med(cells[p, sc][0], "other_util") or 0) > NOISY]
        return ", ".join(n) if n else "none"

    def x(v, f=".2f", suffix="x"):
        return "-" if v is None else format(v, f) + suffix

    # in "full" scenarios portcullis is the JWT-only baseline: they have their own summary
    plain_scs = [sc for sc in meta["scenarios"] if kind.get(sc) != "full"]
    if "portcullis" in peers and plain_scs:
        print("\n## Summary: portcullis ÷ peer (CPU µs/req, req/s; median of the per-rep ratios)\n")
        print("| scenario | vs nginx | vs haproxy |\n|---|---:|---:|")
        for sc in plain_scs:
            print(f"| {sc} | {ratio('portcullis', 'nginx', sc)} | {ratio('portcullis', 'haproxy', sc)} |")
    jwt_scs = [sc for sc in meta["scenarios"] if kind.get(sc) == "jwt"]
    if jwt_scs:
        print("\n## Summary: JWT verification (peer CPU µs/req; ratios = median of the per-rep ratios of µs/req)\n")
        print("portcullis = token cache on (default), portcullis-nocache = `limits.token_cache_entries: 0`. "
              "Every request carries the same token, so with the cache on nearly every request is a hit: "
              "its figure is the best case.\n")
        print("| scenario | portcullis (cache) | portcullis-nocache | haproxy | nocache ÷ cache | cache ÷ haproxy "
              "| nocache ÷ haproxy | req/s: cache / nocache / haproxy | noisy cells |\n|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for sc in jwt_scs:
            us = {p: cells[p, sc][3] if (p, sc) in cells else None for p in ("portcullis", "portcullis-nocache", "haproxy")}
            rps = {p: cells[p, sc][2] if (p, sc) in cells else None for p in us}
            print(f"| {sc} | " + " | ".join(fmt(us[p], ".1f") for p in us) + " | "
                  + " | ".join(x(per_rep(sc, a, b, us_ratio)) for a, b in (
                      ("portcullis-nocache", "portcullis"), ("portcullis", "haproxy"), ("portcullis-nocache", "haproxy")))
                  + " | " + " / ".join(fmt(rps[p], ",.0f") for p in rps) + f" | {noisy(sc, us)} |")
    for sc in [sc for sc in meta["scenarios"] if kind.get(sc) == "full"]:
        print(f"\n## Summary: full pipeline, {sc} (mTLS + JWT RS256 with cache + rate limit + proxy)\n")
        print("Values are medians over the clean reps; ratios and stage costs are computed per rep (peers of one "
              "rep run seconds apart) and then the median is taken. `portcullis` here is the same JWT route without "
              "`rate_limit`: the baseline of the rate-limit stage.\n")
        print("| what | value |\n|---|---:|")
        stage = lambda a, b: (a["peer_us_req"] - b["peer_us_req"]) / b["peer_us_req"]
        stage_r = lambda a, b: (a["peer_us_req"] + a["redis_us_req"] - b["peer_us_req"]) / b["peer_us_req"]
        both = lambda a, b: (a["peer_us_req"] + a["redis_us_req"]) / b["peer_us_req"]
        lines = [
            ("req/s: portcullis-redis ÷ haproxy (Redis on the SUT core)",
             x(per_rep(sc, "portcullis-redis", "haproxy", rps_ratio))),
            ("req/s: portcullis-redis-apart ÷ haproxy (Redis on the client core)",
             x(per_rep(sc, "portcullis-redis-apart", "haproxy", rps_ratio))),
            ("req/s: portcullis-local ÷ haproxy", x(per_rep(sc, "portcullis-local", "haproxy", rps_ratio))),
            ("gateway µs/req: portcullis-redis ÷ haproxy", x(per_rep(sc, "portcullis-redis", "haproxy", us_ratio))),
            ("gateway + Redis µs/req: portcullis-redis ÷ haproxy", x(per_rep(sc, "portcullis-redis", "haproxy", both))),
            ("**Redis stage cost**: (portcullis-redis − portcullis) ÷ portcullis, gateway CPU only",
             x(per_rep(sc, "portcullis-redis", "portcullis", stage), "+.0%", "")),
            ("the same, counting Redis's own CPU too", x(per_rep(sc, "portcullis-redis", "portcullis", stage_r), "+.0%", "")),
            ("Redis stage cost with Redis on the client core, gateway CPU only",
             x(per_rep(sc, "portcullis-redis-apart", "portcullis", stage), "+.0%", "")),
            ("in-process stage cost: (portcullis-local − portcullis) ÷ portcullis",
             x(per_rep(sc, "portcullis-local", "portcullis", stage), "+.0%", "")),
        ]
        for p in ("portcullis", "portcullis-redis", "portcullis-redis-apart", "portcullis-local", "haproxy"):
            lines.append((f"{p}: req/s, peer µs/req",
                         f"{fmt(cells[p, sc][2], ',.0f')}, {fmt(cells[p, sc][3], '.1f')}" if (p, sc) in cells else "-"))
        clean = cells["portcullis-redis", sc][1] if ("portcullis-redis", sc) in cells else []
        lines.append(("**Redis CPU µs/req** (redis-server utime+stime ÷ completed requests)",
                     fmt(med(clean, "redis_us_req"), ".1f")))
        lines.append(("**Redis commands per request** (INFO commandstats deltas ÷ completed requests)",
                     cmds_per_req(clean)))
        lines.append(("noisy cells (other processes > 10 % of a core: do not quote)",
                      noisy(sc, ("portcullis", "portcullis-redis", "portcullis-redis-apart", "portcullis-local",
                                 "haproxy"))))
        for what, v in lines:
            print(f"| {what} | {v} |")
    for sc in meta["scenarios"]:
        print(f"\n## {sc}: {meta['scenario_desc'].get(sc, '')}\n")
        print("| peer | req/s | p50 ms | p99 ms | peer µs/req | vs nginx (µs/req, req/s) | vs haproxy (µs/req, req/s) "
              "| upstream µs/req | client µs/req | busy: SUT / client / softirq / other | req/s per rep | valid |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for p in sc_peers[sc]:
            rs, clean, rps, us = cells[p, sc]
            if not rs:
                why = meta["skipped"].get(p) or meta["na"].get(f"{p}:{sc}") or "not run"
                print(f"| {p} | - | - | - | - | - | - | - | - | - | - | {why} |")
                continue
            bad = len(rs) - len(clean)
            valid = "yes" if not bad else (f"**NO: {bad}/{len(rs)} reps with errors: "
                                           + "; ".join(r["errors"] for r in rs if r["errors"]) + "**")
            other = med(rs, "other_util") or 0
            if other > NOISY:
                valid += f", noisy (other processes used {other:.0%} of a core)"
            print("| " + " | ".join([
                p, fmt(rps, ",.0f"), fmt(med(clean, "p50_ms"), ".2f"), fmt(med(clean, "p99_ms"), ".2f"),
                fmt(us, ".1f"), ratio(p, "nginx", sc), ratio(p, "haproxy", sc),
                fmt(med(clean, "upstream_us_req"), ".1f"), fmt(med(clean, "client_us_req"), ".1f"),
                " / ".join(fmt(med(clean, k), ".0%") for k in ("sut_util", "client_util", "softirq_util", "other_util")),
                " / ".join(("!" if r["errors"] else "") + f"{r['rps']:.0f}" for r in rs), valid]) + " |")
        redis_rows = [(p, cells[p, sc]) for p in sc_peers[sc] if any("redis_us_req" in r for r in cells[p, sc][0])]
        if redis_rows:
            print("\nRedis, same runs:\n")
            print("| peer | Redis on | gateway µs/req | Redis µs/req | gateway + Redis µs/req | Redis busy | commands per request "
                  "| EVALSHA − completed requests, per rep | Redis µs/req per rep |\n|---|---|---:|---:|---:|---:|---|---|---|")
            for p, (rs, clean, _, us) in redis_rows:
                rus = med(clean, "redis_us_req")
                apart = any(r.get("redis_apart") for r in rs)
                print("| " + " | ".join([
                    p, f"CPU {meta['client_cpu'] if apart else meta['peer_cpu']} "
                    + ("(client core)" if apart else "(SUT core)"), fmt(us, ".1f"), fmt(rus, ".1f"), fmt(None if us is None or rus is None else us + rus, ".1f"),
                    fmt(med(clean, "redis_util"), ".0%"), cmds_per_req(clean),
                    " / ".join(("!" if r["errors"] else "") + f"{r['redis_cmds'].get('evalsha', 0) - r['requests']:+d}"
                               for r in rs if "redis_cmds" in r),
                    " / ".join(("!" if r["errors"] else "") + fmt(r.get("redis_us_req"), ".1f") for r in rs)]) + " |")
    print("""
Reading it:
- Compare peers by **peer µs/req** (CPU of the peer's process tree per completed request): it stays meaningful
  when the client is the bottleneck. `vs nginx` / `vs haproxy` = this row ÷ that peer (µs/req; req/s), taken
  per rep (the peers of one rep run seconds apart) and then the median over the reps.
- **2 cores**: peer and upstream share one core ("SUT"), so req/s is "peer + upstream on one core"; the upstream's
  own cost is the upstream µs/req column. When the client core is ~100% busy (typical for h1-new: the client
  signs a CertificateVerify per handshake), req/s is a lower bound for the peer.
- **Latency is closed-loop** (N connections, each waits for its response): at saturation p50 ≈ N / req/s,
  i.e. queueing, not service time; wrk does not correct coordinated omission; treat p99 as indicative.
  In h1-new, wrk's clock starts after the client's handshake: connect and handshake are not in the latency.
- `direct` = load generator straight to the upstream in plaintext (h2: h2c), the rig's ceiling, not a peer.
- A rep with errors (non-2xx, socket errors, wrong ALPN) is marked `!` and left out of the medians.
%(redis)s- busy = CPU time / wall time (100% = one core): SUT = peer + upstream (+ Redis when on that core) (core %(peer_cpu)s), client = load
  generator, softirq = kernel network work charged to no process (mostly this run's loopback TCP; not in any
  µs/req), other = every other process; "noisy" cells shared the machine with other work: rerun on a quiet box."""
          .replace("%(peer_cpu)s", meta["peer_cpu"])
          .replace("%(redis)s", REDIS_NOTE if any("redis_cmds" in r for r in rows) else ""))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    sp = sub.add_parser("ports")
    sp.add_argument("n", type=int)
    sub.add_parser("redis-stats").add_argument("port", type=int)
    sr = sub.add_parser("report")
    sr.add_argument("dir")
    m = sub.add_parser("measure")
    for k in ("peer", "scenario", "url", "shim", "cert", "key", "lua"):
        m.add_argument("--" + k, default="")
    m.add_argument("--tool", choices=("wrk", "h2load"), required=True)
    m.add_argument("--rep", type=int, default=0)
    m.add_argument("--conns", type=int, default=64)
    m.add_argument("--streams", type=int, default=1)
    m.add_argument("--dur", type=int, default=5)
    m.add_argument("--cpu", default="1")
    m.add_argument("--peer-pid", type=int, default=0)
    m.add_argument("--upstream-pid", type=int, default=0)
    m.add_argument("--redis-pid", type=int, default=0, help="also account this process tree's CPU")
    m.add_argument("--redis-port", type=int, default=0, help="also diff this Redis's INFO commandstats")
    m.add_argument("--redis-apart", action="store_true", help="Redis runs on the client's core, not the SUT's")
    m.add_argument("--header", action="append", default=[])
    m.add_argument("--close", action="store_true", help="Connection: close (new connection per request)")
    a = ap.parse_args()
    if a.cmd == "ports":
        free_ports(a.n)
    elif a.cmd == "redis-stats":
        for k, v in sorted(redis_stats(a.port).items()):
            print(k, v)
    elif a.cmd == "report":
        report(a.dir)
    else:
        measure(a)


if __name__ == "__main__":
    main()
