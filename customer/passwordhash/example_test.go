package passwordhash_test

import (
	"errors"
	"fmt"

	"github.com/custodian-id/custodian/customer"
	"github.com/custodian-id/custodian/customer/passwordhash"
)

// An importer builds one Parser per tenant import, parses each line's password once to refuse
// bad lines, and stores the line's format, hash and salt as they are; a sign-in parses them
// again and verifies.
func ExampleParser() {
	firebase, err := passwordhash.NewFirebaseParams( // the tenant's Firebase import settings
		"jxspr8Ki0RYycVU8zykbdLGjFQ3McFUH0uiiTvC8pVMXAn210wjLNmdZJzxUECKbm0QsEmYUSDzZvpjeJ9WmXA==", "Bw==", 8, 14)
	if err != nil {
		panic(err)
	}
	p := &passwordhash.Parser{Firebase: firebase, Custodian: customer.DefaultPasswordHasher()}

	h, err := p.Parse(passwordhash.Stored{
		Format: passwordhash.FirebaseScrypt,
		Hash:   "lSrfV15cpx95/sZS2W9c9Kp6i/LVgQNDNC/qzrCnh1SAyZvqmZqAjTdn3aoItz+VHjoZilo78198JAdRuid5lQ==",
		Salt:   "42xEC+ixf3L2lw==",
	})
	if err != nil {
		panic(err)
	}
	ok, err := h.Verify("user1password")
	fmt.Println(h.Scheme(), ok, err, h.Verdict().Weak)

	_, err = p.Parse(passwordhash.Stored{Format: passwordhash.MD5, Hash: "5f4dcc3b5aa765d61d8327deb882cf99"})
	fmt.Println(errors.Is(err, passwordhash.ErrCrackableLegacy))
	fmt.Println(err)
	// Output:
	// firebase-scrypt rounds=8,mem_cost=14 true <nil> false
	// true
	// md5: MD5 is a fast digest, crackable offline; refused unless AllowCrackableLegacyHashes is set
}
