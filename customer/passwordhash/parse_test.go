package passwordhash_test

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/customer/passwordhash"
)

// Shapes that parse; each case below breaks one thing.
const (
	okBcrypt = "$2b$10$v28zd.GQAMC2QeReCRiKs./5TaKYpOscC1jq7.pwI7JD2Qv93UuV6"
	okSalt   = "5VI2Y+nJQCIOpZUFrGe2Ew"                       // 16 bytes
	okKey    = "PZQeOpAhLni/syWi64U+mgPZQeOpAhLni/syWi64U+mg" // 33 bytes
	readmeSK = "jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA=="
	readmeH  = "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ=="
	sha256x  = "eccc8d3c33d2f6cbba82f4c7ab2d48ee7fb6e2f34b15caede1f0168816cd874d"
)

func argon(variantParams string) string { return "$" + variantParams + "$" + okSalt + "$" + okKey }

// aspnetV3 builds an ASP.NET Identity v3 blob.
func aspnetV3(prf, iter, saltLen uint32, rest int) string {
	b := make([]byte, 13, 13+rest)
	b[0] = 1
	binary.BigEndian.PutUint32(b[1:], prf)
	binary.BigEndian.PutUint32(b[5:], iter)
	binary.BigEndian.PutUint32(b[9:], saltLen)
	b = append(b, make([]byte, rest)...)
	return base64.StdEncoding.EncodeToString(b)
}

func firebaseParams(t *testing.T) *passwordhash.FirebaseParams {
	fp, err := passwordhash.NewFirebaseParams(readmeSK, "Bw==", 8, 14)
	if err != nil {
		t.Fatal(err)
	}
	return fp
}

func TestParseRefuses(t *testing.T) {
	long := strings.Repeat("a", 1025)
	cases := []struct {
		name   string
		in     passwordhash.Stored
		legacy bool
		want   error
	}{
		// any format
		{"unknown format", passwordhash.Stored{Format: "sha3", Hash: sha256x}, false, passwordhash.ErrUnknownFormat},
		{"no format", passwordhash.Stored{Hash: sha256x}, false, passwordhash.ErrUnknownFormat},
		{"empty hash", passwordhash.Stored{Format: "bcrypt"}, false, passwordhash.ErrMalformed},
		{"oversized hash", passwordhash.Stored{Format: "bcrypt", Hash: long}, false, passwordhash.ErrMalformed},
		{"oversized salt", passwordhash.Stored{Format: "sha1", Hash: sha256x[:40], Salt: long}, true, passwordhash.ErrMalformed},
		{"salt field where the hash holds it", passwordhash.Stored{Format: "bcrypt", Hash: okBcrypt, Salt: "x"}, false, passwordhash.ErrMalformed},

		// bcrypt
		{"bcrypt truncated", passwordhash.Stored{Format: "bcrypt", Hash: okBcrypt[:59]}, false, passwordhash.ErrMalformed},
		{"bcrypt bad alphabet", passwordhash.Stored{Format: "bcrypt", Hash: okBcrypt[:30] + "!" + okBcrypt[31:]}, false, passwordhash.ErrMalformed},
		{"bcrypt $2x$", passwordhash.Stored{Format: "bcrypt", Hash: "$2x$" + okBcrypt[4:]}, false, passwordhash.ErrUnsupported},
		{"bcrypt $3$", passwordhash.Stored{Format: "bcrypt", Hash: "$3$" + okBcrypt[3:]}, false, passwordhash.ErrMalformed},
		{"bcrypt cost 31", passwordhash.Stored{Format: "bcrypt", Hash: "$2b$31$" + okBcrypt[7:]}, false, passwordhash.ErrOverLimit},
		{"bcrypt cost 15", passwordhash.Stored{Format: "bcrypt", Hash: "$2y$15$" + okBcrypt[7:]}, false, passwordhash.ErrOverLimit},
		{"bcrypt cost 03", passwordhash.Stored{Format: "bcrypt", Hash: "$2a$03$" + okBcrypt[7:]}, false, passwordhash.ErrMalformed},
		{"bcrypt cost not digits", passwordhash.Stored{Format: "bcrypt", Hash: "$2a$1a$" + okBcrypt[7:]}, false, passwordhash.ErrMalformed},

		// argon2
		{"argon2d", passwordhash.Stored{Format: "argon2", Hash: argon("argon2d$v=19$m=65536,t=2,p=1")}, false, passwordhash.ErrUnsupported},
		{"argon2 version 16 without v=", passwordhash.Stored{Format: "argon2", Hash: argon("argon2i$m=65536,t=2,p=1")}, false, passwordhash.ErrUnsupported},
		{"argon2 v=16", passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=16$m=65536,t=2,p=1")}, false, passwordhash.ErrUnsupported},
		{"argon2 1 GiB", passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=1048576,t=1,p=1")}, false, passwordhash.ErrOverLimit},
		{"argon2 100 passes", passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=65536,t=100,p=1")}, false, passwordhash.ErrOverLimit},
		{"argon2 64 lanes", passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=65536,t=2,p=64")}, false, passwordhash.ErrOverLimit},
		{"argon2 memory × passes", passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=262144,t=8,p=1")}, false, passwordhash.ErrOverLimit},
		{"argon2 m below 8p", passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=15,t=2,p=2")}, false, passwordhash.ErrMalformed},
		{"argon2 t=0", passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=65536,t=0,p=1")}, false, passwordhash.ErrMalformed},
		{"argon2 params out of order", passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$t=2,m=65536,p=1")}, false, passwordhash.ErrMalformed},
		{"argon2 leading zero", passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=065536,t=2,p=1")}, false, passwordhash.ErrMalformed},
		{"argon2 keyid parameter", passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=65536,t=2,p=1,keyid=Zm9v")}, false, passwordhash.ErrMalformed},
		{"argon2 bad base64 salt", passwordhash.Stored{Format: "argon2", Hash: "$argon2id$v=19$m=65536,t=2,p=1$!!!!!!!!!!!$" + okKey}, false, passwordhash.ErrMalformed},
		{"argon2 short salt", passwordhash.Stored{Format: "argon2", Hash: "$argon2id$v=19$m=65536,t=2,p=1$c2FsdA$" + okKey}, false, passwordhash.ErrMalformed},
		{"argon2 truncated", passwordhash.Stored{Format: "argon2", Hash: "$argon2id$v=19$m=65536,t=2,p=1$" + okSalt}, false, passwordhash.ErrMalformed},
		{"argon2 not PHC", passwordhash.Stored{Format: "argon2", Hash: "argon2id$v=19$m=65536,t=2,p=1$" + okSalt + "$" + okKey}, false, passwordhash.ErrMalformed},

		// custodian
		{"custodian argon2i", passwordhash.Stored{Format: "custodian", Hash: argon("argon2i$v=19$m=19456,t=2,p=1")}, false, passwordhash.ErrMalformed},
		{"custodian padded base64", passwordhash.Stored{Format: "custodian", Hash: argon("argon2id$v=19$m=19456,t=2,p=1") + "=="}, false, passwordhash.ErrMalformed},
		{"custodian over limit", passwordhash.Stored{Format: "custodian", Hash: argon("argon2id$v=19$m=19456,t=99,p=1")}, false, passwordhash.ErrOverLimit},

		// scrypt
		{"scrypt ln=30", passwordhash.Stored{Format: "scrypt", Hash: "$scrypt$ln=30,r=8,p=1$" + okSalt + "$" + okKey}, false, passwordhash.ErrOverLimit},
		{"scrypt p=100", passwordhash.Stored{Format: "scrypt", Hash: "$scrypt$ln=14,r=8,p=100$" + okSalt + "$" + okKey}, false, passwordhash.ErrOverLimit},
		{"scrypt r=0", passwordhash.Stored{Format: "scrypt", Hash: "$scrypt$ln=14,r=0,p=1$" + okSalt + "$" + okKey}, false, passwordhash.ErrMalformed},
		{"scrypt ln=0", passwordhash.Stored{Format: "scrypt", Hash: "$scrypt$ln=0,r=8,p=1$" + okSalt + "$" + okKey}, false, passwordhash.ErrMalformed},
		{"scrypt huge r", passwordhash.Stored{Format: "scrypt", Hash: "$scrypt$ln=40,r=1048576,p=1$" + okSalt + "$" + okKey}, false, passwordhash.ErrOverLimit},
		{"scrypt bad base64", passwordhash.Stored{Format: "scrypt", Hash: "$scrypt$ln=14,r=8,p=1$" + okSalt + "$%%%%"}, false, passwordhash.ErrMalformed},
		{"scrypt N= spelling", passwordhash.Stored{Format: "scrypt", Hash: "$scrypt$N=16384,r=8,p=1$" + okSalt + "$" + okKey}, false, passwordhash.ErrMalformed},

		// pbkdf2
		{"pbkdf2 md5", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-md5$1000$" + okSalt + "$" + okKey}, false, passwordhash.ErrUnsupported},
		{"pbkdf2 100M iterations", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha256$100000000$" + okSalt + "$" + okKey}, false, passwordhash.ErrOverLimit},
		{"pbkdf2 long key multiplies the work", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha1$i=600000$" + okSalt + "$" + okKey + okKey}, false, passwordhash.ErrOverLimit},
		{"pbkdf2 l= mismatch", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha512$i=1000,l=64$" + okSalt + "$" + okKey}, false, passwordhash.ErrMalformed},
		{"pbkdf2 i=0", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha256$i=0$" + okSalt + "$" + okKey}, false, passwordhash.ErrMalformed},
		{"pbkdf2 truncated", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha256$1000$" + okSalt}, false, passwordhash.ErrMalformed},
		{"pbkdf2 bad base64", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha256$1000$" + okSalt + "$ab*cd"}, false, passwordhash.ErrMalformed},
		{"pbkdf2 short key", passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha256$1000$" + okSalt + "$AAAA"}, false, passwordhash.ErrMalformed},

		// django
		{"django unknown hasher", passwordhash.Stored{Format: "django", Hash: "whirlpool$1$salt$abc"}, false, passwordhash.ErrUnsupported},
		{"django crypt", passwordhash.Stored{Format: "django", Hash: "crypt$$abN/qM.L/H8EQ"}, false, passwordhash.ErrUnsupported},
		{"django pbkdf2 truncated", passwordhash.Stored{Format: "django", Hash: "pbkdf2_sha256$260000$salt"}, false, passwordhash.ErrMalformed},
		{"django pbkdf2 iterations", passwordhash.Stored{Format: "django", Hash: "pbkdf2_sha256$lots$salt$" + okKey}, false, passwordhash.ErrMalformed},
		{"django pbkdf2 over limit", passwordhash.Stored{Format: "django", Hash: "pbkdf2_sha256$9999999999$salt$" + okKey}, false, passwordhash.ErrOverLimit},
		{"django argon2 without v=", passwordhash.Stored{Format: "django", Hash: "argon2$argon2i$m=512,t=2,p=2$" + okSalt + "$" + okKey}, false, passwordhash.ErrUnsupported},
		{"django bcrypt cost 31", passwordhash.Stored{Format: "django", Hash: "bcrypt_sha256$$2b$31$" + okBcrypt[7:]}, false, passwordhash.ErrOverLimit},
		{"django scrypt N not a power of 2", passwordhash.Stored{Format: "django", Hash: "scrypt$10000$salt$8$1$" + okKey + "="}, false, passwordhash.ErrMalformed},
		{"django unsalted md5 without the flag", passwordhash.Stored{Format: "django", Hash: sha256x[:32]}, false, passwordhash.ErrCrackableLegacy},
		{"django sha1 without the flag", passwordhash.Stored{Format: "django", Hash: "sha1$salt$" + sha256x[:40]}, false, passwordhash.ErrCrackableLegacy},
		{"django sha1 short digest", passwordhash.Stored{Format: "django", Hash: "sha1$salt$" + sha256x[:38]}, true, passwordhash.ErrMalformed},
		{"django not a hash", passwordhash.Stored{Format: "django", Hash: "hunter2"}, false, passwordhash.ErrMalformed},

		// aspnet-identity
		{"aspnet not base64", passwordhash.Stored{Format: "aspnet-identity", Hash: "AQAAAA$$"}, false, passwordhash.ErrMalformed},
		{"aspnet unknown version", passwordhash.Stored{Format: "aspnet-identity", Hash: base64.StdEncoding.EncodeToString(append([]byte{2}, make([]byte, 60)...))}, false, passwordhash.ErrUnsupported},
		{"aspnet v3 unknown PRF", passwordhash.Stored{Format: "aspnet-identity", Hash: aspnetV3(3, 10000, 16, 48)}, false, passwordhash.ErrUnsupported},
		{"aspnet v3 short salt", passwordhash.Stored{Format: "aspnet-identity", Hash: aspnetV3(1, 10000, 8, 40)}, false, passwordhash.ErrMalformed},
		{"aspnet v3 salt longer than the blob", passwordhash.Stored{Format: "aspnet-identity", Hash: aspnetV3(1, 10000, 4096, 48)}, false, passwordhash.ErrMalformed},
		{"aspnet v3 zero iterations", passwordhash.Stored{Format: "aspnet-identity", Hash: aspnetV3(1, 0, 16, 48)}, false, passwordhash.ErrMalformed},
		{"aspnet v3 negative iterations", passwordhash.Stored{Format: "aspnet-identity", Hash: aspnetV3(1, 1<<31, 16, 48)}, false, passwordhash.ErrMalformed},
		{"aspnet v3 over limit", passwordhash.Stored{Format: "aspnet-identity", Hash: aspnetV3(2, 10_000_000, 16, 48)}, false, passwordhash.ErrOverLimit},
		{"aspnet v3 header only", passwordhash.Stored{Format: "aspnet-identity", Hash: base64.StdEncoding.EncodeToString([]byte{1, 0, 0, 0})}, false, passwordhash.ErrMalformed},

		// magento2
		{"magento2 without version", passwordhash.Stored{Format: "magento2", Hash: sha256x + ":salt"}, false, passwordhash.ErrMalformed},
		{"magento2 unknown version", passwordhash.Stored{Format: "magento2", Hash: sha256x + ":salt:9"}, false, passwordhash.ErrUnsupported},
		{"magento2 bare version 3", passwordhash.Stored{Format: "magento2", Hash: sha256x + ":salt:3"}, false, passwordhash.ErrUnsupported},
		{"magento2 1 GiB", passwordhash.Stored{Format: "magento2", Hash: sha256x + ":salt:3_32_2_1073741824"}, false, passwordhash.ErrOverLimit},
		{"magento2 8-byte output", passwordhash.Stored{Format: "magento2", Hash: sha256x[:16] + ":salt:3_8_2_67108864"}, false, passwordhash.ErrMalformed},
		{"magento2 chain over the work limit", passwordhash.Stored{Format: "magento2", Hash: sha256x + ":salt:3_32_4_268435456:3_32_4_268435456"}, false, passwordhash.ErrOverLimit},
		{"magento2 five versions", passwordhash.Stored{Format: "magento2", Hash: sha256x + ":salt:1:1:1:1:1"}, false, passwordhash.ErrMalformed},
		{"magento2 length for the version", passwordhash.Stored{Format: "magento2", Hash: sha256x + ":salt:0"}, true, passwordhash.ErrMalformed},
		{"magento2 not hex", passwordhash.Stored{Format: "magento2", Hash: strings.Repeat("zz", 32) + ":salt:1"}, false, passwordhash.ErrMalformed},
		{"magento2 argon2 without salt", passwordhash.Stored{Format: "magento2", Hash: sha256x + "::2"}, false, passwordhash.ErrMalformed},
		{"magento2 md5 without the flag", passwordhash.Stored{Format: "magento2", Hash: sha256x[:32] + ":salt:0"}, false, passwordhash.ErrCrackableLegacy},

		// firebase-scrypt (the parser below has the README's project parameters)
		{"firebase without salt", passwordhash.Stored{Format: "firebase-scrypt", Hash: readmeH}, false, passwordhash.ErrMalformed},
		{"firebase bad base64", passwordhash.Stored{Format: "firebase-scrypt", Hash: "lSrf*V15", Salt: "42xEC+ixf3L2lw=="}, false, passwordhash.ErrMalformed},
		{"firebase truncated", passwordhash.Stored{Format: "firebase-scrypt", Hash: readmeH[:40], Salt: "42xEC+ixf3L2lw=="}, false, passwordhash.ErrMalformed},
		{"firebase bad salt", passwordhash.Stored{Format: "firebase-scrypt", Hash: readmeH, Salt: "4*2"}, false, passwordhash.ErrMalformed},

		// legacy digests
		{"sha256 without the flag", passwordhash.Stored{Format: "sha256", Hash: sha256x, Salt: "s"}, false, passwordhash.ErrCrackableLegacy},
		{"sha256 wrong length", passwordhash.Stored{Format: "sha256", Hash: sha256x[:40], Salt: "s"}, true, passwordhash.ErrMalformed},
		{"md5 not hex", passwordhash.Stored{Format: "md5", Hash: strings.Repeat("g", 32)}, true, passwordhash.ErrMalformed},
		{"sha1 salt twice", passwordhash.Stored{Format: "sha1", Hash: sha256x[:40] + ":s1", Salt: "s2"}, true, passwordhash.ErrMalformed},
		{"sha1 empty salt after colon", passwordhash.Stored{Format: "sha1", Hash: sha256x[:40] + ":"}, true, passwordhash.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := &passwordhash.Parser{
				Custodian:                  customer.DefaultPasswordHasher(),
				Firebase:                   firebaseParams(t),
				AllowCrackableLegacyHashes: c.legacy,
			}
			h, err := p.Parse(c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("Parse = %v, %v; want %v", h, err, c.want)
			}
			var pe *passwordhash.ParseError
			if !errors.As(err, &pe) || pe.Format != c.in.Format || pe.Reason == "" {
				t.Errorf("error %#v is not a ParseError naming the format and the reason", err)
			}
			if len(c.in.Hash) > 16 && strings.Contains(err.Error(), c.in.Hash) {
				t.Errorf("error %q repeats the hash", err)
			}
		})
	}
}

func TestParseErrorText(t *testing.T) {
	var p passwordhash.Parser
	cases := map[passwordhash.Stored]string{
		{Hash: "x"}:                 "password hash: no format given",
		{Format: "sha3", Hash: "x"}: "sha3: unknown format",
		{Format: "bcrypt", Hash: "$2b$31$" + okBcrypt[7:]}: "bcrypt: bcrypt cost 31 is over the limit 14",
		{Format: "magento2", Hash: sha256x + ":s:9"}:       `magento2: hash version "9" is unknown (0, 1, 2 or 3_<bytes>_<ops>_<mem>)`,
	}
	for in, want := range cases {
		if _, err := p.Parse(in); err == nil || err.Error() != want {
			t.Errorf("Parse(%+v) = %v, want %q", in, err, want)
		}
	}
}

func TestParseNeedsConfiguration(t *testing.T) {
	var p passwordhash.Parser // the zero value: no Firebase project, no Custodian verifier
	if _, err := p.Parse(passwordhash.Stored{Format: "firebase-scrypt", Hash: readmeH, Salt: "42xEC+ixf3L2lw=="}); !errors.Is(err, passwordhash.ErrMissingParams) {
		t.Errorf("firebase without parameters: %v", err)
	}
	if _, err := p.Parse(passwordhash.Stored{Format: "custodian", Hash: argon("argon2id$v=19$m=19456,t=2,p=1")}); !errors.Is(err, passwordhash.ErrMissingParams) {
		t.Errorf("custodian without verifier: %v", err)
	}
	// Parameters set by hand are checked like NewFirebaseParams checks them.
	p.Firebase = &passwordhash.FirebaseParams{SignerKey: []byte("k"), Rounds: 8, MemCost: 20}
	if _, err := p.Parse(passwordhash.Stored{Format: "firebase-scrypt", Hash: "aw==", Salt: "c2FsdA=="}); !errors.Is(err, passwordhash.ErrMalformed) {
		t.Errorf("mem_cost 20: %v", err)
	}
}

func TestNewFirebaseParams(t *testing.T) {
	cases := []struct {
		name           string
		key, sep       string
		rounds, memCst int
		want           error
	}{
		{"readme", readmeSK, "Bw==", 8, 14, nil},
		{"url-safe key", strings.NewReplacer("+", "-", "/", "_").Replace(readmeSK), "Bw", 8, 14, nil},
		{"empty key", "", "Bw==", 8, 14, passwordhash.ErrMissingParams},
		{"bad key", "not base64!", "Bw==", 8, 14, nil},
		{"rounds 0", readmeSK, "Bw==", 0, 14, passwordhash.ErrMalformed},
		{"rounds 9", readmeSK, "Bw==", 9, 14, passwordhash.ErrMalformed},
		{"mem_cost 15", readmeSK, "Bw==", 8, 15, passwordhash.ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := passwordhash.NewFirebaseParams(c.key, c.sep, c.rounds, c.memCst)
			switch {
			case c.name == "bad key":
				if err == nil {
					t.Error("bad base64 accepted")
				}
			case !errors.Is(err, c.want) && !(c.want == nil && err == nil):
				t.Errorf("err = %v, want %v", err, c.want)
			}
		})
	}
}

// Firebase's Admin SDK exports URL-safe base64 where auth:export writes the standard alphabet.
func TestFirebaseURLSafeBase64(t *testing.T) {
	p := &passwordhash.Parser{Firebase: firebaseParams(t)}
	urlSafe := strings.NewReplacer("+", "-", "/", "_", "=", "").Replace(readmeH)
	h, err := p.Parse(passwordhash.Stored{Format: "firebase-scrypt", Hash: urlSafe, Salt: "42xEC-ixf3L2lw"})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := h.Verify("user1password"); !ok || err != nil {
		t.Errorf("Verify = %v, %v", ok, err)
	}
}

func TestLimitsCanBeRaisedAndLowered(t *testing.T) {
	cost12 := passwordhash.Stored{Format: "bcrypt", Hash: "$2b$12$" + okBcrypt[7:]}
	cost15 := passwordhash.Stored{Format: "bcrypt", Hash: "$2b$15$" + okBcrypt[7:]}
	var def passwordhash.Parser
	if _, err := def.Parse(cost12); err != nil {
		t.Errorf("cost 12 under the default limit: %v", err)
	}
	low := passwordhash.Parser{Limits: passwordhash.Limits{MaxBcryptCost: 11}}
	if _, err := low.Parse(cost12); !errors.Is(err, passwordhash.ErrOverLimit) {
		t.Errorf("cost 12 over a limit of 11: %v", err)
	}
	high := passwordhash.Parser{Limits: passwordhash.Limits{MaxBcryptCost: 15}}
	if _, err := high.Parse(cost15); err != nil {
		t.Errorf("cost 15 under a raised limit: %v", err)
	}
	pb := passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha256$i=1000000$" + okSalt + "$" + okKey[:43]}
	if _, err := def.Parse(pb); err != nil {
		t.Errorf("Django 5's 1,000,000 iterations under the default limit: %v", err)
	}
	lowPB := passwordhash.Parser{Limits: passwordhash.Limits{MaxPBKDF2Work: 999_999}}
	if _, err := lowPB.Parse(pb); !errors.Is(err, passwordhash.ErrOverLimit) {
		t.Errorf("1,000,000 iterations over a limit of 999,999: %v", err)
	}
	// At the argon2 default limits exactly: 256 MiB × 4 passes.
	edge := passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=262144,t=4,p=16")}
	if _, err := def.Parse(edge); err != nil {
		t.Errorf("argon2 at the limits: %v", err)
	}
}

func TestVerdicts(t *testing.T) {
	var p passwordhash.Parser
	cases := []struct {
		in   passwordhash.Stored
		weak bool
	}{
		{passwordhash.Stored{Format: "bcrypt", Hash: "$2b$09$" + okBcrypt[7:]}, true},
		{passwordhash.Stored{Format: "bcrypt", Hash: "$2b$10$" + okBcrypt[7:]}, false},
		{passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=19455,t=2,p=1")}, true},
		{passwordhash.Stored{Format: "argon2", Hash: argon("argon2id$v=19$m=19456,t=2,p=1")}, false},
		{passwordhash.Stored{Format: "argon2", Hash: argon("argon2i$v=19$m=12288,t=4,p=1")}, false},
		{passwordhash.Stored{Format: "scrypt", Hash: "$scrypt$ln=13,r=8,p=1$" + okSalt + "$" + okKey}, true},
		{passwordhash.Stored{Format: "scrypt", Hash: "$scrypt$ln=13,r=8,p=2$" + okSalt + "$" + okKey}, false},
		{passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha512$99999$" + okSalt + "$" + okKey}, true},
		{passwordhash.Stored{Format: "pbkdf2", Hash: "$pbkdf2-sha512$100000$" + okSalt + "$" + okKey}, false},
		{passwordhash.Stored{Format: "magento2", Hash: sha256x + ":salt:1"}, true},
		{passwordhash.Stored{Format: "magento2", Hash: sha256x + ":salt:2"}, false},
		{passwordhash.Stored{Format: "magento2", Hash: sha256x + ":salt:3_32_1_8192"}, true},
	}
	for _, c := range cases {
		h, err := p.Parse(c.in)
		if err != nil {
			t.Errorf("%s: %v", c.in.Hash, err)
			continue
		}
		if v := h.Verdict(); v.Weak != c.weak || (v.Reason != "") != c.weak {
			t.Errorf("%s (%s): verdict %+v, want weak=%v", c.in.Hash, h.Scheme(), v, c.weak)
		}
		if strings.Contains(h.Scheme(), okSalt) || strings.Contains(h.Scheme(), okKey) {
			t.Errorf("scheme %q contains the salt or hash", h.Scheme())
		}
	}
}
