package fositestore

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/hallpass/hallpass/storage"
)

var _ fosite.PARStorage = (*Store)(nil)

// ClientCredential reports whether name is a form parameter that
// authenticates the client (client_secret, client_assertion,
// client_assertion_type): a pushed request's are not part of the
// authorization request it stands for, and must not sit in the database.
func ClientCredential(name string) bool {
	switch name {
	case "client_secret", "client_assertion", "client_assertion_type":
		return true
	}
	return false
}

// CreatePARSession stores a pushed authorization request under a digest
// of its request_uri, without the client's credentials, until the
// session's PushedAuthorizeRequestContext expiry.
func (f *Store) CreatePARSession(ctx context.Context, requestURI string, ar fosite.AuthorizeRequester) error {
	req, ok := ar.(*fosite.AuthorizeRequest)
	if !ok {
		return fmt.Errorf("store pushed authorization request: unexpected request %T", ar)
	}
	clean := *req
	clean.Form = url.Values{}
	for k, v := range req.Form {
		clean.Form[k] = v
	}
	for k := range clean.Form {
		if ClientCredential(k) {
			delete(clean.Form, k)
		}
	}
	return f.create(ctx, storage.KindPAR, requestURI, &clean, fosite.PushedAuthorizeRequestContext, "")
}

// GetPARSession returns the pushed request of requestURI and spends it,
// so that of two authorization requests presenting it only one gets it
// (RFC 9126 §4: one-time use). An unknown, spent or expired request_uri
// is fosite.ErrNotFound, which fosite answers invalid_request_uri.
func (f *Store) GetPARSession(ctx context.Context, requestURI string) (fosite.AuthorizeRequester, error) {
	req, t, err := f.get(ctx, storage.KindPAR, requestURI, nil)
	if err != nil {
		return nil, err
	}
	if !t.Active || !f.now().Before(t.ExpiresAt) {
		return nil, fmt.Errorf("pushed authorization request spent or expired: %w", fosite.ErrNotFound)
	}
	// RFC 9126 §4: a request_uri is for the client that pushed it. fosite
	// compares the client_id only after the spend, and then sends its
	// error to the pushed redirect URI with the pushed state: anyone who
	// saw the request_uri go by in a browser's address bar could spend
	// it with another client_id, or none, and put an error into the
	// owner's flow. Presented by another, it is neither spent nor read.
	if presentedClientID(ctx) != t.ClientID {
		return nil, fmt.Errorf("pushed authorization request presented with another client_id: %w", fosite.ErrNotFound)
	}
	if err := f.store.DeactivateToken(ctx, storage.KindPAR, digest(requestURI)); err != nil {
		if errors.Is(err, storage.ErrConflict) || errors.Is(err, storage.ErrNotFound) {
			return nil, fmt.Errorf("pushed authorization request used concurrently: %w", fosite.ErrNotFound)
		}
		return nil, fositeErr(fmt.Errorf("spend pushed authorization request: %w", err))
	}
	ar := &fosite.AuthorizeRequest{
		ResponseTypes:        fosite.Arguments(strings.Fields(req.Form.Get("response_type"))),
		State:                req.Form.Get("state"),
		ResponseMode:         fosite.ResponseModeType(req.Form.Get("response_mode")),
		DefaultResponseMode:  fosite.ResponseModeQuery,
		HandledResponseTypes: fosite.Arguments{},
		Request:              *req,
	}
	// fosite checked the redirect URI when the request was pushed; one
	// left out stands for the client's only registered one (RFC 6749
	// §3.1.2.3), as it did then.
	raw := req.Form.Get("redirect_uri")
	if uris := req.Client.GetRedirectURIs(); raw == "" && len(uris) == 1 {
		raw = uris[0]
	}
	if raw != "" {
		if ar.RedirectURI, err = url.Parse(raw); err != nil {
			return nil, fositeErr(fmt.Errorf("load pushed authorization request: redirect_uri: %w", err))
		}
	}
	return ar, nil
}

// presentedClientID is the client_id of the authorization request fosite
// is reading (it keeps the HTTP request in the context), "" when there is
// none.
func presentedClientID(ctx context.Context) string {
	r, ok := ctx.Value(fosite.RequestContextKey).(*http.Request)
	if !ok || r.Form == nil {
		return ""
	}
	return r.Form.Get("client_id")
}

// DeletePARSession deletes a pushed request. GetPARSession has already
// spent it, so a row already gone is no error.
func (f *Store) DeletePARSession(ctx context.Context, requestURI string) error {
	err := f.store.DeleteToken(ctx, storage.KindPAR, digest(requestURI))
	if err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fositeErr(fmt.Errorf("delete pushed authorization request: %w", err))
	}
	return nil
}
