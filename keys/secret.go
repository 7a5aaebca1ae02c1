package keys

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/hallpass/hallpass/storage"
)

// ErrWrongSecret means the operator's secret cannot open what this database
// holds. Starting anyway would mean minting a new signing key, which would make
// every token issued so far unverifiable, so callers must refuse to start.
var ErrWrongSecret = errors.New("HALLPASS_SECRET does not match the secret this database was set up with")

// secretCheckSetting is the setting that records, sealed, a known value: it
// lets a wrong secret be detected before anything is written.
const secretCheckSetting = "secret_check"

var (
	secretCheckPlaintext = []byte("hallpass secret check v1")
	secretCheckAD        = []byte("hallpass setting " + secretCheckSetting)
)

// CheckSecret verifies that sealer was built from the secret this database was
// set up with. On first use it records a sealed known value in the
// "secret_check" setting; afterwards that value must open, or CheckSecret
// returns an error wrapping ErrWrongSecret. A database that holds keys but no
// check value (set up before the check existed, or the setting was lost) is
// checked against its keys before the value is recorded.
func CheckSecret(ctx context.Context, store Store, sealer *Sealer) error {
	// Two loops at most: a replica that loses the race to record the value
	// reads the winner's.
	for range 2 {
		sealed, err := store.GetSetting(ctx, secretCheckSetting)
		switch {
		case err == nil:
			return openSecretCheck(sealer, sealed)
		case !errors.Is(err, storage.ErrNotFound):
			return fmt.Errorf("keys: read %s setting: %w", secretCheckSetting, err)
		}
		if err := checkAgainstKeys(ctx, store, sealer); err != nil {
			return err
		}
		sealed, err = sealer.Seal(secretCheckPlaintext, secretCheckAD)
		if err != nil {
			return fmt.Errorf("keys: seal %s: %w", secretCheckSetting, err)
		}
		err = store.CreateSetting(ctx, secretCheckSetting, sealed)
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, storage.ErrConflict):
			return fmt.Errorf("keys: record %s setting: %w", secretCheckSetting, err)
		}
	}
	return fmt.Errorf("keys: %s setting conflicts but cannot be read", secretCheckSetting)
}

// Sealed reports whether the database already holds what a secret sealed:
// the "secret_check" setting, or a signing key. A secret generated for such
// a database (HALLPASS_SECRET unset and its file lost) could open none of
// it, so callers must refuse to generate one.
func Sealed(ctx context.Context, store Store) (bool, error) {
	_, err := store.GetSetting(ctx, secretCheckSetting)
	switch {
	case err == nil:
		return true, nil
	case !errors.Is(err, storage.ErrNotFound):
		return false, fmt.Errorf("keys: read %s setting: %w", secretCheckSetting, err)
	}
	rows, err := store.ListKeys(ctx)
	if err != nil {
		return false, fmt.Errorf("keys: list keys: %w", err)
	}
	return len(rows) > 0, nil
}

func openSecretCheck(sealer *Sealer, sealed []byte) error {
	pt, err := sealer.Open(sealed, secretCheckAD)
	if err != nil || subtle.ConstantTimeCompare(pt, secretCheckPlaintext) != 1 {
		return wrongSecretError()
	}
	return nil
}

func wrongSecretError() error {
	return fmt.Errorf("keys: %w; refusing to start (a new key would make every issued token unverifiable)", ErrWrongSecret)
}

// checkAgainstKeys opens one stored key, preferring the active one, so that a
// missing check value never lets a wrong secret through to key generation.
func checkAgainstKeys(ctx context.Context, store Store, sealer *Sealer) error {
	rows, err := store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: list keys: %w", err)
	}
	if len(rows) == 0 {
		return nil
	}
	probe := rows[0]
	for _, k := range rows {
		if k.State == storage.KeyActive {
			probe = k
			break
		}
	}
	der, err := sealer.Open(probe.PrivateEncrypted, keyAD(probe.ID))
	clear(der)
	if err != nil {
		return wrongSecretError()
	}
	return nil
}
