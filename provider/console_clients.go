package provider

// The console's client pages: list and search, register, edit, a new
// secret (shown once), delete after a confirmation. Every change goes
// through the directory service, as the admin API's do.

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/web"
)

const pathConsoleClients = PathConsole + "/clients"

// maxSearchLen bounds a search query; nothing longer can match anyway.
const maxSearchLen = 200

// searchQuery is a list page's search query q, trimmed and cut to at
// most maxSearchLen bytes at a character boundary: cut inside a
// character, it was echoed into the page's search box as invalid UTF-8.
func searchQuery(r *http.Request) string {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) <= maxSearchLen {
		return q
	}
	cut := maxSearchLen
	for cut > 0 && !utf8.RuneStart(q[cut]) {
		cut--
	}
	return q[:cut]
}

func clientPath(id string) string { return pathConsoleClients + "/" + url.PathEscape(id) }

// consoleClients lists the clients whose id, name or a redirect URI
// contains the query q, case-insensitively.
func (p *Provider) consoleClients(w http.ResponseWriter, r *http.Request) {
	q := searchQuery(r)
	all, err := p.dir.Clients().List(r.Context())
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	list := web.ClientList{Query: q, Total: len(all), New: pathConsoleClients + "/new"}
	needle := strings.ToLower(q)
	for _, c := range all {
		hay := strings.ToLower(c.ClientID + "\n" + c.ClientName + "\n" + strings.Join(c.RedirectURIs, "\n"))
		if needle != "" && !strings.Contains(hay, needle) {
			continue
		}
		kind := "confidential"
		if c.TokenEndpointAuthMethod == "none" {
			kind = "public"
		}
		list.Clients = append(list.Clients, web.ClientRow{ID: c.ClientID, Name: c.ClientName, Type: kind,
			Grants: strings.Join(c.GrantTypes, ", "), Redirects: strings.Join(c.RedirectURIs, " "),
			Href: clientPath(c.ClientID), BuiltIn: p.dir.Clients().IsBuiltin(c.ClientID)})
	}
	p.consolePage(w, r, http.StatusOK, web.ConsoleClients, pathConsoleClients, "Clients", web.ConsoleData{Page: list, Notice: notice(r)})
}

// clientForm is the form showing m; field names the input at fault.
func (p *Provider) clientForm(r *http.Request, m directory.ClientMetadata, isNew bool, field, version string) (web.ClientForm, error) {
	scopes, err := p.dir.Scopes().List(r.Context())
	if err != nil {
		return web.ClientForm{}, err
	}
	f := web.ClientForm{
		New: isNew, Field: field, ClientID: m.ClientID, ClientName: m.ClientName,
		RedirectURIs: strings.Join(m.RedirectURIs, "\n"), PostLogoutRedirectURIs: strings.Join(m.PostLogoutRedirectURIs, "\n"),
		Scope: m.Scope, Audience: strings.Join(m.Audience, "\n"), ResourceServers: strings.Join(m.ResourceServers, "\n"),
		RequirePKCE: m.RequirePKCE == nil || *m.RequirePKCE, SkipConsent: m.SkipConsent,
		ConfidentialWithSecret: m.TokenEndpointAuthMethod != "none" && m.TokenEndpointAuthMethod != "private_key_jwt",
		Version:                version,
	}
	for _, s := range scopes {
		f.KnownScopes = append(f.KnownScopes, s.Name)
	}
	grants := []web.Option{
		{Value: "authorization_code", Label: "Sign people in (authorization code)", Hint: "For apps people sign in to through hallpass. Needs a redirect URI."},
		{Value: "refresh_token", Label: "Keep people signed in (refresh tokens)", Hint: "The app may renew its tokens without sending people back to hallpass. Needs the scope offline_access."},
		{Value: "client_credentials", Label: "Service to service (client credentials)", Hint: "A server acting in its own name, with no person signed in. Needs a secret."},
	}
	for i := range grants {
		grants[i].Checked = slices.Contains(m.GrantTypes, grants[i].Value)
	}
	methods := []web.Option{
		{Value: "client_secret_basic", Label: "Web app with a server (secret sent as HTTP Basic)", Hint: "The usual choice: the server keeps a secret that hallpass generates."},
		{Value: "client_secret_post", Label: "Web app with a server (secret in the form body)", Hint: "Only for software that cannot send HTTP Basic."},
		{Value: "none", Label: "App without a server: browser, phone or desktop (public)", Hint: "It cannot keep a secret, so it proves itself with PKCE."},
	}
	method := m.TokenEndpointAuthMethod
	if method == "" {
		method = "client_secret_basic"
	}
	if method == "private_key_jwt" {
		// Its keys are registered through the admin API or a file, which
		// the form does not show; offered so that saving keeps it.
		methods = append(methods, web.Option{Value: "private_key_jwt", Label: "Server signing with its own keys (private_key_jwt)",
			Hint: "Its public keys are registered through the admin API or configuration as code; choosing another method drops them."})
	}
	for i := range methods {
		methods[i].Checked = methods[i].Value == method
	}
	f.GrantTypes, f.AuthMethods = grants, methods
	if isNew {
		f.Action = pathConsoleClients + "/new"
	} else {
		f.Action = clientPath(m.ClientID)
		f.RotateSecret = clientPath(m.ClientID) + "/secret"
		f.Delete = clientPath(m.ClientID) + "/delete"
	}
	return f, nil
}

// lines splits a textarea into its non-empty lines, trimmed.
func lines(s string) []string {
	out := []string{}
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// clientFromForm reads the client form's post as the admin API's body.
func clientFromForm(r *http.Request) directory.ClientMetadata {
	f := r.PostForm
	requirePKCE := f.Get("require_pkce") == "yes"
	grants := f["grant_types"]
	if grants == nil {
		// None checked: the service refuses an empty list, saying so,
		// rather than taking its default.
		grants = []string{}
	}
	return directory.ClientMetadata{
		ClientID:                strings.TrimSpace(f.Get("client_id")),
		ClientName:              strings.TrimSpace(f.Get("client_name")),
		RedirectURIs:            lines(f.Get("redirect_uris")),
		PostLogoutRedirectURIs:  lines(f.Get("post_logout_redirect_uris")),
		GrantTypes:              grants,
		TokenEndpointAuthMethod: f.Get("token_endpoint_auth_method"),
		Scope:                   strings.Join(strings.Fields(f.Get("scope")), " "),
		Audience:                lines(f.Get("audience")),
		ResourceServers:         lines(f.Get("resource_servers")),
		SkipConsent:             f.Get("skip_consent") == "yes",
		RequirePKCE:             &requirePKCE,
	}
}

// keepUnshown returns the post in of the client form for stored client
// old with what the form does not show taken from old: the service's
// Update replaces a client whole, so without this saving the page would
// drop a private_key_jwt client's keys, the requirement of pushed
// authorization requests and the back-channel logout URI. The keys go
// when the post chooses another authentication method.
func keepUnshown(old, in directory.ClientMetadata) directory.ClientMetadata {
	in.ClientID = old.ClientID
	if in.TokenEndpointAuthMethod == "private_key_jwt" && old.TokenEndpointAuthMethod == "private_key_jwt" {
		in.JWKS, in.JWKSURI, in.TokenEndpointAuthSigningAlg = old.JWKS, old.JWKSURI, old.TokenEndpointAuthSigningAlg
	}
	in.RequirePushedAuthorizationRequests = old.RequirePushedAuthorizationRequests
	in.BackchannelLogoutURI, in.BackchannelLogoutSessionRequired = old.BackchannelLogoutURI, old.BackchannelLogoutSessionRequired
	return in
}

// showClientForm renders the client form with m, and the refusal if any;
// version is the stored client's the edit page's post is to change
// (directory.Version), "" for a new one.
func (p *Provider) showClientForm(w http.ResponseWriter, r *http.Request, status int, m directory.ClientMetadata, isNew bool, version string, refusal *directory.Error) {
	d := web.ConsoleData{Notice: notice(r)}
	field := ""
	if refusal != nil {
		d.Error, field = refusal.Message, refusal.Field
	}
	f, err := p.clientForm(r, m, isNew, field, version)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	d.Page = f
	title := "Register a client"
	if !isNew {
		title = "Client " + m.ClientID
		if m.ClientName != "" {
			title = m.ClientName
		}
	}
	p.consolePage(w, r, status, web.ConsoleClientForm, pathConsoleClients, title, d)
}

func (p *Provider) consoleNewClient(w http.ResponseWriter, r *http.Request) {
	yes := true
	p.showClientForm(w, r, http.StatusOK, directory.ClientMetadata{GrantTypes: []string{"authorization_code"}, RequirePKCE: &yes, Scope: "openid profile email"}, true, "", nil)
}

// consoleCreateClient registers the client the form describes, showing
// its secret once.
func (p *Provider) consoleCreateClient(w http.ResponseWriter, r *http.Request) {
	in := clientFromForm(r)
	// The service refuses hallpass's own id (a conflict, shown beside
	// client_id).
	m, err := p.dir.Clients().Create(r.Context(), in)
	if err != nil {
		p.clientFormRefused(w, r, in, true, err)
		return
	}
	p.clientSaved(w, r, m, "console: client registered", "client-created")
}

// clientSaved logs the saved client m and goes on to its page with done
// set, by way of its secret shown once when the save gave it one (a new
// confidential client, or one that turned confidential).
func (p *Provider) clientSaved(w http.ResponseWriter, r *http.Request, m directory.ClientMetadata, event, done string) {
	p.log.InfoContext(r.Context(), event, "request_id", RequestID(r.Context()), "client_id", m.ClientID)
	next := clientPath(m.ClientID) + "?done=" + done
	if m.ClientSecret != "" {
		p.showSecret(w, r, m, next)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// clientFormRefused shows the form again with the service's refusal, or
// answers a failure of ours.
func (p *Provider) clientFormRefused(w http.ResponseWriter, r *http.Request, in directory.ClientMetadata, isNew bool, err error) {
	de := formRefusal(err)
	switch {
	case de == nil:
		p.consoleFailure(w, r, err)
	case errors.Is(de.Kind, directory.ErrNotFound):
		p.consoleRefusal(w, r, err)
	case errors.Is(de.Kind, directory.ErrConflict):
		de.Field = "client_id"
		p.showClientForm(w, r, http.StatusConflict, in, isNew, r.PostForm.Get("version"), de)
	default:
		p.showClientForm(w, r, http.StatusBadRequest, in, isNew, r.PostForm.Get("version"), de)
	}
}

// showSecret shows a client's new secret, this once.
func (p *Provider) showSecret(w http.ResponseWriter, r *http.Request, m directory.ClientMetadata, next string) {
	p.consolePage(w, r, http.StatusOK, web.ConsoleSecret, pathConsoleClients, "Save the client secret",
		web.ConsoleData{Page: web.ClientSecret{ClientID: m.ClientID, ClientName: m.ClientName, Secret: m.ClientSecret, Next: next}})
}

// editableClient loads client {id} for a page that changes it. A client
// hallpass registers itself, which the service refuses to change, gets a
// page saying why rather than a form whose every post would be refused.
func (p *Provider) editableClient(w http.ResponseWriter, r *http.Request) (directory.ClientMetadata, bool) {
	id := pathParam(r, "id")
	if p.dir.Clients().IsBuiltin(id) {
		p.pageError(w, r, http.StatusForbidden, "This client is hallpass's own",
			"The console and the account page sign in with it; hallpass keeps its registration as it must be.")
		return directory.ClientMetadata{}, false
	}
	m, err := p.dir.Clients().Get(r.Context(), id)
	if err != nil {
		p.consoleRefusal(w, r, err)
		return m, false
	}
	return m, true
}

func (p *Provider) consoleEditClient(w http.ResponseWriter, r *http.Request) {
	if m, ok := p.editableClient(w, r); ok {
		p.showClientForm(w, r, http.StatusOK, m, false, directory.Version(m), nil)
	}
}

// consoleUpdateClient replaces the client's settings with the form's.
func (p *Provider) consoleUpdateClient(w http.ResponseWriter, r *http.Request) {
	old, ok := p.editableClient(w, r)
	if !ok {
		return
	}
	var in, m directory.ClientMetadata
	cur, stale, err := saveUnlessStale(p, r, func(ctx context.Context) (directory.ClientMetadata, error) {
		return p.dir.Clients().Get(ctx, old.ClientID)
	}, func(ctx context.Context, cur directory.ClientMetadata) (err error) {
		in = keepUnshown(cur, clientFromForm(r))
		m, err = p.dir.Clients().Update(ctx, cur.ClientID, in)
		return err
	})
	if stale {
		p.showClientForm(w, r, http.StatusConflict, cur, false, directory.Version(cur), &directory.Error{Kind: directory.ErrConflict, Object: directory.ObjectClient, Message: staleMessage})
		return
	}
	if err != nil {
		p.clientFormRefused(w, r, in, false, err)
		return
	}
	p.clientSaved(w, r, m, "console: client updated", "client-saved")
}

// consoleRotateSecret gives the client a new secret and shows it once.
func (p *Provider) consoleRotateSecret(w http.ResponseWriter, r *http.Request) {
	old, ok := p.editableClient(w, r)
	if !ok {
		return
	}
	m, err := p.dir.Clients().RotateSecret(r.Context(), old.ClientID)
	if err != nil {
		if de := formRefusal(err); de != nil && errors.Is(de.Kind, directory.ErrInvalid) {
			p.showClientForm(w, r, http.StatusBadRequest, old, false, directory.Version(old), de)
			return
		}
		p.consoleRefusal(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), "console: client secret rotated", "request_id", RequestID(r.Context()), "client_id", m.ClientID)
	p.showSecret(w, r, m, clientPath(m.ClientID))
}

// consoleConfirmDeleteClient says what deleting the client breaks.
func (p *Provider) consoleConfirmDeleteClient(w http.ResponseWriter, r *http.Request) {
	m, ok := p.editableClient(w, r)
	if !ok {
		return
	}
	name := m.ClientID
	if m.ClientName != "" {
		name = m.ClientName + " (" + m.ClientID + ")"
	}
	p.consolePage(w, r, http.StatusOK, web.ConsoleConfirm, pathConsoleClients, "Delete client", web.ConsoleData{Page: web.Confirm{
		Question: "Delete " + name + "?",
		Consequences: []string{
			"Nobody can sign in to this app through hallpass any more.",
			"Every token issued to it is revoked: its refresh tokens stop working and its access tokens stop introspecting as active.",
			"Everyone's consent to it is forgotten. Registering it again gives it a new secret.",
		},
		Action: clientPath(m.ClientID) + "/delete", Button: "Delete client", Cancel: clientPath(m.ClientID),
	}})
}

// consoleDeleteClient deletes the client once confirmed.
func (p *Provider) consoleDeleteClient(w http.ResponseWriter, r *http.Request) {
	m, ok := p.editableClient(w, r)
	if !ok {
		return
	}
	if r.PostForm.Get("confirm") != "yes" {
		http.Redirect(w, r, clientPath(m.ClientID)+"/delete", http.StatusSeeOther)
		return
	}
	if err := p.dir.Clients().Delete(r.Context(), m.ClientID); err != nil {
		p.consoleRefusal(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), "console: client deleted", "request_id", RequestID(r.Context()), "client_id", m.ClientID)
	http.Redirect(w, r, pathConsoleClients+"?done=client-deleted", http.StatusSeeOther)
}
