package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/storage"
)

// The admin API for signing keys: the same operations as `hallpass keys`,
// on the replica that receives the request. The change is in the database
// at once; this replica serves it at once and the others within about a
// second (keys.Manager.Watch).

// RotateRequest is the optional JSON body of POST /admin/keys/rotate.
type RotateRequest struct {
	// Immediate makes the new key sign at once instead of after it has
	// been published for the lead; see keys.Manager.RotateNow.
	Immediate bool `json:"immediate"`
}

// RotateResponse answers POST /admin/keys/rotate: the key that takes over
// (state active if it already signs, next with its activates_at if it
// signs once published long enough). When that key was never published
// (unpublished_key), Warning says what breaks.
type RotateResponse struct {
	keys.KeyInfo
	Immediate bool   `json:"immediate"`
	Warning   string `json:"warning,omitempty"`
}

// RevokeResponse answers POST /admin/keys/{kid}/revoke: the revoked kid
// and the key that signs afterwards; UnpublishedKey and Warning as in
// RotateResponse.
type RevokeResponse struct {
	Revoked        string `json:"revoked_kid"`
	ActiveKID      string `json:"active_kid"`
	UnpublishedKey bool   `json:"unpublished_key,omitempty"`
	Warning        string `json:"warning,omitempty"`
}

// UnpublishedWarning is the warning of an answer whose new signing key was
// never in the JWKS.
const UnpublishedWarning = "no next key was published: the new signing key was never in the JWKS, so resource servers reject its tokens until they refetch the JWKS"

// NewRotateResponse builds the answer to a rotation, for the admin API and
// the CLI alike.
func NewRotateResponse(info keys.KeyInfo, immediate bool) RotateResponse {
	r := RotateResponse{KeyInfo: info, Immediate: immediate}
	if info.Unpublished {
		r.Warning = UnpublishedWarning
	}
	return r
}

// NewRevokeResponse builds the answer to a revocation, for the admin API
// and the CLI alike.
func NewRevokeResponse(kid string, active keys.KeyInfo) RevokeResponse {
	r := RevokeResponse{Revoked: kid, ActiveKID: active.ID, UnpublishedKey: active.Unpublished}
	if active.Unpublished {
		r.Warning = UnpublishedWarning
	}
	return r
}

// SealedSettings lists the settings the provider keeps sealed under the
// key-encryption secret, with the additional data each is sealed with, so
// that changing the secret (keys.Reencrypt) re-seals them too.
func SealedSettings() []keys.SealedSetting {
	return []keys.SealedSetting{{Name: settingTokenSecret, AD: []byte(settingTokenSecret)}}
}

// SealedRows are the rows the provider keeps sealed under the
// key-encryption secret, for keys.Reencrypt: users' TOTP secrets.
func SealedRows(store storage.Store) []keys.SealedRows {
	return []keys.SealedRows{func(ctx context.Context, reseal func(sealed, ad []byte) ([]byte, error)) (int, error) {
		ts, err := store.ListTOTP(ctx)
		if err != nil {
			return 0, err
		}
		for _, t := range ts {
			sealed, err := reseal(t.Secret, totpSealAD(t.UserID))
			if err != nil {
				return 0, fmt.Errorf("authenticator of user %s: %w", t.UserID, err)
			}
			if err := store.SetTOTPSecret(ctx, t.UserID, sealed); err != nil {
				return 0, err
			}
		}
		return len(ts), nil
	}}
}

func (p *Provider) adminListKeys(w http.ResponseWriter, r *http.Request) {
	ks, err := p.cfg.Keys.Keys(r.Context())
	p.answer(w, r, http.StatusOK, ks, err)
}

func (p *Provider) adminRotateKeys(w http.ResponseWriter, r *http.Request) {
	var in RotateRequest
	// The body is optional: a bare POST rotates on the safe schedule.
	if err := decodeJSON(r, &in, "invalid_request", jsonStrict|jsonOptional); err != nil {
		p.writeError(w, r, err)
		return
	}
	info, err := p.cfg.Keys.RotateNow(r.Context(), in.Immediate)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	p.log.WarnContext(r.Context(), "signing keys rotated through the admin API",
		"kid", info.ID, "state", info.State, "activates_at", info.ActivatesAt, "immediate", in.Immediate)
	writeJSON(w, http.StatusOK, NewRotateResponse(info, in.Immediate))
}

func (p *Provider) adminRevokeKey(w http.ResponseWriter, r *http.Request) {
	kid := pathParam(r, "kid")
	active, err := p.cfg.Keys.Revoke(r.Context(), kid)
	if errors.Is(err, storage.ErrNotFound) {
		p.writeError(w, r, directory.NotFound("signing key", kid))
		return
	}
	p.answer(w, r, http.StatusOK, NewRevokeResponse(kid, active), err)
}
