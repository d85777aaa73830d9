package customer

import (
	"errors"
	"fmt"

	"github.com/custodian-id/custodian/customer/passwordhash"
	"github.com/custodian-id/custodian/identity"
)

// firebaseParams reads the tenant's Firebase import settings (import.firebase.*); nil
// when the signer key is not set, in which case firebase-scrypt lines are refused.
func (s *Service) firebaseParams(t *identity.Tenant) (*passwordhash.FirebaseParams, error) {
	st := t.Settings
	if !st.FirebaseSignerKey.IsSet() {
		return nil, nil
	}
	if s.webhookSecrets == nil {
		return nil, errors.New("firebase signer key: no sealer of secret settings configured")
	}
	key, err := s.webhookSecrets.OpenSettingKey(t.Name, identity.SettingFirebaseSignerKey, st.FirebaseSignerKey)
	if err != nil {
		return nil, err
	}
	p, err := passwordhash.NewFirebaseParams(key, st.FirebaseSaltSeparator, st.FirebaseRounds, st.FirebaseMemCost)
	if err != nil {
		return nil, fmt.Errorf("%w: tenant %q: the import.firebase.* settings: %w", identity.ErrInvalid, t.Name, err)
	}
	return p, nil
}
