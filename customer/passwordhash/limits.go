package passwordhash

import "fmt"

// Limits bound what verifying one imported hash may cost, so that a hostile or broken import file
// cannot make a sign-in take minutes or gigabytes. Parse refuses a hash over any of them with
// ErrOverLimit. A zero field takes the default below; raise one only knowing the cost (measured
// with `go test -bench . ./customer/passwordhash/`). At the defaults the dearest hash of each
// family costs about one to two seconds of one core here (testdata/README.md has the figures).
type Limits struct {
	// MaxBcryptCost: the cost is log2 of the rounds. Default 14 (about 1 s here);
	// bcrypt itself allows 31, a week per guess.
	MaxBcryptCost int
	// MaxArgon2MemoryKiB: argon2's m (and Magento's memlimit/1024). Default 262144 (256 MiB).
	MaxArgon2MemoryKiB uint32
	// MaxArgon2Passes: argon2's t (Magento's opslimit). Default 10.
	MaxArgon2Passes uint32
	// MaxArgon2Lanes: argon2's p. Default 16.
	MaxArgon2Lanes uint32
	// MaxArgon2Work: memory KiB × passes, summed over a Magento chain. Default 1048576 (1 GiB
	// pass-equivalent: 64 MiB × 16, 256 MiB × 4).
	MaxArgon2Work uint64
	// MaxScryptMemory: 128 × N × r bytes. Default 268435456 (256 MiB, N=2^18 with r=8).
	MaxScryptMemory uint64
	// MaxScryptWork: 128 × N × r × p bytes processed. Default 536870912 (512 MiB).
	MaxScryptWork uint64
	// MaxPBKDF2Work: iterations × output blocks (ceil(key length / digest length)). Default
	// 2,000,000: Django 5.x's 1,000,000 fits, a 100-million-iteration hash does not.
	MaxPBKDF2Work uint64
}

// DefaultLimits are the limits a zero Limits stands for.
var DefaultLimits = Limits{
	MaxBcryptCost:      14,
	MaxArgon2MemoryKiB: 256 * 1024,
	MaxArgon2Passes:    10,
	MaxArgon2Lanes:     16,
	MaxArgon2Work:      1 << 20,
	MaxScryptMemory:    256 << 20,
	MaxScryptWork:      512 << 20,
	MaxPBKDF2Work:      2_000_000,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxBcryptCost > 0 {
		d.MaxBcryptCost = l.MaxBcryptCost
	}
	if l.MaxArgon2MemoryKiB > 0 {
		d.MaxArgon2MemoryKiB = l.MaxArgon2MemoryKiB
	}
	if l.MaxArgon2Passes > 0 {
		d.MaxArgon2Passes = l.MaxArgon2Passes
	}
	if l.MaxArgon2Lanes > 0 {
		d.MaxArgon2Lanes = min(l.MaxArgon2Lanes, 255) // golang.org/x/crypto/argon2 takes a uint8
	}
	if l.MaxArgon2Work > 0 {
		d.MaxArgon2Work = l.MaxArgon2Work
	}
	if l.MaxScryptMemory > 0 {
		d.MaxScryptMemory = l.MaxScryptMemory
	}
	if l.MaxScryptWork > 0 {
		d.MaxScryptWork = l.MaxScryptWork
	}
	if l.MaxPBKDF2Work > 0 {
		d.MaxPBKDF2Work = l.MaxPBKDF2Work
	}
	return d
}

// The strength verdict. A hash is weak when a leaked copy of the old table can be guessed at
// far more than the rate today's recommendations (OWASP Password Storage Cheat Sheet, 2023)
// intend:
//   - every legacy digest (MD5, SHA-1, SHA-2 of salt and password, salted or not), Magento 2's
//     version 0 and 1 and any chain whose steps are all fast, Django's sha1$/md5$/unsalted forms;
//   - bcrypt below cost 10;
//   - argon2 (and Magento's argon2id13 steps) with memory × passes below 19 MiB × 2, OWASP's floor;
//   - scrypt (and Firebase's) with N × r × p below 2^14 × 8 × 1, the scrypt paper's interactive
//     parameters, which Firebase also uses;
//   - PBKDF2 of any PRF below 100,000 iterations, and so ASP.NET Identity v2 (1,000) always.
const (
	WeakBcryptCost       = 10
	WeakArgon2WorkKiB    = 19 * 1024 * 2
	WeakScryptNRP        = (1 << 14) * 8
	WeakPBKDF2Iterations = 100_000
)

var strong = Verdict{}

func weak(format string, args ...any) Verdict {
	return Verdict{Weak: true, Reason: fmt.Sprintf(format, args...)}
}
