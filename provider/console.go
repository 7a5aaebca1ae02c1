package provider

// The admin console (/console): server-rendered pages over the same
// directory service and key manager as the admin API, so the console
// follows the API's rules and has none of its own. Its sign-in is
// console_signin.go; each object's pages are a console_*.go file.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

// mountConsole mounts the console's pages under PathConsole. Every page
// needs a sign-in with the admin role; every post also comes from the
// console's own pages (the same origin and a token bound to the sign-in).
func (p *Provider) mountConsole(r chi.Router) {
	r.Get("/callback", p.handleSelfCallback(consoleArea()))
	r.Group(func(r chi.Router) {
		r.Use(p.requireSelf(consoleArea()))
		forms := r.With(p.crossOriginGuard(http.HandlerFunc(p.denyCrossOrigin)).Handler, p.requireSelfCSRF)
		r.Get("/", p.consoleDashboard)
		forms.Post("/signout", p.handleSelfSignOut)
		r.Get("/clients", p.consoleClients)
		r.Get("/clients/new", p.consoleNewClient)
		r.Get("/clients/{id}", p.consoleEditClient)
		r.Get("/clients/{id}/delete", p.consoleConfirmDeleteClient)
		forms.Post("/clients/new", p.consoleCreateClient)
		forms.Post("/clients/{id}", p.consoleUpdateClient)
		forms.Post("/clients/{id}/secret", p.consoleRotateSecret)
		forms.Post("/clients/{id}/delete", p.consoleDeleteClient)
		p.mountConsoleDirectory(r, forms)
		p.mountConsoleKeys(r, forms)
		// The audit log (issue 16) mounts its page here.
		r.Get("/audit", p.consoleAudit)
	})
}

// consoleNav is the console's navigation. The audit log (issue 16) adds
// its entry here, with its page mounted in mountConsole.
func consoleNav(current string) []web.NavItem {
	items := []web.NavItem{
		{Label: "Dashboard", Href: PathConsole},
		{Label: "Clients", Href: pathConsoleClients},
		{Label: "Users", Href: pathConsoleUsers},
		{Label: "Roles", Href: pathConsoleRoles},
		{Label: "Scopes", Href: pathConsoleScopes},
		{Label: "Keys", Href: pathConsoleKeys},
		{Label: "Audit log", Href: pathConsoleAudit},
	}
	for i := range items {
		items[i].Current = items[i].Href == current
	}
	return items
}

// consoleData is the frame of a page of area: the signed-in user, the
// sign-out form and its token, the navigation with current marked.
func (p *Provider) consoleData(r *http.Request, area selfArea, current string) web.ConsoleData {
	d := web.ConsoleData{Home: area.root, SignOut: area.root + "/signout"}
	if area.admin {
		d.Nav = consoleNav(current)
	} else {
		d.Nav = accountNav(current)
	}
	if s := signedIn(r); s != nil {
		d.Username, d.CSRF = s.user.Username, p.selfCSRF(s)
	}
	return d
}

// consolePage renders a console page with the frame for current.
func (p *Provider) consolePage(w http.ResponseWriter, r *http.Request, status int, page web.ConsolePage, current, title string, d web.ConsoleData) {
	frame := p.consoleData(r, consoleArea(), current)
	frame.Title, frame.Notice, frame.Error, frame.Page = title, d.Notice, d.Error, d.Page
	p.pages.Console(w, status, page, frame)
}

// consoleRefusal renders what the directory service refused: a missing
// record as a 404 page; anything else is a failure of ours. Refusals of
// a form's input are the form handler's to show beside the form.
func (p *Provider) consoleRefusal(w http.ResponseWriter, r *http.Request, err error) {
	var de *directory.Error
	if errors.As(err, &de) && !storeFailed(err) && errors.Is(de.Kind, directory.ErrNotFound) {
		p.pageError(w, r, http.StatusNotFound, "Not found", "It may have just been deleted. "+de.Message+".")
		return
	}
	p.consoleFailure(w, r, err)
}

// versionField is the hidden field of an edit form that sends back the
// version of the record the page showed (directory.Version), which staleEdit
// checks.
func versionField(version string) web.Field {
	return web.Field{Name: "version", Type: "hidden", Value: version}
}

// staleEdit reports whether the edit form's post r was made from a page
// that showed another version of the record than current, as it is now:
// saving it would undo a change saved meanwhile (another admin's, or
// another tab's). A post without a version counts as stale.
func staleEdit(r *http.Request, current any) bool {
	return r.PostForm.Get("version") != directory.Version(current)
}

// saveUnlessStale runs save, the change an edit form's post r asks of a
// record, unless the post was made from a page that showed another
// version of it (staleEdit): then save is not run, stale is true and cur
// is the record as it is now, for the page to show again. The check is
// changeIfCurrent's, in save's transaction.
func saveUnlessStale[V any](p *Provider, r *http.Request, get func(ctx context.Context) (V, error), save func(ctx context.Context, cur V) error) (cur V, stale bool, err error) {
	cur, current, err := changeIfCurrent(r.Context(), p, get, func(cur V) bool { return !staleEdit(r, cur) }, save)
	return cur, !current && err == nil, err
}

// changeIfCurrent runs change in one transaction with a read of the
// record it changes (get, given the transaction: from the database, not
// the cache of clients, roles and scopes, which may be an interval behind
// another replica's change), unless isCurrent says the record read is not
// the version the change was made from (an edit page's, an If-Match's):
// then change is not run and current is false. cur is the record read.
// Checked before the transaction, or outside one, a change made from an
// overtaken read went through on a replica whose cache still held it,
// undoing the change made meanwhile. The read locks the record until the
// transaction ends (storage.LockingReads): on PostgreSQL, two changes
// made from one version would otherwise both read it, both pass and both
// write, the second undoing the first; so the second waits, reads the
// first's change and is refused. The admin API and the console's edit
// pages both check here.
func changeIfCurrent[V any](ctx context.Context, p *Provider, get func(ctx context.Context) (V, error), isCurrent func(V) bool, change func(ctx context.Context, cur V) error) (cur V, current bool, err error) {
	err = p.dir.InTransaction(ctx, func(ctx context.Context) error {
		var err error
		current = false
		if cur, err = get(storage.LockingReads(ctx)); err != nil {
			return err
		}
		if current = isCurrent(cur); !current {
			return nil
		}
		return change(ctx, cur)
	})
	return cur, current, err
}

// staleMessage is the refusal a stale edit's form is shown again with,
// showing the record as it now is.
const staleMessage = "This was changed since you opened the page, so nothing was saved. The page now shows it as it is; make your changes again and save."

// formRefusal returns the directory service's refusal of a form's input,
// for the form to show; nil when err is not one (then it is a failure).
func formRefusal(err error) *directory.Error {
	var de *directory.Error
	if errors.As(err, &de) && !storeFailed(err) {
		return de
	}
	return nil
}

// notice is the message a redirect after a change shows, by the key in
// its "done" parameter: fixed words, so no link can put text on a console
// page.
func notice(r *http.Request) string {
	switch r.URL.Query().Get("done") {
	case "client-created":
		return "The client was registered."
	case "client-saved", "saved":
		return "The changes were saved."
	case "client-deleted":
		return "The client was deleted, and every token issued to it revoked."
	case "password":
		return "Your password was changed. Your other sessions were signed out."
	case "factors-reset":
		return "Two-step sign-in was reset: the user's authenticator, passkeys and recovery codes are gone, and the user was signed out everywhere."
	case "totp":
		return "Your authenticator app was set up."
	case "totp-replaced":
		return "Your authenticator app was replaced. Your other sessions were signed out."
	case "passkey":
		return "Your passkey was set up."
	case "passkey-removed":
		return "The passkey was removed. Your other sessions were signed out."
	case "consent-revoked":
		return "Access was withdrawn, and the app's tokens revoked."
	case "session-ended":
		return "The session was signed out."
	case "deleted":
		return "It was deleted."
	case "sessions-ended":
		return "The user was signed out everywhere."
	case "rotated":
		return "A rotation was started."
	case "revoked":
		return "The key was revoked."
	case "rotated-unpublished":
		return "Done, but the new signing key was never published: resource servers reject its tokens until they fetch the JWKS again."
	}
	return ""
}

// consoleDashboard shows counts, the signing key's age and the latest
// failed sign-ins.
func (p *Provider) consoleDashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	d := web.Dashboard{}
	clients, err := p.dir.Clients().List(ctx)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	users, err := p.dir.Users().List(ctx)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	roles, err := p.dir.Roles().List(ctx)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	scopes, err := p.dir.Scopes().List(ctx)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	d.Counts = []web.Count{
		{Label: "Clients", N: len(clients), Href: PathConsole + "/clients"},
		{Label: "Users", N: len(users), Href: pathConsoleUsers},
		{Label: "Roles", N: len(roles), Href: pathConsoleRoles},
		{Label: "Scopes", N: len(scopes), Href: pathConsoleScopes},
	}
	keyList, err := p.cfg.Keys.Keys(ctx)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	for _, k := range keyList {
		if k.State == storage.KeyActive {
			since := k.ActivatesAt
			if since.IsZero() {
				since = k.CreatedAt
			}
			d.ActiveKey, d.ActiveKeyAge = k.ID, humanAge(p.cfg.Now().Sub(since))
		}
	}
	if d.FailedSignIns, err = p.recentFailedSignIns(ctx); err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	for _, t := range failedSigninTypes() {
		d.FailedSignInsLinks = append(d.FailedSignInsLinks, web.Link{Label: "Every " + t + " in the audit log", Href: auditPath(url.Values{"type": {t}})})
	}
	p.consolePage(w, r, http.StatusOK, web.ConsoleDashboard, PathConsole, "Dashboard", web.ConsoleData{Page: d, Notice: notice(r)})
}

// humanAge says how long d is in the largest whole unit that fits.
func humanAge(d time.Duration) string {
	plural := func(n int, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	switch {
	case d >= 48*time.Hour:
		return plural(int(d/(24*time.Hour)), "day")
	case d >= 2*time.Hour:
		return plural(int(d/time.Hour), "hour")
	case d >= time.Minute:
		return plural(int(d/time.Minute), "minute")
	}
	return "less than a minute"
}
