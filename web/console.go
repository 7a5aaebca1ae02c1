package web

import (
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"time"
)

// The console's and the account page's cookies. Like every cookie of
// Cookies they are HttpOnly, SameSite=Lax, Path=/ and, under https,
// Secure with the __Host- prefix.
const (
	// SelfCookieName is the base name of the cookie that holds the
	// sign-in of the console and the account page (hallpass's own
	// client): a value the provider signs, bound to an SSO session.
	SelfCookieName = "hallpass_self"
	// SelfFlowCookieName is the base name of the cookie that ties an
	// own-client sign-in in progress to the browser that started it.
	SelfFlowCookieName = "hallpass_self_flow"
)

// SetSelf sets the own-client sign-in cookie (see SetSession).
func (c *Cookies) SetSelf(w http.ResponseWriter, value string, maxAge time.Duration) {
	c.set(w, SelfCookieName, value, maxAge)
}

// Self returns the own-client sign-in cookie's value; false when absent
// or not valid.
func (c *Cookies) Self(r *http.Request) (string, bool) { return c.get(r, SelfCookieName) }

// ClearSelf tells the browser to delete the own-client sign-in cookie.
func (c *Cookies) ClearSelf(w http.ResponseWriter) { c.clear(w, SelfCookieName) }

// SetSelfFlow sets the cookie of an own-client sign-in in progress.
func (c *Cookies) SetSelfFlow(w http.ResponseWriter, value string, maxAge time.Duration) {
	c.set(w, SelfFlowCookieName, value, maxAge)
}

// SelfFlow returns the value of the cookie of an own-client sign-in in
// progress; false when absent or not valid.
func (c *Cookies) SelfFlow(r *http.Request) (string, bool) { return c.get(r, SelfFlowCookieName) }

// ClearSelfFlow tells the browser to delete the sign-in-in-progress cookie.
func (c *Cookies) ClearSelfFlow(w http.ResponseWriter) { c.clear(w, SelfFlowCookieName) }

// ConsolePage names one page of the admin console or the account page.
type ConsolePage string

// The console's and the account page's templates, one file each under
// templates/. Each page's ConsoleData.Page has the type named beside it.
const (
	ConsoleForbidden  ConsolePage = "console_forbidden.html" // Forbidden
	ConsoleDashboard  ConsolePage = "console_dashboard.html" // Dashboard
	ConsoleClients    ConsolePage = "console_clients.html"   // ClientList
	ConsoleClientForm ConsolePage = "console_client.html"    // ClientForm
	ConsoleSecret     ConsolePage = "console_secret.html"    // ClientSecret
	ConsoleConfirm    ConsolePage = "console_confirm.html"   // Confirm
	AccountHome       ConsolePage = "account.html"           // Account
	ConsoleGeneric    ConsolePage = "console_generic.html"   // Generic
)

// NavItem is one entry of the console's navigation.
type NavItem struct {
	Label   string
	Href    string
	Current bool
}

// ConsoleData is what every console and account page shows around its
// own part: the navigation, who is signed in, the sign-out form, and one
// notice or one error.
type ConsoleData struct {
	// Title is the page's heading and title.
	Title string
	// Home is the link of the product name in the header.
	Home string
	// Nav is the area's navigation; the current entry is marked
	// aria-current="page".
	Nav []NavItem
	// Username is who is signed in; empty shows no sign-out form.
	Username string
	// CSRF is posted back as the hidden input "csrf" by every form.
	CSRF string
	// SignOut is the URL the sign-out form posts to.
	SignOut string
	// Notice is a success message, announced politely (role="status").
	Notice string
	// Error is a failure message, announced at once (role="alert").
	Error string
	// Page is the page's own data, of the type its ConsolePage names.
	Page any
}

// Forbidden is the page of a signed-in user the console refuses.
type Forbidden struct {
	// Role is the role the console requires.
	Role string
	// Account is the link to the user's own account page.
	Account string
}

// Count is one figure on the dashboard.
type Count struct {
	Label string
	N     int
	Href  string
}

// Dashboard is the console's first page.
type Dashboard struct {
	Counts []Count
	// ActiveKey and ActiveKeyAge describe the signing key in use; empty
	// when there is none.
	ActiveKey    string
	ActiveKeyAge string
	// FailedSignIns are the latest failed or throttled sign-ins, newest
	// first, read from the audit log (so they span replicas and restarts).
	FailedSignIns []FailedSignIn
	// FailedSignInsLinks open the audit page filtered to failed sign-ins.
	FailedSignInsLinks []Link
}

// FailedSignIn is one failed or throttled sign-in on the dashboard.
type FailedSignIn struct {
	Time, Type, Who, Address, Reason string
}

// ClientRow is one client in the list.
type ClientRow struct {
	ID, Name, Type, Grants, Redirects string
	// Href opens the client; BuiltIn clients are hallpass's own and
	// cannot be edited here.
	Href    string
	BuiltIn bool
}

// ClientList is the list of clients, filtered by Query.
type ClientList struct {
	Query   string
	Total   int
	Clients []ClientRow
	New     string
}

// Option is a choice among several (a checkbox or a radio button).
type Option struct {
	Value, Label, Hint string
	Checked            bool
}

// ClientForm creates (New) or edits a client. Multi-valued fields are
// one entry per line.
type ClientForm struct {
	New    bool
	Action string
	// Field names the input an error is about, for aria-invalid.
	Field                  string
	ClientID               string
	ClientName             string
	RedirectURIs           string
	PostLogoutRedirectURIs string
	GrantTypes             []Option
	AuthMethods            []Option
	Scope                  string
	KnownScopes            []string
	Audience               string
	ResourceServers        string
	RequirePKCE            bool
	SkipConsent            bool
	RotateSecret, Delete   string // actions of the edit page
	ConfidentialWithSecret bool
	// Version names the stored client the edit page shows; its post
	// sends it back, so that a save made from a page another change has
	// overtaken is refused rather than undoing that change.
	Version string
}

// ClientSecret shows a client secret, once.
type ClientSecret struct {
	ClientID, ClientName, Secret string
	// Next is where the page leads on.
	Next string
}

// Confirm asks before a change that cannot be undone.
type Confirm struct {
	Question string
	// Consequences say what breaks, one sentence each.
	Consequences []string
	Action       string
	Button       string
	Cancel       string
	// Hidden are posted with the form besides csrf.
	Hidden map[string]string
}

// Account is a user's own page: profile and roles, the password form,
// the apps they allowed and their sessions.
type Account struct {
	Username, Name, Email string
	EmailVerified         bool
	Roles                 []string
	// Console links to the console, for admins.
	Console string
	// PasswordAction is where the password form posts ("current",
	// "new" and "confirm"); PasswordError is its refusal, about the
	// input PasswordField names.
	PasswordAction, PasswordError, PasswordField string
	// Security links to the second-factor page; SecondFactor says
	// whether the user has an authenticator.
	Security     string
	SecondFactor bool
	// Passkeys are the user's passkeys; PasskeyForm, when set, adds one.
	Passkeys    []PasskeyRow
	PasskeyForm *PasskeyForm
	Apps        []AppRow
	Sessions    []SessionRow
}

// AppRow is an app the user allowed.
type AppRow struct {
	Name, ClientID, GrantedAt string
	// Scopes are what the app may do, as people read them.
	Scopes []string
	// Withdraw is where the form that withdraws the consent posts.
	Withdraw string
}

// SessionRow is one of the user's signed-in browsers.
type SessionRow struct {
	Device, Address, LastSeen, Started string
	// Current marks the browser showing the page.
	Current bool
	// End is where the form that signs the session out posts.
	End string
}

// Generic is a console page made of parts, each optional, in this
// order: an introduction, a search form, a table, forms (each under its
// heading) and links.
type Generic struct {
	Intro string
	// Search, when set, shows a search form that GETs "q" with this value.
	Search *Search
	Table  *Table
	Forms  []FormSection
	// FormsFirst shows the forms above the table (a filter) rather than
	// below it.
	FormsFirst bool
	Links      []Link
}

// Search is a search form.
type Search struct {
	Label, Query, Placeholder string
	// Shown and Total say how many rows match.
	Shown, Total int
}

// Table is a table whose first column heads each row.
type Table struct {
	Caption string
	Columns []string
	Rows    []TableRow
}

// TableRow is a row: its cells in column order; the first links to Href
// when set, and State, when set, marks the row (e.g. the active key).
type TableRow struct {
	Cells []string
	Href  string
	State string
	// Action, when set, is a last cell with a link (e.g. "Revoke…").
	Action *Link
}

// FormSection is a form under its own heading.
type FormSection struct {
	Heading, Intro string
	Form           Form
}

// Form is a form of labelled fields posting to Action.
type Form struct {
	Action, Submit string
	// Get makes the form a GET (a filter) without the CSRF token; a form
	// otherwise POSTs.
	Get bool
	// Danger marks a button that destroys something.
	Danger bool
	Fields []Field
	// Error is the form's refusal (role="alert"), about the fields
	// marked Invalid.
	Error string
}

// Field is one labelled control of a Form. Type is text, email,
// password, textarea, checkbox (Value "yes" when checked, Checked),
// checkboxes (Options) or hidden (Name and Value only, sent back as
// they are: the version of the record an edit form shows).
type Field struct {
	Name, Label, Type, Value, Hint string
	Options                        []Option
	Checked, Required, Invalid     bool
	Autocomplete                   string
}

// Link is a link shown as a button.
type Link struct {
	Label, Href string
	Danger      bool
}

// consoleSamples are, per page, data every template must render with.
func consoleSamples() map[ConsolePage][]any {
	return map[ConsolePage][]any{
		ConsoleForbidden: {Forbidden{}, Forbidden{Role: "admin", Account: "/account"}},
		ConsoleDashboard: {Dashboard{}, Dashboard{Counts: []Count{{"Clients", 1, "/c"}}, ActiveKey: "k", ActiveKeyAge: "1 day",
			FailedSignIns: []FailedSignIn{{Time: "t", Type: "signin.failure", Who: "u", Address: "a", Reason: "r"}}, FailedSignInsLinks: []Link{{Label: "l", Href: "/a"}}}},
		ConsoleClients: {ClientList{}, ClientList{Query: "q", Total: 1, Clients: []ClientRow{{ID: "a", Href: "/a"}, {ID: "b", BuiltIn: true}}, New: "/n"}},
		ConsoleClientForm: {ClientForm{}, ClientForm{New: true, Field: "redirect_uris", GrantTypes: []Option{{"a", "A", "h", true}},
			AuthMethods: []Option{{"b", "B", "h", false}}, KnownScopes: []string{"s"}, RotateSecret: "/r", Delete: "/d", ConfidentialWithSecret: true, Version: "v"}},
		ConsoleSecret: {ClientSecret{}, ClientSecret{ClientID: "a", Secret: "s", Next: "/n"}},
		AccountHome: {Account{}, Account{Username: "u", Name: "n", Email: "e", EmailVerified: true, Roles: []string{"r"}, Console: "/c",
			PasswordAction: "/p", PasswordError: "e", PasswordField: "new", Apps: []AppRow{{Name: "a", ClientID: "c", GrantedAt: "t", Scopes: []string{"s"}, Withdraw: "/w"}},
			Sessions: []SessionRow{{Device: "d", Address: "a", LastSeen: "l", Started: "s", Current: true}, {Device: "d", End: "/e"}},
			Security: "/s", SecondFactor: true, Passkeys: []PasskeyRow{{Name: "n", Created: "c", LastUsed: "l", Kind: "k", Remove: "/r"}},
			PasskeyForm: &PasskeyForm{Create: true, Options: "{}", State: "s", Action: "/p", CSRF: "t", Button: "b", NameField: true}}},
		ConsoleGeneric: {Generic{}, Generic{FormsFirst: true, Forms: []FormSection{{Heading: "f", Form: Form{Action: "/f", Get: true}}}}, Generic{Intro: "i", Search: &Search{Label: "l", Query: "q", Shown: 1, Total: 2},
			Table: &Table{Caption: "c", Columns: []string{"a", "b"}, Rows: []TableRow{{Cells: []string{"x", "y"}, Href: "/x", State: "active", Action: &Link{Label: "a", Href: "/a"}}, {Cells: []string{"z"}}}},
			Forms: []FormSection{{Heading: "g", Form: Form{Action: "/g", Submit: "s", Get: true, Fields: []Field{{Name: "q", Label: "Q", Type: "text"}}}},
				{Heading: "h", Intro: "i", Form: Form{Action: "/a", Submit: "s", Danger: true, Error: "e", Fields: []Field{
					{Name: "t", Label: "T", Type: "text", Value: "v", Hint: "h", Required: true, Invalid: true, Autocomplete: "off"},
					{Name: "ta", Label: "TA", Type: "textarea"}, {Name: "c", Label: "C", Type: "checkbox", Checked: true},
					{Name: "cs", Label: "CS", Type: "checkboxes", Options: []Option{{Value: "o", Label: "O", Hint: "h", Checked: true}}},
					{Name: "p", Label: "P", Type: "password"}, {Name: "e", Label: "E", Type: "email"}}}}},
			Links: []Link{{Label: "l", Href: "/l", Danger: true}}}},
		ConsoleConfirm: {Confirm{}, Confirm{Question: "q", Consequences: []string{"c"}, Action: "/a", Button: "b", Cancel: "/c", Hidden: map[string]string{"k": "v"}}},
	}
}

// parseConsole parses the console's pages on the layout and the
// console's frame, and checks each executes with its sample data.
func (p *Pages) parseConsole(base *template.Template, fsys fs.FS) error {
	frame, err := base.Clone()
	if err != nil {
		return fmt.Errorf("web: console frame: %w", err)
	}
	if frame, err = frame.ParseFS(fsys, "templates/console_frame.html"); err != nil {
		return fmt.Errorf("web: console frame: %w", err)
	}
	for name, samples := range consoleSamples() {
		t, err := frame.Clone()
		if err != nil {
			return fmt.Errorf("web: %s: %w", name, err)
		}
		if t, err = t.ParseFS(fsys, "templates/"+string(name)); err != nil {
			return fmt.Errorf("web: %s: %w", name, err)
		}
		for _, s := range samples {
			for _, d := range []ConsoleData{{Page: s}, {Title: "t", Home: "/h", Nav: []NavItem{{"a", "/a", true}}, Username: "u", CSRF: "c", SignOut: "/s", Notice: "n", Error: "e", Page: s}} {
				if err := t.ExecuteTemplate(io.Discard, "layout", p.view(d)); err != nil {
					return fmt.Errorf("web: %s: %w", name, err)
				}
			}
		}
		p.templates[string(name)] = t
	}
	return nil
}

// Console renders a page of the admin console or the account page.
func (p *Pages) Console(w http.ResponseWriter, status int, page ConsolePage, d ConsoleData) {
	if a, ok := d.Page.(Account); ok && a.PasskeyForm != nil {
		p.renderScript(w, status, string(page), d, passkeyCSP(p.contentSecurityPolicy(nil)), p.passkeyScriptURL)
		return
	}
	p.render(w, status, string(page), d, nil)
}
