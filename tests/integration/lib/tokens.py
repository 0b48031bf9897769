"""
Independent JWT material for tests: keys, JWKS documents and tokens made
with Debian's python3-jwt and python3-cryptography (not with our code), and
the classic attack tokens built by hand.  Test keys only.
"""
import base64
import hashlib
import json
import os
import time

import jwt as pyjwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils


def b64u(b):
    if isinstance(b, str):
        b = b.encode()
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_json(o):
    return b64u(json.dumps(o, separators=(",", ":")).encode())


class Key:
    """A signing key with its kid and algorithm."""

    def __init__(self, kind="rsa", kid=None, alg=None):
        self.kind = kind
        if kind == "rsa":
            self.priv = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = alg or "RS256"
        elif kind == "ec256":
            self.priv = ec.generate_private_key(ec.SECP256R1())
            self.alg = alg or "ES256"
        elif kind == "ec384":
            self.priv = ec.generate_private_key(ec.SECP384R1())
            self.alg = alg or "ES384"
        elif kind == "ed25519":
            self.priv = ed25519.Ed25519PrivateKey.generate()
            self.alg = alg or "EdDSA"
        else:
            raise ValueError(kind)
        self.kid = kid or ("%s-%s" % (kind, os.urandom(4).hex()))

    def pem(self):
        return self.priv.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())

    def pub_pem(self):
        return self.priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)

    def jwk(self, with_alg=True):
        pub = self.priv.public_key()
        if self.kind == "rsa":
            n = pub.public_numbers()
            d = {"kty": "RSA", "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
                 "e": b64u(n.e.to_bytes((n.e.bit_length() + 7) // 8, "big"))}
        elif self.kind.startswith("ec"):
            n = pub.public_numbers()
            size = 32 if self.kind == "ec256" else 48
            d = {"kty": "EC", "crv": "P-256" if size == 32 else "P-384",
                 "x": b64u(n.x.to_bytes(size, "big")), "y": b64u(n.y.to_bytes(size, "big"))}
        else:
            raw = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
            d = {"kty": "OKP", "crv": "Ed25519", "x": b64u(raw)}
        d["kid"] = self.kid
        d["use"] = "sig"
        if with_alg:
            d["alg"] = self.alg
        return d

    def token(self, claims, headers=None, alg=None):
        """A token signed by python3-jwt."""
        h = {"kid": self.kid}
        h.update(headers or {})
        return pyjwt.encode(claims, self.pem(), algorithm=alg or self.alg, headers=h)

    def sign_raw(self, signing_input):
        """Sign bytes the JOSE way (ES*: raw r||s), for hand-built tokens."""
        if self.kind == "rsa":
            return self.priv.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        if self.kind.startswith("ec"):
            der = self.priv.sign(signing_input, ec.ECDSA(hashes.SHA256()))
            r, s = utils.decode_dss_signature(der)
            size = 32 if self.kind == "ec256" else 48
            return r.to_bytes(size, "big") + s.to_bytes(size, "big")
        return self.priv.sign(signing_input)


def jwks(*keys, with_alg=True):
    return json.dumps({"keys": [k.jwk(with_alg) for k in keys]})


def claims(iss, aud, sub="alice", scope=None, ttl=300, **extra):
    now = int(time.time())
    c = {"iss": iss, "aud": aud, "sub": sub, "iat": now, "nbf": now, "exp": now + ttl,
         "jti": os.urandom(8).hex()}
    if scope is not None:
        c["scope"] = scope
    c.update(extra)
    return {k: v for k, v in c.items() if v is not None}


def hand_token(header, payload, signature=b""):
    return "%s.%s.%s" % (b64u_json(header), b64u_json(payload), b64u(signature))


def hand_signed(key, header, payload):
    si = ("%s.%s" % (b64u_json(header), b64u_json(payload))).encode()
    return si.decode() + "." + b64u(key.sign_raw(si))


def hs256(secret, header, payload):
    import hmac
    si = ("%s.%s" % (b64u_json(header), b64u_json(payload))).encode()
    return si.decode() + "." + b64u(hmac.new(secret, si, hashlib.sha256).digest())


def cert_x5t(pem_path):
    with open(pem_path, "rb") as f:
        cert = x509.load_pem_x509_certificate(f.read())
    return b64u(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest())


def tamper_payload(tok, **changes):
    h, p, s = tok.split(".")
    pl = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
    pl.update(changes)
    return "%s.%s.%s" % (h, b64u_json(pl), s)


def tamper_signature(tok):
    h, p, s = tok.split(".")
    raw = bytearray(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return "%s.%s.%s" % (h, p, b64u(bytes(raw)))
