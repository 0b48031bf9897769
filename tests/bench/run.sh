#!/usr/bin/env bash
# run.sh: `make bench`.  Portcullis side by side with HAProxy and nginx doing the same job
# (mTLS with verify required + reverse proxy over HTTP/1.1 keep-alive to one nginx upstream),
# same machine, same run.  See tests/bench/README.md for the knobs, the method and the caveats.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
PY=/usr/bin/python3 # Debian's, whatever python3 is first on PATH

if [ "${BENCH_QUICK:-0}" = 1 ]; then # ~1 minute smoke test of the harness itself
    DUR=${DUR:-2} REPS=${REPS:-1}
fi
DUR=${DUR:-5}             # seconds per measured run
REPS=${REPS:-3}           # rounds; peer order alternates forward/reverse
WARMUP=${WARMUP:-1}       # seconds of discarded load after each peer start
CONNS=${CONNS:-64}        # concurrent connections (wrk -c, h2load -c)
STREAMS=${STREAMS:-1}     # h2load -m: concurrent streams per connection
PEERS=${PEERS:-}          # default: every peer with an endpoint for one of the scenarios
SCENARIOS=${SCENARIOS:-default}
PEER_CPU=${PEER_CPU:-0}   # peer and upstream (and Redis, except for portcullis-redis-apart)
CLIENT_CPU=${CLIENT_CPU:-$(($(nproc) > 1 ? 1 : 0))}
PORTCULLIS_BIN=${PORTCULLIS_BIN:-$REPO/build/portcullis}
WORK=${BENCH_WORK:-${TMPDIR:-/tmp}/portcullis-bench}

# A scenario = load generator, the peer endpoint kind it talks to, client options.  Endpoint kinds:
# "mtls" (client cert required), "jwt" (client cert + Bearer JWT), "full" (client cert + Bearer JWT +
# rate limit).  Options: close (Connection: close, i.e. a new connection per request),
# bearer=rs256|es256 (Authorization header), header=Name:value.
PKI=$WORK/pki
declare -A SCEN=(
    [h1-ka]="wrk mtls"
    [h2-ka]="h2load mtls"
    [h1-new]="wrk mtls close"
    [h1-jwt-rs256]="wrk jwt bearer=rs256"
    [h1-jwt-es256]="wrk jwt bearer=es256"
    [h2-jwt-rs256]="h2load jwt bearer=rs256"
    [h1-new-jwt-rs256]="wrk jwt close bearer=rs256"
    [h1-full]="wrk full bearer=rs256"
)
declare -A DESC=(
    [h1-ka]="HTTP/1.1 keep-alive, client certificate (wrk)"
    [h2-ka]="HTTP/2, $STREAMS stream(s) per connection, client certificate (h2load)"
    [h1-new]="NEW TLS connection per request, the client resuming its TLS session (wrk, Connection: close)"
    [h1-jwt-rs256]="HTTP/1.1 keep-alive, client certificate + RS256 JWT (wrk)"
    [h1-jwt-es256]="HTTP/1.1 keep-alive, client certificate + ES256 JWT (wrk)"
    [h2-jwt-rs256]="HTTP/2, client certificate + RS256 JWT (h2load)"
    [h1-new-jwt-rs256]="new TLS connection per request, client certificate + RS256 JWT (wrk)"
    [h1-full]="HTTP/1.1 keep-alive, full pipeline: client certificate + RS256 JWT + rate limit (never triggering) + proxy (wrk); portcullis = the same JWT route without rate limit; portcullis-redis = Redis on the SUT core, portcullis-redis-apart = the same with Redis on the client core"
)
declare -A ALIAS=(
    [default]="h1-ka h2-ka h1-new"
    [jwt]="h1-jwt-rs256 h1-jwt-es256"
    [full]="h1-full"
)
ALIAS[all]="${ALIAS[default]} ${ALIAS[jwt]} ${ALIAS[full]}"
ALLPEERS="direct haproxy nginx portcullis portcullis-nocache portcullis-redis portcullis-redis-apart portcullis-local"
SCS=()
for sc in $SCENARIOS; do read -r -a names <<<"${ALIAS[$sc]:-$sc}"; SCS+=("${names[@]}"); done
declare -A KINDS=()
for sc in "${SCS[@]}"; do
    [ -n "${SCEN[$sc]:-}" ] || { echo "unknown scenario $sc (known: ${!SCEN[*]}; aliases: ${!ALIAS[*]})" >&2; exit 2; }
    read -r _ kind _ <<<"${SCEN[$sc]}"
    KINDS[$kind]=1
done
WANT_JWT=0
[ -n "${KINDS[jwt]:-}${KINDS[full]:-}" ] && WANT_JWT=1

STAMP=$(date +%Y%m%d-%H%M%S)
OUT=$WORK/out/$STAMP
RUN=$WORK/run
rm -rf "$RUN"
mkdir -p "$OUT" "$RUN/tmp"
: >"$OUT/raw.jsonl"
: >"$OUT/checks.tsv"
log() { printf '[%s] %s\n' "$(date +%T)" "$*" | tee -a "$OUT/run.log" >&2; }
die() { log "FATAL: $*"; exit 1; }
unset SSL_CERT_FILE SSL_CERT_DIR LD_PRELOAD
declare -A SKIP=() NA=()
NOTES=()

# --- processes: every one we start is tracked by PID and stopped by PID -------------------------
STARTED=()
alive() { [ -r "/proc/$1/stat" ] && ! grep -q ') [ZX] ' "/proc/$1/stat" 2>/dev/null; }
descendants() { local c; for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do echo "$c"; descendants "$c"; done; }
start_bg() { # name cpu cmd...: sets LAST_PID
    local name=$1 cpu=$2
    shift 2
    taskset -c "$cpu" "$@" >"$RUN/$name.out" 2>&1 &
    LAST_PID=$!
    STARTED+=("$LAST_PID")
}
stop_tree() { # TERM the root, wait up to 5 s, then KILL whatever of its tree is left
    local root=$1 all p i any keep=()
    [ "$root" -gt 0 ] 2>/dev/null || return 0
    all="$root $(descendants "$root" | tr '\n' ' ')"
    kill -TERM "$root" 2>/dev/null
    for i in $(seq 50); do
        any=0
        for p in $all; do alive "$p" && any=1; done
        [ $any = 0 ] && break
        sleep 0.1
    done
    for p in $all; do alive "$p" && kill -KILL "$p" 2>/dev/null; done
    wait "$root" 2>/dev/null
    for p in "${STARTED[@]}"; do [ "$p" != "$root" ] && keep+=("$p"); done
    STARTED=("${keep[@]}")
}
cleanup() { local i; for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_tree "${STARTED[i]}"; done; }
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM
wait_port() { # pid port
    local i
    for i in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$2") 2>/dev/null && return 0
        alive "$1" || return 1
        sleep 0.1
    done
    return 1
}

# --- prerequisites, PKI, shim, ports, configs ----------------------------------------------------
for c in wrk h2load curl haproxy nginx openssl taskset cc ps "$PY"; do
    command -v "$c" >/dev/null || die "missing $c (apt-get install -y haproxy nginx wrk nghttp2-client curl gcc libssl-dev procps)"
done
[ "$(nproc)" -ge 2 ] || NOTES+=("only $(nproc) CPU: load generator and peer share a core")
T0=$(date +%s)
log "out=$OUT DUR=${DUR}s REPS=$REPS CONNS=$CONNS scenarios: ${SCS[*]}"
bash "$HERE/pki.sh" "$PKI" 2>"$RUN/pki.log" || die "pki.sh failed: $(tail -3 "$RUN/pki.log")"
if [ $WANT_JWT = 1 ] && [ ! -f "$PKI/jwt-rs256.txt" ]; then die "JWT scenarios need python3-jwt (apt-get install -y python3-jwt)"; fi
cc -D_GNU_SOURCE -O2 -Wall -shared -fPIC -o "$WORK/clientcert.so" "$HERE/clientcert.c" -ldl ||
    die "cannot build the client-cert shim (needs gcc + libssl-dev)"
read -r UP UPH2 P_HAP P_HAPJ P_NGX P_PC P_PCN P_PCR P_PCRA P_PCL P_REDIS <<<"$($PY "$HERE/bench.py" ports 11)"
BODY=$(printf 'portcullis-bench upstream ok %071d' 0 | tr 0 x) # exactly 100 bytes
render() { # template port [port_jwt] -> $RUN/name
    sed -e "s#@RUN@#$RUN#g; s#@PKI@#$PKI#g; s#@UP@#$UP#g; s#@UPH2@#$UPH2#g; s#@BODY@#$BODY#g" \
        -e "s#@REDIS@#$P_REDIS#g; s#@PORT@#$2#g; s#@PORT_JWT@#${3:-0}#g" "$HERE/conf/$1" >"$RUN/${1%.in}"
}
render upstream.conf.in -
render redis.conf.in "$P_REDIS"
render haproxy.cfg.in "$P_HAP" "$P_HAPJ"
render nginx.conf.in "$P_NGX"
render portcullis.yaml.in "$P_PC"
render portcullis-nocache.yaml.in "$P_PCN"
render portcullis-redis.yaml.in "$P_PCRA" # the same gateway; the peer moves Redis (measure)
mv "$RUN/portcullis-redis.yaml" "$RUN/portcullis-redis-apart.yaml"
render portcullis-redis.yaml.in "$P_PCR"
render portcullis-local.yaml.in "$P_PCL"

# --- peers: endpoint URLs ("peer:kind[:tool]") and how to start them -----------------------------
# A peer = a config template (conf/<peer>.*.in) + its endpoints here + its name in ALLPEERS + a line in
# start_peer (portcullis-* peers share one: they run conf/<peer>.yaml.in).
declare -A EP=(
    [direct:mtls]=http://127.0.0.1:$UP/ [direct:mtls:h2load]=http://127.0.0.1:$UPH2/
    [haproxy:mtls]=https://localhost:$P_HAP/ [haproxy:jwt]=https://localhost:$P_HAPJ/
    [haproxy:full]=https://localhost:$P_HAPJ/rl/
    [nginx:mtls]=https://localhost:$P_NGX/
    [portcullis:mtls]=https://localhost:$P_PC/ [portcullis:jwt]=https://localhost:$P_PC/jwt/
    [portcullis:full]=https://localhost:$P_PC/jwt/ # the JWT-only baseline of the rate-limit stage
    [portcullis-nocache:jwt]=https://localhost:$P_PCN/jwt/
    [portcullis-redis:full]=https://localhost:$P_PCR/jwt/
    [portcullis-redis-apart:full]=https://localhost:$P_PCRA/jwt/
    [portcullis-local:full]=https://localhost:$P_PCL/jwt/
)
NA[nginx:jwt]="n/a: nginx OSS has no JWT verification"
NA[nginx:full]=${NA[nginx:jwt]}
endpoint() { echo "${EP[$1:$2:$3]:-${EP[$1:$2]:-}}"; } # peer kind tool
peer_url() { local k; for k in mtls jwt full; do [ -n "${EP[$1:$k]:-}" ] && { endpoint "$1" $k curl; return; }; done; }
url_port() { local x=${1#*://}; x=${x%%/*}; echo "${x##*:}"; }
if [ -z "$PEERS" ]; then # every peer with an endpoint for a scenario in the run
    for p in $ALLPEERS; do
        for k in "${!KINDS[@]}"; do [ -n "${EP[$p:$k]:-}" ] && { PEERS+="$p "; break; }; done
    done
fi
read -r -a ORDER <<<"$PEERS"
PEERS="${ORDER[*]}"
for p in "${ORDER[@]}"; do [[ " $ALLPEERS " == *" $p "* ]] || die "unknown peer $p (known: $ALLPEERS)"; done
log "peers: $PEERS"
for p in "${ORDER[@]}"; do
    case $p in portcullis*) ;; *) continue ;; esac
    if [ ! -x "$PORTCULLIS_BIN" ] || ! "$PORTCULLIS_BIN" --version >/dev/null 2>&1; then
        SKIP[$p]="not run: $PORTCULLIS_BIN missing or not runnable (make; or PORTCULLIS_BIN=...)"
    elif ! "$PORTCULLIS_BIN" -c "$RUN/$p.yaml" --check >"$RUN/$p-check.out" 2>&1; then
        SKIP[$p]="not run: --check refused the config: $(tail -1 "$RUN/$p-check.out")"
    elif [[ $p == portcullis-redis* ]] && ! command -v redis-server redis-cli >/dev/null; then
        SKIP[$p]="not run: needs redis-server and redis-cli (apt-get install -y redis-server)"
    fi
    if [ -n "${SKIP[$p]:-}" ]; then log "$p ${SKIP[$p]}"; else PC_VERSION=$("$PORTCULLIS_BIN" --version 2>&1 | head -1); fi
done
REDIS_PID=0
redis_cli() { redis-cli -h 127.0.0.1 -p "$P_REDIS" "$@"; }
wait_redis_client() { # base-id: wait until a client newer than base-id has loaded the script or charged
    local i
    for i in $(seq 50); do
        redis_cli CLIENT LIST | awk -v b="$1" '{ split($1, a, "="); if (a[2] > b && / cmd=(script\|load|evalsha) /) f = 1 }
            END { exit !f }' && { sleep 0.1; return 0; }
        sleep 0.1
    done
    return 1
}
PEER_PID=0
start_peer() { # peer: sets PEER_PID, returns 1 when it does not come up
    local port base=
    case $1 in
    direct) PEER_PID=0; return 0 ;;
    haproxy) start_bg haproxy "$PEER_CPU" haproxy -db -f "$RUN/haproxy.cfg" ;;
    nginx) start_bg nginx "$PEER_CPU" nginx -c "$RUN/nginx.conf" -e "$RUN/nginx-error.log" ;;
    portcullis-redis*) base=$(redis_cli CLIENT ID)
        start_bg "$1" "$PEER_CPU" "$PORTCULLIS_BIN" -c "$RUN/$1.yaml" --foreground ;;
    portcullis*) start_bg "$1" "$PEER_CPU" "$PORTCULLIS_BIN" -c "$RUN/$1.yaml" --foreground ;;
    *) die "unknown peer $1" ;;
    esac
    PEER_PID=$LAST_PID
    port=$(url_port "$(peer_url "$1")")
    if wait_port "$PEER_PID" "$port"; then
        [ -z "$base" ] && return 0
        wait_redis_client "$base" && return 0 # its Redis connection is ready: charges will not fail DOWN
        log "$1 did not connect to Redis within 5 s"
    fi
    log "$1 did not come up: $(tail -3 "$RUN/$1.out" | tr '\n' ' ')"
    stop_tree "$PEER_PID"
    return 1
}

# --- enforcement checks (curl) -------------------------------------------------------------------
check() { # peer what expect(200|reject) url curl-args...
    local peer=$1 what=$2 exp=$3 url=$4 code rc got res body port
    shift 4
    port=$(url_port "$url")
    body=$(curl -sS --max-time 5 --cacert "$PKI/server-ca.pem" --resolve "localhost:$port:127.0.0.1" \
        -w '\n%{http_code} %{http_version}' "$@" "$url" 2>"$RUN/curl.err")
    rc=$?
    code=${body##*$'\n'}
    body=${body%$'\n'*}
    got="HTTP ${code% *}"
    [ "${code% *}" = 000 ] && got="no HTTP response, curl exit $rc: $(sed 's/^curl: ([0-9]*) //' "$RUN/curl.err" | head -c 50 | tr -d '\n|')"
    case $exp in
    200) [ "${code% *}" = 200 ] && [ "$body" = "$BODY" ] && res=PASS || res=FAIL
        [ "${code% *}" = 200 ] && [ "$body" != "$BODY" ] && got="$got, body is not the upstream's" ;;
    h2) [ "$code" = "200 2" ] && res=PASS || res=FAIL
        got="$got, HTTP version ${code#* }" ;;
    reject) [ "${code% *}" = 200 ] && res=FAIL || res=PASS ;;
    esac
    if [ "$PEER_PID" != 0 ] && ! alive "$PEER_PID"; then # a dead peer "rejects" everything
        res=FAIL
        got="$got; the peer has exited"
    fi
    record "$peer" "$what" "$exp" "$got" "$res"
}
record() { # peer what expected got PASS|FAIL|INFO
    printf '%s\t%s\t%s\t%s\t%s\n' "$@" >>"$OUT/checks.tsv"
    [ "$5" != FAIL ] || { log "CHECK FAIL: $1: $2 (expected $3, got $4)"; SKIP[$1]="not measured: enforcement check FAILED"; }
}
run_checks() { # peer
    local p=$1 u j k port got seen=" " CERT=(--cert "$PKI/client.pem" --key "$PKI/client.key")
    u=$(endpoint "$p" mtls curl)
    if [ "$p" = direct ]; then check direct "plaintext straight to the upstream" 200 "$u"; return; fi
    if [ -n "$u" ]; then
        check "$p" "client cert -> 200 + upstream body" 200 "$u" "${CERT[@]}"
        check "$p" "client cert, HTTP/2 (ALPN h2) -> 200" h2 "$u" --http2 "${CERT[@]}"
        check "$p" "no client cert -> rejected" reject "$u"
        check "$p" "rogue-CA client cert -> rejected" reject "$u" --cert "$PKI/rogue.pem" --key "$PKI/rogue.key"
    fi
    for k in jwt full; do # the token checks once per URL; the rate-limit checks on "full" endpoints
        j=$(endpoint "$p" $k curl)
        [ -n "${KINDS[$k]:-}" ] && [ -n "$j" ] || continue
        [[ $seen == *" $j "* ]] || run_jwt_checks "$p" "$j"
        seen+="$j "
        [ $k = full ] && run_rl_checks "$p" "$j"
    done
    port=$(url_port "$(peer_url "$p")")
    got=$(printf 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' | timeout 5 openssl s_client \
        -connect "127.0.0.1:$port" -servername localhost -CAfile "$PKI/server-ca.pem" -ign_eof \
        -cert "$PKI/client.pem" -key "$PKI/client.key" -brief -msg 2>&1 | awk -F': ' '
        /^Protocol version/ {v = $2} /^Ciphersuite/ {c = $2} /^(Server|Peer) Temp Key/ {k = $2}
        /<<< .*NewSessionTicket/ {t++} END {printf "%s %s %s, %d session ticket(s)", v, c, k, t}')
    record "$p" "negotiated TLS (openssl s_client)" - "$got" INFO
    if ! alive "$PEER_PID"; then
        NOTES+=("$p exited during the enforcement checks: $(tail -1 "$RUN/$p.out")")
        log "${NOTES[-1]}"
    fi
}
run_jwt_checks() { # peer url
    local p=$1 j=$2 f CERT=(--cert "$PKI/client.pem" --key "$PKI/client.key")
    check "$p" "jwt: cert + RS256 token -> 200" 200 "$j" "${CERT[@]}" -H "Authorization: Bearer $(cat "$PKI/jwt-rs256.txt")"
    check "$p" "jwt: cert + ES256 token -> 200" 200 "$j" "${CERT[@]}" -H "Authorization: Bearer $(cat "$PKI/jwt-es256.txt")"
    check "$p" "jwt: cert, no token -> rejected" reject "$j" "${CERT[@]}"
    check "$p" "jwt: RS256 token, no cert -> rejected" reject "$j" -H "Authorization: Bearer $(cat "$PKI/jwt-rs256.txt")"
    check "$p" "jwt: RS256 token, rogue-CA cert -> rejected" reject "$j" --cert "$PKI/rogue.pem" --key "$PKI/rogue.key" \
        -H "Authorization: Bearer $(cat "$PKI/jwt-rs256.txt")"
    for f in "$PKI"/bad/*.txt; do
        check "$p" "jwt: cert + $(basename "$f" .txt) token -> rejected" reject "$j" "${CERT[@]}" \
            -H "Authorization: Bearer $(cat "$f")"
    done
}

run_rl_checks() { # peer url: the rate limit is charged on every request (portcullis: the baseline has none)
    local p=$1 u=$2 i n=0 exp=3 res=PASS d
    [ "$p" = portcullis ] && exp=0
    [[ $p == portcullis-redis* ]] && $PY "$HERE/bench.py" redis-stats "$P_REDIS" >"$RUN/redis-stats.before"
    for i in 1 2 3; do
        curl -sS --max-time 5 --cacert "$PKI/server-ca.pem" --resolve "localhost:$(url_port "$u"):127.0.0.1" \
            --cert "$PKI/client.pem" --key "$PKI/client.key" -H "Authorization: Bearer $(cat "$PKI/jwt-rs256.txt")" \
            -o /dev/null -D - "$u" 2>/dev/null | grep -qi '^ratelimit:' && n=$((n + 1))
    done
    [ $n = $exp ] || res=FAIL
    record "$p" "rate limit: 3 x 200 carry a RateLimit header" "$exp of 3" "$n of 3" $res
    [[ $p == portcullis-redis* ]] || return 0
    # commandstats delta of those 3 requests: EVALSHA 3 (the gateway's), TIME/GET/SET 3 (run by the script)
    d=$($PY "$HERE/bench.py" redis-stats "$P_REDIS" | awk 'NR == FNR { b[$1] = $2; next } FNR == 1 { b["info"]++ }
        $2 != b[$1] { printf "%s%s +%d", sep, $1, $2 - b[$1]; sep = ", " }' "$RUN/redis-stats.before" -)
    [ "$d" = "evalsha +3, get +3, set +3, time +3" ] && res=PASS || res=FAIL
    record "$p" "Redis commandstats delta of those 3 requests" "evalsha +3, get +3, set +3, time +3" "${d:-none}" $res
}

# --- one measurement ---------------------------------------------------------------------------
measure() { # peer scenario rep dur: prints one JSON line (nothing when the peer lacks the endpoint)
    local p=$1 sc=$2 tool kind opts url o args=()
    if [[ $p == portcullis-redis* ]]; then
        args+=(--redis-pid "$REDIS_PID" --redis-port "$P_REDIS")
        # one redis-server for both peers: on the SUT core for portcullis-redis, on the client core for
        # portcullis-redis-apart (as when Redis is a shared service on a host of its own)
        if [ "$p" = portcullis-redis-apart ]; then
            taskset -a -pc "$CLIENT_CPU" "$REDIS_PID" >/dev/null && args+=(--redis-apart)
        else
            taskset -a -pc "$PEER_CPU" "$REDIS_PID" >/dev/null
        fi || die "cannot move redis-server ($REDIS_PID) to its core"
    fi
    read -r tool kind opts <<<"${SCEN[$sc]}"
    url=$(endpoint "$p" "$kind" "$tool")
    [ -n "$url" ] || return 0
    for o in $opts; do
        case $o in
        close) args+=(--close) ;;
        bearer=*) args+=(--header "Authorization: Bearer $(cat "$PKI/jwt-${o#bearer=}.txt")") ;;
        header=*) args+=(--header "${o#header=}") ;;
        esac
    done
    $PY "$HERE/bench.py" measure --peer "$p" --scenario "$sc" --rep "$3" --dur "$4" --tool "$tool" \
        --url "$url" --conns "$CONNS" --streams "$STREAMS" --cpu "$CLIENT_CPU" \
        --peer-pid "$PEER_PID" --upstream-pid "$UPSTREAM_PID" --shim "$WORK/clientcert.so" \
        --cert "$PKI/client.pem" --key "$PKI/client.key" --lua "$HERE/conf/localhost.lua" \
        "${args[@]}" 2>>"$OUT/errors.log" </dev/null
}

# --- main ----------------------------------------------------------------------------------------
start_bg upstream "$PEER_CPU" nginx -c "$RUN/upstream.conf" -e "$RUN/upstream-error.log"
UPSTREAM_PID=$LAST_PID
wait_port "$UPSTREAM_PID" "$UP" || die "upstream nginx did not come up: $(tail -3 "$RUN/upstream.out")"
WANT_REDIS=0
for p in "${ORDER[@]}"; do [[ $p == portcullis-redis* ]] && [ -z "${SKIP[$p]:-}" ] && WANT_REDIS=1; done
if [ $WANT_REDIS = 1 ]; then
    start_bg redis "$PEER_CPU" redis-server "$RUN/redis.conf" # up for the whole run; measure() pins it
    REDIS_PID=$LAST_PID
    wait_port "$REDIS_PID" "$P_REDIS" || die "redis-server did not come up: $(tail -3 "$RUN/redis.out")"
    REDIS_VERSION=$(redis-server --version | sed 's/.* v=\([^ ]*\).*/\1/')
fi
for p in "${ORDER[@]}"; do # prove enforcement first; a FAIL drops the peer's numbers
    [ -n "${SKIP[$p]:-}" ] && continue
    start_peer "$p" || { SKIP[$p]="not run: did not start (see run/$p.out)"; continue; }
    run_checks "$p"
    stop_tree "$PEER_PID"
    PEER_PID=0
done
$PY - "$OUT/checks.tsv" <<'EOF' >&2
import sys
for l in open(sys.argv[1]):
    p, what, exp, got, res = l.rstrip("\n").split("\t")
    print(f"  {res:4}  {p:10}  {what:45}  {got}")
EOF
# Every round restarts all peers; they stay up together (an idle peer costs ~0 CPU), so that for each
# scenario the peers run back to back, seconds apart: machine drift hits them alike.  The order
# alternates forward/reverse between scenarios and rounds.
declare -A PID=()
for ((rep = 1; rep <= REPS; rep++)); do
    PID=()
    for p in "${ORDER[@]}"; do
        [ -n "${SKIP[$p]:-}" ] && continue
        if start_peer "$p"; then PID[$p]=$PEER_PID; else NOTES+=("$p did not start in rep $rep"); fi
    done
    for p in "${!PID[@]}"; do # warm up with the first scenario the peer takes part in
        PEER_PID=${PID[$p]}
        for sc in "${SCS[@]}"; do
            read -r _ kind _ <<<"${SCEN[$sc]}"
            [ -n "${EP[$p:$kind]:-}" ] || continue
            [ "$WARMUP" -gt 0 ] || break
            line=$(measure "$p" "$sc" 0 "$WARMUP")
            line=$($PY -c 'import json,sys; print(json.loads(sys.argv[1])["errors"])' "$line" 2>/dev/null)
            [ -z "$line" ] || { NOTES+=("rep $rep: $p's warm-up ($sc, discarded) had errors: $line"); log "${NOTES[-1]}"; }
            break
        done
    done
    for ((s = 0; s < ${#SCS[@]}; s++)); do
        sc=${SCS[s]}
        LIST=("${ORDER[@]}")
        if (((rep + s) % 2 == 0)); then LIST=(); for ((i = ${#ORDER[@]} - 1; i >= 0; i--)); do LIST+=("${ORDER[i]}"); done; fi
        for p in "${LIST[@]}"; do
            [ -n "${PID[$p]:-}" ] || continue
            PEER_PID=${PID[$p]}
            alive "$UPSTREAM_PID" || die "the upstream nginx exited (see $RUN/upstream.out)"
            [ "$REDIS_PID" = 0 ] || alive "$REDIS_PID" || die "redis-server exited (see $RUN/redis.out)"
            line=$(measure "$p" "$sc" "$rep" "$DUR")
            [ -n "$line" ] || continue # no endpoint of this kind: not in this scenario
            echo "$line" >>"$OUT/raw.jsonl"
            log "rep $rep $sc $p: $($PY -c 'import json,sys; d=json.loads(sys.argv[1]); print("%(rps).0f req/s p50 %(p50_ms)s ms, peer %(peer_us_req)s us/req, upstream %(upstream_us_req)s, client %(client_us_req)s %(errors)s" % d)' "$line")"
            if [ "$PEER_PID" != 0 ] && ! alive "$PEER_PID"; then
                NOTES+=("$p exited during rep $rep, $sc (see $RUN/$p.out)")
                log "WARNING: $p exited during $sc"
                stop_tree "$PEER_PID" # reap it now: its PID must not be signalled again later
                unset "PID[$p]"
            fi
        done
    done
    for p in "${!PID[@]}"; do stop_tree "${PID[$p]}"; done
    PEER_PID=0
done
stop_tree "$UPSTREAM_PID"
[ "$REDIS_PID" = 0 ] || stop_tree "$REDIS_PID"

# --- report --------------------------------------------------------------------------------------
META=(stamp="$STAMP" dur_s="$DUR" reps="$REPS" conns="$CONNS" streams="$STREAMS" warmup_s="$WARMUP"
    peer_cpu="$PEER_CPU" client_cpu="$CLIENT_CPU" nproc="$(nproc)" kernel="$(uname -r)"
    cpu_model="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    peers="$PEERS" scenarios="${SCS[*]}"
    "ver:portcullis=${PC_VERSION:-(not run)}"
    ${REDIS_VERSION:+"ver:redis=$REDIS_VERSION"}
    "ver:haproxy=$(haproxy -v | head -1 | awk '{print $3}')"
    "ver:nginx=$(nginx -v 2>&1 | cut -d/ -f2)"
    "ver:openssl=$(openssl version | awk '{print $2}')"
    "ver:wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
    "ver:h2load=$(h2load --version | awk '{print $2}')")
for sc in "${SCS[@]}"; do # a scenario's table lists the peers with an endpoint of its kind, or a reason
    read -r _ kind _ <<<"${SCEN[$sc]}"
    sp=()
    for p in "${ORDER[@]}"; do
        [ -n "${EP[$p:$kind]:-}" ] && sp+=("$p")
        [ -n "${NA[$p:$kind]:-}" ] && { sp+=("$p"); META+=("na:$p:$sc=${NA[$p:$kind]}"); }
    done
    META+=("desc:$sc=${DESC[$sc]}" "kind:$sc=$kind" "scpeers:$sc=${sp[*]}")
done
for k in "${!SKIP[@]}"; do META+=("skip:$k=${SKIP[$k]}"); done
for n in "${NOTES[@]}"; do META+=("note=$n"); done
$PY - "$OUT/meta.json" "${META[@]}" <<'EOF'
import json, sys
m = {"versions": {}, "scenario_desc": {}, "scenario_kind": {}, "scenario_peers": {}, "skipped": {}, "na": {},
     "notes": []}
sub = {"ver": "versions", "desc": "scenario_desc", "kind": "scenario_kind", "scpeers": "scenario_peers",
       "skip": "skipped", "na": "na"}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    if ":" in k and k.split(":", 1)[0] in sub:
        g, k = k.split(":", 1)
        m[sub[g]][k] = v.split() if g == "scpeers" else v
    elif k == "note":
        m["notes"].append(v)
    else:
        m[k] = v.split() if k in ("peers", "scenarios") else v
json.dump(m, open(sys.argv[1], "w"), indent=1)
EOF
$PY "$HERE/bench.py" report "$OUT" >"$OUT/results.md" || die "report failed"
ln -sfn "$STAMP" "$WORK/out/latest"
cat "$OUT/results.md"
log "done in $(($(date +%s) - T0)) s; results in $OUT (results.md, raw.jsonl, checks.tsv, meta.json, errors.log)"
