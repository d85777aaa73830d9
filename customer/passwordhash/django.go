package passwordhash

import (
	"strings"
)

// parseDjango reads the encodings of Django's password hashers (django.contrib.auth.hashers):
// pbkdf2_sha256$…, pbkdf2_sha1$…, argon2$<PHC string without its leading $>, bcrypt$<bcrypt>,
// bcrypt_sha256$<bcrypt> (bcrypt of the hex SHA-256 of the password) and scrypt$N$salt$r$p$hash;
// with allowLegacy also sha1$salt$hex, md5$salt$hex, sha1$$hex and md5$$hex (unsalted) and a bare
// 32-character hex MD5 (UnsaltedMD5PasswordHasher). crypt$ is refused.
func parseDjango(s string, lim Limits, allowLegacy bool) (*Hash, error) {
	parts := strings.Split(s, "$")
	algo := parts[0]
	switch algo {
	case "pbkdf2_sha256", "pbkdf2_sha1":
		return parseDjangoPBKDF2(parts, lim)
	case "argon2":
		h, err := parseArgon2(Django, s[len("argon2"):], lim)
		if err != nil {
			return nil, err
		}
		h.scheme = "django " + h.scheme
		return h, nil
	case "bcrypt", "bcrypt_sha256":
		h, err := parseBcrypt(Django, strings.TrimPrefix(s, algo+"$"), lim)
		if err != nil {
			return nil, err
		}
		if algo == "bcrypt_sha256" {
			h.verify = djangoBcryptSHA256([]byte(strings.TrimPrefix(s, algo+"$")))
		}
		h.scheme = "django " + algo + " " + strings.TrimPrefix(h.scheme, "bcrypt ")
		return h, nil
	case "scrypt":
		return parseDjangoScrypt(parts, lim)
	case "sha1", "md5":
		if len(parts) != 3 {
			return nil, refuse(Django, ErrMalformed, "Django %s hash must be %s$<salt>$<hex digest>", algo, algo)
		}
		d := digestSHA1
		if algo == "md5" {
			d = digestMD5
		}
		want, err := decodeHexDigest(Django, d, parts[2])
		if err != nil {
			return nil, err
		}
		if !allowLegacy {
			return nil, crackable(Django, "Django's "+algo+"$ "+d.name)
		}
		sd := saltedDigest{d: d, salt: []byte(parts[1]), want: want}
		scheme := "django " + algo + " H(salt ‖ password)"
		if parts[1] == "" {
			scheme = "django unsalted_" + algo
		}
		return sd.hash(scheme), nil
	case "crypt":
		return nil, refuse(Django, ErrUnsupported, "Django's crypt hasher (Unix crypt(3)) is not supported")
	}
	if len(parts) == 1 && len(s) == 32 {
		want, err := decodeHexDigest(Django, digestMD5, s)
		if err != nil {
			return nil, err
		}
		if !allowLegacy {
			return nil, crackable(Django, "Django's unsalted MD5")
		}
		return saltedDigest{d: digestMD5, want: want}.hash("django unsalted_md5"), nil
	}
	if len(parts) == 1 {
		return nil, refuse(Django, ErrMalformed, "not a Django hash: no algorithm$ prefix")
	}
	return nil, refuse(Django, ErrUnsupported, "Django hasher %q is not supported", truncate(algo))
}
