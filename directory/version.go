package directory

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
)

// Version returns the version of v, a record as the directory shows it
// (UserView, ClientMetadata, RoleView, ScopeView): a digest of its JSON,
// so any change of what it shows, updated_at included, changes it. The
// admin API answers it as the ETag, the console's edit pages carry it, and
// the CLI's changes on the database compare it: one notion of "the record
// as it was read" for every change made only if the record is unchanged.
func Version(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		// Every record type marshals; a version that matches nothing
		// refuses the change rather than allowing it unchecked.
		return "unversioned"
	}
	sum := sha256.Sum256(b)
	return base64.RawURLEncoding.EncodeToString(sum[:18])
}
