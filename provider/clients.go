package provider

import (
	"net/http"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/directory"
)

// handleRegister is RFC 7591 dynamic client registration; the admin token
// is the initial access token.
func (p *Provider) handleRegister(w http.ResponseWriter, r *http.Request) {
	if err := p.adminRefusal(r, "registration needs the admin token as initial access token (Authorization: Bearer)"); err != nil {
		p.writeError(w, r, err)
		return
	}
	// RFC 7591 §2: metadata hallpass does not understand is ignored.
	var m directory.ClientMetadata
	if err := decodeJSON(r, &m, "invalid_client_metadata", jsonLenient); err != nil {
		p.writeError(w, r, err)
		return
	}
	// Recorded in the audit log as the admin token's doing, like the
	// admin API's changes.
	out, err := p.dir.Clients().Register(audit.WithActor(r.Context(), "admin-token"), m)
	if err != nil {
		p.writeError(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), "client registered", "client_id", out.ClientID, "request_id", RequestID(r.Context()))
	writeJSON(w, http.StatusCreated, out)
}

// adminRevokeClientTokens ends every grant of a client, keeping the client.
func (p *Provider) adminRevokeClientTokens(w http.ResponseWriter, r *http.Request) {
	id := pathParam(r, "id")
	if err := p.dir.Clients().RevokeTokens(r.Context(), id); err != nil {
		p.writeError(w, r, err)
		return
	}
	p.log.InfoContext(r.Context(), "client tokens revoked", "client_id", id, "request_id", RequestID(r.Context()))
	w.WriteHeader(http.StatusNoContent)
}
