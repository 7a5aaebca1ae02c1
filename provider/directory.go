package provider

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/hallpass/hallpass/storage"
)

// UserInput is the body of POST and PUT /admin/users. On PUT an empty
// Password keeps the current one.
type UserInput struct {
	Username      string   `json:"username"`
	Password      string   `json:"password,omitempty"`
	Email         string   `json:"email"`
	EmailVerified bool     `json:"email_verified"`
	Name          string   `json:"name"`
	Roles         []string `json:"roles"`
	Disabled      bool     `json:"disabled"`
}

// UserView is a user as the admin API shows it: never the password hash.
type UserView struct {
	ID            string    `json:"id"`
	Username      string    `json:"username"`
	Email         string    `json:"email"`
	EmailVerified bool      `json:"email_verified"`
	Name          string    `json:"name"`
	Roles         []string  `json:"roles"`
	Disabled      bool      `json:"disabled"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// RoleView is a role in the admin API (body and answer).
type RoleView struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Scopes      []string  `json:"scopes"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

// ScopeView is a registered scope in the admin API (body and answer).
type ScopeView struct {
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Audience    string    `json:"audience"`
	CreatedAt   time.Time `json:"created_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at,omitzero"`
}

// ViewUser renders a stored user for the admin API and the CLI.
func ViewUser(u *storage.User) UserView {
	return UserView{ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
		Roles: nonNil(u.Roles), Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// ViewRole renders a stored role for the admin API and the CLI.
func ViewRole(r *storage.Role) RoleView {
	return RoleView{Name: r.Name, Description: r.Description, Scopes: nonNil(r.Scopes), CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// ViewScope renders a registered scope for the admin API and the CLI.
func ViewScope(s *storage.Scope) ScopeView {
	return ScopeView{Name: s.Name, Description: s.Description, Audience: s.Audience, CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt}
}

func invalid(format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "invalid_request", format, args...)
}

func notFound(kind, id string) *apiError {
	return errorf(http.StatusNotFound, "not_found", "no %s %q", kind, id)
}

func conflict(kind, id string) *apiError {
	return errorf(http.StatusConflict, "conflict", "%s %q already exists", kind, id)
}

// storeErr turns storage sentinels into admin API errors.
func storeErr(err error, kind, id string) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, storage.ErrNotFound):
		return notFound(kind, id)
	case errors.Is(err, storage.ErrConflict):
		return conflict(kind, id)
	case errors.Is(err, storage.ErrInvalidReference):
		return invalid("%s %q refers to something that does not exist: %v", kind, id, err)
	}
	return fmt.Errorf("%s %q: %w", kind, id, err)
}

// plainText refuses empty, overlong or control-character text.
func plainText(field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid("%s is required", field)
	}
	if len(s) > max || strings.IndexFunc(s, unicode.IsControl) >= 0 {
		return invalid("%s must be at most %d characters without control characters", field, max)
	}
	return nil
}

// validName accepts identifiers usable in URLs, Basic auth, logs and on
// the command line: 1 to max ASCII letters, digits and the runes in extra.
func validName(s, extra string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
}

func (in *UserInput) validate(passwordRequired bool) error {
	if !validName(in.Username, "._@-", 64) {
		return invalid("username must be 1 to 64 characters of letters, digits and . _ @ -")
	}
	if uuid.Validate(in.Username) == nil {
		// User ids are UUIDs and /admin/users/{id} accepts either; a
		// UUID-shaped username could shadow another user's id.
		return invalid("username must not have the form of a user id (a UUID)")
	}
	if passwordRequired || in.Password != "" {
		if err := CheckPasswordPolicy(in.Password, in.Username, in.Email, in.Name); err != nil {
			return invalid("%v", err)
		}
	}
	if err := plainText("email", in.Email, 254, false); err != nil {
		return err
	}
	if in.Email != "" && (!strings.Contains(in.Email, "@") || strings.ContainsAny(in.Email, " <>")) {
		return invalid("email %q is not an email address", in.Email)
	}
	if err := plainText("name", in.Name, 200, false); err != nil {
		return err
	}
	in.Roles = dedupe(in.Roles)
	for _, r := range in.Roles {
		if !validName(r, "._:-", 64) {
			return invalid("role name %q is not valid", r)
		}
	}
	return nil
}

// CreateUser validates in, hashes the password and stores the user. A role
// that does not exist is a 400 naming it, never silently dropped.
func CreateUser(ctx context.Context, store storage.Store, in UserInput, now time.Time) (UserView, error) {
	if err := in.validate(true); err != nil {
		return UserView{}, err
	}
	if err := checkRolesExist(ctx, store, in.Roles); err != nil {
		return UserView{}, err
	}
	hash, err := HashPassword(in.Password)
	if err != nil {
		return UserView{}, invalid("%v", err)
	}
	u := &storage.User{ID: uuid.NewString(), Username: in.Username, PasswordHash: hash, Email: in.Email,
		EmailVerified: in.EmailVerified, Name: in.Name, Roles: in.Roles, Disabled: in.Disabled,
		CreatedAt: stamp(now), UpdatedAt: stamp(now)}
	if err := store.CreateUser(ctx, u); err != nil {
		return UserView{}, storeErr(err, "user", in.Username)
	}
	return ViewUser(u), nil
}

func checkRolesExist(ctx context.Context, store storage.Store, roles []string) error {
	for _, r := range roles {
		if _, err := store.GetRole(ctx, r); errors.Is(err, storage.ErrNotFound) {
			return invalid("role %q does not exist; create it first (POST /admin/roles)", r)
		} else if err != nil {
			return fmt.Errorf("check role %q: %w", r, err)
		}
	}
	return nil
}

// FindUser looks a user up by id, or else by username.
func FindUser(ctx context.Context, store storage.Store, idOrName string) (*storage.User, error) {
	u, err := store.GetUser(ctx, idOrName)
	if errors.Is(err, storage.ErrNotFound) {
		u, err = store.GetUserByUsername(ctx, idOrName)
	}
	if err != nil {
		return nil, storeErr(err, "user", idOrName)
	}
	return u, nil
}

// UpdateUser replaces a user's fields (an empty password keeps the old
// one). A new password, or disabling, ends what the user's old standing
// started: every browser session and every grant (refresh tokens stop
// working and access tokens introspect inactive at once; JWTs checked
// offline live out their short lifetime). This happens in the transaction
// that changes the user, so no session survives a reset that took effect.
// Changing anything else (name, email, roles) ends nothing: a role change
// narrows the scopes at the next refresh.
func UpdateUser(ctx context.Context, store storage.Store, idOrName string, in UserInput, now time.Time) (UserView, error) {
	old, err := FindUser(ctx, store, idOrName)
	if err != nil {
		return UserView{}, err
	}
	if err := in.validate(false); err != nil {
		return UserView{}, err
	}
	if err := checkRolesExist(ctx, store, in.Roles); err != nil {
		return UserView{}, err
	}
	var newHash string
	if in.Password != "" {
		// Hashed before the transaction begins: argon2id takes tens of
		// milliseconds, and SQLite's write lock would be held meanwhile.
		if newHash, err = HashPassword(in.Password); err != nil {
			return UserView{}, invalid("%v", err)
		}
	}
	var u *storage.User
	err = inTransaction(ctx, store, func(tx context.Context) error {
		// Read again inside the transaction, so that a concurrent change
		// of the password is not undone by writing back the hash read
		// before it.
		cur, err := store.GetUser(tx, old.ID)
		if err != nil {
			return storeErr(err, "user", idOrName)
		}
		u = &storage.User{ID: cur.ID, Username: in.Username, PasswordHash: cur.PasswordHash, Email: in.Email,
			EmailVerified: in.EmailVerified, Name: in.Name, Roles: in.Roles, Disabled: in.Disabled,
			CreatedAt: cur.CreatedAt, UpdatedAt: stamp(now)}
		if newHash != "" {
			u.PasswordHash = newHash
		}
		if err := store.UpdateUser(tx, u); err != nil {
			return storeErr(err, "user", in.Username)
		}
		switch {
		case newHash != "":
			return endUserSessions(tx, store, u.ID, "whose password changed")
		case u.Disabled:
			return endUserSessions(tx, store, u.ID, "who is disabled")
		}
		return nil
	})
	if err != nil {
		return UserView{}, err
	}
	return ViewUser(u), nil
}

// endUserSessions signs a user out everywhere and ends their grants: their
// browser sessions are deleted, their access tokens deleted and their
// codes and refresh tokens marked inactive (kept, so that a later replay
// is still recognised). who says why, for the error.
func endUserSessions(ctx context.Context, store storage.Store, userID, who string) error {
	if err := store.DeleteUserBrowserSessions(ctx, userID); err != nil {
		return fmt.Errorf("end the sessions of the user %s: %w", who, err)
	}
	if err := store.RevokeTokensBySubject(ctx, userID); err != nil {
		return fmt.Errorf("revoke the grants of the user %s: %w", who, err)
	}
	return nil
}

// inTransaction runs fn in a new transaction, committing if it returns nil
// and rolling back otherwise.
func inTransaction(ctx context.Context, store storage.Store, fn func(tx context.Context) error) error {
	tx, err := store.BeginTX(ctx)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		if rbErr := store.Rollback(tx); rbErr != nil {
			return errors.Join(err, fmt.Errorf("roll back: %w", rbErr))
		}
		return err
	}
	if err := store.Commit(tx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// DeleteUser deletes a user with everything that hangs off them.
func DeleteUser(ctx context.Context, store storage.Store, idOrName string) error {
	u, err := FindUser(ctx, store, idOrName)
	if err != nil {
		return err
	}
	return storeErr(store.DeleteUser(ctx, u.ID), "user", idOrName)
}

func (in *RoleView) validate() error {
	if !validName(in.Name, "._:-", 64) {
		return invalid("role name must be 1 to 64 characters of letters, digits and . _ : -")
	}
	if err := plainText("description", in.Description, 500, false); err != nil {
		return err
	}
	in.Scopes = dedupe(in.Scopes)
	for _, s := range in.Scopes {
		if !validScopeToken(s) {
			return invalid("scope %q contains characters RFC 6749 §3.3 does not allow", s)
		}
	}
	return nil
}

// SaveRole creates (create=true) or replaces a role.
func SaveRole(ctx context.Context, store storage.Store, in RoleView, create bool, now time.Time) (RoleView, error) {
	if err := in.validate(); err != nil {
		return RoleView{}, err
	}
	r := &storage.Role{Name: in.Name, Description: in.Description, Scopes: in.Scopes, CreatedAt: stamp(now), UpdatedAt: stamp(now)}
	if create {
		return ViewRole(r), storeErr(store.CreateRole(ctx, r), "role", in.Name)
	}
	old, err := store.GetRole(ctx, in.Name)
	if err != nil {
		return RoleView{}, storeErr(err, "role", in.Name)
	}
	r.CreatedAt = old.CreatedAt
	return ViewRole(r), storeErr(store.UpdateRole(ctx, r), "role", in.Name)
}

func (in *ScopeView) validate() error {
	if !validScopeToken(in.Name) {
		return invalid("scope name %q must be 1 to 200 characters RFC 6749 §3.3 allows", in.Name)
	}
	if err := plainText("description", in.Description, 500, false); err != nil {
		return err
	}
	if in.Audience != "" && strings.IndexFunc(in.Audience, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 || len(in.Audience) > maxURILength {
		return invalid("audience %q must be an identifier without spaces", in.Audience)
	}
	return nil
}

// SaveScope registers (create=true) or replaces a scope.
func SaveScope(ctx context.Context, store storage.Store, in ScopeView, create bool, now time.Time) (ScopeView, error) {
	if err := in.validate(); err != nil {
		return ScopeView{}, err
	}
	s := &storage.Scope{Name: in.Name, Description: in.Description, Audience: in.Audience, CreatedAt: stamp(now), UpdatedAt: stamp(now)}
	if create {
		return ViewScope(s), storeErr(store.CreateScope(ctx, s), "scope", in.Name)
	}
	old, err := store.GetScope(ctx, in.Name)
	if err != nil {
		return ScopeView{}, storeErr(err, "scope", in.Name)
	}
	s.CreatedAt = old.CreatedAt
	return ViewScope(s), storeErr(store.UpdateScope(ctx, s), "scope", in.Name)
}

// stamp is the time as storage keeps it (UTC, microseconds), so what an
// admin call answers equals what a later read returns.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
