#!/usr/bin/python3
"""Makes python.json: password-hash test vectors from passlib, bcrypt, argon2-cffi and Django.

Run with Debian's interpreter (the Debian packages install into it):
    /usr/bin/python3 python_vectors.py > ../python.json
Every hash is made by the library named in its "tool" field; nothing here computes a hash itself.
Salts are random, so a re-run makes different (equally valid) vectors.
"""
import json
import sys

import argon2
import bcrypt as pybcrypt
import django
import passlib
from django.conf import settings
from passlib import hash as ph

settings.configure(
    PASSWORD_HASHERS=[
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.Argon2PasswordHasher",
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.BCryptPasswordHasher",
        "django.contrib.auth.hashers.SHA1PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
        "django.contrib.auth.hashers.UnsaltedSHA1PasswordHasher",
        "django.contrib.auth.hashers.UnsaltedMD5PasswordHasher",
    ]
)
django.setup()
from django.contrib.auth.hashers import check_password, get_hasher, make_password  # noqa: E402

PASSWORDS = ["correct horse battery staple", "pässwörd ✓ 🔑", "Tr0ub4dor&3"]

PASSLIB = f"passlib {passlib.__version__} (Debian python3-passlib)"
BCRYPT = f"bcrypt {pybcrypt.__version__} (Debian python3-bcrypt)"
ARGON2 = f"argon2-cffi {argon2.__version__} (Debian python3-argon2)"
DJANGO = f"Django {django.get_version()} (Debian python3-django)"

vectors = []


def add(name, tool, call, fmt, encoded, password, strength, **extra):
    v = {"name": name, "tool": tool, "call": call, "format": fmt, "hash": encoded,
         "password": password, "wrong": [password + " ", PASSWORDS[(PASSWORDS.index(password) + 1) % len(PASSWORDS)]],
         "strength": strength}
    v.update(extra)
    vectors.append(v)


# bcrypt through the bcrypt package: $2b$ (its default) and $2a$ (prefix=b"2a").
for i, (cost, prefix) in enumerate([(10, b"2b"), (10, b"2a"), (4, b"2b")]):
    pw = PASSWORDS[i % len(PASSWORDS)]
    h = pybcrypt.hashpw(pw.encode(), pybcrypt.gensalt(rounds=cost, prefix=prefix)).decode()
    assert pybcrypt.checkpw(pw.encode(), h.encode())
    add(f"bcrypt-{prefix.decode()}-cost{cost}", BCRYPT,
        f"bcrypt.hashpw(pw, bcrypt.gensalt(rounds={cost}, prefix=b'{prefix.decode()}'))",
        "bcrypt", h, pw, "weak" if cost < 10 else "strong")

# argon2 through argon2-cffi: argon2id with its defaults and with Custodian's own parameters, argon2i.
ph_default = argon2.PasswordHasher()
h = ph_default.hash(PASSWORDS[0])
add("argon2id-argon2cffi-default", ARGON2, "argon2.PasswordHasher().hash(pw)", "argon2", h, PASSWORDS[0], "strong")
ph_small = argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=argon2.Type.ID)
h = ph_small.hash(PASSWORDS[1])
add("argon2id-argon2cffi-8MiB-t1", ARGON2,
    "argon2.PasswordHasher(time_cost=1, memory_cost=8192, parallelism=1, type=argon2.Type.ID).hash(pw)",
    "argon2", h, PASSWORDS[1], "weak")
ph_i = argon2.PasswordHasher(time_cost=3, memory_cost=32768, parallelism=2, type=argon2.Type.I)
h = ph_i.hash(PASSWORDS[2])
add("argon2i-argon2cffi", ARGON2,
    "argon2.PasswordHasher(time_cost=3, memory_cost=32768, parallelism=2, type=argon2.Type.I).hash(pw)",
    "argon2", h, PASSWORDS[2], "strong")
# Custodian's own encoding is argon2id m=19456,t=2,p=1, 16-byte salt, 32-byte key: made here by argon2-cffi.
ph_cust = argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16,
                                type=argon2.Type.ID)
for i, pw in enumerate(PASSWORDS[:2]):
    h = ph_cust.hash(pw)
    add(f"custodian-argon2cffi-pw{i}", ARGON2,
        "argon2.PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1, hash_len=32, salt_len=16, "
        "type=argon2.Type.ID).hash(pw)", "custodian", h, pw, "strong")

# passlib: PHC-style pbkdf2 (its adapted base64, '.' for '+'), scrypt and argon2.
for handler, name, rounds, strength in [
    (ph.pbkdf2_sha256, "pbkdf2_sha256", None, "weak"),       # passlib default 29000
    (ph.pbkdf2_sha256, "pbkdf2_sha256", 120000, "strong"),
    (ph.pbkdf2_sha1, "pbkdf2_sha1", None, "strong"),         # passlib default 131000
    (ph.pbkdf2_sha512, "pbkdf2_sha512", None, "weak"),       # passlib default 25000
    (ph.pbkdf2_sha512, "pbkdf2_sha512", 100000, "strong"),
]:
    pw = PASSWORDS[len(vectors) % len(PASSWORDS)]
    hd = handler if rounds is None else handler.using(rounds=rounds)
    h = hd.hash(pw)
    assert handler.verify(pw, h)
    iters = int(h.split("$")[2])
    strength = "weak" if iters < 100000 else "strong"
    call = f"passlib.hash.{name}.hash(pw)" if rounds is None else f"passlib.hash.{name}.using(rounds={rounds}).hash(pw)"
    add(f"passlib-{name}-{iters}", PASSLIB, call, "pbkdf2", h, pw, strength)

for ln, strength in [(14, "strong"), (12, "weak")]:
    pw = PASSWORDS[ln % len(PASSWORDS)]
    h = ph.scrypt.using(rounds=ln).hash(pw)
    assert ph.scrypt.verify(pw, h)
    add(f"passlib-scrypt-ln{ln}", PASSLIB + f", backend {ph.scrypt.get_backend()}",
        f"passlib.hash.scrypt.using(rounds={ln}).hash(pw)", "scrypt", h, pw, strength)

h = ph.argon2.hash(PASSWORDS[0])
add("passlib-argon2", PASSLIB + ", backend argon2-cffi", "passlib.hash.argon2.hash(pw)", "argon2", h, PASSWORDS[0],
    "strong")

# Django's own make_password with each hasher.
for algo, strength, legacy in [
    ("pbkdf2_sha256", "strong", False),
    ("pbkdf2_sha1", "strong", False),
    ("argon2", "strong", False),
    ("bcrypt_sha256", "strong", False),
    ("bcrypt", "strong", False),
    ("sha1", "weak", True),
    ("md5", "weak", True),
    ("unsalted_sha1", "weak", True),
    ("unsalted_md5", "weak", True),
]:
    i = len(vectors) % len(PASSWORDS)
    pw = PASSWORDS[i]
    hasher = get_hasher(algo)
    call = f"django.contrib.auth.hashers.make_password(pw, hasher='{algo}')"
    if algo.startswith("bcrypt"):
        # Django's default is rounds = 12; Django documents subclassing to change it. 10 keeps
        # the race-detector test run short; the format is the same.
        hasher.rounds = 10
        call = f"make_password(pw, hasher=h) with h = get_hasher('{algo}'); h.rounds = 10"
    h = make_password(pw, hasher=hasher)
    assert check_password(pw, h)
    extra = {"allowCrackableLegacyHashes": True} if legacy else {}
    add(f"django-{algo}", DJANGO, call, "django", h, pw, strength, **extra)
# Django with a low iteration count, as an old installation would have stored it.
hs = get_hasher("pbkdf2_sha256").encode(PASSWORDS[2], "oldsalt123", iterations=20000)
assert check_password(PASSWORDS[2], hs)
add("django-pbkdf2_sha256-20000", DJANGO,
    "get_hasher('pbkdf2_sha256').encode(pw, 'oldsalt123', iterations=20000)", "django", hs, PASSWORDS[2], "weak")

json.dump(vectors, sys.stdout, indent=1, ensure_ascii=False)
sys.stdout.write("\n")
