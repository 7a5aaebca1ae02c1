package provider

// The console's scope, role and user pages, over the directory service.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/web"
)

const (
	pathConsoleScopes = PathConsole + "/scopes"
	pathConsoleRoles  = PathConsole + "/roles"
	pathConsoleUsers  = PathConsole + "/users"
)

// mountConsoleDirectory mounts the scope, role and user pages; reads on
// r, posts on forms (the console's CSRF-guarded group).
func (p *Provider) mountConsoleDirectory(r, forms chi.Router) {
	r.Get("/scopes", p.consoleScopes)
	r.Get("/scopes/{name}", p.consoleScope)
	r.Get("/scopes/{name}/delete", p.consoleConfirmDeleteScope)
	forms.Post("/scopes", p.consoleCreateScope)
	forms.Post("/scopes/{name}", p.consoleUpdateScope)
	forms.Post("/scopes/{name}/delete", p.consoleDeleteScope)

	r.Get("/roles", p.consoleRoles)
	r.Get("/roles/{name}", p.consoleRole)
	r.Get("/roles/{name}/delete", p.consoleConfirmDeleteRole)
	forms.Post("/roles", p.consoleCreateRole)
	forms.Post("/roles/{name}", p.consoleUpdateRole)
	forms.Post("/roles/{name}/delete", p.consoleDeleteRole)

	r.Get("/users", p.consoleUsers)
	r.Get("/users/{id}", p.consoleUser)
	r.Get("/users/{id}/sessions", p.consoleConfirmEndSessions)
	forms.Post("/users", p.consoleCreateUser)
	forms.Post("/users/{id}", p.consoleUpdateUser)
	forms.Post("/users/{id}/password", p.consoleResetPassword)
	forms.Post("/users/{id}/sessions", p.consoleEndSessions)
	forms.Post("/users/{id}/factors", p.consoleResetFactors)
}

// fieldRefused marks the fields a directory refusal names and returns
// its message; for any other error, ok is false (a failure of ours).
func fieldRefused(err error, fields []web.Field) (string, bool) {
	de := formRefusal(err)
	if de == nil || errors.Is(de.Kind, directory.ErrNotFound) {
		return "", false
	}
	for i := range fields {
		if fields[i].Name == de.Field || (de.Field == "" && i == 0) || (errors.Is(de.Kind, directory.ErrConflict) && i == 0) {
			fields[i].Invalid = true
		}
	}
	return de.Message, true
}

// scopeFields are the scope form's fields.
func scopeFields(s directory.ScopeView, isNew bool) []web.Field {
	f := []web.Field{
		{Name: "description", Label: "Description", Type: "text", Value: s.Description, Hint: "What people read on the consent page, e.g. “Read your exam results”."},
		{Name: "audience", Label: "Resource server (audience)", Type: "text", Value: s.Audience, Hint: "The API that tokens with this scope are meant for, e.g. https://api.school.example. Optional."},
	}
	if isNew {
		f = append([]web.Field{{Name: "name", Label: "Name", Type: "text", Value: s.Name, Required: true, Autocomplete: "off",
			Hint: "The scope string apps ask for, e.g. results:read. It cannot be changed later."}}, f...)
	}
	return f
}

func (p *Provider) consoleScopes(w http.ResponseWriter, r *http.Request) {
	p.showScopes(w, r, http.StatusOK, directory.ScopeView{}, "", nil)
}

// showScopes renders the scope list and the form that registers one.
func (p *Provider) showScopes(w http.ResponseWriter, r *http.Request, status int, in directory.ScopeView, formError string, fields []web.Field) {
	list, err := p.dir.Scopes().List(r.Context())
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	t := &web.Table{Caption: "Registered scopes", Columns: []string{"Scope", "Description", "Resource server"}}
	for _, s := range list {
		t.Rows = append(t.Rows, web.TableRow{Cells: []string{s.Name, s.Description, s.Audience}, Href: pathConsoleScopes + "/" + url.PathEscape(s.Name)})
	}
	if fields == nil {
		fields = scopeFields(in, true)
	}
	g := web.Generic{Intro: "A scope is something an app may be allowed to do. Roles grant scopes to people; a token only carries scopes that the app was registered for and the person's roles grant.",
		Table: t, Forms: []web.FormSection{{Heading: "Register a scope", Form: web.Form{Action: pathConsoleScopes, Submit: "Register scope", Fields: fields, Error: formError}}}}
	p.consolePage(w, r, status, web.ConsoleGeneric, pathConsoleScopes, "Scopes", web.ConsoleData{Page: g, Notice: notice(r)})
}

func scopeFromForm(r *http.Request, name string) directory.ScopeView {
	return directory.ScopeView{Name: name, Description: strings.TrimSpace(r.PostForm.Get("description")), Audience: strings.TrimSpace(r.PostForm.Get("audience"))}
}

func (p *Provider) consoleCreateScope(w http.ResponseWriter, r *http.Request) {
	in := scopeFromForm(r, strings.TrimSpace(r.PostForm.Get("name")))
	if _, err := p.dir.Scopes().Create(r.Context(), in); err != nil {
		fields := scopeFields(in, true)
		msg, ok := fieldRefused(err, fields)
		if !ok {
			p.consoleRefusal(w, r, err)
			return
		}
		p.showScopes(w, r, http.StatusBadRequest, in, msg, fields)
		return
	}
	http.Redirect(w, r, pathConsoleScopes+"?done=saved", http.StatusSeeOther)
}

func (p *Provider) consoleScope(w http.ResponseWriter, r *http.Request) {
	s, err := p.dir.Scopes().Get(r.Context(), pathParam(r, "name"))
	if err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	p.showScope(w, r, http.StatusOK, s, "", nil, directory.Version(s))
}

// showScope shows scope s's page; version is that of the stored scope
// its form's post is to change (versionField).
func (p *Provider) showScope(w http.ResponseWriter, r *http.Request, status int, s directory.ScopeView, formError string, fields []web.Field, version string) {
	if fields == nil {
		fields = scopeFields(s, false)
	}
	fields = append(fields, versionField(version))
	path := pathConsoleScopes + "/" + url.PathEscape(s.Name)
	g := web.Generic{Forms: []web.FormSection{{Heading: "Settings", Form: web.Form{Action: path, Submit: "Save changes", Fields: fields, Error: formError}}},
		Links: []web.Link{{Label: "Delete this scope…", Href: path + "/delete", Danger: true}}}
	p.consolePage(w, r, status, web.ConsoleGeneric, pathConsoleScopes, "Scope "+s.Name, web.ConsoleData{Page: g, Notice: notice(r)})
}

func (p *Provider) consoleUpdateScope(w http.ResponseWriter, r *http.Request) {
	name := pathParam(r, "name")
	in := scopeFromForm(r, name)
	cur, stale, err := saveUnlessStale(p, r, func(ctx context.Context) (directory.ScopeView, error) {
		return p.dir.Scopes().Get(ctx, name)
	}, func(ctx context.Context, _ directory.ScopeView) error {
		_, err := p.dir.Scopes().Update(ctx, name, in)
		return err
	})
	if stale {
		p.showScope(w, r, http.StatusConflict, cur, staleMessage, nil, directory.Version(cur))
		return
	}
	if err != nil {
		fields := scopeFields(in, false)
		msg, ok := fieldRefused(err, fields)
		if !ok {
			p.consoleRefusal(w, r, err)
			return
		}
		p.showScope(w, r, http.StatusBadRequest, in, msg, fields, r.PostForm.Get("version"))
		return
	}
	http.Redirect(w, r, pathConsoleScopes+"/"+url.PathEscape(name)+"?done=saved", http.StatusSeeOther)
}

func (p *Provider) consoleConfirmDeleteScope(w http.ResponseWriter, r *http.Request) {
	s, err := p.dir.Scopes().Get(r.Context(), pathParam(r, "name"))
	if err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	path := pathConsoleScopes + "/" + url.PathEscape(s.Name)
	p.consolePage(w, r, http.StatusOK, web.ConsoleConfirm, pathConsoleScopes, "Delete scope", web.ConsoleData{Page: web.Confirm{
		Question: "Delete the scope " + s.Name + "?",
		Consequences: []string{
			"The consent page shows the bare name " + s.Name + " instead of its description.",
			"Tokens with this scope no longer name its resource server in their audience, so that server may refuse them.",
			"Roles and clients keep naming it; register it again to restore it.",
		},
		Action: path + "/delete", Button: "Delete scope", Cancel: path,
	}})
}

func (p *Provider) consoleDeleteScope(w http.ResponseWriter, r *http.Request) {
	name := pathParam(r, "name")
	if r.PostForm.Get("confirm") != "yes" {
		http.Redirect(w, r, pathConsoleScopes+"/"+url.PathEscape(name)+"/delete", http.StatusSeeOther)
		return
	}
	if err := p.dir.Scopes().Delete(r.Context(), name); err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	http.Redirect(w, r, pathConsoleScopes+"?done=deleted", http.StatusSeeOther)
}

// scopeOptions are the registered scopes as checkboxes, checked when in
// chosen; chosen scopes that are not registered come after them.
func (p *Provider) scopeOptions(r *http.Request, chosen []string) ([]web.Option, error) {
	list, err := p.dir.Scopes().List(r.Context())
	if err != nil {
		return nil, err
	}
	var out []web.Option
	for _, s := range list {
		out = append(out, web.Option{Value: s.Name, Label: s.Name, Hint: s.Description, Checked: slices.Contains(chosen, s.Name)})
	}
	for _, c := range chosen {
		if !slices.ContainsFunc(list, func(s directory.ScopeView) bool { return s.Name == c }) {
			out = append(out, web.Option{Value: c, Label: c, Hint: "not registered", Checked: true})
		}
	}
	return out, nil
}

// roleFields are the role form's fields.
func (p *Provider) roleFields(r *http.Request, role directory.RoleView, isNew bool) ([]web.Field, error) {
	opts, err := p.scopeOptions(r, role.Scopes)
	if err != nil {
		return nil, err
	}
	f := []web.Field{
		{Name: "description", Label: "Description", Type: "text", Value: role.Description, Hint: "Who holds this role, e.g. “Teaching staff”."},
		{Name: "scopes", Label: "Scopes this role grants", Type: "checkboxes", Options: opts},
		{Name: "require_mfa", Label: "Require two-step sign-in", Type: "checkbox", Value: "yes", Checked: role.RequireMFA,
			Hint: "Holders must sign in with an authenticator app too, and set one up at their next sign-in if they have none."},
	}
	if isNew {
		f = append([]web.Field{{Name: "name", Label: "Name", Type: "text", Value: role.Name, Required: true, Autocomplete: "off",
			Hint: "e.g. teacher. Letters, digits and . _ : -; it cannot be changed later."}}, f...)
	}
	return f, nil
}

func roleFromForm(r *http.Request, name string) directory.RoleView {
	scopes := r.PostForm["scopes"]
	if scopes == nil {
		scopes = []string{}
	}
	return directory.RoleView{Name: name, Description: strings.TrimSpace(r.PostForm.Get("description")), Scopes: scopes,
		RequireMFA: r.PostForm.Get("require_mfa") == "yes"}
}

func (p *Provider) consoleRoles(w http.ResponseWriter, r *http.Request) {
	p.showRoles(w, r, http.StatusOK, directory.RoleView{}, "", nil)
}

func (p *Provider) showRoles(w http.ResponseWriter, r *http.Request, status int, in directory.RoleView, formError string, fields []web.Field) {
	list, err := p.dir.Roles().List(r.Context())
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	t := &web.Table{Caption: "Roles", Columns: []string{"Role", "Description", "Scopes", "Two-step sign-in"}}
	for _, ro := range list {
		mfa := "optional"
		if ro.RequireMFA {
			mfa = "required"
		}
		t.Rows = append(t.Rows, web.TableRow{Cells: []string{ro.Name, ro.Description, strings.Join(ro.Scopes, " "), mfa}, Href: pathConsoleRoles + "/" + url.PathEscape(ro.Name)})
	}
	if fields == nil {
		if fields, err = p.roleFields(r, in, true); err != nil {
			p.consoleFailure(w, r, err)
			return
		}
	}
	g := web.Generic{Intro: "A role grants scopes to the people who hold it. The console needs the " + p.cfg.ConsoleAdminRole + " role.",
		Table: t, Forms: []web.FormSection{{Heading: "Create a role", Form: web.Form{Action: pathConsoleRoles, Submit: "Create role", Fields: fields, Error: formError}}}}
	p.consolePage(w, r, status, web.ConsoleGeneric, pathConsoleRoles, "Roles", web.ConsoleData{Page: g, Notice: notice(r)})
}

func (p *Provider) consoleCreateRole(w http.ResponseWriter, r *http.Request) {
	in := roleFromForm(r, strings.TrimSpace(r.PostForm.Get("name")))
	if _, err := p.dir.Roles().Create(r.Context(), in); err != nil {
		p.roleRefused(w, r, in, true, err)
		return
	}
	http.Redirect(w, r, pathConsoleRoles+"?done=saved", http.StatusSeeOther)
}

// roleRefused shows the role form again with the refusal.
func (p *Provider) roleRefused(w http.ResponseWriter, r *http.Request, in directory.RoleView, isNew bool, err error) {
	fields, ferr := p.roleFields(r, in, isNew)
	if ferr != nil {
		p.consoleFailure(w, r, ferr)
		return
	}
	msg, ok := fieldRefused(err, fields)
	if !ok {
		p.consoleRefusal(w, r, err)
		return
	}
	if isNew {
		p.showRoles(w, r, http.StatusBadRequest, in, msg, fields)
		return
	}
	p.showRole(w, r, http.StatusBadRequest, in, msg, fields, r.PostForm.Get("version"))
}

func (p *Provider) consoleRole(w http.ResponseWriter, r *http.Request) {
	ro, err := p.dir.Roles().Get(r.Context(), pathParam(r, "name"))
	if err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	p.showRole(w, r, http.StatusOK, ro, "", nil, directory.Version(ro))
}

// showRole shows role ro's page; version is that of the stored role its
// form's post is to change (versionField).
func (p *Provider) showRole(w http.ResponseWriter, r *http.Request, status int, ro directory.RoleView, formError string, fields []web.Field, version string) {
	if fields == nil {
		var err error
		if fields, err = p.roleFields(r, ro, false); err != nil {
			p.consoleFailure(w, r, err)
			return
		}
	}
	fields = append(fields, versionField(version))
	path := pathConsoleRoles + "/" + url.PathEscape(ro.Name)
	g := web.Generic{Forms: []web.FormSection{{Heading: "Settings", Intro: "A change reaches people's tokens when their apps next refresh them.",
		Form: web.Form{Action: path, Submit: "Save changes", Fields: fields, Error: formError}}},
		Links: []web.Link{{Label: "Delete this role…", Href: path + "/delete", Danger: true}}}
	p.consolePage(w, r, status, web.ConsoleGeneric, pathConsoleRoles, "Role "+ro.Name, web.ConsoleData{Page: g, Notice: notice(r)})
}

func (p *Provider) consoleUpdateRole(w http.ResponseWriter, r *http.Request) {
	name := pathParam(r, "name")
	in := roleFromForm(r, name)
	cur, stale, err := saveUnlessStale(p, r, func(ctx context.Context) (directory.RoleView, error) {
		return p.dir.Roles().Get(ctx, name)
	}, func(ctx context.Context, _ directory.RoleView) error {
		_, err := p.dir.Roles().Update(ctx, name, in)
		return err
	})
	if stale {
		p.showRole(w, r, http.StatusConflict, cur, staleMessage, nil, directory.Version(cur))
		return
	}
	if err != nil {
		p.roleRefused(w, r, in, false, err)
		return
	}
	http.Redirect(w, r, pathConsoleRoles+"/"+url.PathEscape(name)+"?done=saved", http.StatusSeeOther)
}

func (p *Provider) consoleConfirmDeleteRole(w http.ResponseWriter, r *http.Request) {
	ro, err := p.dir.Roles().Get(r.Context(), pathParam(r, "name"))
	if err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	path := pathConsoleRoles + "/" + url.PathEscape(ro.Name)
	consequences := []string{"Everyone who holds it loses it, and with it the scopes it grants, when their apps next refresh their tokens."}
	if ro.Name == p.cfg.ConsoleAdminRole {
		consequences = append(consequences, "It is the console's role: nobody, you included, can use the console any more.")
	}
	p.consolePage(w, r, http.StatusOK, web.ConsoleConfirm, pathConsoleRoles, "Delete role", web.ConsoleData{Page: web.Confirm{
		Question: "Delete the role " + ro.Name + "?", Consequences: consequences,
		Action: path + "/delete", Button: "Delete role", Cancel: path,
	}})
}

func (p *Provider) consoleDeleteRole(w http.ResponseWriter, r *http.Request) {
	name := pathParam(r, "name")
	if r.PostForm.Get("confirm") != "yes" {
		http.Redirect(w, r, pathConsoleRoles+"/"+url.PathEscape(name)+"/delete", http.StatusSeeOther)
		return
	}
	if err := p.dir.Roles().Delete(r.Context(), name); err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	http.Redirect(w, r, pathConsoleRoles+"?done=deleted", http.StatusSeeOther)
}
