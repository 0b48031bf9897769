#!/usr/bin/python3
# External Account Binding (RFC 8555 7.3.4) against pebble configured with
# externalAccountBindingRequired and externalAccountMACKeys: no eab, a wrong
# MAC key and an unknown kid are refused with a clear log line and leave no
# account behind; the right kid and key create the account and issue.
import base64
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "lib"))
from pctest import *  # noqa: E402,F403

wd = workdir()
key1 = base64.urlsafe_b64encode(os.urandom(48)).rstrip(b"=").decode()
key2 = base64.urlsafe_b64encode(os.urandom(48)).rstrip(b"=").decode()
pb = Pebble("pebble", nosleep=True, nonce_reject=None, eab={"kid-1": key1, "kid-2": key2})
hook = write_dns_hook(os.path.join(wd, "hook.sh"), pb)
cert = dns_cert("eab", ["eab.example.test"], hook, pb)


def attempt(tag, eab):
    state = os.path.join(wd, "state-" + tag)
    conf = write(os.path.join(wd, tag + ".yaml"), acme_yaml(pb, state, cert, eab=eab))
    return state, certmgr(conf, "--once")


state, r = attempt("none", None)
is_(r.returncode, 1, "without acme.eab: exit 1")
like(r.stderr, r"the CA requires External Account Binding: set acme\.eab",
     "... saying the CA requires EAB")
ok(not os.path.exists(os.path.join(state, "acme", "account.json")), "... and no account recorded")

state, r = attempt("wrongkey", ("kid-1", key2))
is_(r.returncode, 1, "a wrong MAC key: exit 1")
like(r.stderr, r"newAccount: problem urn:ietf:params:acme:error:\w+: .*",
     "... with pebble's problem document logged")
unlike(r.stderr, re.escape(key2), "... and the key is never logged")
diag("wrong key: " + "".join(re.findall(r"newAccount: problem.*", r.stderr)[:1]))
ok(not os.path.exists(os.path.join(state, "acme", "account.json")), "... and no account recorded")

state, r = attempt("wrongkid", ("kid-9", key1))
is_(r.returncode, 1, "an unknown kid: exit 1")
like(r.stderr, r"newAccount: problem urn:ietf:params:acme:error:\w+:", "... with the problem")
diag("unknown kid: " + "".join(re.findall(r"newAccount: problem.*", r.stderr)[:1]))

state, r = attempt("good", ("kid-1", key1))
ok(r.returncode == 0, "the right kid and MAC key: exit 0", r.stderr)
like(r.stderr, r"account https://127\.0\.0\.1:\d+/my-account/\w+ created \(with EAB\)",
     "the account was created with EAB")
good, out = pb.verify(os.path.join(state, "certs", "eab", "fullchain.pem"))
ok(good, "the certificate verifies against pebble's root", out)
acct = json.load(open(os.path.join(state, "acme", "account.json")))
is_(acct.get("directory"), pb.directory, "account.json records the directory")

# the recorded account is used again: no second newAccount
conf = os.path.join(wd, "good.yaml")
r = certmgr(conf, "--once", "--force-renew", "eab")
ok(r.returncode == 0 and "account" not in r.stderr.replace("accounts", ""),
   "a later run reuses the recorded account URL", r.stderr)

done_testing()
