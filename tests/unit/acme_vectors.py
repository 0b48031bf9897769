#!/usr/bin/python3
"""
Known answers for tests/unit/test_cm_acme_jws.c, computed here with Python's
own hashlib/hmac/json/base64 and the `cryptography` package, independently of
the C code under test.  Run it to regenerate the #defines pasted there.

  - the RFC 7638 thumbprint of a fixed EC P-256 key (private scalar D below)
  - RFC 8555 8.1 key authorization = token "." thumbprint, and the dns-01 TXT
    value base64url(SHA-256(key authorization)) of 8.4
  - RFC 8555 7.3.4 External Account Binding: the HS256 signature over
    base64url(protected) "." base64url(JWK) with a fixed MAC key
  - RFC 9773 4.1 certID of the example in the RFC
"""
import base64
import hashlib
import hmac
import json

from cryptography.hazmat.primitives import serialization

from cryptography.hazmat.primitives.asymmetric import ec


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


D = int("c9afa9d845ba75166b5c215767b1d6934e50c3db36e89b127b8a622b120f6721", 16)
priv = ec.derive_private_key(D, ec.SECP256R1())
nums = priv.public_key().public_numbers()
x, y = b64u(nums.x.to_bytes(32, "big")), b64u(nums.y.to_bytes(32, "big"))
jwk = {"crv": "P-256", "kty": "EC", "x": x, "y": y}
thumb = b64u(hashlib.sha256(json.dumps(jwk, separators=(",", ":"), sort_keys=True)
                            .encode()).digest())
token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"  # RFC 8555 8.3's example token
keyauthz = token + "." + thumb
dns = b64u(hashlib.sha256(keyauthz.encode()).digest())

mac_key = bytes(range(32))
url = "https://ca.example/acme/new-account"
prot = json.dumps({"alg": "HS256", "kid": "kid-1", "url": url}, separators=(",", ":"))
payload = json.dumps(jwk, separators=(",", ":"), sort_keys=True)
signing = b64u(prot.encode()) + "." + b64u(payload.encode())
eab_sig = b64u(hmac.new(mac_key, signing.encode(), hashlib.sha256).digest())

aki = bytes.fromhex("69885B6B87464041E1B37B847BA0AE2CDE01C8D4")
serial = bytes.fromhex("0087654321")
ari = b64u(aki) + "." + b64u(serial)

pem = priv.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                        serialization.NoEncryption()).decode()
print("#define VEC_KEY_PEM \\")
for line in pem.splitlines():
    print('    "%s\\n" \\' % line)
print("    \"\"")
print('#define VEC_D     "%064x"' % D)
print('#define VEC_X     "%s"' % x)
print('#define VEC_Y     "%s"' % y)
print('#define VEC_THUMB "%s"' % thumb)
print('#define VEC_TOKEN "%s"' % token)
print('#define VEC_KEYAUTHZ "%s"' % keyauthz)
print('#define VEC_DNS   "%s"' % dns)
print('#define VEC_EAB_URL "%s"' % url)
print('#define VEC_EAB_PROTECTED "%s"' % b64u(prot.encode()))
print('#define VEC_EAB_PAYLOAD "%s"' % b64u(payload.encode()))
print('#define VEC_EAB_SIG "%s"' % eab_sig)
print('#define VEC_ARI_ID "%s"' % ari)
