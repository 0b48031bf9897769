#!/usr/bin/python3
# portcullis-admin token issue / inspect / thumbprint and jwks: for every key
# type the token verifies independently with python3-jwt, with the public
# key and with the JWKS portcullis-admin writes (kid, alg, RFC 7638
# thumbprint computed here); claims land as asked (scope, --claim, --ttl,
# --nbf-offset, --bind-cert); inspect decodes without trust; the JWKS never
# holds a private member; bad input exits 1, bad usage 2.
import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F401,F403

import jwt  # noqa: E402  (Debian python3-jwt 2.6)
from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa  # noqa: E402

W = workdir()
ISS = "https://idp.example.com/"
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")


def load_pub(path):
    with open(path, "rb") as fh:
        return serialization.load_pem_private_key(fh.read(), None).public_key()


def int_bytes(n, size=None):
    return n.to_bytes(size or (n.bit_length() + 7) // 8, "big")


def jwk_of(pub):
    """The required JWK members of a public key, computed here (RFC 7518 6, RFC 8037)."""
    if isinstance(pub, rsa.RSAPublicKey):
        nums = pub.public_numbers()
        return {"kty": "RSA", "n": b64url(int_bytes(nums.n)), "e": b64url(int_bytes(nums.e))}
    if isinstance(pub, ec.EllipticCurvePublicKey):
        nums = pub.public_numbers()
        size = (pub.curve.key_size + 7) // 8
        crv = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}[pub.curve.name]
        return {"kty": "EC", "crv": crv, "x": b64url(int_bytes(nums.x, size)),
                "y": b64url(int_bytes(nums.y, size))}
    raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return {"kty": "OKP", "crv": "Ed25519", "x": b64url(raw)}


def thumbprint(jwk):
    """RFC 7638: SHA-256 of the required members, sorted, no whitespace."""
    text = json.dumps(jwk, sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(text.encode()).digest())


def parts(tok):
    import base64
    h, p, s = tok.split(".")
    dec = lambda x: base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))  # noqa: E731
    return json.loads(dec(h)), json.loads(dec(p)), dec(s)


def decode(tok, key, alg, aud="billing", **kw):
    return jwt.decode(tok, key, algorithms=[alg], audience=aud, issuer=ISS, **kw)


# --- every key type: issue, verify independently, JWKS ------------------------------------
keys = {kind: genkey(os.path.join(W, kind + ".pem"), kind)
        for kind in ("rsa2048", "ec256", "ec384", "ec521", "ed25519")}
cases = [("rsa2048", None, "RS256", 256), ("rsa2048", "PS256", "PS256", 256),
         ("rsa2048", "RS512", "RS512", 256), ("rsa2048", "PS512", "PS512", 256),
         ("ec256", None, "ES256", 64), ("ec384", None, "ES384", 96), ("ec521", None, "ES512", 132),
         ("ed25519", None, "EdDSA", 64)]
jtis = set()
for kind, opt_alg, alg, siglen in cases:
    what = "%s%s" % (kind, " --alg " + opt_alg if opt_alg else "")
    key = keys[kind]
    pub = load_pub(key)
    t0 = int(time.time())
    r = admin("token", "issue", "--key", key, "--iss", ISS, "--aud", "billing", "--sub", "alice",
              *(["--alg", opt_alg] if opt_alg else []))
    if not is_(r.returncode, 0, "%s: token issue exits 0" % what):
        diag(r.stderr)
        continue
    ok(r.stderr == "" and r.stdout.count("\n") == 1 and r.stdout.endswith("\n"),
       "%s: stdout is the token alone, on one line" % what, r.stdout + r.stderr)
    tok = r.stdout.strip()
    like(tok, r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$", "%s: compact JWS, base64url" % what)
    hdr, body, sig = parts(tok)
    is_(hdr, {"alg": alg, "typ": "JWT", "kid": thumbprint(jwk_of(pub))},
        "%s: header is exactly alg/typ JWT/kid = RFC 7638 thumbprint" % what)
    is_(len(sig), siglen, "%s: signature of %d bytes%s" % (
        what, siglen, " (JOSE raw r||s)" if alg.startswith("ES") else ""))
    try:
        claims = decode(tok, pub, alg)
        ok(True, "%s: python3-jwt verifies it with the public key" % what)
    except Exception as e:  # noqa: BLE001
        ok(False, "%s: python3-jwt verifies it with the public key" % what, repr(e))
        continue
    is_((claims["iss"], claims["sub"], claims["aud"]), (ISS, "alice", "billing"),
        "%s: iss, sub, aud" % what)
    ok(abs(claims["iat"] - t0) <= 5 and claims["nbf"] == claims["iat"]
       and claims["exp"] - claims["iat"] == 3600, "%s: iat now, nbf = iat, exp = iat + 1h" % what,
       claims)
    ok(re.fullmatch(r"[A-Za-z0-9_-]{22}", claims["jti"]) and claims["jti"] not in jtis,
       "%s: jti is 16 random bytes, base64url, fresh" % what, claims)
    jtis.add(claims["jti"])
    is_(sorted(claims), ["aud", "exp", "iat", "iss", "jti", "nbf", "sub"],
        "%s: no claim beyond the ones asked for" % what)
    # tampering is noticed by the independent verifier (the check above is real)
    bad = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
    try:
        decode(bad, pub, alg)
        ok(False, "%s: a tampered signature is refused by python3-jwt" % what)
    except jwt.InvalidSignatureError:
        ok(True, "%s: a tampered signature is refused by python3-jwt" % what)
    except Exception as e:  # noqa: BLE001
        ok(True, "%s: a tampered signature is refused by python3-jwt (%s)" % (what, type(e).__name__))

    # the JWKS of the same key file (private PEM in, public members out)
    r = admin("jwks", key, *(["--alg", opt_alg] if opt_alg else []))
    is_(r.returncode, 0, "%s: jwks exits 0" % what)
    doc = json.loads(r.stdout)
    is_(len(doc["keys"]), 1, "%s: jwks has one key" % what)
    k = doc["keys"][0]
    ok(not any(m in k for m in PRIVATE_MEMBERS) and not re.search(r'"(d|p|q|dp|dq|qi)"\s*:', r.stdout),
       "%s: jwks holds no private member" % what, r.stdout)
    want = dict(jwk_of(pub), use="sig", alg=alg, kid=hdr["kid"])
    is_(k, want, "%s: JWK members are the key's own (computed here), use sig, alg %s, kid" % (what, alg))
    try:
        jwks = jwt.PyJWKSet.from_dict(doc)
        jwk = jwks[hdr["kid"]]
        claims2 = decode(tok, jwk.key, alg)
        ok(claims2 == claims, "%s: PyJWKSet from that JWKS verifies the token by kid" % what)
    except Exception as e:  # noqa: BLE001
        ok(False, "%s: PyJWKSet from that JWKS verifies the token by kid" % what, repr(e))
    r = admin("token", "thumbprint", key)
    is_((r.returncode, r.stdout.strip()), (0, hdr["kid"]), "%s: token thumbprint = the kid" % what)
    r = admin("token", "inspect", tok)
    ok(r.returncode == 0 and '"alg": "%s"' % alg in r.stdout
       and "signature NOT verified: inspect implies no trust" in r.stdout,
       "%s: token inspect decodes it (even algorithms libjwt lacks)" % what, r.stdout + r.stderr)

# --- JWKS: public key, certificate, several keys, --kid in order ----------------------------
pubpem = os.path.join(W, "ec256.pub")
openssl_out("pkey", "-in", keys["ec256"], "-pubout", "-out", pubpem)
cert = os.path.join(W, "ec256.crt")
openssl_out("req", "-x509", "-new", "-key", keys["ec256"], "-subj", "/CN=jwks", "-days", "1",
            "-out", cert)
outs = [admin("jwks", f).stdout for f in (keys["ec256"], pubpem, cert)]
ok(outs[0] == outs[1] == outs[2] and outs[0], "jwks: private key, public key and certificate give the same JWKS")
doc = write_jwks(os.path.join(W, "jwks.json"), "--kid", "one", "--kid", "two", "--kid", "three",
                 keys["rsa2048"], keys["ec384"], keys["ed25519"])
is_([(k["kid"], k["kty"], k["alg"]) for k in doc["keys"]],
    [("one", "RSA", "RS256"), ("two", "EC", "ES384"), ("three", "OKP", "EdDSA")],
    "jwks: several keys, kids in the order given, default algs")
ok(all(not any(m in k for m in PRIVATE_MEMBERS) for k in doc["keys"]), "jwks: no private member in any key")
tok = issue_token(keys["ec384"], ISS, "billing", "bob", "--kid", "two")
is_(parts(tok)[0]["kid"], "two", "--kid sets the header kid")
try:
    jwk = jwt.PyJWKSet.from_dict(doc)["two"]
    is_(decode(tok, jwk.key, "ES384")["sub"], "bob", "the multi-key JWKS verifies a --kid token")
except Exception as e:  # noqa: BLE001
    ok(False, "the multi-key JWKS verifies a --kid token", repr(e))
r = admin("jwks", "--alg", "PS256", keys["rsa2048"])
is_(json.loads(r.stdout)["keys"][0]["alg"], "PS256", "jwks --alg PS256 for an RSA key")
r = admin("jwks", keys["ec256"], pubpem)
ok(failed_with(r, 1, r"already used"), "jwks: the same key twice (same thumbprint) exits 1", r.stderr)
r = admin("jwks", "--kid", "a", keys["ec256"], keys["ec384"])
ok(failed_with(r, 2, r"--kid given 1 times for 2 keys"), "jwks: --kid count not the key count exits 2", r.stderr)
r = admin("jwks", "--alg", "PS256", keys["ec256"])
ok(failed_with(r, 1, r"does not fit"), "jwks: --alg PS256 for an EC key exits 1", r.stderr)
r = admin("jwks", cert + ".missing")
ok(failed_with(r, 1, r"No such file"), "jwks: a missing file exits 1", r.stderr)
r = admin("jwks")
is_(r.returncode, 2, "jwks without a key exits 2")

# --- claims as asked ------------------------------------------------------------------------
key = keys["ec256"]
pub = load_pub(key)
tok = issue_token(key, ISS, "billing", "alice", "--scope", "billing:read  billing:write",
                  "--claim", "email=alice@example.com", "--claim", "tenant=acme=1",
                  "--aud", "audit", "--ttl", "90s", "--nbf-offset", "-1h")
c = decode(tok, pub, "ES256", aud="audit")
is_(c["scope"], "billing:read billing:write", "--scope lands, space separated")
is_((c["email"], c["tenant"]), ("alice@example.com", "acme=1"), "--claim NAME=VALUE lands (split at the first =)")
is_(c["aud"], ["billing", "audit"], "--aud twice gives an audience list")
is_(c["exp"] - c["iat"], 90, "--ttl 90s: exp = iat + 90")
is_(c["nbf"] - c["iat"], -3600, "--nbf-offset -1h: nbf = iat - 3600")

tok = issue_token(key, ISS, "billing", "alice", "--nbf-offset", "10m", "--ttl", "1h")
try:
    decode(tok, pub, "ES256")
    ok(False, "--nbf-offset 10m: python3-jwt says not yet valid")
except jwt.ImmatureSignatureError:
    ok(True, "--nbf-offset 10m: python3-jwt says not yet valid")
r = admin("token", "inspect", tok)
like(r.stdout, r"(?m)^nbf: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(not yet valid, starts in (10m|9m \d+s)\)$",
     "inspect: nbf in the future is 'not yet valid'")

tok = issue_token(key, ISS, "billing", "alice", "--now", "-2h", "--ttl", "1h")
try:
    decode(tok, pub, "ES256")
    ok(False, "--now -2h --ttl 1h: python3-jwt says expired")
except jwt.ExpiredSignatureError:
    ok(True, "--now -2h --ttl 1h: python3-jwt says expired")
r = admin("token", "inspect", tok)
like(r.stdout, r"(?m)^exp: \S+ \(expired (1h|59m \d+s) ago\)$", "inspect: 'expired 1h ago'")

# --bind-cert: cnf x5t#S256 = base64url(SHA-256(DER)), computed here
ca = ClientCA()
crt, _ckey, _serial = ca.issue("svc-a")
with open(crt, "rb") as fh:
    der = x509.load_pem_x509_certificate(fh.read()).public_bytes(serialization.Encoding.DER)
tok = issue_token(key, ISS, "billing", "svc-a", "--bind-cert", crt)
c = decode(tok, pub, "ES256")
is_(c.get("cnf"), {"x5t#S256": b64url(hashlib.sha256(der).digest())},
    "--bind-cert: cnf x5t#S256 = base64url(SHA-256(DER of the certificate))")
r = admin("token", "issue", "--key", key, "--iss", ISS, "--aud", "b", "--sub", "s", "--bind-cert", key)
ok(failed_with(r, 1, r"not a PEM certificate"), "--bind-cert with a key file exits 1", r.stderr)

# --- token inspect ------------------------------------------------------------------------------
tok = issue_token(key, ISS, "billing", "alice", "--scope", "a b", "--claim", "email=a@example.com")
r = admin("token", "inspect", tok)
is_(r.returncode, 0, "inspect exits 0")
out = r.stdout
m = re.search(r"^header:\n(\{.*?^\})\nclaims:\n(\{.*?^\})\n", out, re.S | re.M)
ok(m is not None, "inspect prints header: and claims: as JSON", out)
if m:
    is_(json.loads(m.group(1)), parts(tok)[0], "inspect: the header JSON is the token's")
    is_(json.loads(m.group(2)), parts(tok)[1], "inspect: the claims JSON is the token's")
like(out, r"(?m)^alg: ES256, signature 64 bytes$", "inspect: alg and signature size")
like(out, r"(?m)^iat: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(\d+s ago\)$", "inspect: iat as a date")
like(out, r"(?m)^exp: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \(valid for (1h|59m \d+s)\)$", "inspect: exp 'valid for'")
like(out, r"(?m)^signature NOT verified: inspect implies no trust$", "inspect: the NOT verified line")
unlike(out, r"(?i)(?<!NOT )\bverified\b|signature (ok|valid)", "inspect never claims a verification")
untimed = lambda text: re.sub(r"(?m)^(iat|nbf|exp): .*$", "", text)  # noqa: E731
r = admin("token", "inspect", "-", input=tok + "\n")
ok(r.returncode == 0 and untimed(r.stdout) == untimed(out), "inspect - reads the token from stdin",
   (r.stdout, r.stderr))
# a token libjwt refuses to decode (typ at+jwt, RFC 9068), signed here with a key of ours
with open(keys["ec256"], "rb") as fh:
    pk = serialization.load_pem_private_key(fh.read(), None)
foreign = jwt.encode({"sub": "x", "exp": int(time.time()) + 60}, pk, algorithm="ES256",
                     headers={"typ": "at+jwt", "kid": "k9"})
r = admin("token", "inspect", foreign)
ok(r.returncode == 0 and '"typ": "at+jwt"' in r.stdout, "inspect decodes typ at+jwt", r.stdout + r.stderr)
# control characters in claims stay escaped
evil = jwt.encode({"sub": "\x1b[31mred\u00e9"}, pk, algorithm="ES256")
r = admin("token", "inspect", evil)
ok(r.returncode == 0 and "\x1b" not in r.stdout and "\\u001b" in r.stdout.lower()
   and "\\u00e9" in r.stdout.lower(),
   "inspect escapes control and non-ASCII characters", r.stdout)
like(r.stdout, r"(?m)^exp: absent", "inspect: a token without exp says so")

h = b64url(b'{"alg":"ES256"}')
for bad, why, pat in [
        ("garbage", "not three parts", r"3 parts"),
        ("a.b.c.d.e", "five parts (JWE)", r"JWE"),
        (h + "=." + b64url(b"{}") + ".", "padding", r"not base64url"),
        (h + "." + b64url(b"[1]") + ".", "claims not an object", r"not a JSON object"),
        (b64url(b'{"alg":"ES256","alg":"x"}') + ".e30.", "duplicate member", r"duplicate"),
        (b64url(b'{"typ":"JWT"}') + ".e30.", "header without alg", r'"alg"'),
        (h + ".e30.a", "bad signature encoding", r"signature"),
        ("", "empty", r"empty"),
        ("x" * 70000, "too long", r"longer than 65536")]:
    r = admin("token", "inspect", bad)
    ok(failed_with(r, 1, pat) and r.stdout == "", "inspect %s: exit 1, one line, nothing on stdout" % why,
       (r.returncode, r.stdout, r.stderr))
r = admin("token", "inspect", "-", input="x" * (70000))
ok(failed_with(r, 1, r"longer than"), "inspect - with too much input exits 1", r.stderr)

# --- refusals --------------------------------------------------------------------------------------
base = ["token", "issue", "--key", key, "--iss", ISS, "--aud", "billing", "--sub", "alice"]
for extra, pat, what in [
        (["--ttl", "31d"], r"--ttl", "--ttl above 30d"),
        (["--ttl", "10"], r"--ttl", "--ttl without a unit"),
        (["--ttl", "0s"], r"--ttl", "--ttl 0s"),
        (["--nbf-offset", "1h"], r"never be valid", "--nbf-offset not below --ttl"),
        (["--nbf-offset", "x"], r"--nbf-offset", "--nbf-offset garbage"),
        (["--claim", "novalue"], r"NAME=VALUE", "--claim without ="),
        (["--claim", "exp=1"], r"own option", "--claim overriding exp"),
        (["--claim", "scope=admin"], r"own option", "--claim overriding scope"),
        (["--claim", "a=1", "--claim", "a=2"], r"twice", "--claim twice"),
        (["--claim", "a=x\ty"], r"control", "--claim with a control character"),
        (["--scope", 'a "b"'], r"RFC 6749", "--scope with a quote"),
        (["--alg", "HS256"], r"never made", "--alg HS256"),
        (["--alg", "none"], r"never made", "--alg none"),
        (["--kid", ""], r"--kid: empty", "--kid empty"),
        (["--now", "yesterday"], r"--now", "--now garbage"),
        (["--bogus"], r"unknown option", "an unknown option"),
        (["extra"], r"unexpected argument", "a positional argument")]:
    r = admin(*(base + extra))
    ok(failed_with(r, 2) and re.search(pat, r.stderr) and r.stdout == "",
       "token issue %s: exit 2, nothing on stdout" % what, (r.returncode, r.stdout, r.stderr))
for drop in ("--key", "--iss", "--aud", "--sub"):
    i = base.index(drop)
    r = admin(*(base[:i] + base[i + 2:]))
    ok(failed_with(r, 2, re.escape(drop) + " is required"), "token issue without %s: exit 2" % drop, r.stderr)
r = admin("token")
is_(r.returncode, 2, "token without a command: exit 2")
r = admin("token", "bogus")
is_(r.returncode, 2, "token bogus: exit 2")
r = admin("token", "inspect")
is_(r.returncode, 2, "token inspect without a token: exit 2")

open_key = os.path.join(W, "open.pem")
with open(keys["ec256"]) as fh:
    write(open_key, fh.read(), 0o644)
weak = os.path.join(W, "rsa1024.pem")
openssl_out("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:1024", "-out", weak)
ed448 = os.path.join(W, "ed448.pem")
openssl_out("genpkey", "-algorithm", "ED448", "-out", ed448)
k1 = os.path.join(W, "k1.pem")
openssl_out("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:secp256k1", "-out", k1)
pubkey600 = os.path.join(W, "ec256-pub.pem")
with open(pubpem) as fh:
    write(pubkey600, fh.read(), 0o600)  # the mode check passes; the content does not
for k in (weak, ed448, k1):
    os.chmod(k, 0o600)
for k, extra, pat, what in [
        (os.path.join(W, "missing.pem"), [], r"No such file", "a missing key"),
        (open_key, [], r"chmod 600", "a key readable by others"),
        (pubkey600, [], r"ec256-pub\.pem", "a public key"),
        (weak, [], r"1024 bits", "an RSA-1024 key"),
        (ed448, [], r"not supported", "an Ed448 key"),
        (k1, [], r"P-256, P-384 and P-521", "a secp256k1 key"),
        (keys["ec256"], ["--alg", "PS256"], r"does not fit", "--alg PS256 with an EC key"),
        (keys["ec256"], ["--alg", "ES384"], r"does not fit", "--alg ES384 with a P-256 key"),
        (keys["ed25519"], ["--alg", "RS256"], r"does not fit", "--alg RS256 with an Ed25519 key")]:
    r = admin("token", "issue", "--key", k, "--iss", ISS, "--aud", "b", "--sub", "s", *extra)
    ok(failed_with(r, 1, pat) and r.stdout == "", "token issue with %s: exit 1, one line" % what,
       (r.returncode, r.stdout, r.stderr))

done_testing()
