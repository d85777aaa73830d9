package customer

// Foreign password hashes: a customer imported from another platform keeps the hash the
// old platform made (Account.PasswordFormat, PasswordHash, PasswordSalt) until the first
// sign-in with the right password replaces it by Custodian's argon2id.

import (
	"fmt"

	"github.com/custodian-id/custodian/customer/passwordhash"
	"github.com/custodian-id/custodian/identity"
)

// firebaseSignerKey is the setting key of the sealed Firebase signer key.
const firebaseSignerKey = "import.firebase.signer_key"

// HashParser is the parser of a tenant's imported hashes: the tenant's Firebase project
// parameters (import.firebase.*), Custodian's own verifier for the custodian format, and
// the default cost limits. Legacy digests are refused unless allowLegacy: an import
// accepts them only when the operator names the risk; a sign-in accepts what the import
// stored.
func (s *Service) HashParser(t *identity.Tenant, allowLegacy bool) (*passwordhash.Parser, error) {
	p := &passwordhash.Parser{Custodian: s.hasher, AllowCrackableLegacyHashes: allowLegacy}
	st := t.Settings
	if !st.FirebaseSignerKey.IsSet() {
		return p, nil
	}
	if s.settingSecrets == nil {
		return nil, fmt.Errorf("tenant %q: no sealer of secret settings configured", t.Name)
	}
	key, err := s.settingSecrets.Reveal(t.Name, firebaseSignerKey, st.FirebaseSignerKey)
	if err != nil {
		return nil, err
	}
	if p.Firebase, err = passwordhash.NewFirebaseParams(key, st.FirebaseSaltSeparator, st.FirebaseRounds, st.FirebaseMemCost); err != nil {
		return nil, fmt.Errorf("tenant %q: the import.firebase settings: %w", t.Name, err)
	}
	return p, nil
}
