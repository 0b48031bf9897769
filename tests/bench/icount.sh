#!/usr/bin/env bash
# icount.sh: `make bench-icount`.  Instructions per request, counted by valgrind's callgrind, for
# portcullis, nginx and HAProxy doing the same job as `make bench` (mTLS + reverse proxy to one
# nginx upstream; the same configs, PKI and client-certificate shim).  Instruction counts do not
# depend on what else the machine is doing, so the ratios are repeatable on a busy 2-core box
# where CPU-time ratios are not (run.sh).  They are not time: a cache miss costs nothing here and
# valgrind's CPU model makes OpenSSL take its generic code paths; read them next to run.sh.
#
# Method: each server runs under callgrind (one worker / one thread) twice, with N1 and N2
# requests from one client; per request = (instructions(N2) - instructions(N1)) / (N2 - N1), so
# start-up and shutdown cancel out.  Clients (not measured): h2load --h1 (HTTP/1.1 keep-alive),
# h2load (HTTP/2, one connection), and a Python client opening a new TLS 1.3 connection per
# request (h1-new; no resumption).
#
# SCENARIOS=h1-full (opt-in: it needs redis-server and python3-jwt) counts the rate-limit stage: one
# connection, every request with the same RS256 token to the JWT route, for portcullis (no
# rate_limit: the baseline), portcullis-redis (GCRA in Redis; redis-server runs outside valgrind,
# its own cost is not counted here), portcullis-local (the in-process GCRA) and HAProxy (jwt_verify +
# stick table); the ratio column is ÷ portcullis, i.e. 1 + the stage's cost.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3
PORTCULLIS_BIN=${PORTCULLIS_BIN:-$REPO/build/portcullis}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/portcullis-icount}
PEERS=${PEERS:-"portcullis nginx haproxy"}
SCENARIOS=${SCENARIOS:-"h1-ka h2-ka h1-new"}
KA_N1=${KA_N1:-200} KA_N2=${KA_N2:-2200}   # keep-alive request counts
NEW_N1=${NEW_N1:-20} NEW_N2=${NEW_N2:-120} # new-connection request counts

die() { echo "icount: $*" >&2; exit 1; }
for c in valgrind h2load nginx haproxy openssl cc "$PY"; do
    command -v "$c" >/dev/null || die "missing $c (make deps)"
done
[ -x "$PORTCULLIS_BIN" ] || die "no $PORTCULLIS_BIN (make)"
RUN=$WORK/run PKI=$WORK/pki
rm -rf "$RUN"
mkdir -p "$RUN/tmp" "$PKI"
bash "$HERE/pki.sh" "$PKI" 2>"$RUN/pki.log" || die "pki.sh failed: $(tail -3 "$RUN/pki.log")"
cc -D_GNU_SOURCE -O2 -Wall -shared -fPIC -o "$WORK/clientcert.so" "$HERE/clientcert.c" -ldl ||
    die "cannot build the client-certificate shim"
read -r UP UPH2 P_HAP P_HAPJ P_NGX P_PC P_PCR P_PCL P_REDIS <<<"$($PY "$HERE/bench.py" ports 9)"
BODY=$(printf 'portcullis-bench upstream ok %071d' 0 | tr 0 x)
render() {
    sed -e "s#@RUN@#$RUN#g; s#@PKI@#$PKI#g; s#@UP@#$UP#g; s#@UPH2@#$UPH2#g; s#@BODY@#$BODY#g" \
        -e "s#@REDIS@#$P_REDIS#g; s#@PORT@#$2#g; s#@PORT_JWT@#${3:-0}#g" "$HERE/conf/$1" >"$RUN/${1%.in}"
}
render upstream.conf.in -
render haproxy.cfg.in "$P_HAP" "$P_HAPJ"
render nginx.conf.in "$P_NGX"
render portcullis.yaml.in "$P_PC"
render portcullis-redis.yaml.in "$P_PCR"
render portcullis-local.yaml.in "$P_PCL"
render redis.conf.in "$P_REDIS"
# callgrind follows one process: nginx without its master
sed -i 's/^daemon off;/daemon off; master_process off;/' "$RUN/nginx.conf"

UPID= RPID=
cleanup() {
    [ -n "$UPID" ] && kill "$UPID" 2>/dev/null
    [ -n "$RPID" ] && kill "$RPID" 2>/dev/null
    pkill -f "callgrind-out-file=$RUN/" 2>/dev/null
}
trap cleanup EXIT
nginx -c "$RUN/upstream.conf" >"$RUN/upstream.out" 2>&1 &
UPID=$!
if [[ " $SCENARIOS " == *" h1-full "* ]]; then
    command -v redis-server >/dev/null || die "h1-full needs redis-server (make deps)"
    [ -f "$PKI/jwt-rs256.txt" ] || die "h1-full needs python3-jwt (make deps)"
    redis-server "$RUN/redis.conf" >"$RUN/redis.out" 2>&1 &
    RPID=$!
fi
redis_ready() { # a gateway's connection has loaded the script (its handshake's last command)
    local i
    for i in $(seq 1 240); do
        redis-cli -p "$P_REDIS" CLIENT LIST 2>/dev/null | grep -q ' cmd=\(script|load\|evalsha\) ' && return 0
        sleep 0.5
    done
    return 1
}

client() { # scenario n port [path] -> number of 200s
    local sc=$1 n=$2 port=$3 path=${4:-/} out
    case $sc in
    h1-full)
        out=$(LD_PRELOAD=$WORK/clientcert.so CLIENTCERT_CERT=$PKI/client.pem CLIENTCERT_KEY=$PKI/client.key \
            h2load --h1 -n "$n" -c 1 -m 1 --connect-to="127.0.0.1:$port" \
            -H "Authorization: Bearer $(cat "$PKI/jwt-rs256.txt")" "https://localhost:$port$path" 2>&1)
        echo "$out" | awk '/status codes:/{print $3}'
        ;;
    h1-ka | h2-ka)
        out=$(LD_PRELOAD=$WORK/clientcert.so CLIENTCERT_CERT=$PKI/client.pem CLIENTCERT_KEY=$PKI/client.key \
            h2load $([ "$sc" = h1-ka ] && echo --h1) -n "$n" -c 1 -m 1 --connect-to="127.0.0.1:$port" \
            "https://localhost:$port/" 2>&1)
        echo "$out" | awk '/status codes:/{print $3}'
        ;;
    h1-new)
        "$PY" - "$n" "$port" "$PKI" <<'EOF'
import socket, ssl, sys
n, port, pki = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.minimum_version = ssl.TLSVersion.TLSv1_3
ctx.load_verify_locations(pki + "/server-ca.pem")
ctx.load_cert_chain(pki + "/client.pem", pki + "/client.key")
ok = 0
for _ in range(n):
    with ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="localhost") as t:
        t.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        d = b""
        while True:
            b = t.recv(65536)
            if not b:
                break
            d += b
        ok += d.startswith(b"HTTP/1.1 200")
print(ok)
EOF
        ;;
    esac
}

count() { # peer scenario n -> total instructions (empty on failure)
    local peer=$1 sc=$2 n=$3 port cmd pid got i path=/
    rm -f "$RUN"/cg.out.*
    case $peer in
    portcullis) port=$P_PC; cmd=("$PORTCULLIS_BIN" -c "$RUN/portcullis.yaml" --foreground) ;;
    portcullis-redis) port=$P_PCR; cmd=("$PORTCULLIS_BIN" -c "$RUN/portcullis-redis.yaml" --foreground) ;;
    portcullis-local) port=$P_PCL; cmd=("$PORTCULLIS_BIN" -c "$RUN/portcullis-local.yaml" --foreground) ;;
    nginx) port=$P_NGX; cmd=(nginx -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log") ;;
    haproxy) port=$P_HAP; cmd=(haproxy -db -f "$RUN/haproxy.cfg") ;;
    esac
    if [ "$sc" = h1-full ]; then # the JWT route; HAProxy's with the stick table
        path=/jwt/
        [ "$peer" = haproxy ] && port=$P_HAPJ path=/rl/
    fi
    valgrind --tool=callgrind --callgrind-out-file="$RUN/cg.out.%p" "${cmd[@]}" >"$RUN/$peer.out" 2>&1 &
    pid=$!
    for i in $(seq 1 120); do
        "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $port)).close()" 2>/dev/null && break
        sleep 0.5
    done
    if [ "$peer" = portcullis-redis ] && ! redis_ready; then
        echo "icount: $peer did not connect to Redis (see $RUN/$peer.out)" >&2
        kill -TERM "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        return
    fi
    got=$(client "$sc" "$n" "$port" "$path")
    kill -TERM "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    if [ "$got" != "$n" ]; then
        echo "icount: $peer $sc: $got of $n requests got 200 (see $RUN/$peer.out)" >&2
        return
    fi
    grep -h '^summary:\|^totals:' "$RUN"/cg.out.* | awk '$1 == "summary:" {s += $2} END {print s}'
}

declare -A PER
printf '%-8s %-16s %14s %18s\n' scenario peer instr/request "÷ ref"
for sc in $SCENARIOS; do
    if [ "$sc" = h1-new ]; then n1=$NEW_N1 n2=$NEW_N2; else n1=$KA_N1 n2=$KA_N2; fi
    peers=$PEERS ref=nginx
    if [ "$sc" = h1-full ]; then peers=${FULL_PEERS:-"portcullis portcullis-redis portcullis-local haproxy"} ref=portcullis; fi
    for peer in $peers; do
        a=$(count "$peer" "$sc" "$n1")
        b=$(count "$peer" "$sc" "$n2")
        if [ -z "$a" ] || [ -z "$b" ]; then PER[$sc.$peer]=; continue; fi
        PER[$sc.$peer]=$(( (b - a) / (n2 - n1) ))
    done
    for peer in $peers; do
        v=${PER[$sc.$peer]:-}
        r=-
        [ -n "$v" ] && [ -n "${PER[$sc.$ref]:-}" ] && r=$(awk -v a="$v" -v b="${PER[$sc.$ref]}" 'BEGIN {printf "%.3fx", a / b}')
        printf '%-8s %-16s %14s %18s\n' "$sc" "$peer" "${v:-failed}" "$r ($ref)"
    done
done
echo "($(valgrind --version), $(openssl version | cut -d' ' -f1-2), N=$KA_N1/$KA_N2 keep-alive, $NEW_N1/$NEW_N2 new connections)"
