#!/usr/bin/python3
"""
Independent JWT test vectors for authn/ (tests/unit/test_authn_vectors.c).

Generates fresh TEST-ONLY keys with python3-cryptography, writes their
public JWKS, and mints tokens with python3-jwt (PyJWT 2.6, Debian) -- or by
hand where PyJWT refuses to make an attack token -- together with the
verdict Portcullis must reach.  Run with Debian's interpreter (the first
python3 on PATH may be a pyenv one without these modules):

    /usr/bin/python3 tests/unit/jwt_vectors.py tests/unit/jwt

Output (committed, so the C tests need no Python):
    jwks.json      the public keys (kids start with TEST-ONLY-)
    vectors.txt    one vector per line: NAME VERDICT X5T TOKEN
                   VERDICT is the enum authn_jwt_err suffix (OK, SIGNATURE...);
                   X5T is '-' or the client certificate's x5t#S256, in which
                   case the route requires cnf binding.
    README         what this is

The verdict is that of authn_jwt_verify() followed (when it succeeds) by
authn_claims_check() at NOW, issuer ISS with a 30 s leeway, route
audience AUD and required scope SCOPE.  The private keys are thrown away.
"""
import base64
import hashlib
import hmac
import json
import os
import sys

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

NOW = 1700000000
ISS = "https://idp.test.example/"
AUD = "billing"
SCOPE = "billing:read"
X5T = "q3RmCNzJCe_pHFqmtRrOS6uDnnr1ZKQYkWKHOvu3ZNY"  # any base64url SHA-256


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64json(o):
    return b64(json.dumps(o, separators=(",", ":")).encode())


def ec_coords(pub):
    """x and y at the full size of the curve (RFC 7518 6.2.1.2).  PyJWT 2.6's
    to_jwk strips leading zero octets, which its own from_jwk then refuses."""
    n = (pub.curve.key_size + 7) // 8
    nums = pub.public_numbers()
    return {"x": b64(nums.x.to_bytes(n, "big")), "y": b64(nums.y.to_bytes(n, "big"))}


def claims(**over):
    c = {"iss": ISS, "sub": "alice", "aud": AUD, "iat": NOW - 60, "nbf": NOW - 60,
         "exp": NOW + 600, "jti": "j-1", "scope": "billing:read billing:write"}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def main(outdir):
    os.makedirs(outdir, exist_ok=True)
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    rsa3k = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ec256 = ec.generate_private_key(ec.SECP256R1())
    ec384 = ec.generate_private_key(ec.SECP384R1())
    ec521 = ec.generate_private_key(ec.SECP521R1())
    ed = ed25519.Ed25519PrivateKey.generate()
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    attacker_ec = ec.generate_private_key(ec.SECP256R1())

    def jwk(alg_cls, key, kid, alg=None):
        d = json.loads(alg_cls.to_jwk(key.public_key()))
        if d["kty"] == "EC":
            d.update(ec_coords(key.public_key()))
        d["kid"] = kid
        d["use"] = "sig"
        if alg:
            d["alg"] = alg
        return d

    keys = [
        jwk(RSAAlgorithm, rsa_key, "TEST-ONLY-rsa"),
        jwk(RSAAlgorithm, rsa3k, "TEST-ONLY-rsa-rs256", "RS256"),
        jwk(ECAlgorithm, ec256, "TEST-ONLY-ec256"),
        jwk(ECAlgorithm, ec384, "TEST-ONLY-ec384"),
        jwk(ECAlgorithm, ec521, "TEST-ONLY-ec521"),
        jwk(OKPAlgorithm, ed, "TEST-ONLY-ed25519"),
    ]
    with open(os.path.join(outdir, "jwks.json"), "w") as f:
        json.dump({"keys": keys}, f, indent=1)
        f.write("\n")

    vec = []

    def add(name, verdict, tok, x5t="-"):
        vec.append((name, verdict, x5t, tok))

    def mint(alg, key, kid, c=None, **hdr):
        h = {"kid": kid}
        h.update(hdr)
        return jwt.encode(c if c is not None else claims(), key, algorithm=alg, headers=h)

    def by_hand(header, payload, sign):
        si = b64json(header) + "." + b64json(payload)
        return si + "." + b64(sign(si.encode()))

    # every algorithm, signed by PyJWT with the right key
    for alg, key, kid in [
        ("RS256", rsa_key, "TEST-ONLY-rsa"), ("RS384", rsa_key, "TEST-ONLY-rsa"),
        ("RS512", rsa_key, "TEST-ONLY-rsa"), ("PS256", rsa_key, "TEST-ONLY-rsa"),
        ("PS384", rsa_key, "TEST-ONLY-rsa"), ("PS512", rsa_key, "TEST-ONLY-rsa"),
        ("RS256", rsa3k, "TEST-ONLY-rsa-rs256"),
        ("ES256", ec256, "TEST-ONLY-ec256"), ("ES384", ec384, "TEST-ONLY-ec384"),
        ("ES512", ec521, "TEST-ONLY-ec521"), ("EdDSA", ed, "TEST-ONLY-ed25519"),
    ]:
        add("valid_%s_%s" % (alg, kid), "OK", mint(alg, key, kid))

    good = mint("RS256", rsa_key, "TEST-ONLY-rsa")
    h, p, s = good.split(".")

    # header and type variants
    add("typ_at_jwt", "OK", mint("ES256", ec256, "TEST-ONLY-ec256", typ="at+jwt"))
    add("typ_application_at_jwt", "OK",
        mint("ES256", ec256, "TEST-ONLY-ec256", typ="application/at+jwt"))
    add("typ_jose_json", "TYP", mint("ES256", ec256, "TEST-ONLY-ec256", typ="JOSE+JSON"))
    add("crit_header", "CRIT", mint("ES256", ec256, "TEST-ONLY-ec256", crit=["exp"]))
    add("unknown_kid", "KID_UNKNOWN", mint("RS256", rsa_key, "TEST-ONLY-nope"))
    add("no_kid_many_keys", "KID_MISSING",
        jwt.encode(claims(), rsa_key, algorithm="RS256"))
    add("ps256_on_rs256_only_key", "ALG", mint("PS256", rsa3k, "TEST-ONLY-rsa-rs256"))

    # attacks
    add("alg_none_empty_sig", "ALG",
        jwt.encode(claims(), None, algorithm="none", headers={"kid": "TEST-ONLY-rsa"}))
    add("alg_none_with_sig", "ALG", b64json({"alg": "none", "kid": "TEST-ONLY-rsa"}) + "." + p +
        "." + s)
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    add("hs256_with_public_pem", "ALG",
        by_hand({"alg": "HS256", "typ": "JWT", "kid": "TEST-ONLY-rsa"}, claims(),
                lambda si: hmac.new(pem, si, hashlib.sha256).digest()))
    add("es256_header_rsa_key", "ALG",
        by_hand({"alg": "ES256", "kid": "TEST-ONLY-rsa"}, claims(),
                lambda si: rsa_key.sign(si, padding.PKCS1v15(), hashes.SHA256())))
    add("rs256_header_ec_key", "ALG",
        by_hand({"alg": "RS256", "kid": "TEST-ONLY-ec256"}, claims(),
                lambda si: rsa_key.sign(si, padding.PKCS1v15(), hashes.SHA256())))
    add("es256_der_signature", "SIGNATURE",
        by_hand({"alg": "ES256", "kid": "TEST-ONLY-ec256"}, claims(),
                lambda si: ec256.sign(si, ec.ECDSA(hashes.SHA256()))))
    add("ps256_max_salt", "SIGNATURE",
        by_hand({"alg": "PS256", "kid": "TEST-ONLY-rsa"}, claims(),
                lambda si: rsa_key.sign(si, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                        salt_length=padding.PSS.MAX_LENGTH),
                                        hashes.SHA256())))
    add("ps256_no_salt", "SIGNATURE",
        by_hand({"alg": "PS256", "kid": "TEST-ONLY-rsa"}, claims(),
                lambda si: rsa_key.sign(si, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                                        salt_length=0), hashes.SHA256())))
    add("rs256_signed_sha1", "SIGNATURE",
        by_hand({"alg": "RS256", "kid": "TEST-ONLY-rsa"}, claims(),
                lambda si: rsa_key.sign(si, padding.PKCS1v15(), hashes.SHA1())))
    add("attacker_key_real_kid", "SIGNATURE", mint("RS256", attacker, "TEST-ONLY-rsa"))
    ajwk = json.loads(ECAlgorithm.to_jwk(attacker_ec.public_key()))
    ajwk.update(ec_coords(attacker_ec.public_key()))
    add("embedded_jwk_attacker", "SIGNATURE",
        mint("ES256", attacker_ec, "TEST-ONLY-ec256", jwk=ajwk))
    add("jku_attacker", "SIGNATURE",
        mint("ES256", attacker_ec, "TEST-ONLY-ec256", jku="https://attacker.example/jwks"))
    other = jwt.encode(claims(sub="mallory"), attacker, algorithm="RS256")
    add("tampered_payload", "SIGNATURE", h + "." + other.split(".")[1] + "." + s)
    mid = len(s) // 2
    flip = s[:mid] + ("A" if s[mid] != "A" else "B") + s[mid + 1:]
    add("tampered_signature", "SIGNATURE", h + "." + p + "." + flip)
    raw = base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))
    add("truncated_signature", "SIGNATURE", h + "." + p + "." + b64(raw[:-1]))
    add("extended_signature", "SIGNATURE", h + "." + p + "." + b64(raw + b"\0"))
    # the same bytes with a non-zero unused low bit in the last character (len % 4 == 2)
    alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    assert len(s) % 4 == 2
    add("noncanonical_signature_bits", "MALFORMED",
        h + "." + p + "." + s[:-1] + alpha[alpha.index(s[-1]) | 1])
    add("jwe_five_parts", "JWE", h + ".." + b64(os.urandom(12)) + "." + p + "." + b64(b"x" * 16))
    add("padded_base64", "MALFORMED", h + "=." + p + "." + s)
    add("two_parts", "MALFORMED", h + "." + p)

    # claims
    add("expired", "EXPIRED", mint("RS256", rsa_key, "TEST-ONLY-rsa", claims(exp=NOW - 31)))
    add("expired_within_leeway", "OK",
        mint("RS256", rsa_key, "TEST-ONLY-rsa", claims(exp=NOW - 29)))
    add("exp_real", "OK", mint("RS256", rsa_key, "TEST-ONLY-rsa", claims(exp=NOW + 0.5)))
    add("nbf_future", "NOT_YET_VALID",
        mint("ES256", ec256, "TEST-ONLY-ec256", claims(nbf=NOW + 60)))
    add("iat_future", "IAT_FUTURE", mint("ES256", ec256, "TEST-ONLY-ec256", claims(iat=NOW + 60)))
    add("iat_future_within_leeway", "OK",
        mint("ES256", ec256, "TEST-ONLY-ec256", claims(iat=NOW + 20)))
    add("no_exp", "NO_EXP", mint("EdDSA", ed, "TEST-ONLY-ed25519", claims(exp=None)))
    add("exp_string", "NO_EXP", mint("EdDSA", ed, "TEST-ONLY-ed25519", claims(exp=str(NOW + 600))))
    add("iss_no_slash", "ISSUER",
        mint("EdDSA", ed, "TEST-ONLY-ed25519", claims(iss="https://idp.test.example")))
    add("iss_number", "ISSUER", mint("EdDSA", ed, "TEST-ONLY-ed25519", claims(iss=42)))
    add("aud_missing", "AUDIENCE", mint("EdDSA", ed, "TEST-ONLY-ed25519", claims(aud=None)))
    add("aud_wrong", "AUDIENCE", mint("EdDSA", ed, "TEST-ONLY-ed25519", claims(aud="billing2")))
    add("aud_array_without", "AUDIENCE",
        mint("EdDSA", ed, "TEST-ONLY-ed25519", claims(aud=["a", "b"])))
    add("aud_array_with", "OK",
        mint("EdDSA", ed, "TEST-ONLY-ed25519", claims(aud=["a", AUD])))
    add("scope_missing", "SCOPE",
        mint("ES384", ec384, "TEST-ONLY-ec384", claims(scope="billing:write")))
    add("scope_absent", "SCOPE", mint("ES384", ec384, "TEST-ONLY-ec384", claims(scope=None)))
    add("scp_array", "OK",
        mint("ES384", ec384, "TEST-ONLY-ec384", claims(scope=None, scp=["x", SCOPE])))
    add("scp_string", "OK",
        mint("ES384", ec384, "TEST-ONLY-ec384", claims(scope=None, scp="x " + SCOPE)))
    add("cnf_match", "OK",
        mint("ES512", ec521, "TEST-ONLY-ec521", claims(cnf={"x5t#S256": X5T})), X5T)
    add("cnf_missing", "BINDING", mint("ES512", ec521, "TEST-ONLY-ec521"), X5T)
    add("cnf_wrong", "BINDING",
        mint("ES512", ec521, "TEST-ONLY-ec521", claims(cnf={"x5t#S256": X5T[:-1] + "A"})), X5T)

    with open(os.path.join(outdir, "vectors.txt"), "w") as f:
        f.write("# generated by tests/unit/jwt_vectors.py (PyJWT %s); TEST-ONLY keys\n"
                % jwt.__version__)
        f.write("# NOW=%d ISS=%s AUD=%s SCOPE=%s leeway=30s\n" % (NOW, ISS, AUD, SCOPE))
        for v in vec:
            f.write(" ".join(v) + "\n")
    with open(os.path.join(outdir, "README"), "w") as f:
        f.write("TEST-ONLY fixtures: generated by tests/unit/jwt_vectors.py with Debian's\n"
                "python3-jwt and python3-cryptography.  The keys were generated for this\n"
                "test and their private halves discarded; never trust them anywhere.\n"
                "Checked by tests/unit/test_authn_vectors.c.\n")
    # self-check: PyJWT itself accepts our valid vectors
    pub = {k["kid"]: k for k in keys}
    for name, verdict, _, tok in vec:
        if name.startswith("valid_"):
            hd = jwt.get_unverified_header(tok)
            k = jwt.PyJWK(pub[hd["kid"]], algorithm=hd["alg"])
            jwt.decode(tok, k.key, algorithms=[hd["alg"]], audience=AUD, issuer=ISS,
                       options={"verify_exp": False, "verify_iat": False, "verify_nbf": False})
    print("%d vectors in %s" % (len(vec), outdir))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/unit/jwt")
