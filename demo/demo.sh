#!/bin/bash
# make demo: a private client CA made with portcullis-admin, a real upstream,
# the portcullis gateway on 127.0.0.1, and curl calls that show each decision.
# Everything lives in demo/run/ and every process started here is stopped on exit.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=${BUILD:-build}
RUN=$ROOT/demo/run
ADMIN=$ROOT/$BUILD/portcullis-admin
GW=$ROOT/$BUILD/portcullis
PY=/usr/bin/python3
PIDS=()

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
}
trap cleanup EXIT

bold() { printf '\n\033[1m%s\033[0m\n' "$*"; }
say() { printf '  %s\n' "$*"; }
port() { $PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
die() { echo "demo: $*" >&2; exit 1; }

rm -rf "$RUN"
mkdir -p "$RUN/clients" "$RUN/other" "$RUN/server" "$RUN/policy.d"

bold "1. A private client CA and client certificates, made with portcullis-admin"
$ADMIN --ca-dir "$RUN/ca" ca init --name "Demo Client CA" >/dev/null || die "ca init failed"
say "portcullis-admin ca init                      -> $RUN/ca/{ca.pem,ca.key (0600),crl.pem}"
$ADMIN --ca-dir "$RUN/ca" client issue web --spiffe spiffe://demo.local/ns/prod/sa/web \
    --out "$RUN/clients" >/dev/null || die "client issue failed"
say "portcullis-admin client issue web --spiffe spiffe://demo.local/ns/prod/sa/web"
$ADMIN --ca-dir "$RUN/ca" client issue batch --spiffe spiffe://demo.local/ns/dev/sa/batch \
    --out "$RUN/clients" >/dev/null || die "client issue failed"
say "portcullis-admin client issue batch --spiffe spiffe://demo.local/ns/dev/sa/batch"
$ADMIN --ca-dir "$RUN/other-ca" ca init --name "Some Other CA" >/dev/null &&
    $ADMIN --ca-dir "$RUN/other-ca" client issue web --spiffe spiffe://demo.local/ns/prod/sa/web \
        --out "$RUN/other" >/dev/null || die "other CA failed"
say "a second CA issues a look-alike 'web' certificate (same SPIFFE ID, wrong CA)"

# the gateway's own server certificate (in production: portcullis-certmgr and ACME)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 7 \
    -keyout "$RUN/server/ca.key" -out "$RUN/server/ca.pem" -subj "/CN=Demo Server CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$RUN/server/server.key" \
    -out "$RUN/server/server.csr" -subj "/CN=*.demo.local" 2>/dev/null
printf 'subjectAltName=DNS:*.demo.local\nextendedKeyUsage=serverAuth\n' > "$RUN/server/ext"
openssl x509 -req -in "$RUN/server/server.csr" -CA "$RUN/server/ca.pem" -CAkey "$RUN/server/ca.key" \
    -CAcreateserial -days 7 -out "$RUN/server/server.pem" -extfile "$RUN/server/ext" 2>/dev/null ||
    die "server certificate failed"

bold "2. A real upstream on 127.0.0.1 (it echoes the headers it received)"
UP=$(port)
$PY tests/integration/lib/upstream.py "$UP" --name billing >"$RUN/upstream.log" 2>&1 &
PIDS+=($!)
say "upstream: http://127.0.0.1:$UP"

bold "3. The gateway"
GWP=$(port)
ADM=$(port)
cat > "$RUN/portcullis.yaml" <<EOF
listen:
  - address: "127.0.0.1:$GWP"
    certificates:
      - { cert: server/server.pem, key: server/server.key }
    client_ca: ca/ca.pem
    crl: ca/crl.pem
threads: 2
admin:
  listen: "127.0.0.1:$ADM"
log:
  access: ./access.log
include: policy.d/*.yaml
EOF
cat > "$RUN/policy.d/billing.yaml" <<EOF
routes:
  - name: billing-api
    match: { host: billing.demo.local, path_prefix: /api/ }
    upstream: "http://127.0.0.1:$UP"
    mtls:
      allow: ["spiffe://demo.local/ns/prod/sa/*"]
    jwt: off
EOF
sed 's/^/    /' "$RUN/policy.d/billing.yaml"
$GW -c "$RUN/portcullis.yaml" --check >/dev/null || die "configuration refused"
$GW -c "$RUN/portcullis.yaml" --foreground 2>"$RUN/gateway.log" &
PIDS+=($!)
for _ in $(seq 50); do grep -q "ready:" "$RUN/gateway.log" 2>/dev/null && break; sleep 0.1; done
grep -q "ready:" "$RUN/gateway.log" || { cat "$RUN/gateway.log"; die "gateway did not start"; }
say "portcullis on https://127.0.0.1:$GWP (admin: http://127.0.0.1:$ADM/metrics)"

C="curl -sS --max-time 5 --cacert $RUN/server/ca.pem --resolve billing.demo.local:$GWP:127.0.0.1 --resolve other.demo.local:$GWP:127.0.0.1"
URL=https://billing.demo.local:$GWP/api/invoices
show() { # title, then curl arguments
    local title=$1 out code
    shift
    out=$($C -w '\n%{http_code}' "$@" 2>&1)
    code=$(printf '%s' "$out" | tail -1)
    bold "$title"
    say "\$ curl $(printf '%q ' "${@//$RUN\//}")"
    printf '%s\n' "$out" | sed '$d' | head -c 600 | sed 's/^/    /'
    [ "$code" = 000 ] && say "-> refused in the TLS handshake (no HTTP response)" || say "-> HTTP $code"
}

show "4. No client certificate: refused in the handshake" "$URL"
show "5. A certificate from another CA: refused in the handshake" \
    --cert "$RUN/other/web.crt" --key "$RUN/other/web.key" "$URL"
show "6. An allowed certificate: 200 from the upstream, which got the verified identity" \
    --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" "$URL"
XFCC=$($C --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" -H 'X-Forwarded-Client-Cert: forged' "$URL" |
    $PY -c 'import json,sys; h=dict((k.lower(),v) for k,v in json.load(sys.stdin)["headers"]); print(h.get("x-forwarded-client-cert"))')
say "X-Forwarded-Client-Cert the upstream received (a forged one was sent and dropped):"
say "  $XFCC"
show "7. A certificate the route does not allow (ns/dev): 403 problem+json" \
    --cert "$RUN/clients/batch.crt" --key "$RUN/clients/batch.key" "$URL"
show "8. A Host the TLS server name does not cover: 421" \
    --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" -H "Host: other.demo.local" "$URL"
show "9. An unknown host: 404 with no detail" \
    --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" "https://other.demo.local:$GWP/"

bold "10. Revoke 'web'; the gateway picks up the new CRL within a second"
$ADMIN --ca-dir "$RUN/ca" client revoke web --reason keyCompromise | sed 's/^/    /'
sleep 1.2
show "    the same certificate now" --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" "$URL"

bold "11. The access log (one JSON line per request; shown here as columns) and the handshake refusals"
sleep 0.3
$PY - "$RUN/access.log" <<'PYEOF'
import json, sys
print("    %-10s %-6s %-19s %-36s %s" % ("status", "decision", "reason", "identity", "route"))
for line in open(sys.argv[1]):
    a = json.loads(line)
    print("    %-10s %-6s %-19s %-36s %s" % (a["status"], a["decision"], a["reason"],
                                             a.get("identity") or "-", a.get("route") or "-"))
PYEOF
grep "handshake refused" "$RUN/gateway.log" | sed 's/^.*warn: /    /' | cut -c1-200
bold "12. Metrics (http://127.0.0.1:$ADM/metrics), a few lines"
curl -s "http://127.0.0.1:$ADM/metrics" | grep -E '^portcullis_(requests_total|tls_handshake_failures_total\{reason="(no_certificate|unknown_ca|revoked)")' | sed 's/^/    /'
echo
echo "demo: done (files in demo/run/)"
