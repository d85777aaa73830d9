// Package mailaddr is Custodian's one rule for e-mail addresses: how an address is
// normalised once when it comes in, which addresses are refused, and the canonical key
// two addresses are compared by everywhere (sign-in, password reset, e-mail change,
// social linking, the ticket API's username, the admin surface and the command).
//
// The rule, applied in this order:
//
//  1. The text must be valid UTF-8; surrounding white space is dropped.
//  2. Unicode NFC, and full-width and half-width forms are folded to their ordinary
//     width (ｂｉｌｌ＠ｘ is bill@x), with golang.org/x/text.
//  3. The domain is processed with IDNA UTS #46 (non-transitional, STD3 rules, bidi and
//     joiner checks, DNS lengths; golang.org/x/net/idna), which also folds its case. It
//     is stored in Unicode and compared in its ASCII (A-label) form.
//  4. The local part keeps its case when stored and is compared in Unicode lower case
//     (golang.org/x/text/cases, root locale, no final-sigma context): BILL and bill are
//     one address, while İ (dotted capital I) lowers to i + U+0307 and stays distinct
//     from i, and ß stays distinct from ss. No provider-specific rule is applied (dots
//     and +tags are significant).
//  5. Refused: an invisible or control character anywhere (zero-width spaces and
//     joiners, bidi controls, soft hyphens, variation selectors, fillers, unassigned
//     code points); in the local part anything but RFC 5322 dot-atom ASCII, letters,
//     combining marks and decimal digits; and a local part or domain label that mixes
//     scripts (Go's unicode script tables; Common and Inherited characters go with any
//     script, and Latin may mix with Han and Hiragana/Katakana, Bopomofo or Hangul as
//     in UTS #39's highly restrictive level). So bіll@x with a Cyrillic і is refused.
//
// The key is the lower-cased local part, "@", and the A-label domain. For an address
// the rule refuses (one an earlier release stored, or one typed at sign-in) Key still
// answers a key, prefixed "invalid:", that no valid address has: such an account stays
// findable by exactly what it was stored as and never collides with a valid one.
package mailaddr

import (
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/idna"
	"golang.org/x/text/cases"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"
	"golang.org/x/text/width"
)

// ErrInvalid is what every refusal wraps.
var ErrInvalid = errors.New("not a valid e-mail address")

// Error is a refused address with the reason, written for the person who typed it
// (the subject, "it", is the address).
type Error struct{ Reason string }

func (e *Error) Error() string { return "not a valid e-mail address: it " + e.Reason }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Reasons of refusal.
var (
	errUTF8      = &Error{"is not valid UTF-8"}
	errSyntax    = &Error{"is not of the form name@domain"}
	errTooLong   = &Error{"is too long"}
	errInvisible = &Error{"contains an invisible or control character"}
	errChar      = &Error{"contains a character that is not allowed in an address"}
	errMixed     = &Error{"mixes letters of different scripts (such as Latin and Cyrillic)"}
	errDomain    = &Error{"has an invalid domain"}
)

// Address is an e-mail address in normal form.
type Address struct {
	Local  string // NFC, ordinary width, case as typed
	Domain string // UTS #46-mapped, Unicode
	ascii  string // the domain's A-label form
}

// String is the address as stored and mailed to.
func (a Address) String() string { return a.Local + "@" + a.Domain }

// Key is the canonical form two addresses are compared by.
func (a Address) Key() string { return lower(a.Local) + "@" + a.ascii }

// profile is the IDNA processing of domains: UTS #46 lookup, non-transitional (ß and
// ς stay), with the STD3 ASCII rules, bidi and joiner checks and DNS lengths.
var profile = idna.New(idna.MapForLookup(), idna.Transitional(false), idna.BidiRule(), idna.CheckHyphens(true),
	idna.CheckJoiners(true), idna.StrictDomainName(true), idna.VerifyDNSLength(true))

var lowerCaser = cases.Lower(language.Und, cases.HandleFinalSigma(false))

// lower is the local part's comparison form.
func lower(s string) string { return norm.NFC.String(lowerCaser.String(s)) }

// Parse normalises an address, or refuses it with an *Error.
func Parse(s string) (Address, error) {
	if !utf8.ValidString(s) {
		return Address{}, errUTF8
	}
	s = norm.NFC.String(width.Fold.String(norm.NFC.String(strings.TrimSpace(s))))
	for _, r := range s {
		if invisible(r) {
			return Address{}, errInvisible
		}
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return Address{}, errSyntax
	}
	local, domain := s[:at], s[at+1:]
	ascii, err := profile.ToASCII(domain)
	if err != nil || ascii == "" {
		return Address{}, errDomain
	}
	uni, err := profile.ToUnicode(ascii)
	if err != nil {
		return Address{}, errDomain
	}
	if len(local) > 64 || len(local)+1+len(ascii) > 254 {
		return Address{}, errTooLong
	}
	// RFC 5322 dot-atom syntax of the local part, checked against the ASCII domain.
	if p, err := mail.ParseAddress(local + "@" + ascii); err != nil || p.Address != local+"@"+ascii || p.Name != "" {
		return Address{}, errSyntax
	}
	prev := '.'
	for _, r := range local {
		switch {
		case r < utf8.RuneSelf:
		case unicode.IsLetter(r), unicode.Is(unicode.Nd, r):
		case unicode.In(r, unicode.Mn, unicode.Mc) && prev != '.':
		default:
			return Address{}, errChar
		}
		prev = r
	}
	if mixedScripts(local) {
		return Address{}, errMixed
	}
	for _, label := range strings.Split(uni, ".") {
		if mixedScripts(label) {
			return Address{}, errMixed
		}
	}
	return Address{Local: local, Domain: uni, ascii: ascii}, nil
}

// Key is the canonical key of any text typed as an e-mail address: the Key of its
// normal form, or for text the rule refuses an "invalid:" key of its lower-cased NFC
// form, which matches only an account stored with that same text.
func Key(s string) string {
	if a, err := Parse(s); err == nil {
		return a.Key()
	}
	return "invalid:" + lower(strings.ToValidUTF8(strings.TrimSpace(s), "\uFFFD"))
}

// Validate reports whether an address is acceptable.
func Validate(s string) error {
	_, err := Parse(s)
	return err
}

// invisible reports characters that cannot be seen or that steer how text shows:
// controls, format characters (zero-width space and joiners, bidi controls, soft
// hyphen), private use, surrogates, separators other than the ASCII space, other
// default-ignorable code points (fillers), variation selectors, and unassigned code
// points.
func invisible(r rune) bool {
	switch {
	case r == ' ':
		return false // refused by the syntax check, with a clearer message
	case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs, unicode.Z, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector):
		return true
	}
	return !unicode.In(r, unicode.L, unicode.M, unicode.N, unicode.P, unicode.S)
}

// allowedMixes are the script combinations of UTS #39's highly restrictive level.
var allowedMixes = []map[string]bool{
	{"Latin": true, "Han": true, "Hiragana": true, "Katakana": true},
	{"Latin": true, "Han": true, "Bopomofo": true},
	{"Latin": true, "Han": true, "Hangul": true},
}

// mixedScripts reports whether text has letters of scripts that do not go together.
func mixedScripts(s string) bool {
	seen := map[string]bool{}
	for _, r := range s {
		if sc := scriptOf(r); sc != "" && sc != "Common" && sc != "Inherited" {
			seen[sc] = true
		}
	}
	if len(seen) <= 1 {
		return false
	}
	for _, mix := range allowedMixes {
		ok := true
		for sc := range seen {
			if !mix[sc] {
				ok = false
				break
			}
		}
		if ok {
			return false
		}
	}
	return true
}

// scriptOf names the script of a rune by Go's unicode script tables.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' {
			return "Latin"
		}
		return "Common"
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return name
		}
	}
	return ""
}

// Describe explains a refusal as the message of a field error.
func Describe(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return "is not a valid e-mail address: it " + e.Reason
	}
	return fmt.Sprint(err)
}
