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
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 90 \
    -keyout "$RUN/server/ca.key" -out "$RUN/server/ca.pem" -subj "/CN=Demo Server CA" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$RUN/server/server.key" \
    -out "$RUN/server/server.csr" -subj "/CN=*.demo.local" 2>/dev/null
printf 'subjectAltName=DNS:*.demo.local\nextendedKeyUsage=serverAuth\n' > "$RUN/server/ext"
openssl x509 -req -in "$RUN/server/server.csr" -CA "$RUN/server/ca.pem" -CAkey "$RUN/server/ca.key" \
    -CAcreateserial -days 90 -out "$RUN/server/server.pem" -extfile "$RUN/server/ext" 2>/dev/null ||
    die "server certificate failed"

bold "2. An access-token issuer: a signing key and its JWKS (portcullis-admin jwks)"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$RUN/issuer.key" 2>/dev/null
chmod 600 "$RUN/issuer.key"
$ADMIN jwks --kid demo-1 "$RUN/issuer.key" > "$RUN/jwks.json" || die "jwks failed"
say "portcullis-admin jwks --kid demo-1 issuer.key > jwks.json"
TOKEN_READ=$($ADMIN token issue --key "$RUN/issuer.key" --kid demo-1 --iss https://idp.demo.local/ \
    --aud billing --sub alice@demo.local --scope "billing:read" --ttl 10m) || die "token issue failed"
TOKEN_NOSCOPE=$($ADMIN token issue --key "$RUN/issuer.key" --kid demo-1 --iss https://idp.demo.local/ \
    --aud billing --sub alice@demo.local --scope "profile" --ttl 10m) || die "token issue failed"
say "portcullis-admin token issue --scope billing:read ... (and one with only 'profile')"

bold "3. A real redis-server and a real upstream on 127.0.0.1 (the upstream echoes the headers it received)"
RP=$(port)
redis-server --port "$RP" --bind 127.0.0.1 --save '' --appendonly no >"$RUN/redis.log" 2>&1 &
PIDS+=($!)
say "redis-server on 127.0.0.1:$RP (the rate limiter's shared state)"
UP=$(port)
$PY tests/integration/lib/upstream.py "$UP" --name billing >"$RUN/upstream.log" 2>&1 &
PIDS+=($!)
say "upstream: http://127.0.0.1:$UP"

bold "4. The gateway"
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
redis:
  url: "redis://127.0.0.1:$RP/0"
issuers:
  demo:
    issuer: "https://idp.demo.local/"
    jwks_file: jwks.json
    algorithms: [ES256]
tls_policy: $ROOT/etc/tls-policy.yaml
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
    jwt:
      issuer: demo
      audience: billing
      scopes: [billing:read]
    rate_limit: { key: identity, rate: 1/s, burst: 3, on_backend_failure: deny }
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
    shown=$(printf '%q ' "${@//$RUN\//}")
    shown=${shown//"$TOKEN_READ"/\$TOKEN}
    shown=${shown//"$TOKEN_NOSCOPE"/\$TOKEN_WITHOUT_SCOPE}
    say "\$ curl $shown"
    printf '%s\n' "$out" | sed '$d' | cut -c1-400 | sed 's/^/    /'
    echo
    [ "$code" = 000 ] && say "-> refused in the TLS handshake (no HTTP response)" || say "-> HTTP $code"
}

BEARER="Authorization: Bearer $TOKEN_READ"
show "5. No client certificate: refused in the handshake" -H "$BEARER" "$URL"
show "6. A certificate from another CA: refused in the handshake" \
    --cert "$RUN/other/web.crt" --key "$RUN/other/web.key" -H "$BEARER" "$URL"
show "7. The right certificate but no access token: 401" \
    --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" "$URL"
show "8. A token without the route's scope: 403" \
    --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" -H "Authorization: Bearer $TOKEN_NOSCOPE" "$URL"
show "9. Certificate and token: 200 from the upstream, which got the verified identity" \
    --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" -H "$BEARER" "$URL"
HDRS=$($C --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" -H "$BEARER" \
    -H 'X-Forwarded-Client-Cert: forged' -H 'X-Auth-Subject: root' "$URL" |
    $PY -c 'import json,sys; h=dict((k.lower(),v) for k,v in json.load(sys.stdin)["headers"]); print(h.get("x-forwarded-client-cert")); print(h.get("x-auth-subject"), "/", h.get("x-auth-scopes"), "/ authorization:", h.get("authorization"))')
say "what the upstream received (forged X-Forwarded-Client-Cert and X-Auth-Subject were sent and dropped):"
printf '%s\n' "$HDRS" | sed 's/^/      /'
show "10. A certificate the route does not allow (ns/dev): 403 problem+json" \
    --cert "$RUN/clients/batch.crt" --key "$RUN/clients/batch.key" -H "$BEARER" "$URL"
show "11. A Host the TLS server name does not cover: 421" \
    --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" -H "$BEARER" -H "Host: other.demo.local" "$URL"
show "12. An unknown host: 404 with no detail" \
    --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" -H "$BEARER" "https://other.demo.local:$GWP/"
bold "13. Offline: portcullis-admin policy explain gives the same decision, with every reason"
say "\$ portcullis-admin policy explain -c portcullis.yaml --cert clients/batch.crt --token \$TOKEN --host billing.demo.local --path /api/invoices"
printf '%s\n' "$TOKEN_READ" | $ADMIN --ca-dir "$RUN/ca" policy explain -c "$RUN/portcullis.yaml" --cert "$RUN/clients/batch.crt" \
    --token - --host billing.demo.local --path /api/invoices 2>/dev/null | sed 's/^/    /'
say "-> exit $? (1 = deny); and for 'web' with the same token:"
printf '%s\n' "$TOKEN_READ" | $ADMIN --ca-dir "$RUN/ca" policy explain -c "$RUN/portcullis.yaml" --cert "$RUN/clients/web.crt" \
    --token - --host billing.demo.local --path /api/invoices 2>/dev/null | grep -E '^(decision|stops at)' | sed 's/^/    /'

bold "14. The rate limit (1/s, burst 3, in Redis): quick calls until one is refused"
for i in 1 2 3 4; do
    out=$($C -o /dev/null -D - --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" -H "$BEARER" "$URL")
    code=$(printf '%s' "$out" | head -1 | awk '{print $2}')
    say "call $i -> HTTP $code   $(printf '%s' "$out" | grep -iE '^(ratelimit|retry-after):' | tr -d '\r' | tr '\n' ' ')"
done

bold "15. Revoke 'web'; the gateway picks up the new CRL within a second"
$ADMIN --ca-dir "$RUN/ca" client revoke web --reason keyCompromise | sed 's/^/    /'
sleep 1.2
show "    the same certificate now" --cert "$RUN/clients/web.crt" --key "$RUN/clients/web.key" -H "$BEARER" "$URL"

bold "16. The access log (one JSON line per request; shown here as columns) and the handshake refusals"
sleep 0.3
$PY - "$RUN/access.log" <<'PYEOF'
import json, sys
print("    %-6s %-8s %-22s %-36s %-16s %s" % ("status", "decision", "reason", "identity", "token sub", "route"))
for a in sorted((json.loads(l) for l in open(sys.argv[1])), key=lambda a: a["time"]):
    print("    %-6s %-8s %-22s %-36s %-16s %s" % (a["status"], a["decision"], a["reason"],
                                                   a.get("identity") or "-", a.get("sub") or "-",
                                                   a.get("route") or "-"))
PYEOF
grep "handshake refused" "$RUN/gateway.log" | sed 's/^.*warn: /    /' | cut -c1-200
bold "17. Metrics (http://127.0.0.1:$ADM/metrics), a few lines"
curl -s "http://127.0.0.1:$ADM/metrics" | grep -E '^portcullis_(requests_total|tls_handshake_failures_total\{reason="(no_certificate|unknown_ca|revoked)")' | sed 's/^/    /'
echo
bold "18. The TLS served, graded against etc/tls-policy.yaml (portcullis-admin tls audit)"
say "\$ portcullis-admin tls audit 127.0.0.1:$GWP --policy etc/tls-policy.yaml --sni billing.demo.local --cafile server/ca.pem --cert clients/batch.crt --key clients/batch.key"
$ADMIN tls audit "127.0.0.1:$GWP" --policy "$ROOT/etc/tls-policy.yaml" --sni billing.demo.local \
    --cafile "$RUN/server/ca.pem" --cert "$RUN/clients/batch.crt" --key "$RUN/clients/batch.key" 2>&1 |
    awk '/^[A-Z]/ { show = ($0 ~ /^(Protocols|Certificate|HSTS|Summary)/) } show' | sed 's/^/    /'
echo
echo "demo: done (files in demo/run/)"
