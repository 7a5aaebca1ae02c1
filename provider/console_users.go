package provider

// The console's user pages: list and search, create, edit (roles,
// disable), reset the password (a generated one, shown once), end every
// session.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/web"
)

func userPath(id string) string { return pathConsoleUsers + "/" + url.PathEscape(id) }

// roleOptions are the roles as checkboxes, checked when held.
func (p *Provider) roleOptions(r *http.Request, held []string) ([]web.Option, error) {
	list, err := p.dir.Roles().List(r.Context())
	if err != nil {
		return nil, err
	}
	var out []web.Option
	for _, ro := range list {
		out = append(out, web.Option{Value: ro.Name, Label: ro.Name, Hint: ro.Description, Checked: slices.Contains(held, ro.Name)})
	}
	return out, nil
}

// userFields are the user form's fields; a new user also gets a username
// and a password.
func (p *Provider) userFields(r *http.Request, in directory.UserInput, isNew bool) ([]web.Field, error) {
	opts, err := p.roleOptions(r, in.Roles)
	if err != nil {
		return nil, err
	}
	var f []web.Field
	if isNew {
		f = append(f,
			web.Field{Name: "username", Label: "Username", Type: "text", Value: in.Username, Required: true, Autocomplete: "off",
				Hint: "What they sign in with: letters, digits and . _ @ -."},
			web.Field{Name: "password", Label: "Password", Type: "password", Autocomplete: "new-password",
				Hint: "At least 12 characters, hard to guess, without the username. Leave empty to have one generated and shown once."})
	}
	f = append(f,
		web.Field{Name: "name", Label: "Full name", Type: "text", Value: in.Name},
		web.Field{Name: "email", Label: "Email", Type: "email", Value: in.Email},
		web.Field{Name: "roles", Label: "Roles", Type: "checkboxes", Options: opts},
	)
	if !isNew {
		f = append(f, web.Field{Name: "disabled", Label: "Disabled", Type: "checkbox", Checked: in.Disabled,
			Hint: "A disabled user cannot sign in; disabling signs them out everywhere and ends their apps' access."})
	}
	return f, nil
}

func userFromForm(r *http.Request) directory.UserInput {
	roles := r.PostForm["roles"]
	if roles == nil {
		roles = []string{}
	}
	return directory.UserInput{Username: strings.TrimSpace(r.PostForm.Get("username")), Password: r.PostForm.Get("password"),
		Name: strings.TrimSpace(r.PostForm.Get("name")), Email: strings.TrimSpace(r.PostForm.Get("email")),
		Roles: roles, Disabled: r.PostForm.Get("disabled") == "yes"}
}

func (p *Provider) consoleUsers(w http.ResponseWriter, r *http.Request) {
	p.showUsers(w, r, http.StatusOK, directory.UserInput{}, "", nil)
}

func (p *Provider) showUsers(w http.ResponseWriter, r *http.Request, status int, in directory.UserInput, formError string, fields []web.Field) {
	list, err := p.dir.Users().List(r.Context())
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	q := searchQuery(r)
	t := &web.Table{Caption: "Users", Columns: []string{"Username", "Name", "Email", "Roles", "Status"}}
	for _, u := range list {
		if q != "" && !strings.Contains(strings.ToLower(u.Username+"\n"+u.Name+"\n"+u.Email), strings.ToLower(q)) {
			continue
		}
		status := "active"
		if u.Disabled {
			status = "disabled"
		}
		t.Rows = append(t.Rows, web.TableRow{Cells: []string{u.Username, u.Name, u.Email, strings.Join(u.Roles, ", "), status}, Href: userPath(u.ID)})
	}
	if fields == nil {
		if fields, err = p.userFields(r, in, true); err != nil {
			p.consoleFailure(w, r, err)
			return
		}
	}
	g := web.Generic{Search: &web.Search{Label: "Search users", Query: q, Placeholder: "username, name or email", Shown: len(t.Rows), Total: len(list)},
		Table: t, Forms: []web.FormSection{{Heading: "Create a user", Form: web.Form{Action: pathConsoleUsers, Submit: "Create user", Fields: fields, Error: formError}}}}
	p.consolePage(w, r, status, web.ConsoleGeneric, pathConsoleUsers, "Users", web.ConsoleData{Page: g, Notice: notice(r)})
}

// userRefusal answers err of a user form: the form again with the
// refusal (showForm), a full password gate, or a failure.
func (p *Provider) userRefusal(w http.ResponseWriter, r *http.Request, err error, fields []web.Field, showForm func(msg string)) {
	if errors.Is(err, errPasswordsBusy) {
		w.Header().Set("Retry-After", p.passwords.retryAfter())
		p.pageError(w, r, http.StatusServiceUnavailable, "Too busy", "Too many passwords are being checked at once. Go back and try again in a few seconds.")
		return
	}
	msg, ok := fieldRefused(err, fields)
	if !ok {
		p.consoleRefusal(w, r, err)
		return
	}
	showForm(msg)
}

func (p *Provider) consoleCreateUser(w http.ResponseWriter, r *http.Request) {
	in := userFromForm(r)
	generated := in.Password == ""
	if generated {
		var err error
		if in.Password, err = directory.GeneratePassword(in.Username, in.Email, in.Name); err != nil {
			p.consoleFailure(w, r, err)
			return
		}
	}
	u, err := p.dir.Users().Create(r.Context(), in)
	if err != nil {
		in.Password = ""
		fields, ferr := p.userFields(r, in, true)
		if ferr != nil {
			p.consoleFailure(w, r, ferr)
			return
		}
		p.userRefusal(w, r, err, fields, func(msg string) { p.showUsers(w, r, http.StatusBadRequest, in, msg, fields) })
		return
	}
	p.log.InfoContext(r.Context(), "console: user created", "request_id", RequestID(r.Context()), "user_id", u.ID)
	if generated {
		p.showPassword(w, r, u, in.Password)
		return
	}
	http.Redirect(w, r, userPath(u.ID)+"?done=saved", http.StatusSeeOther)
}

// showPassword shows a generated password, once.
func (p *Provider) showPassword(w http.ResponseWriter, r *http.Request, u directory.UserView, password string) {
	g := web.Generic{Intro: "The password of " + u.Username + " is shown only this once. Give it to them by a safe way; they can change it on their account page (" + p.url(PathAccount) + ").",
		Forms: nil, Links: []web.Link{{Label: "Done", Href: userPath(u.ID)}}}
	g.Table = &web.Table{Caption: "New password", Columns: []string{"Username", "Password"}, Rows: []web.TableRow{{Cells: []string{u.Username, password}}}}
	p.consolePage(w, r, http.StatusOK, web.ConsoleGeneric, pathConsoleUsers, "New password", web.ConsoleData{Page: g})
}

func (p *Provider) consoleUser(w http.ResponseWriter, r *http.Request) {
	u, err := p.dir.Users().Get(r.Context(), pathParam(r, "id"))
	if err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	p.showUser(w, r, http.StatusOK, u, userInputOf(u), "", nil)
}

// userInputOf is user u as the profile form shows it.
func userInputOf(u directory.UserView) directory.UserInput {
	return directory.UserInput{Username: u.Username, Name: u.Name, Email: u.Email, Roles: u.Roles, Disabled: u.Disabled}
}

// showUser shows user u's page, its profile form filled with in. The
// form's version is u's (versionField): u is the stored user it changes.
func (p *Provider) showUser(w http.ResponseWriter, r *http.Request, status int, u directory.UserView, in directory.UserInput, formError string, fields []web.Field) {
	if fields == nil {
		var err error
		if fields, err = p.userFields(r, in, false); err != nil {
			p.consoleFailure(w, r, err)
			return
		}
	}
	fields = append(slices.Clip(fields), versionField(directory.Version(u)))
	path := userPath(u.ID)
	g := web.Generic{Forms: []web.FormSection{
		{Heading: "Profile and roles", Form: web.Form{Action: path, Submit: "Save changes", Fields: fields, Error: formError}},
		{Heading: "Reset the password", Intro: "hallpass generates a new password and shows it once. The old one stops working, and the user is signed out everywhere.",
			Form: web.Form{Action: path + "/password", Submit: "Reset password", Danger: true}},
		{Heading: "Reset two-step sign-in", Intro: "Deletes the user's authenticator app, passkeys and recovery codes, for a user who lost them. If a role of theirs requires two-step sign-in, they set up a new second factor at their next sign-in. The user is also signed out everywhere, and their apps' tokens revoked, whatever the factors were.",
			Form: web.Form{Action: path + "/factors", Submit: "Reset two-step sign-in", Danger: true}},
	}, Links: []web.Link{{Label: "End all sessions…", Href: path + "/sessions", Danger: true}}}
	factors, err := p.factorSummary(r.Context(), u.ID)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	g.Table = &web.Table{Caption: "Second factors", Columns: []string{"Authenticator app", "Passkeys", "Recovery codes left"},
		Rows: []web.TableRow{{Cells: factors}}}
	p.consolePage(w, r, status, web.ConsoleGeneric, pathConsoleUsers, "User "+u.Username, web.ConsoleData{Page: g, Notice: notice(r)})
}

func (p *Provider) consoleUpdateUser(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var in directory.UserInput
	u, stale, err := saveUnlessStale(p, r, func(ctx context.Context) (directory.UserView, error) {
		return p.dir.Users().Get(ctx, pathParam(r, "id"))
	}, func(ctx context.Context, u directory.UserView) error {
		in = userFromForm(r)
		// The form changes neither the username nor the password, and
		// keeps what it does not show.
		in.Username, in.Password, in.EmailVerified = u.Username, "", u.EmailVerified && in.Email == u.Email
		_, err := p.dir.Users().Update(ctx, u.ID, in)
		return err
	})
	switch {
	case stale:
		p.showUser(w, r, http.StatusConflict, u, userInputOf(u), staleMessage, nil)
		return
	case err != nil && u.ID == "":
		// The user could not be read.
		p.consoleRefusal(w, r, err)
		return
	case err != nil:
		fields, ferr := p.userFields(r, in, false)
		if ferr != nil {
			p.consoleFailure(w, r, ferr)
			return
		}
		p.userRefusal(w, r, err, fields, func(msg string) { p.showUser(w, r, http.StatusBadRequest, u, in, msg, fields) })
		return
	}
	p.log.InfoContext(ctx, "console: user updated", "request_id", RequestID(ctx), "user_id", u.ID)
	http.Redirect(w, r, userPath(u.ID)+"?done=saved", http.StatusSeeOther)
}

// consoleResetPassword gives the user a generated password, shown once;
// the change ends their sessions and grants (the credential sweep).
func (p *Provider) consoleResetPassword(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := p.dir.Users().Get(ctx, pathParam(r, "id"))
	if err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	pw, err := directory.GeneratePassword(u.Username, u.Email, u.Name)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	if _, err := p.dir.Users().ChangePassword(ctx, u.ID, pw); err != nil {
		p.userRefusal(w, r, err, nil, func(msg string) { p.pageError(w, r, http.StatusBadRequest, "The password was not reset", msg) })
		return
	}
	p.log.InfoContext(ctx, "console: password reset", "request_id", RequestID(ctx), "user_id", u.ID)
	p.showPassword(w, r, u, pw)
}

// factorSummary is what the console's user page says of the user's
// second factors: whether an authenticator app is set up, how many
// passkeys, how many recovery codes are left.
func (p *Provider) factorSummary(ctx context.Context, userID string) ([]string, error) {
	totp, err := p.hasTOTP(ctx, userID)
	if err != nil {
		return nil, err
	}
	pks, err := p.cfg.Store.ListPasskeys(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("list passkeys: %w", err)
	}
	left, err := p.cfg.Store.CountRecoveryCodes(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("count recovery codes: %w", err)
	}
	app := "none"
	if totp {
		app = "set up"
	}
	return []string{app, passkeyCount(len(pks)), strconv.Itoa(left)}, nil
}

// consoleResetFactors deletes the user's second factors.
func (p *Provider) consoleResetFactors(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	u, err := p.dir.Users().Get(ctx, pathParam(r, "id"))
	if err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	actor := "console"
	if s := signedIn(r); s != nil {
		actor = "console:" + s.user.ID
	}
	if err := p.ResetFactors(ctx, u.ID, actor); err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	http.Redirect(w, r, userPath(u.ID)+"?done=factors-reset", http.StatusSeeOther)
}

func (p *Provider) consoleConfirmEndSessions(w http.ResponseWriter, r *http.Request) {
	u, err := p.dir.Users().Get(r.Context(), pathParam(r, "id"))
	if err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	path := userPath(u.ID)
	p.consolePage(w, r, http.StatusOK, web.ConsoleConfirm, pathConsoleUsers, "End sessions", web.ConsoleData{Page: web.Confirm{
		Question: "Sign " + u.Username + " out everywhere?",
		Consequences: []string{
			u.Username + " must sign in again in every browser.",
			"Their apps' refresh tokens stop working and their access tokens stop introspecting as active; tokens checked offline live out their few minutes.",
		},
		Action: path + "/sessions", Button: "End all sessions", Cancel: path,
	}})
}

func (p *Provider) consoleEndSessions(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "id")
	if r.PostForm.Get("confirm") != "yes" {
		http.Redirect(w, r, userPath(id)+"/sessions", http.StatusSeeOther)
		return
	}
	if err := p.dir.Users().EndSessions(r.Context(), id); err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), "console: sessions ended", "request_id", RequestID(r.Context()), "user", id)
	http.Redirect(w, r, userPath(id)+"?done=sessions-ended", http.StatusSeeOther)
}
