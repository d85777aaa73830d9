package passwordhash_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/customer/passwordhash"
)

// vector is one entry of testdata/*.json; testdata/README.md says how each file was made.
type vector struct {
	file         string
	Name         string              `json:"name"`
	Tool         string              `json:"tool"`
	Format       passwordhash.Format `json:"format"`
	Hash         string              `json:"hash"`
	Salt         string              `json:"salt"`
	Password     string              `json:"password"`
	Wrong        []string            `json:"wrong"`
	AlsoAccepted []string            `json:"alsoAccepted"`
	Strength     string              `json:"strength"`
	Refused      string              `json:"refused"` // "malformed": Parse refuses; "mismatch": the password fails
	AllowLegacy  bool                `json:"allowCrackableLegacyHashes"`
	Firebase     *struct {
		SignerKey     string `json:"signerKey"`
		SaltSeparator string `json:"saltSeparator"`
		Rounds        int    `json:"rounds"`
		MemCost       int    `json:"memCost"`
	} `json:"firebase"`
}

func (v vector) stored() passwordhash.Stored {
	return passwordhash.Stored{Format: v.Format, Hash: v.Hash, Salt: v.Salt}
}

func loadVectors(t testing.TB) []vector {
	t.Helper()
	files, err := filepath.Glob("testdata/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test vectors: %v", err)
	}
	var all []vector
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var vs []vector
		if err := json.Unmarshal(b, &vs); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range vs {
			vs[i].file = filepath.Base(f)
		}
		all = append(all, vs...)
	}
	return all
}

// parserFor is the parser an importer would configure for the vector's source.
func parserFor(t testing.TB, v vector) *passwordhash.Parser {
	t.Helper()
	p := &passwordhash.Parser{
		Custodian:                  customer.DefaultPasswordHasher(),
		AllowCrackableLegacyHashes: v.AllowLegacy,
	}
	if v.Firebase != nil {
		fp, err := passwordhash.NewFirebaseParams(v.Firebase.SignerKey, v.Firebase.SaltSeparator, v.Firebase.Rounds, v.Firebase.MemCost)
		if err != nil {
			t.Fatalf("firebase params: %v", err)
		}
		p.Firebase = fp
	}
	return p
}

func TestVectors(t *testing.T) {
	for _, v := range loadVectors(t) {
		t.Run(v.file+"/"+v.Name, func(t *testing.T) {
			t.Parallel()
			p := parserFor(t, v)
			h, err := p.Parse(v.stored())
			switch v.Refused {
			case "malformed":
				if !errors.Is(err, passwordhash.ErrMalformed) {
					t.Fatalf("Parse = %v, want ErrMalformed", err)
				}
				return
			case "mismatch":
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				if ok, err := h.Verify(v.Password); ok || err != nil {
					t.Fatalf("Verify(%q) = %v, %v; want false", v.Password, ok, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if h.Format() != v.Format {
				t.Errorf("Format = %q, want %q", h.Format(), v.Format)
			}
			if ok, err := h.Verify(v.Password); !ok || err != nil {
				t.Errorf("Verify(right password) = %v, %v (scheme %s)", ok, err, h.Scheme())
			}
			if len(v.Wrong) == 0 {
				t.Fatal("vector has no wrong password")
			}
			for _, w := range v.Wrong {
				if ok, err := h.Verify(w); ok || err != nil {
					t.Errorf("Verify(%q) = %v, %v; want false", w, ok, err)
				}
			}
			for _, a := range v.AlsoAccepted {
				if ok, err := h.Verify(a); !ok || err != nil {
					t.Errorf("Verify(%q) = %v, %v; want true like the platform", a, ok, err)
				}
			}
			if got := h.Verdict(); got.Weak != (v.Strength == "weak") || got.Weak != (got.Reason != "") {
				t.Errorf("Verdict = %+v, want %s", got, v.Strength)
			}
			if v.AllowLegacy {
				p.AllowCrackableLegacyHashes = false
				if _, err := p.Parse(v.stored()); !errors.Is(err, passwordhash.ErrCrackableLegacy) {
					t.Errorf("Parse without AllowCrackableLegacyHashes = %v, want ErrCrackableLegacy", err)
				}
			}
		})
	}
}

// Every format has vectors from a real tool.
func TestVectorsCoverEveryFormat(t *testing.T) {
	seen := map[passwordhash.Format]bool{}
	for _, v := range loadVectors(t) {
		if v.Refused == "" {
			seen[v.Format] = true
		}
	}
	for _, f := range passwordhash.Formats() {
		if !seen[f] {
			t.Errorf("no vector for format %q", f)
		}
	}
}

// Hashes written by Custodian's own PasswordHasher verify as format custodian, through it.
func TestCustodianRoundTrip(t *testing.T) {
	hasher := customer.DefaultPasswordHasher()
	encoded, err := hasher.Hash("s3cret wörd")
	if err != nil {
		t.Fatal(err)
	}
	p := &passwordhash.Parser{Custodian: hasher}
	h, err := p.Parse(passwordhash.Stored{Format: passwordhash.Custodian, Hash: encoded})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify("s3cret wörd"); !ok || err != nil {
		t.Errorf("Verify = %v, %v", ok, err)
	}
	if ok, _ := h.Verify("s3cret word"); ok {
		t.Error("wrong password accepted")
	}
	if h.Verdict().Weak {
		t.Errorf("Custodian's own parameters rated weak: %s", h.Verdict().Reason)
	}
	// The verifier is Custodian's code: a verifier that refuses everything decides.
	p.Custodian = refuseAll{}
	h, err = p.Parse(passwordhash.Stored{Format: passwordhash.Custodian, Hash: encoded})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify("s3cret wörd"); ok || !errors.Is(err, errRefuseAll) {
		t.Errorf("Verify through a failing verifier = %v, %v", ok, err)
	}
}

var errRefuseAll = errors.New("refuse all")

type refuseAll struct{}

func (refuseAll) Verify(string, string) (bool, error) { return false, errRefuseAll }

func TestFormatsAreDistinct(t *testing.T) {
	fs := passwordhash.Formats()
	slices.Sort(fs)
	if len(slices.Compact(fs)) != len(passwordhash.Formats()) {
		t.Error("duplicate format names")
	}
}

// A parsed Hash is shared by concurrent sign-ins.
func TestVerifyConcurrently(t *testing.T) {
	cheap := map[string]bool{"magento2-sha256": true, "legacy-magento1-md5": true, "legacy-sha512-salt-field": true,
		"aspnet-identity-v3-sha512-50": true}
	n := 0
	for _, v := range loadVectors(t) {
		if !cheap[v.Name] {
			continue
		}
		n++
		h, err := parserFor(t, v).Parse(v.stored())
		if err != nil {
			t.Fatal(err)
		}
		errs := make(chan error, 16)
		for i := range 16 {
			go func() {
				pw, want := v.Password, true
				if i%2 == 1 {
					pw, want = v.Wrong[0], false
				}
				if ok, err := h.Verify(pw); ok != want || err != nil {
					errs <- fmt.Errorf("%s: Verify(%q) = %v, %v", v.Name, pw, ok, err)
					return
				}
				errs <- nil
			}()
		}
		for range 16 {
			if err := <-errs; err != nil {
				t.Error(err)
			}
		}
	}
	if n != len(cheap) {
		t.Errorf("found %d of the %d vectors", n, len(cheap))
	}
}
