package provider

// The account page (/account): any signed-in user's own page, signed in
// to through hallpass's own client as the console is (console_signin.go).

import (
	"net/http"
	"slices"

	"github.com/go-chi/chi/v5"

	"github.com/hallpass/hallpass/web"
)

// mountAccount mounts the account page under PathAccount.
func (p *Provider) mountAccount(r chi.Router) {
	r.Get("/callback", p.handleSelfCallback(accountArea))
	r.Group(func(r chi.Router) {
		r.Use(p.requireSelf(accountArea))
		r.Get("/", p.accountHome)
		r.Group(func(r chi.Router) {
			r.Use(p.crossOriginGuard(http.HandlerFunc(p.denyCrossOrigin)).Handler, p.requireSelfCSRF)
			r.Post("/signout", p.handleSelfSignOut)
		})
	})
}

// accountNav is the account page's navigation.
func accountNav(current string) []web.NavItem {
	items := []web.NavItem{{Label: "Your account", Href: PathAccount}}
	for i := range items {
		items[i].Current = items[i].Href == current
	}
	return items
}

// accountHome shows the user's profile and roles.
func (p *Provider) accountHome(w http.ResponseWriter, r *http.Request) {
	u := signedIn(r).user
	a := web.Account{Username: u.Username, Name: u.Name, Email: u.Email, EmailVerified: u.EmailVerified, Roles: u.Roles}
	if slices.Contains(u.Roles, p.cfg.ConsoleAdminRole) {
		a.Console = PathConsole
	}
	p.accountPage(w, r, http.StatusOK, web.AccountHome, "Your account", web.ConsoleData{Page: a, Notice: notice(r)})
}

// accountPage renders an account page with its frame.
func (p *Provider) accountPage(w http.ResponseWriter, r *http.Request, status int, page web.ConsolePage, title string, d web.ConsoleData) {
	frame := p.consoleData(r, accountArea, PathAccount)
	frame.Title, frame.Notice, frame.Error, frame.Page = title, d.Notice, d.Error, d.Page
	p.pages.Console(w, status, page, frame)
}
