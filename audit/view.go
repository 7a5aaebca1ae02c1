package audit

import (
	"encoding/json"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// EntryView is an entry as GET /admin/audit and `hallpass audit list`
// show it.
type EntryView struct {
	Seq        int64           `json:"seq"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Type       string          `json:"type"`
	Object     string          `json:"object,omitempty"`
	ClientAddr string          `json:"client_addr,omitempty"`
	UserAgent  string          `json:"user_agent,omitempty"`
	ClientID   string          `json:"client_id,omitempty"`
	Details    json.RawMessage `json:"details,omitempty"`
	PrevHash   string          `json:"prev_hash"`
	Hash       string          `json:"hash"`
}

// View returns e as shown to operators. Details that are not valid JSON
// (altered in the database) are shown as a JSON string.
func View(e *storage.AuditEntry) EntryView {
	v := EntryView{Seq: e.Seq, Time: e.Time, Actor: e.Actor, Type: e.Action, Object: e.Object,
		ClientAddr: e.ClientAddr, UserAgent: e.UserAgent, ClientID: e.ClientID, PrevHash: e.PrevHash, Hash: e.Hash}
	switch {
	case e.Details == "":
	case json.Valid([]byte(e.Details)):
		v.Details = json.RawMessage(e.Details)
	default:
		v.Details, _ = json.Marshal(e.Details)
	}
	return v
}
