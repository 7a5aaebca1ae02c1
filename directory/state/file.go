// Package state is the directory (scopes, roles, clients, users) as a
// file declares it, for configuration as code: Load reads a file, Export
// and Marshal write the stored directory in the same form, Make plans
// what applying a file would change and Apply makes it so in one
// transaction. Every change goes through the directory service, so a
// file obeys exactly the rules of the admin API, whose JSON field names
// it uses.
//
// Secrets never appear in a file: a client's secret is named by
// client_secret_env (an environment variable) or generated and returned
// once; a user's password is named by password_env, or the user is
// created without a usable one.
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/internal/yamldoc"
)

// MaxFileSize bounds a file Load reads.
const MaxFileSize = 4 << 20

// File is the directory as a file declares it.
type File struct {
	Scopes  []directory.ScopeView
	Roles   []directory.RoleView
	Clients []Client
	Users   []User

	// blank is a file naming none of the lists (empty, comments only,
	// "{}"): with --prune it would delete everything, which is refused
	// (Make), as such a file is far likelier a truncated checkout or a
	// wrong path than the intent. "users: []" says it.
	blank bool
}

// Client is a client in a file: the admin API's fields, and where its
// secret comes from.
type Client struct {
	directory.ClientMetadata
	// ClientSecretEnv names the environment variable holding the secret
	// of a confidential client; empty means one is generated at creation.
	ClientSecretEnv string `json:"client_secret_env,omitempty"`
}

// User is a user in a file: the admin API's fields, and where the
// password comes from.
type User struct {
	directory.UserInput
	// PasswordEnv names the environment variable holding the password
	// the user is created with; empty means none usable. It is used at
	// creation only: afterwards the password belongs to the user.
	PasswordEnv string `json:"password_env,omitempty"`
}

// sections are a file's top-level keys.
var sections = []string{"scopes", "roles", "clients", "users"}

// Load reads a file; name says which in errors. Unknown keys, secrets in
// clear, missing or repeated names are errors naming the entry.
func Load(r io.Reader, name string) (*File, error) {
	raw, err := io.ReadAll(io.LimitReader(r, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	if len(raw) > MaxFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, MaxFileSize)
	}
	doc, err := yamldoc.One(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	f := &File{blank: true}
	if doc.Kind == 0 {
		return f, nil
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s: must be a mapping with the lists scopes, roles, clients and users", name)
	}
	m := doc.Content[0]
	seen := map[string]bool{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if !slices.Contains(sections, k.Value) {
			return nil, fmt.Errorf("%s, line %d: unknown key %q: a file holds the lists scopes, roles, clients and users", name, k.Line, entry(k.Value))
		}
		if seen[k.Value] {
			return nil, fmt.Errorf("%s, line %d: %s given twice", name, k.Line, k.Value)
		}
		seen[k.Value] = true
		f.blank = false
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			continue // "users:" with nothing under it
		}
		if v.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%s, line %d: %s must be a list", name, k.Line, k.Value)
		}
		var err error
		switch k.Value {
		case "scopes":
			f.Scopes, err = decodeList[directory.ScopeView](name, k.Value, v)
		case "roles":
			f.Roles, err = decodeList[directory.RoleView](name, k.Value, v)
		case "clients":
			f.Clients, err = decodeList[Client](name, k.Value, v)
		case "users":
			f.Users, err = decodeList[User](name, k.Value, v)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := f.check(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

// decodeList decodes each item of a list through JSON, so that the
// item's keys are the admin API's JSON field names and an unknown one is
// refused as the API refuses it.
func decodeList[T any](name, section string, list *yaml.Node) ([]T, error) {
	out := make([]T, 0, len(list.Content))
	known := fieldNames(reflect.TypeFor[T]())
	for i, item := range list.Content {
		where := fmt.Sprintf("%s, line %d: %s[%d]", name, item.Line, section, i)
		if item.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: must be a mapping of fields", where)
		}
		if key := unknownKey(item, known); key != nil {
			// The key's own line: the item's is where the entry starts,
			// perhaps dozens of lines before the misspelt field.
			if key.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s, line %d: %s[%d]: a key must be a field name", name, key.Line, section, i)
			}
			return nil, fmt.Errorf("%s, line %d: %s[%d]: unknown field %q", name, key.Line, section, i, entry(key.Value))
		}
		datesAsText(item)
		var generic any
		if err := item.Decode(&generic); err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		b, err := json.Marshal(generic)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var v T
		if err := dec.Decode(&v); err != nil {
			if msg, line := typeError(item, err); msg != "" {
				return nil, fmt.Errorf("%s, line %d: %s[%d]: %s", name, line, section, i, msg)
			}
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// unknownKey returns a key of the mapping item (or of a mapping merged
// into it with <<) that is not exactly one of known, or nil.
// encoding/json, which decodes the item, matches field names
// case-insensitively; the admin API does not, so without this "NAME"
// would be taken for name, and of "scopes" and "Scopes" in one entry one
// would silently win.
func unknownKey(item *yaml.Node, known map[string]bool) *yaml.Node {
	for item.Kind == yaml.AliasNode {
		item = item.Alias
	}
	switch item.Kind {
	case yaml.SequenceNode: // << merging a list of mappings
		for _, m := range item.Content {
			if key := unknownKey(m, known); key != nil {
				return key
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(item.Content); i += 2 {
			k := item.Content[i]
			if k.Tag == "!!merge" {
				if key := unknownKey(item.Content[i+1], known); key != nil {
					return key
				}
				continue
			}
			if k.Kind != yaml.ScalarNode || !known[k.Value] {
				return k
			}
		}
	}
	return nil
}

// typeError words a value of the wrong kind for a file's reader (decoding
// said "cannot unmarshal number into Go struct field
// Client.ClientMetadata.client_id of type string", at the entry's line):
// the field, its own line, and what to write. YAML reads plain 010, 1e3
// or 0x1F as numbers and true as a boolean, never as the text written,
// so such a value is refused, not converted. "" when err is not a value
// of the wrong kind in a field of item.
func typeError(item *yaml.Node, err error) (string, int) {
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) || te.Field == "" {
		return "", 0
	}
	field := te.Field[strings.LastIndex(te.Field, ".")+1:]
	line := item.Line
	for i := 0; i+1 < len(item.Content); i += 2 {
		if item.Content[i].Value == field {
			line = item.Content[i].Line
		}
	}
	want := map[reflect.Kind]string{reflect.String: "text", reflect.Bool: "true or false", reflect.Slice: "a list", reflect.Map: "a mapping"}[te.Type.Kind()]
	if want == "" {
		want = te.Type.String()
	}
	msg := fmt.Sprintf("%s must be %s, not a %s", field, want, te.Value)
	if te.Type.Kind() == reflect.String && (te.Value == "number" || te.Value == "bool") {
		msg += ` (quote it to keep it as written: "010")`
	}
	return msg, line
}

// datesAsText marks each plain scalar under n that YAML resolves to a
// timestamp ("2024-01-01") as a string. No field of a file is a time,
// and decoded as one the value came back reformatted
// ("2024-01-01T00:00:00Z"): a role or scope named other than written.
func datesAsText(n *yaml.Node) {
	if n.Kind == yaml.ScalarNode && n.Style == 0 && n.ShortTag() == "!!timestamp" {
		n.Tag = "!!str"
	}
	for _, c := range n.Content {
		datesAsText(c)
	}
}

// fieldNames is the set of JSON member names struct type t decodes,
// those of embedded structs included.
func fieldNames(t reflect.Type) map[string]bool {
	names := map[string]bool{}
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			switch {
			case tag == "-":
			case f.Anonymous && tag == "" && f.Type.Kind() == reflect.Struct:
				walk(f.Type)
			case !f.IsExported():
			case tag != "":
				names[tag] = true
			default:
				names[f.Name] = true
			}
		}
	}
	walk(t)
	return names
}

// check refuses what a file must not hold: secrets in clear, entries
// without a name, a name twice.
func (f *File) check() error {
	var errs []error
	names := func(kind string, n int, name func(int) string) {
		seen := map[string]bool{}
		for i := range n {
			switch key := name(i); {
			case key == "":
				errs = append(errs, fmt.Errorf("%s[%d] has no name", kind, i))
			case seen[key]:
				errs = append(errs, fmt.Errorf("%s[%d]: %q is given twice", kind, i, entry(key)))
			default:
				seen[key] = true
			}
		}
	}
	names("scopes", len(f.Scopes), func(i int) string { return f.Scopes[i].Name })
	names("roles", len(f.Roles), func(i int) string { return f.Roles[i].Name })
	names("clients (client_id)", len(f.Clients), func(i int) string { return f.Clients[i].ClientID })
	names("users (username)", len(f.Users), func(i int) string { return f.Users[i].Username })
	for _, c := range f.Clients {
		if c.ClientSecret != "" {
			errs = append(errs, fmt.Errorf("client %q: client_secret must not be written in the file; name an environment variable in client_secret_env, or leave both out to have a secret generated", entry(c.ClientID)))
		}
		if c.ClientIDIssuedAt != 0 || c.ClientSecretExpiresAt != nil {
			errs = append(errs, fmt.Errorf("client %q: client_id_issued_at and client_secret_expires_at are set by hallpass, not by the file", entry(c.ClientID)))
		}
	}
	for _, u := range f.Users {
		if u.Password != "" {
			errs = append(errs, fmt.Errorf("user %q: password must not be written in the file; name an environment variable in password_env", entry(u.Username)))
		}
	}
	for _, c := range f.Clients {
		if err := checkVariable(c.ClientSecretEnv); err != nil {
			errs = append(errs, fmt.Errorf("client %q: client_secret_env: %w", entry(c.ClientID), err))
		}
	}
	for _, u := range f.Users {
		if err := checkVariable(u.PasswordEnv); err != nil {
			errs = append(errs, fmt.Errorf("user %q: password_env: %w", entry(u.Username), err))
		}
	}
	return errors.Join(errs...)
}

// checkVariable refuses an environment variable a file may not name for
// a secret: one that is not a variable name ("A B=", "$X", text with a
// line break) and so cannot have been set for it, and hallpass's own
// settings (HALLPASS_SECRET, HALLPASS_ADMIN_TOKEN, the database URL with
// its password, PGPASSWORD, OTEL_EXPORTER_OTLP_HEADERS, HTTPS_PROXY with
// the proxy's credentials). A file may come from anyone who can open a
// pull request: naming those made a client's secret or a user's password
// the server's own credential, and the plan's answers (the password policy's "it has 43 characters", "must
// not contain the username", a client_secret that matches or not) told
// the author of the file about it. Names are compared without regard to
// case, as Windows compares them.
func checkVariable(name string) error {
	if name == "" {
		return nil
	}
	for i, c := range name {
		if !(c == '_' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || i > 0 && c >= '0' && c <= '9') || i >= 128 {
			return fmt.Errorf("%q is not an environment variable name (letters, digits and _, not starting with a digit, at most 128)", entry(name))
		}
	}
	upper := strings.ToUpper(name)
	switch {
	case strings.HasPrefix(upper, "HALLPASS_"):
		return fmt.Errorf("%s is one of hallpass's own settings; name a variable set for this secret alone", name)
	case strings.HasPrefix(upper, "OTEL_"):
		// OTEL_EXPORTER_OTLP_HEADERS carries the tracing exporter's
		// authorization.
		return fmt.Errorf("%s is one of hallpass's own settings (OpenTelemetry's, which its tracing reads); name a variable set for this secret alone", name)
	case postgresVariable(upper):
		return fmt.Errorf("%s is one of hallpass's own settings (libpq's, which its PostgreSQL driver reads); name a variable set for this secret alone", name)
	case upper == "HTTP_PROXY", upper == "HTTPS_PROXY", upper == "NO_PROXY":
		// Go reads them, the lower-case names too, for hallpass's calls
		// to clients' URLs (jwks_uri, backchannel_logout_uri); a proxy's
		// URL may carry its credentials (http://user:pw@proxy:3128).
		return fmt.Errorf("%s is one of hallpass's own settings (its outbound proxy, which Go reads); name a variable set for this secret alone", name)
	}
	return nil
}

// postgresVariable reports whether name is one of the libpq environment
// variables that hallpass's PostgreSQL driver (pgx v5's
// pgconn.ParseConfig) reads as the defaults of a connection: the password
// (PGPASSWORD), the files holding it or the client's TLS key (PGPASSFILE,
// PGSERVICEFILE, PGSSLKEY), the key's password (PGSSLPASSWORD), and where
// and as whom to connect. Only these: the "PG" prefix alone refused
// anyone's variable (PGP_KEY) as hallpass's own. Libpq's variables that
// pgx does not read (PGHOSTADDR, PGSSLCRL, PGGSSENCMODE...) are not
// hallpass's settings.
func postgresVariable(name string) bool {
	switch name {
	case "PGHOST", "PGPORT", "PGDATABASE", "PGUSER", "PGPASSWORD", "PGPASSFILE",
		"PGAPPNAME", "PGCONNECT_TIMEOUT", "PGSSLMODE", "PGSSLKEY", "PGSSLCERT",
		"PGSSLCERTMODE", "PGSSLSNI", "PGSSLROOTCERT", "PGSSLPASSWORD",
		"PGSSLNEGOTIATION", "PGTARGETSESSIONATTRS", "PGSERVICE", "PGSERVICEFILE",
		"PGTZ", "PGOPTIONS", "PGMINPROTOCOLVERSION", "PGMAXPROTOCOLVERSION",
		"PGCHANNELBINDING", "PGREQUIREAUTH":
		return true
	}
	return false
}

// entry is a name from a file (a client_id, a username, a key) as a
// refusal quotes it with %q: whole up to 256 bytes, past every bound a
// valid name has, and beyond that its start and its length. A name of a
// file's size was repeated whole, in every refusal of its entry, into
// the output of plan, which CI keeps.
type entry string

// Format writes e quoted for %q (shortened as entry says), as text for
// any other verb.
func (e entry) Format(f fmt.State, verb rune) {
	s := string(e)
	if verb != 'q' {
		_, _ = io.WriteString(f, s)
		return
	}
	if len(s) <= 256 {
		_, _ = io.WriteString(f, strconv.Quote(s))
		return
	}
	cut := 64
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	_, _ = fmt.Fprintf(f, "%s… (%d bytes)", strconv.Quote(s[:cut]), len(s))
}
