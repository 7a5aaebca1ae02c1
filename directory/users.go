package directory

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"slices"
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

	// prepared is Password checked and hashed ahead of the transaction
	// that stores it (Users.PreparePassword); never read from or written
	// to JSON, and used only while Password, and what the password rules
	// compare it with, are still those it was checked with.
	prepared *preparedPassword
}

// preparedPassword is a password with its stored form, made by
// Users.PreparePassword (or, for a user created without a password,
// Users.PrepareWithoutPassword: then password is ""), and the fields of
// the input the password rules compared it with.
type preparedPassword struct {
	password, hash        string
	username, email, name string
}

// preparedHash returns the hash prepared for in's password, if in
// carries one made for it as it is.
func (in *UserInput) preparedHash() (hash string, ok bool) {
	p := in.prepared
	if p == nil || p.username != in.Username || p.email != in.Email || p.name != in.Name ||
		len(p.password) != len(in.Password) || subtle.ConstantTimeCompare([]byte(p.password), []byte(in.Password)) != 1 {
		return "", false
	}
	return p.hash, true
}

// UserView is a user as the admin API and the CLI show it: never the
// password hash.
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

func viewUser(u *storage.User) UserView {
	return UserView{ID: u.ID, Username: u.Username, Email: u.Email, EmailVerified: u.EmailVerified, Name: u.Name,
		Roles: listOf(u.Roles), Disabled: u.Disabled, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
}

// Users manages users and their passwords.
type Users struct {
	store  storage.Store
	hasher Hasher
	now    func() time.Time
	// logoutsQueued is told, once a change committed, which clients had
	// tokens in the browser sessions it ended, whose logout notices the
	// change queued (Options.LogoutsQueued).
	logoutsQueued func(context.Context, []storage.SessionClient)
	// accessLifespan is how long access tokens live
	// (Options.AccessTokenLifespan).
	accessLifespan time.Duration
	audit          Recorder
}

// ValidUsername reports whether s is spelt as a username may be: 1 to 64
// letters, digits and . _ @ -, other than . and .. (a UUID is refused
// besides, in validate). The login page prefills a login_hint only when
// it is so spelt: other text, a right-to-left override or a sentence
// above all, would be the request's words shown as hallpass's.
func ValidUsername(s string) bool { return ValidName(s, "._@-", 64) }

func (in *UserInput) validate(passwordRequired bool) error {
	if err := unreadable(ObjectUser, in); err != nil {
		return err
	}
	if !ValidUsername(in.Username) {
		return invalid(ObjectUser, "username", "username must be 1 to 64 characters of letters, digits and . _ @ -, other than . and ..")
	}
	if uuid.Validate(in.Username) == nil {
		// User ids are UUIDs and /admin/users/{id} accepts either; a
		// UUID-shaped username could shadow another user's id.
		return invalid(ObjectUser, "username", "username must not have the form of a user id (a UUID)")
	}
	// A password PreparePassword checked, for in as it is, is not checked
	// again: the rules take time, which a transaction would hold.
	_, prepared := in.preparedHash()
	if (passwordRequired || in.Password != "") && !(prepared && in.Password != "") {
		if err := CheckPasswordPolicy(in.Password, in.Username, in.Email, in.Name); err != nil {
			return invalid(ObjectUser, "password", "%v", err)
		}
	}
	if err := plainText(ObjectUser, "email", in.Email, 254, false); err != nil {
		return err
	}
	if in.Email != "" && (!strings.Contains(in.Email, "@") || strings.ContainsAny(in.Email, " <>")) {
		return invalid(ObjectUser, "email", "email %q is not an email address", in.Email)
	}
	if err := plainText(ObjectUser, "name", in.Name, 200, false); err != nil {
		return err
	}
	roles, err := distinct(ObjectUser, "roles", in.Roles)
	if err != nil {
		return err
	}
	in.Roles = roles
	for _, r := range in.Roles {
		if !validRoleName(r) {
			return invalid(ObjectUser, "roles", "role name %s must be %s", shown(r), roleNameRule)
		}
	}
	return nil
}

// PreparePassword returns in ready to be stored in a transaction: its new
// password, if it sets one, checked (with the rest of in, in the order
// Create and Update check) and hashed, within the Hasher's bound, whose
// slot it leaves once done. Create, Update and PrepareUpdate given the
// result hash nothing, so they may run in a caller's transaction
// (Service.InTransaction): argon2id takes tens of milliseconds, and
// SQLite's write lock, which every write transaction holds from its
// start, would be held meanwhile, every other write waiting (a sign-in's,
// a token's). The hash is carried in the result, never in its JSON, and
// only for as long as its Password, username, email and name are those it
// was checked with (the password rules compare it with them); the rest of
// in may change, and is checked again where it is stored. Call it outside
// any transaction: it is the one place a new password is hashed.
func (s *Users) PreparePassword(ctx context.Context, in UserInput) (UserInput, error) {
	if in.Password == "" {
		return in, nil
	}
	if _, ok := in.preparedHash(); ok {
		return in, nil
	}
	leave, err := s.hasher.Enter(ctx)
	if err != nil {
		return in, err
	}
	defer leave()
	if err := in.validate(false); err != nil {
		return in, err
	}
	hash, err := s.hasher.Hash(in.Password)
	if err != nil {
		return in, invalid(ObjectUser, "password", "%v", err)
	}
	in.prepared = &preparedPassword{password: in.Password, hash: hash, username: in.Username, email: in.Email, name: in.Name}
	return in, nil
}

// prepare checks in and returns the hash of its password ("" when it sets
// none), which PreparePassword made. A role that does not exist is
// refused naming it, never silently dropped.
func (s *Users) prepare(ctx context.Context, in *UserInput, passwordRequired bool) (hash string, err error) {
	if err := in.validate(passwordRequired); err != nil {
		return "", err
	}
	for _, r := range in.Roles {
		if _, err := s.store.GetRole(ctx, r); errors.Is(err, storage.ErrNotFound) {
			return "", invalid(ObjectUser, "roles", "role %q does not exist; create it first (POST /admin/roles)", r)
		} else if err != nil {
			return "", fmt.Errorf("check role %q: %w", r, err)
		}
	}
	if in.Password == "" {
		return "", nil
	}
	hash, ok := in.preparedHash()
	if !ok {
		// A caller skipped PreparePassword: hashing here could hold a
		// transaction's locks.
		return "", fmt.Errorf("user %q: the new password was not prepared (PreparePassword) before it was stored", in.Username)
	}
	return hash, nil
}

// Create validates in, hashes the password and stores the user.
// A password PreparePassword hashed is not hashed again.
func (s *Users) Create(ctx context.Context, in UserInput) (UserView, error) {
	in, err := s.PreparePassword(ctx, in)
	if err != nil {
		return UserView{}, err
	}
	hash, err := s.prepare(ctx, &in, true)
	if err != nil {
		return UserView{}, err
	}
	return s.insert(ctx, in, hash, "password")
}

// insert stores a new user from the validated in with password hash hash,
// and records the creation; extra names fields the audit entry adds to
// the user's own (the password, when one was given).
func (s *Users) insert(ctx context.Context, in UserInput, hash string, extra ...string) (UserView, error) {
	now := stamp(s.now())
	u := &storage.User{ID: uuid.NewString(), Username: in.Username, PasswordHash: hash, Email: in.Email,
		EmailVerified: in.EmailVerified, Name: in.Name, Roles: in.Roles, Disabled: in.Disabled, CreatedAt: now, UpdatedAt: now}
	err := inTransaction(ctx, s.store, func(tx context.Context) error {
		if err := s.usernameFree(tx, in.Username, ""); err != nil {
			return err
		}
		return userErr(s.store.CreateUser(tx, u), in.Username)
	})
	if err != nil {
		return UserView{}, err
	}
	out := viewUser(u)
	record(ctx, s.audit, ObjectUser, "create", u.ID, append(changedFields(nil, out), extra...), map[string]any{"username": u.Username})
	return out, nil
}

// usernameFree refuses username (ErrConflict) when a user other than
// self (an id; "" for a new user) holds it, or holds one that differs
// from it only by case (UsernameTaken). Run in the transaction that
// writes the username: it first takes the store's username lock
// (storage.Store.LockUsernames), so that of two transactions writing case
// variants at the same moment the second waits and then sees the first's
// user. Only the exact username is unique in the database (older
// databases may hold case variants), so this lock is what keeps them
// from both passing.
func (s *Users) usernameFree(ctx context.Context, username, self string) error {
	if err := s.store.LockUsernames(ctx); err != nil {
		return fmt.Errorf("check whether username %q is taken: %w", username, err)
	}
	taken, err := s.store.FindUsersByUsernameFold(ctx, username)
	if err != nil {
		return fmt.Errorf("check whether username %q is taken: %w", username, err)
	}
	taken = slices.DeleteFunc(taken, func(u storage.User) bool { return u.ID == self })
	if len(taken) == 0 {
		return nil
	}
	holder := taken[0].Username
	if slices.ContainsFunc(taken, func(u storage.User) bool { return u.Username == username }) {
		holder = username
	}
	return UsernameTaken(username, holder)
}

// UsernameTaken returns the refusal (ErrConflict) that creating a user
// named username, or renaming one to it, meets while another user named
// holder exists: holder is the same username, or differs from it only by
// case (in an admin list, the audit log or an app's preferred_username,
// "alice" and "Alice" look like one person, so the directory keeps one).
// It is nil when the two differ by more. Configuration as code plans
// with it (and UsernameKey), so that a plan fails where its apply would.
func UsernameTaken(username, holder string) error {
	switch {
	case holder == username:
		return conflict(ObjectUser, username)
	case strings.EqualFold(holder, username):
		return &Error{Kind: ErrConflict, Object: ObjectUser,
			Message: fmt.Sprintf("username %q is taken (by %q); usernames differ by more than case", username, holder)}
	}
	return nil
}

// UsernameKey returns the form under which the directory tells usernames
// apart: two usernames have the same key exactly when they differ only
// by case (strings.EqualFold), so that a set of usernames can be checked
// for such pairs with a map. Each character is replaced by the least of
// those it equals under simple case folding.
func UsernameKey(username string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, username)
}

// userErr is storeErr for a user, whose roles must exist.
func userErr(err error, username string) error {
	if errors.Is(err, storage.ErrInvalidReference) {
		// The store's text may carry driver detail (constraint names);
		// the caller gets plain words only.
		return invalid(ObjectUser, "roles", "user %q names a role that does not exist (it may have just been deleted); check the roles and try again", username)
	}
	return storeErr(err, ObjectUser, username)
}

// find looks a user up by id, or else by username as a sign-in finds it
// (byUsername): without case, since usernames differ by more than case,
// so that the admin API and the CLI find alice as Alice too.
func (s *Users) find(ctx context.Context, idOrName string) (*storage.User, error) {
	u, err := s.store.GetUser(ctx, idOrName)
	if errors.Is(err, storage.ErrNotFound) {
		var found []storage.User
		if found, err = s.store.FindUsersByUsernameFold(ctx, idOrName); err == nil {
			if u, _ = byUsername(found, idOrName); u == nil {
				err = fmt.Errorf("user %q: %w", idOrName, storage.ErrNotFound)
			}
		}
	}
	if err != nil {
		return nil, storeErr(err, ObjectUser, idOrName)
	}
	return u, nil
}

// byUsername picks from found, the users whose usernames equal username
// under case folding, the one username names: the user holding it
// exactly, or else the only one; nil when there are several and none
// holds it exactly (variants an older database keeps). shared reports
// that the user picked has such variants.
func byUsername(found []storage.User, username string) (u *storage.User, shared bool) {
	// Every user found differs from username, and so from each other,
	// only by case: any second one is a variant of the one picked.
	if i := slices.IndexFunc(found, func(u storage.User) bool { return u.Username == username }); i >= 0 {
		return &found[i], len(found) > 1
	}
	if len(found) == 1 {
		return &found[0], false
	}
	return nil, false
}

// SignInUser returns the user whom username, as someone typed it to
// sign in, names; nil when it names nobody. A sign-in matches usernames
// as the directory tells them apart, without case (UsernameTaken), since
// people do not remember the case they were given: the user holding
// exactly username wins; otherwise the one user whose username differs
// from it only by case. An older database may hold several such users
// (bob and Bob, stored before the directory refused case variants):
// then a spelling that is neither's exactly names nobody, rather than
// whichever sorts first, and only the exact spellings sign in. shared
// reports that the user found has such variants, which share its login
// throttle's account count.
//
// It asks the store once whatever the answer, so that a sign-in for a
// username that names nobody, or several, costs what one for a user does.
// The caller words the answer: nil must look like an unknown username.
func (s *Users) SignInUser(ctx context.Context, username string) (u *storage.User, shared bool, err error) {
	found, err := s.store.FindUsersByUsernameFold(ctx, username)
	if err != nil {
		return nil, false, fmt.Errorf("find the user signing in: %w", err)
	}
	u, shared = byUsername(found, username)
	return u, shared, nil
}

// Get returns the user with the id, or else the username, idOrName.
func (s *Users) Get(ctx context.Context, idOrName string) (UserView, error) {
	u, err := s.find(ctx, idOrName)
	if err != nil {
		return UserView{}, err
	}
	return viewUser(u), nil
}

// List returns every user.
func (s *Users) List(ctx context.Context) ([]UserView, error) {
	return listed(ctx, ObjectUser, s.store.ListUsers, viewUser)
}

// Update replaces a user's fields (an empty password keeps the old
// one). A new password, or disabling, ends what the user's old standing
// started: every browser session and every grant (refresh tokens stop
// working and access tokens introspect inactive at once; JWTs checked
// offline live out their short lifetime). This happens in the transaction
// that changes the user, so no session survives a reset that took effect.
// Changing anything else (name, email, roles) ends nothing: a role change
// narrows the scopes at the next refresh.
func (s *Users) Update(ctx context.Context, idOrName string, in UserInput) (UserView, error) {
	update, err := s.PrepareUpdate(ctx, idOrName, in)
	if err != nil {
		return UserView{}, err
	}
	return update(ctx)
}

// PrepareUpdate does the part of Update(ctx, idOrName, in) that must not
// run in a transaction, and returns the rest, which the caller runs with
// a context that may carry its own transaction (Service.InTransaction),
// and which joins it. That part checks in and hashes a new password
// (within the Hasher's bound, whose slot it leaves once done): argon2id
// takes tens of milliseconds, and SQLite's write lock, which every write
// transaction holds from its start, would be held meanwhile, every other
// write waiting. A change made only if the user is as the caller read
// them (an If-Match) prepares first and checks in its transaction after;
// so that a refused one hashes in vain only when the user changed between
// the two, the caller checks on an unlocked read before (the admin API's
// checkIfMatch). Called with a context that carries a transaction, it
// hashes in that transaction: call it before.
// It hashes with PreparePassword, and not again a password that hashed.
func (s *Users) PrepareUpdate(ctx context.Context, idOrName string, in UserInput) (update func(ctx context.Context) (UserView, error), err error) {
	return s.prepareUpdate(ctx, idOrName, in, false)
}

// prepareUpdate is PrepareUpdate; with passwordOnly, the update it
// returns sets only the password in.Password, keeping the rest of the
// user as its transaction reads it (ChangePassword), not as in has it.
func (s *Users) prepareUpdate(ctx context.Context, idOrName string, in UserInput, passwordOnly bool) (update func(ctx context.Context) (UserView, error), err error) {
	if in, err = s.PreparePassword(ctx, in); err != nil {
		return nil, err
	}
	old, err := s.find(ctx, idOrName)
	if err != nil {
		return nil, err
	}
	newHash, err := s.prepare(ctx, &in, false)
	if err != nil {
		return nil, err
	}
	return func(ctx context.Context) (UserView, error) {
		return s.update(ctx, idOrName, old.ID, in, newHash, passwordOnly)
	}, nil
}

// update writes the checked in, with newHash as the user's new password
// hash ("" keeps it), to user id (whom idOrName named), in the
// transaction ctx carries or a new one. With passwordOnly, only newHash
// is written, the rest kept as read in the transaction.
func (s *Users) update(ctx context.Context, idOrName, id string, in UserInput, newHash string, passwordOnly bool) (UserView, error) {
	var u, before *storage.User
	err := s.endingSessions(ctx, func(tx context.Context) ([]storage.SessionClient, error) {
		// Read again inside the transaction, and locked until it ends
		// (storage.LockingReads), so that a concurrent change of the
		// password is not undone by writing back the hash read before
		// it: unlocked, on PostgreSQL, both read the old hash.
		cur, err := s.store.GetUser(storage.LockingReads(tx), id)
		if err != nil {
			return nil, storeErr(err, ObjectUser, idOrName)
		}
		before = cur
		if passwordOnly {
			// A password change writes no profile read before: one
			// disabling the user meanwhile would be undone.
			in = UserInput{Username: cur.Username, Email: cur.Email, EmailVerified: cur.EmailVerified,
				Name: cur.Name, Roles: cur.Roles, Disabled: cur.Disabled}
		}
		if in.Username != cur.Username {
			// Only a rename is checked: a user who shares a username
			// but for case with another since before the rule (an
			// older database) can still be updated.
			if err := s.usernameFree(tx, in.Username, cur.ID); err != nil {
				return nil, err
			}
		}
		u = &storage.User{ID: cur.ID, Username: in.Username, PasswordHash: cur.PasswordHash, Email: in.Email,
			EmailVerified: in.EmailVerified, Name: in.Name, Roles: in.Roles, Disabled: in.Disabled,
			CreatedAt: cur.CreatedAt, UpdatedAt: stamp(s.now())}
		if newHash != "" {
			u.PasswordHash = newHash
		}
		if err := s.store.UpdateUser(tx, u); err != nil {
			return nil, userErr(err, in.Username)
		}
		switch {
		case newHash != "":
			return endUserSessions(tx, s.store, u.ID, "", "whose password changed")
		case u.Disabled:
			return endUserSessions(tx, s.store, u.ID, "", "who is disabled")
		}
		return nil, nil
	})
	if err != nil {
		return UserView{}, err
	}
	out := viewUser(u)
	fields := changedFields(viewUser(before), out)
	if u.PasswordHash != before.PasswordHash {
		fields = append(fields, "password")
	}
	recordUpdate(ctx, s.audit, ObjectUser, u.ID, fields, map[string]any{"username": u.Username})
	if u.Disabled && !before.Disabled {
		record(ctx, s.audit, ObjectUser, "disabled", u.ID, nil, map[string]any{"username": u.Username})
	}
	return out, nil
}

// endUserSessions signs a user out everywhere and ends their grants: their
// browser sessions are deleted, their access tokens and unused codes
// deleted and their refresh tokens marked inactive (kept, so that a later
// replay is still recognised; storage.Store.RevokeTokensByClient). keep,
// when not empty, is the id of a session that stays: the browser that
// made the change, signed in still. It returns the clients that had
// tokens in the ended sessions, for each of which (with a back-channel
// logout URI) the store queued a logout notice in ctx's transaction. who
// says why, for the error.
//
// The grants end first: that advances the user's token epoch, which
// locks the user's row until the change commits, before any session is
// ended. A sign-in that started its session meanwhile confirms the user's
// credential (and its passkey) after: either its session was there to be
// ended, or its confirmation waits for the change and then sees it
// (provider's startSession).
func endUserSessions(ctx context.Context, store storage.Store, userID, keep, who string) ([]storage.SessionClient, error) {
	if err := store.RevokeTokensBySubject(ctx, userID); err != nil {
		return nil, fmt.Errorf("revoke the grants of the user %s: %w", who, err)
	}
	// Every grant ends, the kept session's apps' included: grants are the
	// user's, not a session's, and the browser that stays signed in gets
	// new ones without a prompt. The kept session's clients are told when
	// it ends, later. Each of the two is one statement, however many
	// sessions the user has.
	if err := store.DeleteUserBrowserSessions(ctx, userID, keep); err != nil {
		return nil, fmt.Errorf("end the sessions of the user %s: %w", who, err)
	}
	ended, err := store.TakeSessionClients(ctx, "", userID, keep)
	if err != nil {
		return nil, fmt.Errorf("read the clients of the sessions of the user %s: %w", who, err)
	}
	return ended, nil
}

// endingSessions runs fn, a change that may end browser sessions, in one
// transaction (the one the store queues the back-channel logout notices
// in), and once it committed tells Options.LogoutsQueued which clients
// had tokens in the sessions fn ended. Run
// in a caller's transaction (Service.InTransaction), that is once the
// caller's commits, never if it rolls back, and once however often the
// transaction is run again: the store's AfterCommit holds the call.
func (s *Users) endingSessions(ctx context.Context, fn func(tx context.Context) ([]storage.SessionClient, error)) error {
	return inTransaction(ctx, s.store, func(tx context.Context) error {
		ended, err := fn(tx)
		if err != nil {
			return err
		}
		if s.logoutsQueued != nil && len(ended) > 0 {
			s.store.AfterCommit(tx, func(after context.Context) { s.logoutsQueued(after, ended) })
		}
		return nil
	})
}

// Delete deletes a user with everything that hangs off them.
func (s *Users) Delete(ctx context.Context, idOrName string) error {
	u, err := s.find(ctx, idOrName)
	if err != nil {
		return err
	}
	err = s.endingSessions(ctx, func(tx context.Context) ([]storage.SessionClient, error) {
		ended, err := s.store.TakeSessionClients(tx, "", u.ID, "")
		if err != nil {
			return nil, fmt.Errorf("read the clients of the sessions of user %q: %w", idOrName, err)
		}
		return ended, storeErr(s.store.DeleteUser(tx, u.ID), ObjectUser, idOrName)
	})
	if err != nil {
		return err
	}
	record(ctx, s.audit, ObjectUser, "delete", u.ID, nil, map[string]any{"username": u.Username})
	return nil
}
