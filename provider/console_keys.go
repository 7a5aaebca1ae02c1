package provider

// The console's signing-key page: the timeline next → active → retired,
// rotation on demand, and revocation after a confirmation that says what
// breaks. It calls the key manager, as the admin API does.

import (
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/storage"
	"github.com/hallpass/hallpass/web"
)

const pathConsoleKeys = PathConsole + "/keys"

func (p *Provider) mountConsoleKeys(r, forms chi.Router) {
	r.Get("/keys", p.consoleKeys)
	r.Get("/keys/{kid}/revoke", p.consoleConfirmRevokeKey)
	forms.Post("/keys/rotate", p.consoleRotateKeys)
	forms.Post("/keys/{kid}/revoke", p.consoleRevokeKey)
}

// keyTime is how the key page shows a planned or past time.
func keyTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func (p *Provider) consoleKeys(w http.ResponseWriter, r *http.Request) {
	list, err := p.cfg.Keys.Keys(r.Context())
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	t := &web.Table{Caption: "Signing keys, oldest first", Columns: []string{"Key (kid)", "State", "Created", "Signs from", "Retires", "Leaves the JWKS", "Action"}}
	for _, k := range list {
		t.Rows = append(t.Rows, web.TableRow{Cells: []string{k.ID, string(k.State), keyTime(k.CreatedAt), keyTime(k.ActivatesAt), keyTime(k.RetiresAt), keyTime(k.RemovesAt)},
			Action: &web.Link{Label: "Revoke…", Href: pathConsoleKeys + "/" + url.PathEscape(k.ID) + "/revoke", Danger: true}, State: string(k.State)})
	}
	g := web.Generic{
		Intro: "A key is published as next before it signs, signs while active, and stays published as retired until every token it signed has expired. hallpass rotates on its schedule by itself.",
		Table: t,
		Forms: []web.FormSection{
			{Heading: "Rotate now", Intro: "Publishes a new next key now; it starts signing once resource servers have had time to fetch it.",
				Form: web.Form{Action: pathConsoleKeys + "/rotate", Submit: "Schedule a rotation"}},
			{Heading: "Rotate immediately", Intro: "The published next key signs at once. Resource servers that cached the JWKS before it was published reject the new tokens until they fetch it again.",
				Form: web.Form{Action: pathConsoleKeys + "/rotate?immediate=yes", Submit: "Rotate immediately", Danger: true}},
		},
	}
	p.consolePage(w, r, http.StatusOK, web.ConsoleGeneric, pathConsoleKeys, "Signing keys", web.ConsoleData{Page: g, Notice: notice(r)})
}

func (p *Provider) consoleRotateKeys(w http.ResponseWriter, r *http.Request) {
	immediate := r.URL.Query().Get("immediate") == "yes"
	info, err := p.cfg.Keys.RotateNow(r.Context(), immediate)
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	p.log.WarnContext(r.Context(), "signing keys rotated through the console", "request_id", RequestID(r.Context()),
		"kid", info.ID, "state", info.State, "immediate", immediate)
	done := "rotated"
	if info.Unpublished {
		done = "rotated-unpublished"
	}
	http.Redirect(w, r, pathConsoleKeys+"?done="+done, http.StatusSeeOther)
}

// findKey returns key kid, or answers 404.
func (p *Provider) findKey(w http.ResponseWriter, r *http.Request) (keys.KeyInfo, bool) {
	kid := pathParam(r, "kid")
	list, err := p.cfg.Keys.Keys(r.Context())
	if err != nil {
		p.consoleFailure(w, r, err)
		return keys.KeyInfo{}, false
	}
	for _, k := range list {
		if k.ID == kid {
			return k, true
		}
	}
	p.pageError(w, r, http.StatusNotFound, "No such key", "It may have been removed from the JWKS already.")
	return keys.KeyInfo{}, false
}

func (p *Provider) consoleConfirmRevokeKey(w http.ResponseWriter, r *http.Request) {
	k, ok := p.findKey(w, r)
	if !ok {
		return
	}
	consequences := []string{
		"Every token this key signed stops validating at once: resource servers reject its access tokens, apps reject its ID tokens, and people must sign in again.",
		"It leaves the JWKS now; resource servers that cached it keep accepting its tokens until they fetch the JWKS again.",
	}
	switch k.State {
	case storage.KeyActive:
		consequences = append(consequences, "It is the active key: the next key signs from now on, and a new next key is made.")
	case storage.KeyNext:
		consequences = append(consequences, "It is the next key, which has not signed yet: a new next key is made in its place.")
	}
	p.consolePage(w, r, http.StatusOK, web.ConsoleConfirm, pathConsoleKeys, "Revoke key", web.ConsoleData{Page: web.Confirm{
		Question: "Revoke the " + string(k.State) + " key " + k.ID + "?", Consequences: consequences,
		Action: pathConsoleKeys + "/" + url.PathEscape(k.ID) + "/revoke", Button: "Revoke key", Cancel: pathConsoleKeys,
	}})
}

func (p *Provider) consoleRevokeKey(w http.ResponseWriter, r *http.Request) {
	kid := pathParam(r, "kid")
	if r.PostForm.Get("confirm") != "yes" {
		http.Redirect(w, r, pathConsoleKeys+"/"+url.PathEscape(kid)+"/revoke", http.StatusSeeOther)
		return
	}
	active, err := p.cfg.Keys.Revoke(r.Context(), kid)
	if errors.Is(err, storage.ErrNotFound) {
		p.pageError(w, r, http.StatusNotFound, "No such key", "It may have been removed already.")
		return
	}
	if err != nil {
		p.consoleFailure(w, r, err)
		return
	}
	p.log.WarnContext(r.Context(), "signing key revoked through the console", "request_id", RequestID(r.Context()), "kid", kid, "active_kid", active.ID)
	done := "revoked"
	if active.Unpublished {
		done = "rotated-unpublished"
	}
	http.Redirect(w, r, pathConsoleKeys+"?done="+done, http.StatusSeeOther)
}
