#!/bin/bash
# make test-deb: the Debian package on a fresh Debian 12.
#
#   1. build it (packaging/build-deb.sh) and run lintian on the result;
#   2. the exposure of each systemd unit in the package
#      (systemd-analyze security --offline=yes, at most 2.0 each);
#   3. a fresh root made with `debootstrap --variant=minbase bookworm` is the
#      "fresh host": `apt-get install ./portcullis_*.deb` there proves the
#      Depends complete; then the users, directories and modes, the default
#      configuration (--check, and started: it refuses everything), an mTLS
#      request through the gateway to an upstream, reloads, revocation, the
#      access log, the units verified by systemd-analyze, an upgrade over an
#      edited conffile, `dpkg -r` and `dpkg -P`.
#
# systemd cannot run in a chroot, so the gateway runs in the foreground the
# way portcullis.service starts it: as user portcullis with only
# CAP_NET_BIND_SERVICE (setpriv), NOTIFY_SOCKET pointing at a stand-in for
# systemd's notify socket (notify_listener.py), inside a private network
# namespace (fixed ports, nothing seen from the host's network).
#
# The debootstrap download is cached in build/deb/bookworm-minbase.tgz; the
# root itself is made fresh every run.  Output: TAP-ish lines, the figures,
# and last "test-deb: N passed, M failed".  Every command's output goes to
# build/deb/test-deb.log.  Exit 0 only when nothing failed.
set -uo pipefail
cd "$(dirname "$0")/../.."
TOP=$PWD
OUT=$TOP/build/deb
ROOT=$OUT/root
TARBALL=$OUT/bookworm-minbase.tgz
MIRROR=${DEB_MIRROR:-http://deb.debian.org/debian}
SECURITY_MIRROR=${DEB_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
NS=pctest-deb-$$
LOG=$OUT/test-deb.log
NOTIFY=@portcullis-test-deb-$$
NOTIFY_LOG=$OUT/notify.log
T0=$(date +%s)
EXPOSURE_MAX=2.0

n=0
pass=0
fail=0
PIDS=()
netns_ok=false

mkdir -p "$OUT"
: >"$LOG"

# --- reporting --------------------------------------------------------------
note() { echo "# $*"; echo "# $*" >>"$LOG"; }

# check DESC CMD...: ok when CMD exits 0 (its output goes to the log)
check() {
    local desc=$1
    shift
    n=$((n + 1))
    echo "### $n $desc: $*" >>"$LOG"
    if "$@" >>"$LOG" 2>&1; then
        pass=$((pass + 1))
        echo "ok $n - $desc"
    else
        fail=$((fail + 1))
        echo "not ok $n - $desc"
    fi
}

# is DESC WANT GOT
is() {
    n=$((n + 1))
    echo "### $n $1: want '$2' got '$3'" >>"$LOG"
    if [ "$2" = "$3" ]; then
        pass=$((pass + 1))
        echo "ok $n - $1"
    else
        fail=$((fail + 1))
        echo "not ok $n - $1 (want '$2', got '$3')"
    fi
}

# like DESC REGEX TEXT
like() {
    n=$((n + 1))
    echo "### $n $1: /$2/ in: $3" >>"$LOG"
    if printf '%s' "$3" | grep -Eq -- "$2"; then
        pass=$((pass + 1))
        echo "ok $n - $1"
    else
        fail=$((fail + 1))
        echo "not ok $n - $1 (no /$2/ in: $(printf '%s' "$3" | head -c 300))"
    fi
}

summary() {
    local t=$(($(date +%s) - T0))
    echo "# figures: package ${DEB_NAME:-?} ${DEB_KB:-?} KiB (installed ${INST_KB:-?} KiB);" \
        "lintian: ${LINTIAN:-not run};" \
        "exposure: portcullis.service ${EXP_GW:-?}, portcullis-certmgr.service ${EXP_CM:-?};" \
        "time ${t}s"
    echo "test-deb: $pass passed, $fail failed"
}

bail() {
    fail=$((fail + 1))
    echo "not ok $((n + 1)) - $*"
    echo "Bail out! $* (details: $LOG)"
    summary
    exit 1
}

# --- the fresh root -------------------------------------------------------------
mounts_under() { awk -v r="$1" '$2 == r || index($2, r "/") == 1 { print $2 }' /proc/mounts | sort -r; }

unmount_root() {
    local m
    for m in $(mounts_under "$ROOT"); do
        umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
    done
}

cleanup() {
    local p
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
    done
    sleep 0.2
    for p in "${PIDS[@]}"; do
        kill -9 "$p" 2>/dev/null || true
    done
    $netns_ok && ip netns del "$NS" 2>/dev/null
    unmount_root
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# in_root CMD...: run CMD in the fresh root, with a clean environment
in_root() { chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 HOME=/root "$@"; }
# on the host, in the test network namespace (curl, the upstream)
in_ns() { ip netns exec "$NS" "$@"; }
# as the gateway's user, as portcullis.service runs it
as_gw() {
    in_root setpriv --reuid=portcullis --regid=portcullis --init-groups --no-new-privs \
        --inh-caps=-all --bounding-set=-all "$@"
}
as_cm() {
    in_root setpriv --reuid=portcullis-certmgr --regid=portcullis-certmgr --init-groups \
        --no-new-privs --inh-caps=-all --bounding-set=-all "$@"
}
# stat in the root: "MODE OWNER GROUP"
st() { in_root stat -c '%a %U %G' "$1" 2>&1; }

wait_for() { # SECONDS CMD...
    local end=$(($(date +%s) + $1))
    shift
    while ! "$@" >/dev/null 2>&1; do
        [ "$(date +%s)" -ge "$end" ] && return 1
        sleep 0.2
    done
}

# --- 1. build and lintian -----------------------------------------------------------
echo "TAP version 13"
note "building the package (packaging/build-deb.sh)"
bash packaging/build-deb.sh >>"$LOG" 2>&1 || bail "make deb failed (see $OUT/build.log)"
DEB=$(ls "$OUT"/portcullis_*_amd64.deb 2>/dev/null | head -1)
[ -n "$DEB" ] || bail "no package in $OUT"
DEB_NAME=$(basename "$DEB")
DEB_KB=$(($(stat -c %s "$DEB") / 1024))
VERSION=$(dpkg-deb -f "$DEB" Version)
INST_KB=$(dpkg-deb -f "$DEB" Installed-Size)
check "package built: $DEB_NAME" test -s "$DEB"
is "one binary package, named portcullis" "portcullis" "$(dpkg-deb -f "$DEB" Package)"
like "Depends computed by \${shlibs:Depends}" "libh2o-evloop0\.13.*libssl3|libssl3.*libh2o-evloop0\.13" \
    "$(dpkg-deb -f "$DEB" Depends)"

lint=$(lintian --fail-on none --display-info --pedantic "$OUT/portcullis_${VERSION}_amd64.changes" 2>/dev/null)
printf '%s\n' "$lint" >>"$LOG"
n_e=$(printf '%s\n' "$lint" | grep -c '^E: ' || true)
n_w=$(printf '%s\n' "$lint" | grep -c '^W: ' || true)
n_i=$(printf '%s\n' "$lint" | grep -c '^[IPX]: ' || true)
LINTIAN="$n_e errors, $n_w warnings ($n_i info/pedantic)"
is "lintian: no error" 0 "$n_e"
is "lintian: no warning" 0 "$n_w"
printf '%s\n' "$lint" | grep -E '^[EWIPX]: ' | sed 's/^/#   lintian /'

# --- 2. the units' exposure ------------------------------------------------------------
rm -rf "$OUT/pkg"
dpkg-deb -x "$DEB" "$OUT/pkg"
exposure() {
    systemd-analyze security --offline=yes "$OUT/pkg/lib/systemd/system/$1" 2>>"$LOG" |
        tee -a "$LOG" | sed -n 's/^→ Overall exposure level for .*: \([0-9.]*\) .*/\1/p'
}
EXP_GW=$(exposure portcullis.service)
EXP_CM=$(exposure portcullis-certmgr.service)
for u in "portcullis.service:$EXP_GW" "portcullis-certmgr.service:$EXP_CM"; do
    check "systemd-analyze security --offline=yes ${u%%:*}: ${u#*:} <= $EXPOSURE_MAX" \
        awk -v e="${u#*:}" -v m="$EXPOSURE_MAX" 'BEGIN { exit !(e != "" && e + 0 <= m + 0) }'
done
for k in NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes PrivateDevices=yes \
    ProtectKernelTunables=yes ProtectKernelModules=yes ProtectKernelLogs=yes \
    ProtectControlGroups=yes "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX" \
    RestrictNamespaces=yes LockPersonality=yes MemoryDenyWriteExecute=yes \
    SystemCallFilter=@system-service; do
    check "both units set $k" sh -c "grep -qx '$k' '$OUT/pkg/lib/systemd/system/portcullis.service' &&
        grep -qx '$k' '$OUT/pkg/lib/systemd/system/portcullis-certmgr.service'"
done
check "portcullis.service: CapabilityBoundingSet=CAP_NET_BIND_SERVICE, User=portcullis, Type=notify" \
    sh -c "grep -qx 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' $OUT/pkg/lib/systemd/system/portcullis.service &&
        grep -qx 'User=portcullis' $OUT/pkg/lib/systemd/system/portcullis.service &&
        grep -qx 'Type=notify' $OUT/pkg/lib/systemd/system/portcullis.service"
check "portcullis-certmgr.service: no capabilities, User=portcullis-certmgr" \
    sh -c "grep -qx 'CapabilityBoundingSet=' $OUT/pkg/lib/systemd/system/portcullis-certmgr.service &&
        grep -qx 'User=portcullis-certmgr' $OUT/pkg/lib/systemd/system/portcullis-certmgr.service"

# --- 3. a fresh Debian 12 ---------------------------------------------------------------
unmount_root
if [ -n "$(mounts_under "$ROOT")" ]; then
    bail "something is still mounted under $ROOT; not removing it"
fi
rm -rf "$ROOT" "$OUT/tarball-work"
t=$(date +%s)
if [ ! -s "$TARBALL" ]; then
    note "debootstrap: downloading bookworm minbase into $TARBALL (once)"
    timeout 480 debootstrap --variant=minbase --make-tarball="$TARBALL" bookworm \
        "$OUT/tarball-work" "$MIRROR" >>"$LOG" 2>&1 || {
        rm -f "$TARBALL"
        bail "debootstrap --make-tarball failed"
    }
    rm -rf "$OUT/tarball-work"
fi
note "debootstrap --variant=minbase bookworm $ROOT"
timeout 480 debootstrap --variant=minbase --unpack-tarball="$TARBALL" bookworm "$ROOT" "$MIRROR" \
    >>"$LOG" 2>&1 || bail "debootstrap failed"
note "fresh root in $(($(date +%s) - t))s"
mount -t proc proc "$ROOT/proc" || bail "cannot mount /proc in the root"
cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $MIRROR bookworm main
deb $MIRROR bookworm-updates main
deb $SECURITY_MIRROR bookworm-security main
EOF
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
check "the root has no portcullis dependency yet (libh2o-evloop0.13 absent)" \
    sh -c "! chroot '$ROOT' dpkg -s libh2o-evloop0.13"

# --- 4. apt-get install ./portcullis_*.deb ------------------------------------------------
cp "$DEB" "$ROOT/tmp/"
t=$(date +%s)
in_root sh -c "DEBIAN_FRONTEND=noninteractive timeout 300 apt-get -q update" >>"$LOG" 2>&1 ||
    bail "apt-get update failed in the root"
check "apt-get install ./$DEB_NAME into the fresh root" \
    in_root sh -c "cd /tmp && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get -q install -y ./$DEB_NAME"
note "installed in $(($(date +%s) - t))s"
is "dpkg: portcullis installed" "install ok installed" "$(in_root dpkg-query -W -f='${Status}' portcullis 2>&1)"
[ "$(in_root dpkg-query -W -f='${Status}' portcullis 2>&1)" = "install ok installed" ] ||
    bail "the package did not install; the rest needs it"

for f in /usr/sbin/portcullis /usr/sbin/portcullis-certmgr /usr/bin/portcullis-admin; do
    check "$f runs (--version) on the fresh host: every library it needs came with Depends" \
        in_root "$f" --version
done
is "portcullis --version is the package version" "portcullis ${VERSION%%-*}" \
    "$(in_root portcullis --version 2>&1)"
for f in /usr/share/man/man8/portcullis.8.gz /usr/share/man/man8/portcullis-certmgr.8.gz \
    /usr/share/man/man1/portcullis-admin.1.gz /usr/share/doc/portcullis/README.md.gz \
    /usr/share/doc/portcullis/CONFIG.md.gz /usr/share/doc/portcullis/examples/portcullis.yaml \
    /usr/share/doc/portcullis/examples/policy.d/billing-api.yaml \
    /usr/share/doc/portcullis/examples/policy.d/service-mesh.yaml \
    /etc/logrotate.d/portcullis /lib/systemd/system/portcullis.service \
    /lib/systemd/system/portcullis-certmgr.service; do
    check "installed: $f" test -s "$ROOT$f"
done
conff=$(in_root dpkg-query -W -f='${Conffiles}' portcullis 2>&1 | awk '{print $1}' | sort | tr '\n' ' ')
is "conffiles" "/etc/logrotate.d/portcullis /etc/portcullis/certmgr.yaml /etc/portcullis/policy.d/example.yaml /etc/portcullis/portcullis.yaml /etc/portcullis/tls-policy.yaml " "$conff"

# users
for u in portcullis portcullis-certmgr; do
    pw=$(in_root getent passwd "$u")
    like "user $u: a system user (uid < 1000), no home, no login shell" \
        "^$u:x:[1-9][0-9]{0,2}:[0-9]+:[^:]*:/nonexistent:/usr/sbin/nologin$" "$pw"
    like "user $u: no password (locked)" "^$u:[*!]" "$(in_root getent shadow "$u")"
done
like "portcullis-certmgr is in group portcullis (reload through the control socket)" \
    "^portcullis:x:[0-9]+:(.*,)?portcullis-certmgr(,|$)" "$(in_root getent group portcullis)"
is "portcullis is in no other group" "portcullis" "$(in_root id -Gn portcullis)"

# directories
is "/var/lib/portcullis" "750 root portcullis" "$(st /var/lib/portcullis)"
is "/var/lib/portcullis/ca: the gateway reads ca.pem and crl.pem" "750 root portcullis" \
    "$(st /var/lib/portcullis/ca)"
is "/var/lib/portcullis/acme: certmgr's; the gateway may only pass through to http-01/" \
    "710 portcullis-certmgr portcullis" "$(st /var/lib/portcullis/acme)"
is "/var/lib/portcullis/acme/http-01" "750 portcullis-certmgr portcullis" \
    "$(st /var/lib/portcullis/acme/http-01)"
is "/var/lib/portcullis/certs: setgid group portcullis" "2750 portcullis-certmgr portcullis" \
    "$(st /var/lib/portcullis/certs)"
is "/var/log/portcullis" "2750 portcullis adm" "$(st /var/log/portcullis)"
check "ca init is not run by the package" test ! -e "$ROOT/var/lib/portcullis/ca/ca.key"
check "portcullis.service enabled, portcullis-certmgr.service not" sh -c \
    "test -L '$ROOT/etc/systemd/system/multi-user.target.wants/portcullis.service' &&
     test ! -e '$ROOT/etc/systemd/system/multi-user.target.wants/portcullis-certmgr.service'"

# the default configuration
check "portcullis --check passes on the default config" in_root portcullis --check
check "... also as user portcullis (ExecStartPre)" as_gw portcullis --check -c /etc/portcullis/portcullis.yaml
check "portcullis-certmgr --check passes on the default certmgr.yaml (as its user)" \
    as_cm portcullis-certmgr --check -c /etc/portcullis/certmgr.yaml
like "the default config has no route" "0 route\(s\)" "$(in_root portcullis --check 2>&1)"

# --- 5. the units, verified where the package is installed -------------------------------
in_root sh -c "DEBIAN_FRONTEND=noninteractive timeout 300 apt-get -q install -y --no-install-recommends systemd procps" \
    >>"$LOG" 2>&1
check "systemd-analyze verify portcullis.service portcullis-certmgr.service" \
    in_root systemd-analyze verify --man=no portcullis.service portcullis-certmgr.service

# --- 6. running it --------------------------------------------------------------------------
if ip netns add "$NS" >>"$LOG" 2>&1 && ip netns exec "$NS" ip link set lo up >>"$LOG" 2>&1; then
    netns_ok=true
else
    bail "cannot make a network namespace (ip netns add) for the runtime tests"
fi
# (background jobs are started as plain commands, not through the helper
# functions: $! must be the process itself, not a subshell around it)
ip netns exec "$NS" python3 tests/deb/notify_listener.py "$NOTIFY" "$NOTIFY_LOG" >>"$LOG" 2>&1 &
PIDS+=($!)
: >"$NOTIFY_LOG"
wait_for 5 grep -q listening "$NOTIFY_LOG" || bail "the notify socket stand-in did not start"

# RuntimeDirectory=portcullis, RuntimeDirectoryMode=0750
in_root sh -c 'mkdir -p /run/portcullis && chown portcullis:portcullis /run/portcullis && chmod 0750 /run/portcullis'

GW_PID=
JOB_PID=
# start_gw CONFIG LOGFILE [STRACE_LOG]: as portcullis.service does (User=,
# AmbientCapabilities=, CapabilityBoundingSet=, NoNewPrivileges=, UMask=,
# NOTIFY_SOCKET); under strace -f when STRACE_LOG is given.  GW_PID is the
# gateway (from its pid file), JOB_PID what to wait for.
start_gw() {
    local tracer=()
    [ -n "${3:-}" ] && tracer=(strace -f -qq -o "$3")
    ip netns exec "$NS" "${tracer[@]}" chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 NOTIFY_SOCKET="$NOTIFY" setpriv --reuid=portcullis --regid=portcullis --init-groups \
        --inh-caps=-all,+net_bind_service --ambient-caps=-all,+net_bind_service \
        --bounding-set=-all,+net_bind_service --no-new-privs \
        sh -c "umask 027; exec portcullis --foreground -c $1" >"$2" 2>&1 &
    JOB_PID=$!
    PIDS+=("$JOB_PID")
    GW_PID=$JOB_PID
    if wait_for 15 test -s "$ROOT/run/portcullis/portcullis.pid"; then
        GW_PID=$(cat "$ROOT/run/portcullis/portcullis.pid")
        PIDS+=("$GW_PID")
    fi
}
notified() { grep -q "^$GW_PID $1" "$NOTIFY_LOG"; }
stop_gw() {
    kill -TERM "$GW_PID" 2>/dev/null
    wait "$JOB_PID"
}
# traced USER LOG CMD...: CMD as USER (as as_gw/as_cm run it), in the test
# network namespace, under strace -f into LOG
traced() {
    local who=$1 log=$2
    shift 2
    ip netns exec "$NS" strace -f -qq -o "$log" chroot "$ROOT" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
        LANG=C.UTF-8 setpriv --reuid="$who" --regid="$who" --init-groups --no-new-privs \
        --inh-caps=-all --bounding-set=-all "$@"
}

# 6a. the default configuration starts, and serves nothing
start_gw /etc/portcullis/portcullis.yaml "$OUT/gw-default.log"
check "default config: the gateway starts as portcullis and says READY=1" wait_for 10 notified "READY=1"
is "... with CAP_NET_BIND_SERVICE as its only capability" "0000000000000400" \
    "$(awk '/^CapEff:/ {print $2}' "/proc/$GW_PID/status" 2>/dev/null)"
is "... its uid is portcullis's" "$(in_root id -u portcullis)" \
    "$(awk '/^Uid:/ {print $2}' "/proc/$GW_PID/status" 2>/dev/null)"
code=$(in_ns curl -s -o /dev/null -w '%{http_code} %{redirect_url}' http://127.0.0.1/anything)
is "default config: plain :80 proxies nothing (redirect to https)" "301 https://127.0.0.1/anything" "$code"
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1/.well-known/acme-challenge/abc)
is "default config: no ACME challenge pending: 404" "404" "$code"
check "default config: nothing listens on 443" sh -c \
    "! ip netns exec '$NS' curl -sk --max-time 5 -o /dev/null https://127.0.0.1:443/"
code=$(in_ns curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9901/healthz)
is "default config: admin /healthz on 127.0.0.1:9901" "200" "$code"
check "default config: pid file and control socket in /run/portcullis" \
    test -S "$ROOT/run/portcullis/portcullis.sock" -a -s "$ROOT/run/portcullis/portcullis.pid"
is "control socket: 0660 portcullis:portcullis" "660 portcullis portcullis" \
    "$(st /run/portcullis/portcullis.sock)"
check "systemctl reload (ExecReload: portcullis-admin reload, as portcullis)" \
    as_gw portcullis-admin reload -c /etc/portcullis/portcullis.yaml
check "... RELOADING=1 with MONOTONIC_USEC, then READY=1" \
    wait_for 5 sh -c "grep '^$GW_PID RELOADING=1 | MONOTONIC_USEC=[0-9]' '$NOTIFY_LOG' &&
           grep -A1 '^$GW_PID RELOADING=1' '$NOTIFY_LOG' | grep -q '^$GW_PID READY=1'"
stop_gw
rc=$?
is "default config: SIGTERM stops it with exit 0" 0 "$rc"
check "... after STOPPING=1" notified "STOPPING=1"
check "... and removes its pid file" test ! -e "$ROOT/run/portcullis/portcullis.pid"

# 6b. an mTLS request through to an upstream, with a test configuration
PKI=$OUT/pki
rm -rf "$PKI"
mkdir -p "$PKI"
check "portcullis-admin ca init (as root, by the operator)" \
    in_root portcullis-admin ca init --name "test-deb clients"
is "ca.key: 0600 root" "600 root root" "$(st /var/lib/portcullis/ca/ca.key)"
is "ca.pem: 0644" "644 root root" "$(st /var/lib/portcullis/ca/ca.pem)"
is "crl.pem: 0644" "644 root root" "$(st /var/lib/portcullis/ca/crl.pem)"
in_root mkdir -p /srv/pctest
check "portcullis-admin client issue web (a SPIFFE client certificate)" \
    in_root portcullis-admin client issue web --spiffe spiffe://test.local/sa/web --out /srv/pctest
# the server certificate, from a CA of our own, written as portcullis-certmgr
# writes certs/NAME/ (the directory inherits group portcullis; privkey.pem 0640)
{
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
        -subj "/CN=test-deb server CA" -keyout "$PKI/sca.key" -out "$PKI/sca.pem" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign &&
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=test.local" \
            -keyout "$PKI/server.key" -out "$PKI/server.csr" &&
        printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:test.local,IP:127.0.0.1\n' >"$PKI/server.ext" &&
        openssl x509 -req -in "$PKI/server.csr" -CA "$PKI/sca.pem" -CAkey "$PKI/sca.key" \
            -CAcreateserial -days 2 -extfile "$PKI/server.ext" -out "$PKI/server.pem"
} >>"$LOG" 2>&1 || bail "openssl could not make the test server certificate"
for name in test default; do
    as_cm sh -c "umask 027; mkdir -p /var/lib/portcullis/certs/$name" # UMask=0027 in the unit
    cp "$PKI/server.pem" "$ROOT/var/lib/portcullis/certs/$name/fullchain.pem"
    cp "$PKI/server.key" "$ROOT/var/lib/portcullis/certs/$name/privkey.pem"
    in_root chown portcullis-certmgr /var/lib/portcullis/certs/$name/fullchain.pem \
        /var/lib/portcullis/certs/$name/privkey.pem
    in_root chmod 0644 /var/lib/portcullis/certs/$name/fullchain.pem
    in_root chmod 0640 /var/lib/portcullis/certs/$name/privkey.pem
done
is "certs/test/ made by portcullis-certmgr inherits group portcullis and setgid" \
    "2750 portcullis-certmgr portcullis" "$(st /var/lib/portcullis/certs/test)"
is "certs/test/privkey.pem: portcullis-certmgr:portcullis 0640" "640 portcullis-certmgr portcullis" \
    "$(st /var/lib/portcullis/certs/test/privkey.pem)"
# what each user may read
as_cm sh -c 'umask 077; echo secret > /var/lib/portcullis/acme/account.key'
check "the gateway reads the server key" as_gw cat /var/lib/portcullis/certs/test/privkey.pem
check "the gateway reads ca.pem and crl.pem" as_gw cat /var/lib/portcullis/ca/ca.pem /var/lib/portcullis/ca/crl.pem
check "the gateway cannot read the CA key" sh -c "! chroot '$ROOT' setpriv --reuid=portcullis --regid=portcullis --init-groups cat /var/lib/portcullis/ca/ca.key"
check "the gateway cannot read the ACME account key" sh -c "! chroot '$ROOT' setpriv --reuid=portcullis --regid=portcullis --init-groups cat /var/lib/portcullis/acme/account.key"
check "the gateway cannot list acme/" sh -c "! chroot '$ROOT' setpriv --reuid=portcullis --regid=portcullis --init-groups ls /var/lib/portcullis/acme"
check "the gateway cannot write certs/" sh -c "! chroot '$ROOT' setpriv --reuid=portcullis --regid=portcullis --init-groups touch /var/lib/portcullis/certs/x"
check "portcullis-certmgr cannot read the CA key" sh -c "! chroot '$ROOT' setpriv --reuid=portcullis-certmgr --regid=portcullis-certmgr --init-groups cat /var/lib/portcullis/ca/ca.key"
check "portcullis-certmgr writes acme/http-01/ and certs/" \
    as_cm sh -c 'touch /var/lib/portcullis/acme/http-01/t /var/lib/portcullis/certs/t && rm /var/lib/portcullis/acme/http-01/t /var/lib/portcullis/certs/t'
cp "$PKI/sca.pem" "$ROOT/etc/portcullis/upstream-ca.pem" # examples/policy.d/service-mesh.yaml names it
check "the shipped example config and every example policy pass --check (as portcullis)" \
    as_gw portcullis --check -c /usr/share/doc/portcullis/examples/portcullis.yaml
rm -f "$ROOT/etc/portcullis/upstream-ca.pem"

UP_PORT=18080
ip netns exec "$NS" python3 tests/integration/lib/upstream.py "$UP_PORT" --name deb-upstream \
    >"$OUT/upstream.log" 2>&1 &
PIDS+=($!)
cat >"$ROOT/srv/pctest/gw.yaml" <<EOF
# make test-deb: mTLS on 127.0.0.1:8443 to an upstream on 127.0.0.1:$UP_PORT
listen:
  - address: "127.0.0.1:8443"
    certificates:
      - cert: /var/lib/portcullis/certs/test/fullchain.pem
        key: /var/lib/portcullis/certs/test/privkey.pem
    client_ca: /var/lib/portcullis/ca/ca.pem
    crl: /var/lib/portcullis/ca/crl.pem
threads: 2
user: portcullis
pid_file: /run/portcullis/portcullis.pid
tls_policy: /etc/portcullis/tls-policy.yaml
admin:
  listen: "127.0.0.1:9901"
log:
  access: /var/log/portcullis/access.log
routes:
  - name: echo
    match: { host: test.local, path_prefix: / }
    upstream: "http://127.0.0.1:$UP_PORT"
    mtls:
      allow: ["spiffe://test.local/sa/*"]
    jwt: off
EOF
cp "$ROOT/srv/pctest/gw.yaml" "$OUT/gw.yaml.good"
check "the test config passes --check as portcullis" as_gw portcullis --check -c /srv/pctest/gw.yaml
wait_for 10 in_ns curl -s -o /dev/null "http://127.0.0.1:$UP_PORT/" || note "the upstream did not start"
# under strace: every system call it makes is checked against the unit's filter below
start_gw /srv/pctest/gw.yaml "$OUT/gw-test.log" "$OUT/strace-gw.log"
check "test config: READY=1" wait_for 10 notified "READY=1"
CURL=(curl -sS --max-time 10 --cacert "$PKI/sca.pem" --resolve test.local:8443:127.0.0.1)
CLIENT=(--cert "$ROOT/srv/pctest/web.crt" --key "$ROOT/srv/pctest/web.key")
body=$(in_ns "${CURL[@]}" "${CLIENT[@]}" -w '\n%{http_code}' https://test.local:8443/hello 2>&1)
like "mTLS request through the gateway to the upstream: 200" '(^|\n)200$' "$body"
like "... the upstream saw the client identity (X-Forwarded-Client-Cert)" \
    'x-forwarded-client-cert", "Hash=[0-9a-f]{64};Subject=[^]]*;URI=spiffe://test.local/sa/web"' "$body"
check "no client certificate: refused in the handshake" sh -c \
    "! ip netns exec '$NS' ${CURL[*]} -o /dev/null https://test.local:8443/hello"
code=$(in_ns "${CURL[@]}" "${CLIENT[@]}" --resolve other.local:8443:127.0.0.1 -o /dev/null \
    -w '%{http_code}' -k https://other.local:8443/ 2>>"$LOG")
is "a host without a route: 404" "404" "$code"
check "access log written to /var/log/portcullis/access.log" \
    grep -q '"route":"echo"' "$ROOT/var/log/portcullis/access.log"
is "access log: portcullis, group adm (setgid directory), 0640 (UMask=0027)" "640 portcullis adm" \
    "$(st /var/log/portcullis/access.log)"

# reloads, as systemctl reload runs them and as certmgr does
check "ExecReload as portcullis: portcullis-admin reload exits 0" \
    traced portcullis "$OUT/strace-admin.log" portcullis-admin reload -c /srv/pctest/gw.yaml
check "certmgr's reload: (portcullis-admin reload as portcullis-certmgr) exits 0" \
    as_cm portcullis-admin reload -c /srv/pctest/gw.yaml
sed -i 's|certs/test/privkey.pem|certs/missing/privkey.pem|' "$ROOT/srv/pctest/gw.yaml"
out=$(as_gw portcullis-admin reload -c /srv/pctest/gw.yaml 2>&1)
rc=$?
is "a refused reload (missing key file): ExecReload exits 1" 1 "$rc"
like "... with the reason" "refused: .*certs/missing/privkey.pem" "$out"
echo "bogus: 1" >>"$ROOT/srv/pctest/gw.yaml"
out=$(as_gw portcullis-admin reload -c /srv/pctest/gw.yaml 2>&1)
rc=$?
is "an invalid file: ExecReload exits 1" 1 "$rc"
like "... naming file, line and key" "gw.yaml:[0-9]+:[0-9]+: .*bogus" "$out"
cp "$OUT/gw.yaml.good" "$ROOT/srv/pctest/gw.yaml"
code=$(in_ns "${CURL[@]}" "${CLIENT[@]}" -o /dev/null -w '%{http_code}' https://test.local:8443/again 2>>"$LOG")
is "the old generation still serves after the refused reloads" "200" "$code"
# 3 reloads reached the gateway (the invalid file never left portcullis-admin)
check "each reload bracketed by RELOADING=1 ... READY=1 (3 reloads, 4 READY=1)" \
    wait_for 5 sh -c "[ \$(grep -c '^$GW_PID RELOADING=1' '$NOTIFY_LOG') -eq 3 ] &&
           [ \$(grep -c '^$GW_PID READY=1' '$NOTIFY_LOG') -eq 4 ]"
# log rotation: logrotate renames, then SIGUSR1 (the postrotate) reopens
mv "$ROOT/var/log/portcullis/access.log" "$ROOT/var/log/portcullis/access.log.1"
kill -USR1 "$GW_PID"
sleep 0.5
in_ns "${CURL[@]}" "${CLIENT[@]}" -o /dev/null https://test.local:8443/rotated 2>>"$LOG"
check "SIGUSR1 reopens the access log after rotation" \
    wait_for 5 grep -q rotated "$ROOT/var/log/portcullis/access.log"
# revocation: the gateway (as portcullis) re-reads crl.pem by itself
in_root portcullis-admin client revoke web >>"$LOG" 2>&1
revoked() {
    c=$(ip netns exec "$NS" "${CURL[@]}" "${CLIENT[@]}" -o /dev/null -w '%{http_code}' \
        https://test.local:8443/revoked 2>/dev/null)
    [ "$c" != "200" ]
}
check "portcullis-admin client revoke web: refused within 5 s" wait_for 5 revoked
stop_gw
is "test gateway: SIGTERM, exit 0" 0 "$?"

# SystemCallFilter=: what the gateway and its ExecReload did (above), and
# certmgr's start (--check, then a pass that fails: no network in the test
# namespace, so nothing reaches the default config's real ACME server)
rm -f "$ROOT/var/lib/portcullis/acme/account.key" # the stand-in above; certmgr makes a real one
traced portcullis-certmgr "$OUT/strace-cm.log" portcullis-certmgr --check >>"$LOG" 2>&1
traced portcullis-certmgr "$OUT/strace-cm-once.log" portcullis-certmgr --once >>"$LOG" 2>&1
UNITS=$OUT/pkg/lib/systemd/system
check "portcullis.service's SystemCallFilter= allows every call the gateway made" \
    python3 tests/deb/syscalls.py "$UNITS/portcullis.service" /usr/sbin/portcullis "$OUT/strace-gw.log"
check "... and every call of its ExecReload (portcullis-admin reload)" \
    python3 tests/deb/syscalls.py "$UNITS/portcullis.service" /usr/bin/portcullis-admin "$OUT/strace-admin.log"
check "portcullis-certmgr.service's SystemCallFilter= allows certmgr's calls (--check, --once)" \
    sh -c "python3 tests/deb/syscalls.py '$UNITS/portcullis-certmgr.service' /usr/sbin/portcullis-certmgr '$OUT/strace-cm.log' &&
           python3 tests/deb/syscalls.py '$UNITS/portcullis-certmgr.service' /usr/sbin/portcullis-certmgr '$OUT/strace-cm-once.log'"
grep -h "distinct system calls\|NOT allowed" "$LOG" | tail -4 | sed 's/^/#   /'

# --- 7. upgrade over an edited conffile --------------------------------------------------
sed -i 's/^threads: auto /threads: 2    /' "$ROOT/etc/portcullis/portcullis.yaml"
echo "# edited by the operator" >>"$ROOT/etc/portcullis/portcullis.yaml"
uid_before=$(in_root id -u portcullis)
check "apt-get install ./$DEB_NAME again (reinstall: upgrade to the same version)" \
    in_root sh -c "cd /tmp && DEBIAN_FRONTEND=noninteractive timeout 300 apt-get -q install -y --reinstall ./$DEB_NAME"
check "the edited conffile is kept" grep -q "^# edited by the operator" "$ROOT/etc/portcullis/portcullis.yaml"
check "... and still valid" in_root portcullis --check
is "the users are kept (same uid)" "$uid_before" "$(in_root id -u portcullis)"
check "the client CA is kept" test -s "$ROOT/var/lib/portcullis/ca/ca.key"
is "the modes are kept" "2750 portcullis-certmgr portcullis" "$(st /var/lib/portcullis/certs)"

# --- 8. dpkg -r / dpkg -P ---------------------------------------------------------------------
check "dpkg -r portcullis" in_root dpkg -r portcullis
is "removed: config-files remain" "deinstall ok config-files" \
    "$(in_root dpkg-query -W -f='${Status}' portcullis 2>&1)"
check "dpkg -r: /usr/sbin/portcullis gone" test ! -e "$ROOT/usr/sbin/portcullis"
check "dpkg -r keeps /etc/portcullis" test -s "$ROOT/etc/portcullis/portcullis.yaml"
check "dpkg -r keeps /var/lib/portcullis (the CA, the certificates)" \
    test -s "$ROOT/var/lib/portcullis/ca/ca.key" -a -s "$ROOT/var/lib/portcullis/certs/test/privkey.pem"
check "dpkg -r keeps the users" in_root getent passwd portcullis portcullis-certmgr
check "dpkg -P portcullis" in_root dpkg -P portcullis
check "dpkg -P removes /etc/portcullis" test ! -e "$ROOT/etc/portcullis"
check "dpkg -P removes /var/lib/portcullis" test ! -e "$ROOT/var/lib/portcullis"
check "dpkg -P removes /var/log/portcullis" test ! -e "$ROOT/var/log/portcullis"
for u in portcullis portcullis-certmgr; do
    check "dpkg -P removes user $u" sh -c "! chroot '$ROOT' getent passwd $u"
    check "dpkg -P removes group $u" sh -c "! chroot '$ROOT' getent group $u"
done
check "dpkg -P removes the unit's enable link" \
    test ! -e "$ROOT/etc/systemd/system/multi-user.target.wants/portcullis.service"
is "dpkg knows nothing of portcullis any more" "" \
    "$(in_root dpkg-query -W -f='${Status}' portcullis 2>/dev/null)"

cleanup
PIDS=()
netns_ok=false
if [ "$fail" -eq 0 ]; then
    rm -rf "$ROOT" "$OUT/pkg"
fi
summary
[ "$fail" -eq 0 ]
