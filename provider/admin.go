package provider

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// The admin API for users, roles and scopes. Each handler decodes, calls
// the service function the CLI also uses, and writes the answer.

func (p *Provider) adminCreateUser(w http.ResponseWriter, r *http.Request) {
	var in UserInput
	if err := decodeJSON(r, &in, "invalid_request", jsonStrict); err != nil {
		p.writeError(w, r, err)
		return
	}
	leave, ok := p.enterPasswordHash(w, r, in.Password)
	if !ok {
		return
	}
	defer leave()
	out, err := CreateUser(r.Context(), p.cfg.Store, in, p.cfg.Now())
	p.answer(w, r, http.StatusCreated, out, err)
}

func (p *Provider) adminListUsers(w http.ResponseWriter, r *http.Request) {
	us, err := p.cfg.Store.ListUsers(r.Context())
	out := make([]UserView, 0, len(us))
	for i := range us {
		out = append(out, ViewUser(&us[i]))
	}
	p.answer(w, r, http.StatusOK, out, err)
}

func (p *Provider) adminGetUser(w http.ResponseWriter, r *http.Request) {
	u, err := FindUser(r.Context(), p.cfg.Store, chi.URLParam(r, "id"))
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, ViewUser(u))
}

func (p *Provider) adminUpdateUser(w http.ResponseWriter, r *http.Request) {
	var in UserInput
	if err := decodeJSON(r, &in, "invalid_request", jsonStrict); err != nil {
		p.writeError(w, r, err)
		return
	}
	leave, ok := p.enterPasswordHash(w, r, in.Password)
	if !ok {
		return
	}
	defer leave()
	out, err := UpdateUser(r.Context(), p.cfg.Store, chi.URLParam(r, "id"), in, p.cfg.Now())
	p.answer(w, r, http.StatusOK, out, err)
}

func (p *Provider) adminDeleteUser(w http.ResponseWriter, r *http.Request) {
	p.answer(w, r, http.StatusNoContent, nil, DeleteUser(r.Context(), p.cfg.Store, chi.URLParam(r, "id")))
}

func (p *Provider) adminCreateRole(w http.ResponseWriter, r *http.Request) {
	var in RoleView
	if err := decodeJSON(r, &in, "invalid_request", jsonStrict); err != nil {
		p.writeError(w, r, err)
		return
	}
	out, err := SaveRole(r.Context(), p.cfg.Store, in, true, p.cfg.Now())
	p.answer(w, r, http.StatusCreated, out, err)
}

func (p *Provider) adminListRoles(w http.ResponseWriter, r *http.Request) {
	rs, err := p.cfg.Store.ListRoles(r.Context())
	out := make([]RoleView, 0, len(rs))
	for i := range rs {
		out = append(out, ViewRole(&rs[i]))
	}
	p.answer(w, r, http.StatusOK, out, err)
}

func (p *Provider) adminGetRole(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "id")
	role, err := p.cfg.Store.GetRole(r.Context(), name)
	if err != nil {
		p.writeError(w, r, storeErr(err, "role", name))
		return
	}
	writeJSON(w, http.StatusOK, ViewRole(role))
}

func (p *Provider) adminUpdateRole(w http.ResponseWriter, r *http.Request) {
	var in RoleView
	if err := decodeJSON(r, &in, "invalid_request", jsonStrict); err != nil {
		p.writeError(w, r, err)
		return
	}
	if in.Name != "" && in.Name != chi.URLParam(r, "id") {
		p.writeError(w, r, invalid("a role cannot be renamed"))
		return
	}
	in.Name = chi.URLParam(r, "id")
	out, err := SaveRole(r.Context(), p.cfg.Store, in, false, p.cfg.Now())
	p.answer(w, r, http.StatusOK, out, err)
}

func (p *Provider) adminDeleteRole(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "id")
	p.answer(w, r, http.StatusNoContent, nil, storeErr(p.cfg.Store.DeleteRole(r.Context(), name), "role", name))
}

func (p *Provider) adminCreateScope(w http.ResponseWriter, r *http.Request) {
	var in ScopeView
	if err := decodeJSON(r, &in, "invalid_request", jsonStrict); err != nil {
		p.writeError(w, r, err)
		return
	}
	out, err := SaveScope(r.Context(), p.cfg.Store, in, true, p.cfg.Now())
	p.answer(w, r, http.StatusCreated, out, err)
}

func (p *Provider) adminListScopes(w http.ResponseWriter, r *http.Request) {
	ss, err := p.cfg.Store.ListScopes(r.Context())
	out := make([]ScopeView, 0, len(ss))
	for i := range ss {
		out = append(out, ViewScope(&ss[i]))
	}
	p.answer(w, r, http.StatusOK, out, err)
}

func (p *Provider) adminGetScope(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "id")
	s, err := p.cfg.Store.GetScope(r.Context(), name)
	if err != nil {
		p.writeError(w, r, storeErr(err, "scope", name))
		return
	}
	writeJSON(w, http.StatusOK, ViewScope(s))
}

func (p *Provider) adminUpdateScope(w http.ResponseWriter, r *http.Request) {
	var in ScopeView
	if err := decodeJSON(r, &in, "invalid_request", jsonStrict); err != nil {
		p.writeError(w, r, err)
		return
	}
	if in.Name != "" && in.Name != chi.URLParam(r, "id") {
		p.writeError(w, r, invalid("a scope cannot be renamed"))
		return
	}
	in.Name = chi.URLParam(r, "id")
	out, err := SaveScope(r.Context(), p.cfg.Store, in, false, p.cfg.Now())
	p.answer(w, r, http.StatusOK, out, err)
}

func (p *Provider) adminDeleteScope(w http.ResponseWriter, r *http.Request) {
	name := chi.URLParam(r, "id")
	p.answer(w, r, http.StatusNoContent, nil, storeErr(p.cfg.Store.DeleteScope(r.Context(), name), "scope", name))
}

// answer writes v with status, or err.
func (p *Provider) answer(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	if status == http.StatusNoContent {
		w.WriteHeader(status)
		return
	}
	writeJSON(w, status, v)
}
