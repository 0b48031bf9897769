#!/usr/bin/env bash
# pki.sh DIR: key material for the benchmark, made with the openssl CLI (ECDSA P-256).
#   client-ca.pem            client CA (what every peer verifies client certs against)
#   client.pem/.key          client cert: EKU clientAuth, URI SAN spiffe://bench.local/ns/prod/sa/client
#   server-ca.pem            server CA (curl --cacert)
#   server.pem/.key          server cert for DNS:localhost, IP:127.0.0.1; server-haproxy.pem = cert+key
#   rogue-ca.pem, rogue.pem/.key   same client subject, issued by a CA nobody trusts
#   jwt-rs256.*, jwt-es256.* JWT signing keys (+ .pub.pem, jwks.json) and tokens jwt-*.txt,
#                            bad/*.txt negative tokens (minted with Debian's python3-jwt, if installed)
set -euo pipefail
D=$1
rm -rf "$D"
mkdir -p "$D/bad"
cd "$D"
ossl() { openssl "$@" 2>/dev/null; }
key() { ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; }
ca() { # name CN
    key "$1.key"
    ossl req -x509 -new -key "$1.key" -sha256 -days 3650 -subj "/O=portcullis-bench/CN=$2" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
        -out "$1.pem"
}
leaf() { # name ca subject ext-lines...
    local n=$1 c=$2 s=$3
    shift 3
    key "$n.key"
    printf '%s\n' "$@" >"$n.ext"
    ossl req -new -key "$n.key" -subj "$s" -out "$n.csr"
    ossl x509 -req -in "$n.csr" -CA "$c.pem" -CAkey "$c.key" -CAcreateserial -days 3650 -sha256 \
        -extfile "$n.ext" -out "$n.pem"
    rm -f "$n.csr" "$n.ext"
}
CLIENT_EXT=("basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature"
    "extendedKeyUsage=clientAuth" "subjectAltName=URI:spiffe://bench.local/ns/prod/sa/client")
ca client-ca "bench client CA"
ca server-ca "bench server CA"
ca rogue-ca "bench ROGUE CA (trusted by nobody)"
leaf server server-ca "/O=portcullis-bench/CN=localhost" "basicConstraints=critical,CA:FALSE" \
    "keyUsage=critical,digitalSignature" "extendedKeyUsage=serverAuth" \
    "subjectAltName=DNS:localhost,IP:127.0.0.1"
leaf client client-ca "/O=portcullis-bench/CN=bench-client" "${CLIENT_EXT[@]}"
leaf rogue rogue-ca "/O=portcullis-bench/CN=bench-client" "${CLIENT_EXT[@]}"
cat server.pem server.key >server-haproxy.pem
openssl verify -CAfile client-ca.pem client.pem >/dev/null
if openssl verify -CAfile client-ca.pem rogue.pem >/dev/null 2>&1; then
    echo "pki.sh: rogue cert verifies against the client CA?!" >&2
    exit 1
fi
chmod 644 ./*.key ./*.pem # scratch keys; nginx workers may run as nobody

ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out jwt-rs256.key
ossl pkey -in jwt-rs256.key -pubout -out jwt-rs256.pub.pem
key jwt-es256.key
ossl pkey -in jwt-es256.key -pubout -out jwt-es256.pub.pem
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out jwt-other.key
if ! /usr/bin/python3 -c 'import jwt, cryptography' 2>/dev/null; then
    echo "pki.sh: python3-jwt missing (apt-get install python3-jwt): no JWT tokens minted" >&2
    exit 0
fi
/usr/bin/python3 - <<'EOF'
import json, jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

ISS, AUD, SUB = "https://issuer.bench.local", "bench", "spiffe://bench.local/ns/prod/sa/client"
good = {"iss": ISS, "aud": AUD, "sub": SUB, "iat": 1700000000, "exp": 4102444800, "scope": "read"}
rs, es, other = (open(f).read() for f in ("jwt-rs256.key", "jwt-es256.key", "jwt-other.key"))
put = lambda name, tok: open(name, "w").write(tok + "\n")
put("jwt-rs256.txt", jwt.encode(good, rs, "RS256", headers={"kid": "rs1"}))
put("jwt-es256.txt", jwt.encode(good, es, "ES256", headers={"kid": "es1"}))
put("bad/expired.txt", jwt.encode({**good, "exp": 1000000000}, rs, "RS256", headers={"kid": "rs1"}))
put("bad/wrong-aud.txt", jwt.encode({**good, "aud": "other"}, rs, "RS256", headers={"kid": "rs1"}))
put("bad/wrong-iss.txt", jwt.encode({**good, "iss": "https://evil"}, rs, "RS256", headers={"kid": "rs1"}))
put("bad/wrong-key.txt", jwt.encode(good, other, "RS256", headers={"kid": "rs1"}))
put("bad/alg-none.txt", jwt.encode(good, None, "none"))
t = jwt.encode(good, rs, "RS256", headers={"kid": "rs1"})
put("bad/tampered.txt", t[:-4] + ("AAAA" if t[-4:] != "AAAA" else "BBBB"))
keys = []
for kid, alg, f, A in (("rs1", "RS256", "jwt-rs256.pub.pem", RSAAlgorithm), ("es1", "ES256", "jwt-es256.pub.pem", ECAlgorithm)):
    k = json.loads(A.to_jwk(A(A.SHA256).prepare_key(open(f).read())))
    keys.append({**k, "kid": kid, "alg": alg, "use": "sig"})
json.dump({"keys": keys}, open("jwks.json", "w"), indent=1)
EOF
