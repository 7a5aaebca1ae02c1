package provider

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
)

// Setting names of values that must be the same on every replica.
const (
	settingAdminTokenDigest = "admin_token_sha256"
	settingTokenSecret      = "token_hmac_secret"
)

// settingStore is the part of storage.Store the bootstrap needs.
type settingStore interface {
	CreateSetting(ctx context.Context, name string, value []byte) error
	GetSetting(ctx context.Context, name string) ([]byte, error)
}

// MinAdminTokenLen is the shortest admin token accepted, in bytes: the
// token is compared by its unsalted digest, so it must be too long to guess.
// A generated token is 43 bytes (32 random bytes, base64url).
const MinAdminTokenLen = 32

// CheckAdminToken refuses an operator-chosen admin token shorter than
// MinAdminTokenLen, saying how to make a good one.
func CheckAdminToken(token string) error {
	if len(token) < MinAdminTokenLen {
		return fmt.Errorf("HALLPASS_ADMIN_TOKEN has %d bytes; it must have at least %d: generate one with `openssl rand -base64 32`", len(token), MinAdminTokenLen)
	}
	return nil
}

// AdminTokenDigest returns the SHA-256 digest of the admin token. A token
// given by the operator (HALLPASS_ADMIN_TOKEN) wins; one shorter than
// MinAdminTokenLen is refused (CheckAdminToken). Otherwise the digest
// stored on first start is used; when there is none, a token is generated,
// only its digest is stored, and the token itself is returned as generated
// so the caller can print it this once.
func AdminTokenDigest(ctx context.Context, s settingStore, configured string) (digest []byte, generated string, err error) {
	if configured != "" {
		if err := CheckAdminToken(configured); err != nil {
			return nil, "", err
		}
		sum := sha256.Sum256([]byte(configured))
		return sum[:], "", nil
	}
	d, err := s.GetSetting(ctx, settingAdminTokenDigest)
	if err == nil {
		return d, "", nil
	}
	if !errors.Is(err, storage.ErrNotFound) {
		return nil, "", fmt.Errorf("load admin token: %w", err)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, "", fmt.Errorf("generate admin token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(tok))
	if err := s.CreateSetting(ctx, settingAdminTokenDigest, sum[:]); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			// Another replica generated one first; it printed it.
			d, err := s.GetSetting(ctx, settingAdminTokenDigest)
			if err != nil {
				return nil, "", fmt.Errorf("load admin token: %w", err)
			}
			return d, "", nil
		}
		return nil, "", fmt.Errorf("store admin token: %w", err)
	}
	return sum[:], tok, nil
}

// StoredAdminTokenDigest returns the digest of the admin token the store
// holds (the generated or rotated one).
func StoredAdminTokenDigest(ctx context.Context, s settingStore) ([]byte, error) {
	d, err := s.GetSetting(ctx, settingAdminTokenDigest)
	if err != nil {
		return nil, fmt.Errorf("load admin token: %w", err)
	}
	return d, nil
}

// RotateAdminToken generates a new admin token and stores its digest in
// place of the old one, which stops working at once on every server that
// does not have HALLPASS_ADMIN_TOKEN set (see Config.AdminTokenStored).
// The token is returned to be shown once; only its digest is kept. The
// change is recorded in log as admin_token.changed, by ctx's actor, with
// the new token's fingerprint, so that the next server start does not
// record it again and a search of the audit log finds who replaced it.
func RotateAdminToken(ctx context.Context, s interface {
	PutSetting(ctx context.Context, name string, value []byte) error
}, log *audit.Log) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generate admin token: %w", err)
	}
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(tok))
	if err := s.PutSetting(ctx, settingAdminTokenDigest, sum[:]); err != nil {
		return "", fmt.Errorf("store admin token: %w", err)
	}
	log.Record(ctx, audit.Event{Action: "admin_token.changed", Object: "admin_token",
		Details: map[string]any{"fingerprint": adminTokenFingerprint(sum[:])}})
	return tok, nil
}

// sealer encrypts values at rest (keys.Sealer).
type sealer interface {
	Seal(plaintext, additionalData []byte) ([]byte, error)
	Open(ciphertext, additionalData []byte) ([]byte, error)
}

// TokenSecret returns the HMAC secret for authorization codes and refresh
// tokens, generating and storing it (sealed under the key-encryption
// secret) on first start. Every replica and every restart must use the
// same one, or outstanding codes and refresh tokens stop validating.
func TokenSecret(ctx context.Context, s settingStore, seal sealer) ([]byte, error) {
	ad := []byte(settingTokenSecret)
	load := func() ([]byte, error) {
		sealed, err := s.GetSetting(ctx, settingTokenSecret)
		if err != nil {
			return nil, err
		}
		secret, err := seal.Open(sealed, ad)
		if err != nil {
			return nil, fmt.Errorf("decrypt token secret (wrong HALLPASS_SECRET?): %w", err)
		}
		return secret, nil
	}
	secret, err := load()
	if err == nil || !errors.Is(err, storage.ErrNotFound) {
		return secret, err
	}
	secret = make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("generate token secret: %w", err)
	}
	sealed, err := seal.Seal(secret, ad)
	if err != nil {
		return nil, fmt.Errorf("seal token secret: %w", err)
	}
	if err := s.CreateSetting(ctx, settingTokenSecret, sealed); err != nil {
		if errors.Is(err, storage.ErrConflict) {
			return load()
		}
		return nil, fmt.Errorf("store token secret: %w", err)
	}
	return secret, nil
}
