package keys

import (
	"context"
	"errors"
	"fmt"

	"github.com/hallpass/hallpass/storage"
)

// SealedSetting names a setting that another package stores sealed under
// the key-encryption secret, with the additional data it is sealed with,
// so that Reencrypt can re-seal it.
type SealedSetting struct {
	Name string
	AD   []byte
}

// SealedRows re-seals values another package keeps sealed in rows of its
// own (such as users' TOTP secrets): Reencrypt calls it inside its
// transaction (ctx carries it) with reseal, which moves one sealed value
// from the old secret to the new under its additional data; it returns how
// many values it re-sealed.
type SealedRows func(ctx context.Context, reseal func(sealed, ad []byte) ([]byte, error)) (int, error)

// ReencryptResult counts what Reencrypt re-sealed.
type ReencryptResult struct {
	Keys     int
	Settings int
	// Rows counts the values re-sealed by the SealedRows given.
	Rows int
}

// Reencrypt moves everything this database keeps sealed from the secret
// behind from to the secret behind to: every signing key's private half,
// the "secret_check" setting, each of settings (a setting that does not
// exist is skipped), and what each of walkers re-seals. It runs in one transaction holding the key lock, so
// it either re-seals everything or nothing, and no rotation interleaves.
// It fails with an error wrapping ErrWrongSecret if from does not open
// what the database holds.
//
// Replicas still running with the old secret can no longer reload the
// keys: they keep signing from memory until their keys go stale (see
// ErrStale), so restart them with the new secret promptly.
func Reencrypt(ctx context.Context, store Store, from, to *Sealer, settings []SealedSetting, walkers ...SealedRows) (_ ReencryptResult, err error) {
	if store == nil || from == nil || to == nil {
		return ReencryptResult{}, errors.New("keys: Reencrypt needs a store and two sealers")
	}
	tx, err := store.BeginTX(ctx)
	if err != nil {
		return ReencryptResult{}, fmt.Errorf("keys: re-encrypt: begin transaction: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			_ = store.Rollback(tx)
		}
	}()
	if err := store.LockKeys(tx); err != nil {
		return ReencryptResult{}, fmt.Errorf("keys: re-encrypt: lock signing keys: %w", err)
	}
	if err := CheckSecret(tx, store, from); err != nil {
		return ReencryptResult{}, fmt.Errorf("keys: re-encrypt: the current secret: %w", err)
	}

	var res ReencryptResult
	rows, err := store.ListKeys(tx)
	if err != nil {
		return ReencryptResult{}, fmt.Errorf("keys: re-encrypt: list keys: %w", err)
	}
	for _, row := range rows {
		sealed, err := reseal(from, to, row.PrivateEncrypted, keyAD(row.ID))
		if err != nil {
			return ReencryptResult{}, fmt.Errorf("keys: re-encrypt signing key %q: %w", row.ID, err)
		}
		if err := store.SetKeyPrivate(tx, row.ID, sealed); err != nil {
			return ReencryptResult{}, fmt.Errorf("keys: re-encrypt signing key %q: %w", row.ID, err)
		}
		res.Keys++
	}

	all := append([]SealedSetting{{Name: secretCheckSetting, AD: secretCheckAD}}, settings...)
	for _, s := range all {
		old, err := store.GetSetting(tx, s.Name)
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return ReencryptResult{}, fmt.Errorf("keys: re-encrypt setting %q: %w", s.Name, err)
		}
		sealed, err := reseal(from, to, old, s.AD)
		if err != nil {
			return ReencryptResult{}, fmt.Errorf("keys: re-encrypt setting %q: %w", s.Name, err)
		}
		if err := store.PutSetting(tx, s.Name, sealed); err != nil {
			return ReencryptResult{}, fmt.Errorf("keys: re-encrypt setting %q: %w", s.Name, err)
		}
		res.Settings++
	}

	for _, walk := range walkers {
		n, err := walk(tx, func(sealed, ad []byte) ([]byte, error) { return reseal(from, to, sealed, ad) })
		if err != nil {
			return ReencryptResult{}, fmt.Errorf("keys: re-encrypt: %w", err)
		}
		res.Rows += n
	}

	committed = true
	if err := store.Commit(tx); err != nil {
		return ReencryptResult{}, fmt.Errorf("keys: re-encrypt: commit: %w", err)
	}
	return res, nil
}

// reseal opens sealed with from and seals the plaintext with to, both
// under ad, wiping the plaintext afterwards.
func reseal(from, to *Sealer, sealed, ad []byte) ([]byte, error) {
	pt, err := from.Open(sealed, ad)
	if err != nil {
		return nil, fmt.Errorf("%w (%v)", ErrWrongSecret, err)
	}
	defer clear(pt)
	out, err := to.Seal(pt, ad)
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return out, nil
}
