package passwordhash_test

import (
	"testing"

	"github.com/custodian-id/custodian/customer/passwordhash"
)

// benchAlso are vectors benchmarked besides the first of each format: each platform's default
// parameters where the first vector of its format is something else.
var benchAlso = map[string]bool{
	"magento2-argon2id13": true, "magento2-argon2id13-agnostic": true, "django-pbkdf2_sha256": true,
	"django-argon2": true, "django-bcrypt_sha256": true, "aspnet-identity-v3-sha256-10000": true,
	"passlib-pbkdf2_sha256-29000": true, "passlib-pbkdf2_sha512-25000": true, "argon2id-argon2cffi-default": true,
	"php-argon2i-default": true,
}

// BenchmarkVerify verifies the right password against real vectors, one of each format and the
// platforms' defaults: the cost of one sign-in with an imported hash. Results are in
// testdata/README.md.
func BenchmarkVerify(b *testing.B) {
	seen := map[passwordhash.Format]bool{}
	for _, v := range loadVectors(b) {
		if v.Refused != "" || (seen[v.Format] && !benchAlso[v.Name]) {
			continue
		}
		seen[v.Format] = true
		h, err := parserFor(b, v).Parse(v.stored())
		if err != nil {
			b.Fatalf("%s: %v", v.Name, err)
		}
		b.Run(string(v.Format)+"/"+v.Name, func(b *testing.B) {
			for b.Loop() {
				if ok, err := h.Verify(v.Password); !ok || err != nil {
					b.Fatalf("Verify = %v, %v", ok, err)
				}
			}
		})
	}
}

// BenchmarkParse parses every vector once per iteration: the import-time cost of validating
// hashes, which never runs the hash function.
func BenchmarkParse(b *testing.B) {
	vs := loadVectors(b)
	parsers := make([]*passwordhash.Parser, len(vs))
	for i, v := range vs {
		parsers[i] = parserFor(b, v)
	}
	b.ResetTimer()
	for b.Loop() {
		for i, v := range vs {
			_, _ = parsers[i].Parse(v.stored())
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(vs)), "ns/hash")
}

// BenchmarkVerifyAtLimits verifies against synthetic hashes at the default limits: the dearest
// sign-in an import file can cause. The password does not match, which costs the same.
func BenchmarkVerifyAtLimits(b *testing.B) {
	const salt, key = "5VI2Y+nJQCIOpZUFrGe2Ew", "PZQeOpAhLni/syWi64U+mgPZQeOpAhLni/syWi64U+mg"
	cases := []struct {
		name string
		in   passwordhash.Stored
	}{
		{"bcrypt-cost14", passwordhash.Stored{Format: "bcrypt", Hash: "$2b$14$v28zd.GQAMC2QeReCRiKs./5TaKYpOscC1jq7.pwI7JD2Qv93UuV6"}},
		{"argon2id-256MiB-t4", passwordhash.Stored{Format: "argon2", Hash: "$argon2id$v=19$m=262144,t=4,p=1$" + salt + "$" + key}},
		{"scrypt-N2^18-r8-p2", passwordhash.Stored{Format: "scrypt", Hash: "$scrypt$ln=18,r=8,p=2$" + salt + "$" + key}},
		{"pbkdf2-sha1-2M", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha1$i=2000000$" + salt + "$" + key[:27]}},
		{"pbkdf2-sha256-2M", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha256$i=2000000$" + salt + "$" + key[:43]}},
		{"pbkdf2-sha512-2M", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha512$i=2000000$" + salt + "$" + key[:43]}},
	}
	var p passwordhash.Parser
	for _, c := range cases {
		h, err := p.Parse(c.in)
		if err != nil {
			b.Fatalf("%s: %v", c.name, err)
		}
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if ok, err := h.Verify("not the password"); ok || err != nil {
					b.Fatalf("Verify = %v, %v", ok, err)
				}
			}
		})
	}
}
