// Package passwordhash reads password hashes made by other platforms (bcrypt, argon2, scrypt,
// PBKDF2 in its PHC, passlib, Django and ASP.NET Identity encodings, Magento 2, Firebase's
// modified scrypt, legacy salted digests and Custodian's own argon2id) and verifies a password
// against them, so a shop's customers can be imported with the hashes they already have.
//
// A stored hash is parsed once: Parser.Parse checks its shape, refuses parameters that would make
// one verification cost more than Limits allows, and rates its strength. Parsing never runs the
// hash function, so an import can validate many lines a second. Hash.Verify then computes the
// hash of a candidate password and compares it in constant time.
//
// The cryptography is golang.org/x/crypto's (bcrypt, argon2, scrypt) and the standard library's
// (crypto/pbkdf2, crypto/hmac, crypto/sha*, crypto/aes); this package only decodes the formats.
package passwordhash

import (
	"errors"
	"fmt"
	"slices"
)

// Format names the encoding of a stored hash as an import line spells it
// (`password: {format, hash, salt?}` in the shared contract, section 6).
type Format string

// The formats of the shared contract.
const (
	Bcrypt         Format = "bcrypt"          // $2a$, $2b$, $2y$
	Argon2         Format = "argon2"          // PHC $argon2id$v=19$… and $argon2i$v=19$…
	Scrypt         Format = "scrypt"          // PHC $scrypt$ln=…,r=…,p=…$salt$hash (passlib)
	PBKDF2         Format = "pbkdf2"          // PHC $pbkdf2-sha1|sha256|sha512$…, passlib's $pbkdf2$…
	Django         Format = "django"          // pbkdf2_sha256$…, pbkdf2_sha1$…, argon2$…, bcrypt$…, bcrypt_sha256$…, scrypt$…
	ASPNetIdentity Format = "aspnet-identity" // base64 blob, version 2 or 3
	Magento2       Format = "magento2"        // hash:salt:version[:version…]
	FirebaseScrypt Format = "firebase-scrypt" // base64 hash and salt; the project's parameters in FirebaseParams
	Custodian      Format = "custodian"       // Custodian's own argon2id PHC string
)

// The legacy salted digests: hex(H(salt ‖ password)), or hex(H(password ‖ salt)) for the
// -salt-suffix forms. The salt is the salt field, or follows the digest after a colon
// ("hex:salt", as Magento 1 and osCommerce store it); without either the digest is unsalted.
// They are refused unless Parser.AllowCrackableLegacyHashes is set.
const (
	MD5          Format = "md5"
	SHA1         Format = "sha1"
	SHA256       Format = "sha256"
	SHA512       Format = "sha512"
	MD5Suffix    Format = "md5-salt-suffix"
	SHA1Suffix   Format = "sha1-salt-suffix"
	SHA256Suffix Format = "sha256-salt-suffix"
	SHA512Suffix Format = "sha512-salt-suffix"
)

// Formats lists every format Parse accepts, contract formats first.
func Formats() []Format {
	return []Format{Bcrypt, Argon2, Scrypt, PBKDF2, Django, ASPNetIdentity, Magento2, FirebaseScrypt, Custodian,
		MD5, SHA1, SHA256, SHA512, MD5Suffix, SHA1Suffix, SHA256Suffix, SHA512Suffix}
}

// Stored is the password of an import line.
type Stored struct {
	Format Format `json:"format"`
	Hash   string `json:"hash"`
	Salt   string `json:"salt,omitempty"`
}

// Verifier verifies Custodian's own encoding; *customer.PasswordHasher is one. It is an
// interface so that package customer can use this one without an import cycle.
type Verifier interface {
	Verify(encoded, password string) (bool, error)
}

// Errors a Parse error wraps; test with errors.Is. The error's text says what is wrong.
var (
	ErrUnknownFormat   = errors.New("unknown password hash format")
	ErrMalformed       = errors.New("malformed password hash")
	ErrUnsupported     = errors.New("unsupported password hash variant")
	ErrOverLimit       = errors.New("password hash cost over the limit")
	ErrCrackableLegacy = errors.New("crackable legacy password hash refused")
	ErrMissingParams   = errors.New("password hash parameters missing")
)

// ParseError says why a stored hash was refused. It never contains the hash or the salt.
type ParseError struct {
	Format Format
	Reason string
	Err    error // one of the Err… sentinels
}

func (e *ParseError) Error() string {
	if e.Format == "" {
		return "password hash: " + e.Reason
	}
	return string(e.Format) + ": " + e.Reason
}
func (e *ParseError) Unwrap() error { return e.Err }

func refuse(f Format, sentinel error, format string, args ...any) error {
	return &ParseError{Format: f, Reason: fmt.Sprintf(format, args...), Err: sentinel}
}

// maxInput bounds the hash and salt strings; no supported encoding comes near it.
const maxInput = 1024

// Parser parses stored hashes. Its zero value is usable: the default limits, no Firebase
// project, no Custodian verifier, no legacy digests.
type Parser struct {
	// Limits bound what one verification may cost; a zero field takes its default.
	Limits Limits
	// Firebase holds the source Firebase project's password hash parameters (a tenant import
	// setting); firebase-scrypt hashes are refused without them.
	Firebase *FirebaseParams
	// Custodian verifies the custodian format; such hashes are refused without it.
	Custodian Verifier
	// AllowCrackableLegacyHashes accepts MD5, SHA-1 and SHA-2 digests of a salted (or unsalted)
	// password: the md5/sha* formats, Magento 2 hashes whose last step is MD5 and Django's
	// sha1$, md5$ and unsalted forms. A GPU tries billions of such guesses a second, so if the
	// old platform's table leaked, these passwords are as good as known; accept them only to let
	// shoppers sign in once and be upgraded (or sent through a reset).
	AllowCrackableLegacyHashes bool
}

// Hash is a parsed stored hash, ready to verify passwords.
type Hash struct {
	format  Format
	scheme  string
	verdict Verdict
	verify  func(password []byte) (bool, error)
}

// Verdict rates a hash's resistance to offline guessing should the table leak.
type Verdict struct {
	Weak   bool
	Reason string // why it is weak; empty when it is not
}

// Format is the format the hash was parsed as.
func (h *Hash) Format() Format { return h.format }

// Scheme names the algorithm and its main parameters, e.g. "pbkdf2-sha256 i=29000"; it holds no
// salt or hash bytes and may be logged.
func (h *Hash) Scheme() string { return h.scheme }

// Verdict is the hash's strength verdict; limits.go documents the rules.
func (h *Hash) Verdict() Verdict { return h.verdict }

// Verify reports whether password matches the hash. The comparison is constant-time; the time
// spent depends on the hash's parameters, never on the password. An error means the hash could
// not be computed (only a Custodian verifier can fail), not that the password is wrong.
func (h *Hash) Verify(password string) (bool, error) {
	return h.verify([]byte(password))
}

// Parse checks a stored hash and returns it ready to verify, or an error naming what is wrong
// (a *ParseError wrapping one of the Err… sentinels). It does not run the hash function.
func (p *Parser) Parse(s Stored) (*Hash, error) {
	if len(s.Hash) > maxInput || len(s.Salt) > maxInput {
		return nil, refuse(s.Format, ErrMalformed, "hash or salt longer than %d characters", maxInput)
	}
	if s.Hash == "" {
		return nil, refuse(s.Format, ErrMalformed, "empty hash")
	}
	lim := p.Limits.withDefaults()
	if s.Salt != "" && s.Format != FirebaseScrypt && !slices.Contains(legacyFormats, s.Format) {
		return nil, refuse(s.Format, ErrMalformed, "a salt field is not used by this format: its salt is inside the hash")
	}
	var h *Hash
	var err error
	switch s.Format {
	case Bcrypt:
		h, err = parseBcrypt(Bcrypt, s.Hash, lim)
	case Argon2:
		h, err = parseArgon2(Argon2, s.Hash, lim)
	case Scrypt:
		h, err = parseScryptPHC(s.Hash, lim)
	case PBKDF2:
		h, err = parsePBKDF2PHC(s.Hash, lim)
	case Django:
		h, err = parseDjango(s.Hash, lim, p.AllowCrackableLegacyHashes)
	case ASPNetIdentity:
		h, err = parseASPNet(s.Hash, lim)
	case Magento2:
		h, err = parseMagento2(s.Hash, lim, p.AllowCrackableLegacyHashes)
	case FirebaseScrypt:
		h, err = parseFirebase(s.Hash, s.Salt, p.Firebase, lim)
	case Custodian:
		h, err = parseCustodian(s.Hash, p.Custodian, lim)
	case "":
		return nil, refuse(s.Format, ErrUnknownFormat, "no format given")
	default:
		if slices.Contains(legacyFormats, s.Format) {
			h, err = parseLegacy(s.Format, s.Hash, s.Salt, p.AllowCrackableLegacyHashes)
		} else {
			return nil, &ParseError{Format: s.Format, Reason: "unknown format", Err: ErrUnknownFormat}
		}
	}
	if err != nil {
		return nil, err
	}
	h.format = s.Format
	return h, nil
}
