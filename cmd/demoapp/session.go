package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	"golang.org/x/oauth2"
)

// errStoreFull is returned when a store holds its maximum of live entries.
var errStoreFull = errors.New("too many sessions; try again later")

// store keeps values server-side under random ids that only the browser's
// cookie holds, each for at most ttl. It is safe for concurrent use.
type store[T any] struct {
	mu      sync.Mutex
	entries map[string]entry[T]
	ttl     time.Duration
	max     int
	now     func() time.Time
}

type entry[T any] struct {
	value   T
	expires time.Time
}

// newStore returns an empty store of at most max live entries.
func newStore[T any](ttl time.Duration, max int, now func() time.Time) *store[T] {
	return &store[T]{entries: map[string]entry[T]{}, ttl: ttl, max: max, now: now}
}

// put stores v under a new random id and returns the id.
func (s *store[T]) put(v T) (string, error) {
	id := randomToken()
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if len(s.entries) >= s.max {
		for k, e := range s.entries {
			if !now.Before(e.expires) {
				delete(s.entries, k)
			}
		}
		if len(s.entries) >= s.max {
			return "", errStoreFull
		}
	}
	s.entries[id] = entry[T]{value: v, expires: now.Add(s.ttl)}
	return id, nil
}

// get returns the value under id, if it has not expired.
func (s *store[T]) get(id string) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	if ok && !s.now().Before(e.expires) {
		delete(s.entries, id)
		ok = false
	}
	return e.value, ok
}

// take returns the value under id, if it has not expired, and deletes it:
// what may be used once is used once.
func (s *store[T]) take(id string) (T, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[id]
	delete(s.entries, id)
	if ok && !s.now().Before(e.expires) {
		ok = false
	}
	return e.value, ok
}

// removeIf deletes every entry whose value matches and returns how many
// went.
func (s *store[T]) removeIf(match func(T) bool) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, e := range s.entries {
		if match(e.value) {
			delete(s.entries, k)
			n++
		}
	}
	return n
}

// randomToken returns 256 random bits, base64url-encoded.
func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand panics instead)
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// pendingLogin is what the app remembers between sending the browser to
// hallpass and its return to /callback.
type pendingLogin struct {
	state    string
	nonce    string
	verifier string // PKCE code verifier
}

// user is who signed in, from the verified ID token's claims.
type user struct {
	Subject  string   `json:"sub"`
	Name     string   `json:"name"`
	Username string   `json:"preferred_username"`
	Email    string   `json:"email"`
	Roles    []string `json:"roles"`
}

// session is one signed-in browser.
type session struct {
	user    user
	idToken string // raw, sent back as id_token_hint at sign-out
	// sid is hallpass's session the user signed in with (the ID token's
	// sid): a back-channel logout token naming it ends this session.
	sid  string
	csrf string // the per-session token every POST form carries

	// mu serializes use of the token: hallpass rotates refresh tokens and
	// treats a second use of a spent one as a replay, so two requests of
	// one session must never refresh at once.
	mu    sync.Mutex
	token *oauth2.Token
}
