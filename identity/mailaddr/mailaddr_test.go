package mailaddr_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/identity/mailaddr"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, in      string
		stored, key   string
		wantErrSubstr string
	}{
		{"plain", "bill@example.com", "bill@example.com", "bill@example.com", ""},
		{"case and spaces", "  Bill@Example.COM ", "Bill@example.com", "bill@example.com", ""},
		{"plus tag and dots kept", "b.i.l.l+shop@example.com", "b.i.l.l+shop@example.com", "b.i.l.l+shop@example.com", ""},
		{"dotted capital I stays apart from i", "bİll@example.com", "bİll@example.com", "bi\u0307ll@example.com", ""},
		{"sharp s stays apart from ss", "STRAßE@example.de", "STRAßE@example.de", "straße@example.de", ""},
		{"decomposed is composed", "zoe\u0308@example.com", "zoë@example.com", "zoë@example.com", ""},
		{"full width folded", "ｂｉｌｌ＠ｅｘａｍｐｌｅ．ｃｏｍ", "bill@example.com", "bill@example.com", ""},
		{"unicode domain", "bill@BÜCHER.example", "bill@bücher.example", "bill@xn--bcher-kva.example", ""},
		{"a-label domain is the same", "bill@xn--bcher-kva.example", "bill@bücher.example", "bill@xn--bcher-kva.example", ""},
		{"ideographic full stop", "bill@example。com", "bill@example.com", "bill@example.com", ""},
		{"cyrillic local", "иван@example.ru", "иван@example.ru", "иван@example.ru", ""},
		{"greek upper", "ΣΑΣ@example.gr", "ΣΑΣ@example.gr", "σασ@example.gr", ""},
		{"japanese mix", "やまだtaro漢字@example.jp", "やまだtaro漢字@example.jp", "やまだtaro漢字@example.jp", ""},
		{"cyrillic i among latin", "b\u0456ll@example.com", "", "", "mixes"},
		{"cyrillic a in the domain", "bill@ex\u0430mple.com", "", "", "mixes"},
		{"greek omicron among latin", "b\u03bfb@example.com", "", "", "mixes"},
		{"zero-width space", "bi\u200bll@example.com", "", "", "invisible"},
		{"zero-width joiner", "bill\u200d@example.com", "", "", "invisible"},
		{"bidi override", "\u202ebill@example.com", "", "", "invisible"},
		{"soft hyphen", "bil\u00adl@example.com", "", "", "invisible"},
		{"hangul filler", "bill\u3164@example.com", "", "", "invisible"},
		{"byte order mark", "\ufeffbill@example.com", "", "", "invisible"},
		{"symbol in local part", "bill\u2215x@example.com", "", "", "not allowed"},
		{"emoji", "bill\U0001F600@example.com", "", "", "not allowed"},
		{"no at", "bill.example.com", "", "", "name@domain"},
		{"display name", "Bill <bill@example.com>", "", "", ""},
		{"two ats", "bill@@example.com", "", "", ""},
		{"underscore domain", "bill@ex_ample.com", "", "", "domain"},
		{"domain literal", "bill@[127.0.0.1]", "", "", "domain"},
		{"invalid utf-8", "bi\xffll@example.com", "", "", "UTF-8"},
		{"local part too long", strings.Repeat("a", 65) + "@example.com", "", "", "too long"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := mailaddr.Parse(tc.in)
			if tc.stored == "" {
				if !errors.Is(err, mailaddr.ErrInvalid) || !strings.Contains(err.Error(), tc.wantErrSubstr) {
					t.Fatalf("Parse(%q) = %v, %v; want a refusal with %q", tc.in, a, err, tc.wantErrSubstr)
				}
				if k := mailaddr.Key(tc.in); !strings.HasPrefix(k, "invalid:") {
					t.Errorf("Key of a refused address %q = %q", tc.in, k)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tc.in, err)
			}
			if a.String() != tc.stored || a.Key() != tc.key || mailaddr.Key(tc.in) != tc.key {
				t.Errorf("Parse(%q) = %q key %q, want %q key %q", tc.in, a.String(), a.Key(), tc.stored, tc.key)
			}
			// Normalising once is enough: the stored form parses to itself.
			again, err := mailaddr.Parse(a.String())
			if err != nil || again != a {
				t.Errorf("stored form %q parses to %q, %v", a.String(), again.String(), err)
			}
		})
	}
}

// TestLookAlikesDoNotShareAKey: the squat of issue 10 is impossible.
func TestLookAlikesDoNotShareAKey(t *testing.T) {
	plain := mailaddr.Key("bill@example.com")
	for _, s := range []string{"bİll@example.com", "bıll@example.com", "biII@example.com"} {
		if mailaddr.Key(s) == plain {
			t.Errorf("%q has the key of bill@example.com", s)
		}
	}
	for _, s := range []string{"BILL@EXAMPLE.COM", "ｂｉｌｌ@example.com", "bill@EXAMPLE.com."[:16]} {
		if mailaddr.Key(s) != plain {
			t.Errorf("%q is bill@example.com but keys as %q", s, mailaddr.Key(s))
		}
	}
}
