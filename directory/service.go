package directory

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/storage"
)

// Roles manages roles: the scopes each grants.
type Roles = Named[storage.Role, RoleView]

// Scopes manages registered scopes: their consent-page descriptions and
// audiences.
type Scopes = Named[storage.Scope, ScopeView]

// Service manages the directory on one store. It holds no state of its
// own, so any number may share a store.
type Service struct {
	store   storage.Store
	users   *Users
	roles   *Roles
	scopes  *Scopes
	clients *Clients
	audit   Recorder
}

// ConfigApplied records in the audit log that a configuration file was
// applied, with how many objects it created, updated and deleted (each
// change is recorded on its own as well).
func (s *Service) ConfigApplied(ctx context.Context, created, updated, deleted int) {
	s.audit.Record(ctx, audit.Event{Action: "config.applied", Object: "directory",
		Details: map[string]any{"created": created, "updated": updated, "deleted": deleted}})
}

// Options tunes a Service; the zero value is ready to use.
type Options struct {
	// Hasher makes the stored form of new passwords; nil means argon2id
	// (Argon2id) with no bound on how many run at once.
	Hasher Hasher
	// Now is the clock that stamps records; nil means time.Now.
	Now func() time.Time
	// LogoutsQueued, when set, is told after a change that ended a
	// user's browser sessions (a password change, a disable, a deletion,
	// a passkey's removal, a reset of factors that included a passkey,
	// sessions ended from the account page or by an admin) has
	// committed, with the records of the clients that had tokens in
	// them. The store queued, in the change's own transaction, a
	// back-channel logout notice for each of those clients that
	// registered a backchannel_logout_uri
	// (storage.Store.TakeSessionClients); this only says so: the
	// provider wakes its delivery worker, the CLI tells the operator.
	LogoutsQueued func(ctx context.Context, ended []storage.SessionClient)
	// AccessTokenLifespan is how long access tokens live: ending a grant
	// keeps its revocation record that long (plus a minute); zero means
	// one hour (longer than the provider's default of ten minutes).
	AccessTokenLifespan time.Duration
	// Audit records every change (never a secret or password hash, only
	// the names of the fields that changed); nil records nothing.
	Audit Recorder
	// BuiltinClients are the ids of the clients hallpass registers itself
	// (provider.SelfClientID, which its console and account page sign in
	// with). Clients refuses to create, change, delete them or their
	// secret, whoever asks (ErrConflict), and lists and reads them as any
	// other; only Clients.RegisterBuiltin, for hallpass's start-up,
	// writes them. A server and the CLI on its database set it alike.
	BuiltinClients []string
	// BuiltinHTTPOrigin is the issuer's origin (http://host[:port], as
	// the issuer writes it) when the operator started hallpass with an
	// http issuer on a host that is not loopback
	// (--insecure-http-issuer); empty otherwise. RegisterBuiltin then
	// accepts a built-in client's http redirect URIs on that origin
	// alone: hallpass's own client follows the operator's choice for
	// the issuer, where no other client may register plain http to a
	// network host.
	BuiltinHTTPOrigin string
}

// New returns the service for store.
func New(store storage.Store, opts Options) *Service {
	if opts.Hasher == nil {
		opts.Hasher = Argon2id{}
	}
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	accessLifespan := opts.AccessTokenLifespan
	if accessLifespan <= 0 {
		accessLifespan = time.Hour
	}
	rec := opts.Audit
	if rec == nil {
		rec = noRecorder{}
	}
	return &Service{
		store:   store,
		audit:   rec,
		users:   &Users{store: store, hasher: opts.Hasher, now: now, logoutsQueued: opts.LogoutsQueued, accessLifespan: accessLifespan, audit: rec},
		clients: &Clients{store: store, now: now, audit: rec, builtin: slices.Clone(opts.BuiltinClients), builtinHTTPOrigin: opts.BuiltinHTTPOrigin},
		roles: &Roles{object: ObjectRole, now: now, audit: rec, view: viewRole, created: func(r *storage.Role) time.Time { return r.CreatedAt },
			get: store.GetRole, list: store.ListRoles, create: store.CreateRole, update: store.UpdateRole, remove: store.DeleteRole,
			fold: store.FindRoleNamesFold, store: store, deleting: func(ctx context.Context, name string) (map[string]any, error) { return roleLosses(ctx, store, name) }},
		scopes: &Scopes{object: ObjectScope, now: now, audit: rec, view: viewScope, created: func(s *storage.Scope) time.Time { return s.CreatedAt },
			get: store.GetScope, list: store.ListScopes, create: store.CreateScope, update: store.UpdateScope, remove: store.DeleteScope,
			fold: store.FindScopeNamesFold, store: store},
	}
}

// Users manages users.
func (s *Service) Users() *Users { return s.users }

// InTransaction runs fn in one transaction of the store: every call of
// the service made with the context fn is given takes effect when fn
// returns nil, and none does when it returns an error. A call that runs a
// transaction of its own (Users.Update) joins it.
func (s *Service) InTransaction(ctx context.Context, fn func(ctx context.Context) error) error {
	return inTransaction(ctx, s.store, fn)
}

// Roles manages roles.
func (s *Service) Roles() *Roles { return s.roles }

// Scopes manages registered scopes.
func (s *Service) Scopes() *Scopes { return s.scopes }

// Clients manages OAuth clients.
func (s *Service) Clients() *Clients { return s.clients }

// Hasher makes the stored form of new passwords. A server bounds with
// Enter how many requests work on a password at once (each hash takes
// tens of MiB and a CPU); the CLI needs no bound.
type Hasher interface {
	// Enter is called before a request that sets a password does any work
	// on it (checking it against the rules, hashing it), and the leave it
	// returns once that work is done, before the transaction that stores
	// the hash (Users.PreparePassword). Its error is returned unchanged.
	Enter(ctx context.Context) (leave func(), err error)
	// Hash returns the stored form of password.
	Hash(password string) (string, error)
}

// Argon2id is the Hasher that hashes with HashPassword, unbounded.
type Argon2id struct{}

// Enter lets every request in at once.
func (Argon2id) Enter(context.Context) (func(), error) { return func() {}, nil }

// Hash returns HashPassword(password).
func (Argon2id) Hash(password string) (string, error) { return HashPassword(password) }

// Named manages one kind of record kept under its name: Roles or Scopes.
// The service treats both alike; what differs (the rules a record follows,
// its storage calls) is given by New and by the view type V.
type Named[S any, V NamedView[S, V]] struct {
	object  Object
	now     func() time.Time
	audit   Recorder
	view    func(*S) V
	created func(*S) time.Time
	get     func(context.Context, string) (*S, error)
	list    func(context.Context) ([]S, error)
	create  func(context.Context, *S) error
	update  func(context.Context, *S) error
	remove  func(context.Context, string) error
	// fold finds the names of the records that equal a name under case
	// folding (storage.Store.FindRoleNamesFold and the like), which
	// Create refuses (nameFree).
	fold func(context.Context, string) ([]string, error)
	// deleting, when set, returns what the deletion of a record takes
	// from others, for its audit record; Delete calls it in the
	// deletion's transaction (of store), before remove.
	deleting func(ctx context.Context, name string) (map[string]any, error)
	store    storage.Store
}

// NamedView is what Named needs of a record as the admin API shows it
// (RoleView, ScopeView).
type NamedView[S, V any] interface {
	// key is the record's name as given ("" when not given).
	key() string
	// checked returns the view, named name, as it is to be stored
	// (without repeats), or the rule it breaks.
	checked(name string) (V, error)
	// record is the checked view as storage keeps it.
	record(created, updated time.Time) *S
}

// Create stores a new record; an existing name, or one differing from it
// only by case (NameTaken), is a conflict.
func (n *Named[S, V]) Create(ctx context.Context, in V) (V, error) {
	v, err := n.check(in, in.key())
	if err != nil {
		return v, err
	}
	now := stamp(n.now())
	rec := v.record(now, now)
	err = inTransaction(ctx, n.store, func(tx context.Context) error {
		if err := nameFree(tx, n.store, n.object, n.fold, v.key()); err != nil {
			return err
		}
		return storeErr(n.create(tx, rec), n.object, v.key())
	})
	if err != nil {
		return v, err
	}
	out := n.view(rec)
	record(ctx, n.audit, n.object, "create", v.key(), changedFields(nil, out), nil)
	return out, nil
}

// Update replaces the record name with in, keeping its creation time. in
// may repeat the name but not change it.
func (n *Named[S, V]) Update(ctx context.Context, name string, in V) (V, error) {
	if in.key() != "" && in.key() != name {
		return in, invalid(n.object, "name", "a %s cannot be renamed", n.object)
	}
	v, err := n.check(in, name)
	if err != nil {
		return v, n.stuck(ctx, name, err)
	}
	old, err := n.get(ctx, name)
	if err != nil {
		return v, storeErr(err, n.object, name)
	}
	rec := v.record(n.created(old), stamp(n.now()))
	if err := n.update(ctx, rec); err != nil {
		return v, storeErr(err, n.object, name)
	}
	out := n.view(rec)
	recordUpdate(ctx, n.audit, n.object, name, changedFields(n.view(old), out), nil)
	return out, nil
}

// stuck ends err, Update's refusal of the record name, with what to do
// when no update can pass: a scope stored under a protocol scope's name
// but for case (before the directory refused such names) breaks the
// rule by its name, which an update cannot change, so it can only be
// deleted. Any other refusal, or a name not stored, is err as it is.
func (n *Named[S, V]) stuck(ctx context.Context, name string, err error) error {
	var e *Error
	if n.object != ObjectScope || !IsProtocolLookAlike(name) || !errors.As(err, &e) || e.Field != "name" {
		return err
	}
	if _, gerr := n.get(ctx, name); gerr != nil {
		return err
	}
	e.Message += fmt.Sprintf("; a stored scope so named cannot be updated, only deleted: hallpass scopes delete %s (DELETE /admin/scopes/%s)", name, name)
	return err
}

// PrepareUpdate returns Update(ctx, name, in), to run with a context
// that may carry a transaction: a role's or scope's update has no work
// that must run before one (Users.PrepareUpdate has).
func (n *Named[S, V]) PrepareUpdate(_ context.Context, name string, in V) (func(ctx context.Context) (V, error), error) {
	return func(ctx context.Context) (V, error) { return n.Update(ctx, name, in) }, nil
}

// Check returns the refusal Create would answer in with for breaking a
// rule of the service, or nil, without reading or writing the store.
// Configuration as code plans with it, so that a plan fails where its
// apply would.
func (n *Named[S, V]) Check(in V) error {
	_, err := n.check(in, in.key())
	return err
}

// check returns in, named name, as it is to be stored, or the rule it
// breaks: the one test of Create, Update and Check.
func (n *Named[S, V]) check(in V, name string) (V, error) {
	if err := unreadable(n.object, in); err != nil {
		return in, err
	}
	return in.checked(name)
}

// Get returns the record name.
func (n *Named[S, V]) Get(ctx context.Context, name string) (V, error) {
	rec, err := n.get(ctx, name)
	if err != nil {
		var zero V
		return zero, storeErr(err, n.object, name)
	}
	return n.view(rec), nil
}

// List returns every record.
func (n *Named[S, V]) List(ctx context.Context) ([]V, error) {
	return listed(ctx, n.object, n.list, n.view)
}

// Delete deletes the record name. Its audit record says what the
// deletion took from others (a role: who held it and its scopes).
func (n *Named[S, V]) Delete(ctx context.Context, name string) error {
	if n.deleting == nil {
		if err := n.remove(ctx, name); err != nil {
			return storeErr(err, n.object, name)
		}
		record(ctx, n.audit, n.object, "delete", name, nil, nil)
		return nil
	}
	var extra map[string]any
	err := inTransaction(ctx, n.store, func(tx context.Context) error {
		var err error
		if extra, err = n.deleting(tx, name); err != nil {
			return err
		}
		return storeErr(n.remove(tx, name), n.object, name)
	})
	if err != nil {
		return err
	}
	record(ctx, n.audit, n.object, "delete", name, nil, extra)
	return nil
}

// maxRecordedHolders bounds the usernames a role's deletion records: the
// count is always recorded, the names of the first ones (by username) so
// that an audit record stays small whatever the directory's size.
const maxRecordedHolders = 100

// roleLosses says what deleting role name takes from its holders, for
// the deletion's audit record: the role's scopes, how many users held it
// and the usernames of at most maxRecordedHolders of them. In the
// deletion's transaction, RoleHolders keeps the role from being granted
// meanwhile, so the record names everyone who lost it.
func roleLosses(ctx context.Context, store storage.Store, name string) (map[string]any, error) {
	holders, total, err := store.RoleHolders(ctx, name, maxRecordedHolders)
	if err != nil {
		return nil, storeErr(err, ObjectRole, name)
	}
	role, err := store.GetRole(ctx, name)
	if err != nil {
		return nil, storeErr(err, ObjectRole, name)
	}
	return map[string]any{"scopes": listOf(role.Scopes), "holder_count": total, "holders": holders}, nil
}

// listed renders every record list returns.
func listed[S, V any](ctx context.Context, object Object, list func(context.Context) ([]S, error), view func(*S) V) ([]V, error) {
	recs, err := list(ctx)
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", object, err)
	}
	out := make([]V, 0, len(recs))
	for i := range recs {
		out = append(out, view(&recs[i]))
	}
	return out, nil
}

// inTransaction runs fn in the transaction ctx carries, or else in a new
// one, committing if it returns nil and rolling back otherwise.
func inTransaction(ctx context.Context, store storage.Store, fn func(tx context.Context) error) error {
	return store.InTransaction(ctx, fn)
}

// stamp is the time as storage keeps it (UTC, microseconds), so what a
// call answers equals what a later read returns.
func stamp(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// plainText refuses empty (when required), overlong or control-character
// text in field, and text that shows as other text (DisplaySafe).
func plainText(object Object, field, s string, max int, required bool) error {
	if required && strings.TrimSpace(s) == "" {
		return invalid(object, field, "%s is required", field)
	}
	if len(s) > max || !DisplaySafe(s) {
		return invalid(object, field, "%s must be at most %d characters without control characters, invisible characters or words mixing Latin, Cyrillic or Greek letters", field, max)
	}
	return nil
}

// DisplaySafe reports whether s holds no character that DisplayUnsafe
// refuses and no word that mixes lookalike scripts (mixedScriptWord):
// whether s shows as itself and not as other text. It is the one test of text people read on the pages, for text
// the provider takes outside the service (a passkey's name, which the
// account page and the console's audit log show).
func DisplaySafe(s string) bool {
	return strings.IndexFunc(s, DisplayUnsafe) < 0 && !mixedScriptWord(s)
}

// mixedScriptWord reports whether a word of s (a run of letters and
// marks) takes letters from two scripts whose letters stand in for each
// other (lookalikeScript): a homograph such as "Grаdebook" or
// "hallpass-cоnsole" with one Cyrillic letter, which shows as the client
// or user it imitates. Words of one script each, and other scripts mixed
// with Latin ("Dana (דנה) Levi", "Βαθμολόγιο Gradebook"), are not refused.
func mixedScriptWord(s string) bool {
	for _, word := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsMark(r) }) {
		seen := ""
		for _, r := range word {
			script := lookalikeScript(r)
			if script == "" {
				continue
			}
			if seen != "" && seen != script {
				return true
			}
			seen = script
		}
	}
	return false
}

// lookalikeScript names the script of r among those whose letters pass
// for Latin ones (Cyrillic "а", "о", "р"; Greek "ο", "ν"; Armenian "օ";
// Cherokee "Ꭺ"), or "" for any other rune.
func lookalikeScript(r rune) string {
	switch {
	case unicode.Is(unicode.Latin, r):
		return "Latin"
	case unicode.Is(unicode.Cyrillic, r):
		return "Cyrillic"
	case unicode.Is(unicode.Greek, r):
		return "Greek"
	case unicode.Is(unicode.Armenian, r):
		return "Armenian"
	case unicode.Is(unicode.Cherokee, r):
		return "Cherokee"
	}
	return ""
}

// DisplayUnsafe reports whether r may not appear in text that people
// read in the console, the consent page or the audit log (names,
// descriptions): a control character, or one of Unicode's bidirectional
// embeddings, overrides and isolates, with which "Eve\u202Eecila" shows
// as another name ("Trojan Source", CVE-2021-42574); or an invisible
// character, which lets a name that differs from another show exactly as
// it ("hallpass\u200B-console", "Grade\u2060book"): the format
// characters (zero-width space, word joiner, BOM, soft hyphen, marks,
// tags…) and the Hangul fillers, which are letters that draw nothing.
// Right-to-left scripts need none of them; the zero-width joiner and
// non-joiner stay allowed, as Persian, Indic scripts and emoji need them.
func DisplayUnsafe(r rune) bool {
	switch {
	case unicode.IsControl(r):
		return true
	case r == '\u200c' || r == '\u200d':
		return false
	case unicode.Is(unicode.Cf, r):
		return true // includes U+202A–U+202E and U+2066–U+2069
	}
	switch r {
	case '\u115f', '\u1160', '\u3164', '\uffa0':
		return true
	}
	return false
}

// CleanText reports whether s is valid UTF-8 without a NUL: text that
// every backend stores as sent (PostgreSQL refuses the rest in a text
// column, where SQLite would store it). It is the one test of the
// service's own check (unreadable), the CLI's of its arguments and the
// provider's of requests.
func CleanText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// unreadable refuses input v (a struct) holding, in any string or list of
// strings, text that is not valid UTF-8 or holds a NUL, naming the field.
// It is the service's own check, for callers that reach it without the
// HTTP surfaces' (the CLI on the database): SQLite would store such text
// as sent, PostgreSQL refuses it in a text column, so without it the two
// backends would disagree, and PostgreSQL's refusal would look like an
// outage. The message never repeats the value (it may be a password).
func unreadable(object Object, v any) error {
	if field, ok := unreadableField(reflect.ValueOf(v), ""); ok {
		return invalid(object, field, "%s must be valid UTF-8 without NUL characters", field)
	}
	return nil
}

// unreadableField returns the JSON name of the first field of v (a
// struct, or a pointer to one) whose text is not clean; name is v's own
// name, the fallback for the fields of an embedded struct.
func unreadableField(v reflect.Value, name string) (string, bool) {
	for v.Kind() == reflect.Pointer {
		if v.IsNil() {
			return "", false
		}
		v = v.Elem()
	}
	switch v.Kind() {
	case reflect.String:
		return name, !CleanText(v.String())
	case reflect.Slice:
		switch v.Type().Elem().Kind() {
		case reflect.Uint8: // raw JSON (a client's jwks), stored as text
			return name, !CleanText(string(v.Bytes()))
		case reflect.String:
		default:
			return "", false
		}
		for i := range v.Len() {
			if !CleanText(v.Index(i).String()) {
				return name, true
			}
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			fieldName := cmp.Or(tag, f.Name)
			if f.Anonymous && tag == "" {
				fieldName = name
			}
			if field, bad := unreadableField(v.Field(i), fieldName); bad {
				return field, true
			}
		}
	}
	return "", false
}

// ValidName accepts identifiers usable in URLs, Basic auth, logs and on
// the command line: 1 to max ASCII letters, digits and the runes in extra,
// and never a dot segment.
func ValidName(s, extra string, max int) bool {
	if s == "" || len(s) > max || dotSegment(s) {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
}

// dotSegment reports whether s is "." or "..": as the last segment of a
// path (/admin/clients/.., /console/clients/./delete) browsers, proxies
// and HTTP libraries remove it or step up a level (RFC 3986 §5.2.4, and
// the WHATWG URL standard's %2e too), so a record named so could not be
// read, changed or deleted by its URL, and its console forms would post
// to another record's.
func dotSegment(s string) bool { return s == "." || s == ".." }

// Bounds of the names the directory keeps, which every refusal states.
// Each is far below what a backend can index: names are indexed, and
// PostgreSQL refuses an index entry over about 2704 bytes (SQLSTATE
// 54000, which the store could only report as a failure of its own).
const (
	// maxScopeLength bounds a scope name, wherever one is named.
	maxScopeLength = 200
	// maxRoleNameLength bounds a role name, wherever one is named.
	maxRoleNameLength = 64
	// maxListed bounds every list of the directory's input as given,
	// repeats included (distinct): each entry was checked against the
	// others, so a list of a file's size (configuration as code reads
	// up to 4 MiB) took minutes before any other bound was checked.
	// Lists with a tighter bound of their own (a client's scopes,
	// maxScopes; its audiences, maxURIs) keep it, after repeats go.
	maxListed = 1000
)

// roleNameRule is how a role name may be spelt (validRoleName), in the
// words of a refusal.
const roleNameRule = "1 to 64 characters of letters, digits and . _ : -, other than . and .."

// validRoleName reports whether s is spelt as roleNameRule says.
func validRoleName(s string) bool { return ValidName(s, "._:-", maxRoleNameLength) }

// scopeTokenProblem says why s cannot be a scope name (validScopeToken),
// naming the rule it breaks and its bound, or "" when it can be one. A
// refusal said "contains characters RFC 6749 §3.3 does not allow" of a
// name that was only too long.
func scopeTokenProblem(s string) string {
	switch {
	case s == "":
		return "is empty"
	case len(s) > maxScopeLength:
		return fmt.Sprintf("is longer than the %d characters a scope may have (it has %d)", maxScopeLength, len(s))
	case !validScopeToken(s):
		return "contains characters RFC 6749 §3.3 does not allow (a scope is printable ASCII without spaces, \" or \\)"
	}
	return ""
}

// Shown is s quoted for a refusal's message, or, past 64 bytes, its
// start and its length (shown), for refusals made outside the directory
// (the admin API's query parameters).
func Shown(s string) string { return shown(s) }

// shown is s quoted for a refusal's message, or, past 64 bytes, its
// start and its length: an overlong value is named, not repeated whole
// (up to a request body's size) in the answer and whatever logs it.
func shown(s string) string {
	const max = 64
	if len(s) <= max {
		return strconv.Quote(s)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}

// validScopeToken checks RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func validScopeToken(s string) bool {
	if s == "" || len(s) > maxScopeLength {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}

// distinct returns the list in, given for field of object, without
// repeats (dedupe), or the refusal of a list of more than maxListed
// entries as given: dedupe compares each entry with those kept, so the
// bound holds its work to a few hundred thousand comparisons on every
// surface, a file's 4 MiB included. Every list of the directory's input
// but redirect URIs (bounded at maxURIs before they are read) comes
// through here.
func distinct(object Object, field string, in []string) ([]string, error) {
	if len(in) > maxListed {
		return nil, invalid(object, field, "%s may list at most %d entries (it lists %d)", field, maxListed, len(in))
	}
	return dedupe(in), nil
}

// dedupe returns in without repeats, in order, never nil.
func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, s := range in {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// listOf is s for a JSON answer: [] rather than null when empty, and a
// copy, so a view never shares a slice with the stored record.
func listOf(s []string) []string { return append([]string{}, s...) }

// randomText returns n random bytes, base64url-encoded: safe in URLs,
// Basic credentials and on a command line.
func randomText(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
