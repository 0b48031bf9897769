#!/usr/bin/python3
"""
Would a unit's SystemCallFilter= let the program do what it just did?

systemd cannot run in make test-deb's chroot, so the program runs under
`strace -f` instead, the way the unit would start it, and this compares
every system call it made (after the exec of PROGRAM: setpriv's own
setresuid/capset are systemd's job, not the service's) with the filter of
UNIT, expanded with `systemd-analyze syscall-filter`: the first
SystemCallFilter= line is the allow list, each "~" line removes from it.

Usage: syscalls.py UNIT PROGRAM STRACE_LOG
Prints the calls made and the verdict; exit 0 when all are allowed.
"""
import re
import subprocess
import sys

unit, program, log = sys.argv[1:4]

# --- the groups, as this systemd knows them
groups, cur = {}, None
out = subprocess.run(["systemd-analyze", "syscall-filter"], capture_output=True, text=True).stdout
for line in out.splitlines():
    if line.startswith("@"):
        cur = line.strip()
        groups[cur] = []
    elif cur and line.startswith("    ") and not line.strip().startswith("#"):
        groups[cur].append(line.strip())


def expand(names, seen=None):
    seen = set() if seen is None else seen
    calls = set()
    for n in names:
        if n.startswith("@"):
            if n in seen:
                continue
            seen.add(n)
            if n not in groups:
                sys.exit("unknown group %s" % n)
            calls |= expand(groups[n], seen)
        else:
            calls.add(n)
    return calls


# --- the unit's filter
allowed = None
for line in open(unit):
    m = re.match(r"SystemCallFilter=(~?)(.*)$", line.strip())
    if not m:
        continue
    calls = expand(m.group(2).split())
    if m.group(1) == "~":
        allowed = (allowed or set()) - calls
    elif allowed is None:
        allowed = calls
    else:
        allowed |= calls
if allowed is None:
    sys.exit("%s has no SystemCallFilter=" % unit)

# --- what the program did (strace -f: "PID name(args) = ret", or "<... name resumed>")
made, started = {}, False
call = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]")
for line in open(log, errors="replace"):
    if not started:
        if re.search(r'execve\("[^"]*%s"' % re.escape(program), line) and " = 0" in line:
            started = True
        continue
    m = call.match(line)
    if m and m.group(1) not in ("exited", "killed"):
        made[m.group(1)] = made.get(m.group(1), 0) + 1
if not started:
    sys.exit("no execve of %s in %s" % (program, log))

denied = sorted(c for c in made if c not in allowed)
print("%s: %d distinct system calls: %s" % (program, len(made), " ".join(sorted(made))))
if denied:
    print("NOT allowed by %s: %s" % (unit, " ".join("%s(x%d)" % (c, made[c]) for c in denied)))
    sys.exit(1)
print("all allowed by %s" % unit)
