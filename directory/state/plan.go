package state

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/hallpass/hallpass/directory"
)

// Action is what a change does to one object.
type Action string

// The actions of a plan.
const (
	Create Action = "create"
	Update Action = "update"
	Delete Action = "delete"
)

// Change is one step of a plan.
type Change struct {
	Action Action
	Object directory.Object
	// Name is the object's name, client_id or username.
	Name string
	// Fields names what an update changes ("client_secret" included,
	// never its value).
	Fields []string

	apply func(ctx context.Context, dir *directory.Service, r *Result) error
	// user is, for the creation of a user, the input whose password
	// (or random one) Apply hashes before its transaction.
	user *directory.UserInput
}

// Plan is what applying a file would change, in the order Apply makes
// the changes: creations and updates of scopes, roles, clients and users
// (so each exists before what names it), then deletions in the reverse
// order.
type Plan struct {
	Changes []Change
	// Unmanaged counts the stored objects the file does not name, left
	// alone because Options.Prune is off.
	Unmanaged int

	// refused holds the refusals of the file's entries, each the
	// service's words for one: Make reports them all at once, so that a
	// file with several entries the rules refuse (an export of records
	// stored before a rule) needs one run to learn of them, not one each.
	refused []error
}

// refuse records the refusal of one of the file's entries.
func (p *Plan) refuse(err error) { p.refused = append(p.refused, err) }

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return len(p.Changes) == 0 }

// Digest names the plan's changes (what, on which object, which fields;
// never a value), for Options.Expect: equal digests, same changes.
func (p *Plan) Digest() string {
	h := sha256.New()
	for _, c := range p.Changes {
		// Names and field names are identifiers (no NUL), so the
		// separators keep two plans' encodings apart.
		fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00\x01", c.Action, c.Object, c.Name, strings.Join(c.Fields, "\x00"))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:32]
}

// Options tunes Make and Apply.
type Options struct {
	// Prune deletes the stored objects the file does not name.
	Prune bool
	// LookupEnv reads the environment variables a file names for secrets;
	// nil means none is set.
	LookupEnv func(string) (string, bool)
	// AdminRole is the role the admin console requires
	// (--console-admin-role). A plan after which no enabled user would
	// hold it, when one does now, is refused: a file from a pull request
	// applied with --prune (naming neither the role nor its holders), or
	// disabling them, locked every administrator out of the console.
	// Empty means no check.
	AdminRole string
	// Expect is the Digest of the plan that was reviewed (plan prints
	// it). When set, Apply refuses, changing nothing, if the plan it makes
	// in its transaction differs: the directory changed between plan and
	// apply, and applying would do what nobody read.
	Expect string
}

// ErrPlanChanged is Apply's answer when the directory no longer gives
// the plan Options.Expect names.
var ErrPlanChanged = errors.New("the directory changed since the plan")

// Secret is a client secret hallpass generated while applying: shown
// once, never again.
type Secret struct {
	ClientID, Secret string
}

// Result is what Apply did.
type Result struct {
	Plan *Plan
	// Secrets are the client secrets generated, to be shown once.
	Secrets []Secret
}

// Make compares f with the stored directory and returns the plan that
// would make them agree. A file the service would refuse (an invalid
// client, a secret variable that is unset) is an error here already.
func Make(ctx context.Context, dir *directory.Service, f *File, opts Options) (*Plan, error) {
	return makePlan(ctx, dir, f, opts, nil)
}

// makePlan is Make, whose creations of users store the inputs in
// prepared (by username), their passwords hashed before Apply's
// transaction (prepareUsers): the creation of a user whose input prepared
// does not hold fails with errUnprepared.
func makePlan(ctx context.Context, dir *directory.Service, f *File, opts Options, prepared map[string]directory.UserInput) (*Plan, error) {
	if opts.LookupEnv == nil {
		opts.LookupEnv = func(string) (string, bool) { return "", false }
	}
	if opts.Prune && f.blank {
		return nil, errors.New("plan: --prune with a file that names none of scopes, roles, clients and users would delete them all; write the lists, empty if so meant (users: [])")
	}
	p := &Plan{}
	var deletes []Change
	users := func(ctx context.Context, dir *directory.Service, f *File, opts Options, p *Plan, deletes *[]Change) error {
		return planUsers(ctx, dir, f, opts, p, deletes, prepared)
	}
	steps := []func(context.Context, *directory.Service, *File, Options, *Plan, *[]Change) error{planScopes, planRoles, planClients, users}
	for _, step := range steps {
		if err := step(ctx, dir, f, opts, p, &deletes); err != nil {
			return nil, fmt.Errorf("plan: %w", err)
		}
	}
	if len(p.refused) > 0 {
		errs := make([]error, len(p.refused))
		for i, err := range p.refused {
			errs[i] = fmt.Errorf("plan: %w", err)
		}
		return nil, errors.Join(errs...) // one line each
	}
	slices.Reverse(deletes)
	p.Changes = append(p.Changes, deletes...)
	if err := keepsAdmins(ctx, dir, f, opts); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return p, nil
}

// keepsAdmins refuses a file after whose apply no enabled user would hold
// opts.AdminRole while one does now. It runs in Make, and so again in
// Apply's transaction, on the directory as it is then.
func keepsAdmins(ctx context.Context, dir *directory.Service, f *File, opts Options) error {
	if opts.AdminRole == "" {
		return nil
	}
	stored, err := dir.Users().List(ctx)
	if err != nil {
		return err
	}
	inFile := map[string]bool{}
	after := 0
	for _, u := range f.Users {
		inFile[u.Username] = true
		if !u.Disabled && slices.Contains(u.Roles, opts.AdminRole) {
			after++
		}
	}
	roleKept := !opts.Prune || slices.ContainsFunc(f.Roles, func(r directory.RoleView) bool { return r.Name == opts.AdminRole })
	now := 0
	for _, u := range stored {
		if u.Disabled || !slices.Contains(u.Roles, opts.AdminRole) {
			continue
		}
		now++
		if !inFile[u.Username] && !opts.Prune {
			after++ // left alone
		}
	}
	if now > 0 && (after == 0 || !roleKept) {
		return fmt.Errorf("no enabled user would hold the role %q, which the admin console requires (--console-admin-role) and is now held by %d: name the role and at least one of its holders in the file", opts.AdminRole, now)
	}
	return nil
}

// errUnprepared is a creation of a user whose password Apply did not
// hash before its transaction: the directory changed between the plan
// Apply hashed for and the one it made in the transaction.
var errUnprepared = errors.New("the user's password was not hashed before the transaction")

// applyAttempts bounds how often Apply plans, hashes and applies again
// when the directory changed between its hashing and its transaction.
const applyAttempts = 3

// Apply makes the stored directory agree with f, in one transaction: if
// any change fails, none is kept. A second Apply of the same file changes
// nothing.
//
// The passwords of the users it creates are hashed before the
// transaction begins, for the plan of the directory as it is then:
// argon2id takes tens of milliseconds a user, and SQLite's write lock,
// which the transaction holds from its start, would be held meanwhile,
// every sign-in's write waiting (a file of 50 users, a second and a
// half). The transaction makes the plan again, which is the one applied
// (and compared with Options.Expect); should it create a user not hashed
// for, because the directory changed in between, the transaction rolls
// back and Apply starts again.
func Apply(ctx context.Context, dir *directory.Service, f *File, opts Options) (*Result, error) {
	prepared := map[string]directory.UserInput{}
	for attempt := 1; ; attempt++ {
		ahead, err := Make(ctx, dir, f, opts)
		if err != nil {
			return nil, err
		}
		// A plan other than the one reviewed is refused in the
		// transaction (Options.Expect): nothing to hash for.
		if opts.Expect == "" || ahead.Digest() == opts.Expect {
			if err := prepareUsers(ctx, dir, ahead, prepared); err != nil {
				return nil, err
			}
		}
		res, err := apply(ctx, dir, f, opts, prepared)
		if errors.Is(err, errUnprepared) && attempt < applyAttempts {
			continue
		}
		if errors.Is(err, errUnprepared) {
			return nil, fmt.Errorf("the directory kept changing while the file was applied (%d attempts); nothing was changed, apply again: %w", attempt, err)
		}
		return res, err
	}
}

// prepareUsers hashes, into prepared, the passwords of the users p
// creates (directory.Users.PreparePassword, PrepareWithoutPassword), once
// each.
func prepareUsers(ctx context.Context, dir *directory.Service, p *Plan, prepared map[string]directory.UserInput) error {
	for _, c := range p.Changes {
		if c.user == nil {
			continue
		}
		if _, ok := prepared[c.Name]; ok {
			continue
		}
		prepare := dir.Users().PreparePassword
		if c.user.Password == "" {
			prepare = dir.Users().PrepareWithoutPassword
		}
		in, err := prepare(ctx, *c.user)
		if err != nil {
			return fmt.Errorf("apply: %s %s %s: %w", c.Action, c.Object, c.Name, err)
		}
		prepared[c.Name] = in
	}
	return nil
}

// apply is Apply's transaction, its users' passwords hashed in prepared.
func apply(ctx context.Context, dir *directory.Service, f *File, opts Options, prepared map[string]directory.UserInput) (*Result, error) {
	var res *Result
	err := dir.InTransaction(ctx, func(ctx context.Context) error {
		res = &Result{}
		p, err := makePlan(ctx, dir, f, opts, prepared)
		if err != nil {
			return err
		}
		res.Plan = p
		if opts.Expect != "" && p.Digest() != opts.Expect {
			return fmt.Errorf("%w: the plan now is %s, not the %s expected; run plan again and review it", ErrPlanChanged, p.Digest(), opts.Expect)
		}
		counts := map[Action]int{}
		for _, c := range p.Changes {
			if err := c.apply(ctx, dir, res); err != nil {
				return fmt.Errorf("apply: %s %s %s: %w", c.Action, c.Object, c.Name, err)
			}
			counts[c.Action]++
		}
		if !p.Empty() {
			// In the transaction, like the changes' own entries: a failed
			// apply leaves none of them.
			dir.ConfigApplied(ctx, counts[Create], counts[Update], counts[Delete])
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

// Write prints the plan for people: one line per change, then a summary.
func (p *Plan) Write(w io.Writer) error {
	var b strings.Builder
	counts := map[Action]int{}
	for _, c := range p.Changes {
		counts[c.Action]++
		sign := map[Action]string{Create: "+", Update: "~", Delete: "-"}[c.Action]
		fmt.Fprintf(&b, "%s %s %s %s", sign, c.Action, c.Object, c.Name)
		if len(c.Fields) > 0 {
			fmt.Fprintf(&b, " (%s)", strings.Join(c.Fields, ", "))
		}
		b.WriteString("\n")
	}
	if p.Empty() {
		b.WriteString("No changes: the directory matches the file.\n")
	} else {
		fmt.Fprintf(&b, "\n%d to create, %d to update, %d to delete.\n", counts[Create], counts[Update], counts[Delete])
		fmt.Fprintf(&b, "Plan %s (apply --expect %s applies exactly this, or nothing).\n", p.Digest(), p.Digest())
	}
	if p.Unmanaged > 0 {
		fmt.Fprintf(&b, "%d stored objects are not in the file and are left alone (--prune deletes them).\n", p.Unmanaged)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// pruneOrCount adds a deletion for each stored name not in the file, or
// counts it as unmanaged.
func pruneOrCount(p *Plan, deletes *[]Change, opts Options, object directory.Object, stored []string, inFile map[string]bool, del func(ctx context.Context, dir *directory.Service, name string) error) {
	for _, name := range stored {
		if inFile[name] {
			continue
		}
		if !opts.Prune {
			p.Unmanaged++
			continue
		}
		*deletes = append(*deletes, Change{Action: Delete, Object: object, Name: name,
			apply: func(ctx context.Context, dir *directory.Service, _ *Result) error { return del(ctx, dir, name) }})
	}
}

func planScopes(ctx context.Context, dir *directory.Service, f *File, opts Options, p *Plan, deletes *[]Change) error {
	stored, err := dir.Scopes().List(ctx)
	if err != nil {
		return err
	}
	byName := map[string]directory.ScopeView{}
	byKey := nameKeys{}
	var names []string
	for _, s := range stored {
		byName[s.Name] = s
		byKey.add(s.Name)
		names = append(names, s.Name)
	}
	inFile := map[string]bool{}
	for _, want := range f.Scopes {
		inFile[want.Name] = true
		if err := dir.Scopes().Check(want); err != nil {
			p.refuse(fmt.Errorf("scope %q: %w", entry(want.Name), err))
			continue
		}
		have, ok := byName[want.Name]
		if !ok {
			if err := byKey.create(directory.ObjectScope, want.Name); err != nil {
				p.refuse(fmt.Errorf("scope %q: %w", entry(want.Name), err))
				continue
			}
			p.Changes = append(p.Changes, Change{Action: Create, Object: directory.ObjectScope, Name: want.Name,
				apply: func(ctx context.Context, dir *directory.Service, _ *Result) error {
					_, err := dir.Scopes().Create(ctx, want)
					return err
				}})
			continue
		}
		var fields []string
		fields = differs(fields, "description", have.Description != want.Description)
		fields = differs(fields, "audience", have.Audience != want.Audience)
		if len(fields) > 0 {
			p.Changes = append(p.Changes, Change{Action: Update, Object: directory.ObjectScope, Name: want.Name, Fields: fields,
				apply: func(ctx context.Context, dir *directory.Service, _ *Result) error {
					_, err := dir.Scopes().Update(ctx, want.Name, want)
					return err
				}})
		}
	}
	pruneOrCount(p, deletes, opts, directory.ObjectScope, names, inFile, func(ctx context.Context, dir *directory.Service, name string) error {
		return dir.Scopes().Delete(ctx, name)
	})
	return nil
}

func planRoles(ctx context.Context, dir *directory.Service, f *File, opts Options, p *Plan, deletes *[]Change) error {
	stored, err := dir.Roles().List(ctx)
	if err != nil {
		return err
	}
	byName := map[string]directory.RoleView{}
	byKey := nameKeys{}
	var names []string
	for _, r := range stored {
		byName[r.Name] = r
		byKey.add(r.Name)
		names = append(names, r.Name)
	}
	inFile := map[string]bool{}
	for _, want := range f.Roles {
		inFile[want.Name] = true
		if err := dir.Roles().Check(want); err != nil {
			p.refuse(fmt.Errorf("role %q: %w", entry(want.Name), err))
			continue
		}
		have, ok := byName[want.Name]
		if !ok {
			if err := byKey.create(directory.ObjectRole, want.Name); err != nil {
				p.refuse(fmt.Errorf("role %q: %w", entry(want.Name), err))
				continue
			}
			p.Changes = append(p.Changes, Change{Action: Create, Object: directory.ObjectRole, Name: want.Name,
				apply: func(ctx context.Context, dir *directory.Service, _ *Result) error {
					_, err := dir.Roles().Create(ctx, want)
					return err
				}})
			continue
		}
		var fields []string
		fields = differs(fields, "description", have.Description != want.Description)
		fields = differs(fields, "scopes", !sameSet(have.Scopes, want.Scopes))
		fields = differs(fields, "require_mfa", have.RequireMFA != want.RequireMFA)
		if len(fields) > 0 {
			p.Changes = append(p.Changes, Change{Action: Update, Object: directory.ObjectRole, Name: want.Name, Fields: fields,
				apply: func(ctx context.Context, dir *directory.Service, _ *Result) error {
					_, err := dir.Roles().Update(ctx, want.Name, want)
					return err
				}})
		}
	}
	pruneOrCount(p, deletes, opts, directory.ObjectRole, names, inFile, func(ctx context.Context, dir *directory.Service, name string) error {
		return dir.Roles().Delete(ctx, name)
	})
	return nil
}

// nameKeys holds, under the directory's key (directory.NameKey), the
// names of one kind (role names, scope names or client ids) that are
// stored and that the plan creates: a name created beside one that
// differs from it only by case is refused by the service, so the plan
// fails where its apply would, with the service's words (and before the
// deletes of --prune, which come last: a file renaming "admin" to
// "Admin" is refused, not applied as a create that fails).
type nameKeys map[string]string

// add records name, stored or created.
func (k nameKeys) add(name string) { k[directory.NameKey(name)] = name }

// create records name, which the plan creates, or returns the refusal
// the service would give it (directory.NameTaken).
func (k nameKeys) create(object directory.Object, name string) error {
	if holder, ok := k[directory.NameKey(name)]; ok {
		return directory.NameTaken(object, name, holder)
	}
	k.add(name)
	return nil
}

// secretOf reads the secret a file names by variable; "" when it names
// none.
func secretOf(opts Options, kind, name, variable string) (string, error) {
	if variable == "" {
		return "", nil
	}
	v, ok := opts.LookupEnv(variable)
	if !ok || v == "" {
		return "", fmt.Errorf("%s %q: environment variable %s (%s_env) is not set", kind, entry(name), variable, map[string]string{"client": "client_secret", "user": "password"}[kind])
	}
	return v, nil
}

func planClients(ctx context.Context, dir *directory.Service, f *File, opts Options, p *Plan, deletes *[]Change) error {
	stored, err := dir.Clients().List(ctx)
	if err != nil {
		return err
	}
	byID := map[string]directory.ClientMetadata{}
	byKey := nameKeys{}
	var ids []string
	for _, c := range stored {
		byKey.add(c.ClientID)
		if dir.Clients().IsBuiltin(c.ClientID) {
			continue // hallpass's own: neither managed by a file nor pruned
		}
		byID[c.ClientID] = c
		ids = append(ids, c.ClientID)
	}
	inFile := map[string]bool{}
	for _, want := range f.Clients {
		if dir.Clients().IsReserved(want.ClientID) {
			p.refuse(fmt.Errorf("client %q: hallpass registers this client (or one it differs from only by case) itself; a file cannot manage it", entry(want.ClientID)))
			continue
		}
		inFile[want.ClientID] = true
		norm, err := directory.Normalize(want.ClientMetadata)
		if err != nil {
			p.refuse(fmt.Errorf("client %q: %w", entry(want.ClientID), err))
			continue
		}
		secret, err := secretOf(opts, "client", want.ClientID, want.ClientSecretEnv)
		if err != nil {
			p.refuse(err)
			continue
		}
		if secret != "" {
			if !directory.UsesSecret(norm.TokenEndpointAuthMethod) {
				p.refuse(fmt.Errorf("client %q: client_secret_env is set, but a client with token_endpoint_auth_method %s has no secret", entry(want.ClientID), norm.TokenEndpointAuthMethod))
				continue
			}
			if err := directory.CheckClientSecret(secret); err != nil {
				p.refuse(fmt.Errorf("client %q: %s: %w", entry(want.ClientID), want.ClientSecretEnv, err))
				continue
			}
		}
		have, ok := byID[want.ClientID]
		if !ok {
			// The id is checked where the client is created, not by
			// Normalize: a stored client keeps the id it has.
			if err := directory.CheckClientID(want.ClientID); err != nil {
				p.refuse(fmt.Errorf("client %q: %w", entry(want.ClientID), err))
				continue
			}
			if err := byKey.create(directory.ObjectClient, want.ClientID); err != nil {
				p.refuse(fmt.Errorf("client %q: %w", entry(want.ClientID), err))
				continue
			}
			p.Changes = append(p.Changes, Change{Action: Create, Object: directory.ObjectClient, Name: want.ClientID,
				apply: func(ctx context.Context, dir *directory.Service, r *Result) error {
					if secret != "" {
						_, err := dir.Clients().CreateWithSecret(ctx, want.ClientMetadata, secret)
						return err
					}
					out, err := dir.Clients().Create(ctx, want.ClientMetadata)
					if err == nil && out.ClientSecret != "" {
						r.Secrets = append(r.Secrets, Secret{ClientID: out.ClientID, Secret: out.ClientSecret})
					}
					return err
				}})
			continue
		}
		fields := clientDiff(have, norm)
		if secret != "" {
			ok, err := dir.Clients().SecretMatches(ctx, want.ClientID, secret)
			if err != nil {
				return err
			}
			fields = differs(fields, "client_secret", !ok)
		}
		if len(fields) == 0 {
			continue
		}
		p.Changes = append(p.Changes, Change{Action: Update, Object: directory.ObjectClient, Name: want.ClientID, Fields: fields,
			apply: func(ctx context.Context, dir *directory.Service, r *Result) error {
				if secret != "" {
					// One write and one audit record, not an update
					// (perhaps generating a secret) and then a second.
					_, err := dir.Clients().UpdateWithSecret(ctx, want.ClientID, want.ClientMetadata, secret)
					return err
				}
				out, err := dir.Clients().Update(ctx, want.ClientID, want.ClientMetadata)
				if err != nil {
					return err
				}
				if out.ClientSecret != "" {
					// The client turned confidential: a secret was generated.
					r.Secrets = append(r.Secrets, Secret{ClientID: out.ClientID, Secret: out.ClientSecret})
				}
				return nil
			}})
	}
	pruneOrCount(p, deletes, opts, directory.ObjectClient, ids, inFile, func(ctx context.Context, dir *directory.Service, id string) error {
		return dir.Clients().Delete(ctx, id)
	})
	return nil
}

// clientDiff names the fields in which the stored client differs from
// the normalized wanted one.
func clientDiff(have, want directory.ClientMetadata) []string {
	var f []string
	f = differs(f, "client_name", have.ClientName != want.ClientName)
	f = differs(f, "redirect_uris", !sameSet(have.RedirectURIs, want.RedirectURIs))
	f = differs(f, "post_logout_redirect_uris", !sameSet(have.PostLogoutRedirectURIs, want.PostLogoutRedirectURIs))
	f = differs(f, "grant_types", !sameSet(have.GrantTypes, want.GrantTypes))
	f = differs(f, "response_types", !sameSet(have.ResponseTypes, want.ResponseTypes))
	f = differs(f, "token_endpoint_auth_method", have.TokenEndpointAuthMethod != want.TokenEndpointAuthMethod)
	f = differs(f, "scope", !sameSet(strings.Fields(have.Scope), strings.Fields(want.Scope)))
	f = differs(f, "audience", !sameSet(have.Audience, want.Audience))
	f = differs(f, "skip_consent", have.SkipConsent != want.SkipConsent)
	f = differs(f, "resource_servers", !sameSet(have.ResourceServers, want.ResourceServers))
	f = differs(f, "require_pkce", pkce(have.RequirePKCE) != pkce(want.RequirePKCE))
	f = differs(f, "jwks", !sameJSON(have.JWKS, want.JWKS))
	f = differs(f, "jwks_uri", have.JWKSURI != want.JWKSURI)
	f = differs(f, "token_endpoint_auth_signing_alg", have.TokenEndpointAuthSigningAlg != want.TokenEndpointAuthSigningAlg)
	f = differs(f, "require_pushed_authorization_requests", have.RequirePushedAuthorizationRequests != want.RequirePushedAuthorizationRequests)
	f = differs(f, "backchannel_logout_uri", have.BackchannelLogoutURI != want.BackchannelLogoutURI)
	f = differs(f, "backchannel_logout_session_required", have.BackchannelLogoutSessionRequired != want.BackchannelLogoutSessionRequired)
	return f
}

// sameJSON says whether two JSON documents hold the same value, whatever
// their spacing and key order (a key set read from YAML is re-encoded).
func sameJSON(a, b json.RawMessage) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

func pkce(b *bool) bool { return b == nil || *b }

func planUsers(ctx context.Context, dir *directory.Service, f *File, opts Options, p *Plan, deletes *[]Change, prepared map[string]directory.UserInput) error {
	stored, err := dir.Users().List(ctx)
	if err != nil {
		return err
	}
	byName := map[string]directory.UserView{}
	// byKey holds the stored usernames and those the plan creates under
	// the directory's key (directory.UsernameKey): a username created
	// beside one that differs only by case is refused by the service, so
	// the plan fails where its apply would (before the deletes of
	// --prune, which come last).
	byKey := map[string]string{}
	var names []string
	for _, u := range stored {
		byName[u.Username] = u
		byKey[directory.UsernameKey(u.Username)] = u.Username
		names = append(names, u.Username)
	}
	roles, err := rolesAfter(ctx, dir, f, opts)
	if err != nil {
		return err
	}
	inFile := map[string]bool{}
users:
	for _, want := range f.Users {
		inFile[want.Username] = true
		for _, r := range want.Roles {
			if roles[r] {
				continue
			}
			if opts.Prune {
				p.refuse(fmt.Errorf("user %q: role %q is not in the file, and --prune deletes the roles the file does not name", entry(want.Username), entry(r)))
			} else {
				p.refuse(fmt.Errorf("user %q: role %q does not exist, and the file does not create it", entry(want.Username), entry(r)))
			}
			continue users
		}
		have, ok := byName[want.Username]
		if !ok {
			key := directory.UsernameKey(want.Username)
			if holder, ok := byKey[key]; ok {
				p.refuse(fmt.Errorf("user %q: %w", entry(want.Username), directory.UsernameTaken(want.Username, holder)))
				continue
			}
			byKey[key] = want.Username
			password, err := secretOf(opts, "user", want.Username, want.PasswordEnv)
			if err != nil {
				p.refuse(err)
				continue
			}
			in := want.UserInput
			in.Password = password
			// The service's own rules (the password policy among them),
			// so that a plan fails where its apply would.
			if err := directory.CheckUser(in); err != nil {
				p.refuse(fmt.Errorf("user %q: %w", entry(want.Username), err))
				continue
			}
			p.Changes = append(p.Changes, Change{Action: Create, Object: directory.ObjectUser, Name: want.Username, user: &in,
				apply: func(ctx context.Context, dir *directory.Service, _ *Result) error {
					// Hashed before the transaction (Apply): the
					// input prepared from the same entry and variable.
					ready, ok := prepared[in.Username]
					if !ok || !sameUserInput(ready, in) {
						return errUnprepared
					}
					if in.Password == "" {
						_, err := dir.Users().CreateWithoutPassword(ctx, ready)
						return err
					}
					_, err := dir.Users().Create(ctx, ready)
					return err
				}})
			continue
		}
		// An update keeps the user's password: the file's is for creation.
		if err := directory.CheckUser(want.UserInput); err != nil {
			p.refuse(fmt.Errorf("user %q: %w", entry(want.Username), err))
			continue
		}
		var fields []string
		fields = differs(fields, "name", have.Name != want.Name)
		fields = differs(fields, "email", have.Email != want.Email)
		fields = differs(fields, "email_verified", have.EmailVerified != want.EmailVerified)
		fields = differs(fields, "roles", !sameSet(have.Roles, want.Roles))
		fields = differs(fields, "disabled", have.Disabled != want.Disabled)
		if len(fields) > 0 {
			p.Changes = append(p.Changes, Change{Action: Update, Object: directory.ObjectUser, Name: want.Username, Fields: fields,
				apply: func(ctx context.Context, dir *directory.Service, _ *Result) error {
					// An empty password keeps the user's own.
					_, err := dir.Users().Update(ctx, have.ID, want.UserInput)
					return err
				}})
		}
	}
	pruneOrCount(p, deletes, opts, directory.ObjectUser, names, inFile, func(ctx context.Context, dir *directory.Service, name string) error {
		return dir.Users().Delete(ctx, name)
	})
	return nil
}

// rolesAfter returns the names of the roles the directory holds once f is
// applied: the file's, and the stored ones unless --prune deletes those
// the file does not name. A user given any other role would fail the
// apply or, with --prune, lose the role with its deletion, leaving the
// directory unlike the file: the plan refuses such a user.
func rolesAfter(ctx context.Context, dir *directory.Service, f *File, opts Options) (map[string]bool, error) {
	names := map[string]bool{}
	for _, r := range f.Roles {
		names[r.Name] = true
	}
	if opts.Prune {
		return names, nil
	}
	stored, err := dir.Roles().List(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range stored {
		names[r.Name] = true
	}
	return names, nil
}

// differs appends field to fields when changed.
func differs(fields []string, field string, changed bool) []string {
	if changed {
		return append(fields, field)
	}
	return fields
}

// sameSet reports whether a and b hold the same strings, ignoring order
// and repeats.
func sameSet(a, b []string) bool {
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(slices.Compact(x), slices.Compact(y))
}

// sameUserInput reports whether a, prepared before Apply's transaction,
// is the input b that the transaction's plan creates the user with: the
// user is created from a, so any field in which they differ (the file's
// entry, or a password variable, read again in between) must send Apply
// round again rather than create what the plan does not say.
func sameUserInput(a, b directory.UserInput) bool {
	return a.Username == b.Username && a.Password == b.Password && a.Email == b.Email &&
		a.EmailVerified == b.EmailVerified && a.Name == b.Name && a.Disabled == b.Disabled &&
		slices.Equal(a.Roles, b.Roles)
}
