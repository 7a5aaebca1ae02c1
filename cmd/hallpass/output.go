package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/hallpass/hallpass/directory"
	"github.com/hallpass/hallpass/keys"
)

// The admin commands print records as a table, JSON or YAML (--output):
// a table for people at a terminal, JSON for scripts otherwise.

// outputFormat is --output, or its default for w.
func (g *globalOptions) outputFormat() (string, error) {
	switch g.output {
	case "table", "json", "yaml":
		return g.output, nil
	case "":
		if isTerminal(g.stdout) {
			return "table", nil
		}
		return "json", nil
	}
	return "", fmt.Errorf("--output %q: use table, json or yaml", g.output)
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// print writes v in the --output format.
func (g *globalOptions) print(v any) error {
	format, err := g.outputFormat()
	if err != nil {
		return err
	}
	switch format {
	case "yaml":
		return printYAML(g.stdout, v)
	case "table":
		if header, rows, ok := tableOf(v); ok {
			return printTable(g.stdout, header, rows)
		}
		// Answers that are no list of records (a rotation's) read well
		// as YAML.
		return printYAML(g.stdout, v)
	}
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printYAML writes v as YAML with the JSON field names: v goes through
// JSON first. Numbers keep their JSON spelling (integerNumbers): decoded
// as float64, a timestamp such as client_id_issued_at would print as
// 1.79664025e+09.
func printYAML(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode as JSON: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var generic any
	if err := dec.Decode(&generic); err != nil {
		return fmt.Errorf("decode JSON: %w", err)
	}
	generic, err = integerNumbers(generic)
	if err != nil {
		return err
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(generic); err != nil {
		return err
	}
	return enc.Close()
}

// integerNumbers replaces each json.Number in v (decoded with UseNumber)
// by an int64 when it is an integer and a float64 otherwise, so that YAML
// prints integers as integers rather than in floating-point notation.
func integerNumbers(v any) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("number %s: %w", x, err)
		}
		return f, nil
	case map[string]any:
		for k, e := range x {
			n, err := integerNumbers(e)
			if err != nil {
				return nil, err
			}
			x[k] = n
		}
	case []any:
		for i, e := range x {
			n, err := integerNumbers(e)
			if err != nil {
				return nil, err
			}
			x[i] = n
		}
	}
	return v, nil
}

func printTable(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(header, "\t"))
	for _, r := range rows {
		for i := range r {
			if r[i] == "" {
				r[i] = "-"
			}
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// tableOf renders the records the commands print as table rows.
func tableOf(v any) (header []string, rows [][]string, ok bool) {
	list := func(s []string) string { return strings.Join(s, ",") }
	when := func(t time.Time) string {
		if t.IsZero() {
			return ""
		}
		return t.UTC().Format(time.RFC3339)
	}
	switch x := v.(type) {
	case directory.UserView:
		return tableOf([]directory.UserView{x})
	case []directory.UserView:
		header = []string{"USERNAME", "ID", "NAME", "EMAIL", "ROLES", "DISABLED"}
		for _, u := range x {
			rows = append(rows, []string{u.Username, u.ID, u.Name, u.Email, list(u.Roles), strconv.FormatBool(u.Disabled)})
		}
	case directory.RoleView:
		return tableOf([]directory.RoleView{x})
	case []directory.RoleView:
		header = []string{"NAME", "SCOPES", "DESCRIPTION"}
		for _, r := range x {
			rows = append(rows, []string{r.Name, list(r.Scopes), r.Description})
		}
	case directory.ScopeView:
		return tableOf([]directory.ScopeView{x})
	case []directory.ScopeView:
		header = []string{"NAME", "AUDIENCE", "DESCRIPTION"}
		for _, s := range x {
			rows = append(rows, []string{s.Name, s.Audience, s.Description})
		}
	case directory.ClientMetadata:
		if x.ClientSecret != "" {
			// A new client's secret must not be lost in a table.
			return nil, nil, false
		}
		return tableOf([]directory.ClientMetadata{x})
	case []directory.ClientMetadata:
		header = []string{"CLIENT_ID", "NAME", "AUTH_METHOD", "GRANT_TYPES", "SCOPE", "REDIRECT_URIS"}
		for _, c := range x {
			rows = append(rows, []string{c.ClientID, c.ClientName, c.TokenEndpointAuthMethod, list(c.GrantTypes), c.Scope, list(c.RedirectURIs)})
		}
	case []keys.KeyInfo:
		header = []string{"KID", "ALG", "STATE", "CREATED", "ACTIVATES", "RETIRES", "REMOVES"}
		for _, k := range x {
			rows = append(rows, []string{k.ID, k.Algorithm, string(k.State), when(k.CreatedAt), when(k.ActivatesAt), when(k.RetiresAt), when(k.RemovesAt)})
		}
	default:
		return nil, nil, false
	}
	return header, rows, true
}

// afterChange writes, with write, the output of a change already made
// (committed): often with a credential shown only then, a generated
// admin token, client secret or password. A write that fails (a full
// disk, a closed pipe) loses that output while the change stays made,
// so the error says both, and remedy what to do: a bare "no space left
// on device" read as a command that did nothing (run again, it answers
// "already exists", or apply "No changes", and the secret is never
// shown), and an unchecked write exited 0 as though it had been shown.
func afterChange(done, remedy string, write func() error) error {
	if err := write(); err != nil {
		return fmt.Errorf("%s, but its output could not be written (%w): %s", done, err, remedy)
	}
	return nil
}

// confirmChange writes line, the one-line confirmation of a change
// already made (done), to stdout through afterChange: a delete, a
// revocation or a migration whose line could not be written (a full
// disk) exited 0 as though it had been said, and the script or operator
// reading the output saw nothing of what had been changed.
func (g *globalOptions) confirmChange(done, remedy, line string) error {
	return afterChange(done, remedy, func() error {
		_, err := fmt.Fprintln(g.stdout, line)
		return err
	})
}
