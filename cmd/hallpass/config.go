package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/hallpass/hallpass/internal/yamldoc"
)

// Settings come from four places, in this order of precedence: the
// command line, the HALLPASS_* environment, the --config file, the
// flag's default. Each is derived from cobra's flag set, so a flag added
// anywhere has its variable and its config key without further code.

// envOnly are the HALLPASS_* variables read directly rather than through
// a flag (secrets, which must not appear on command lines or in config
// files, and the test suite's switches); any other HALLPASS_* variable
// that names no flag is a typo and is warned about.
var envOnly = append([]string{"HALLPASS_TEST_DATABASE_URL", "HALLPASS_CI", "HALLPASS_RACE_ROUNDS"}, secretEnv...)

// secretEnv are the secrets among envOnly: the config file refuses their
// keys (secret, admin-token…) saying where they go instead.
var secretEnv = []string{"HALLPASS_SECRET", "HALLPASS_NEW_SECRET", "HALLPASS_ADMIN_TOKEN"}

// maxConfigSize bounds the config file: it is read whole.
const maxConfigSize = 1 << 20

// annotationPositive marks a duration flag for which 0 makes no sense
// (a lifetime, a timeout): it is refused rather than silently replaced by
// a default downstream.
const annotationPositive = "hallpass_positive"

// requirePositive marks the named duration flags of f as refusing 0 and
// negative values, wherever the value comes from.
func requirePositive(f *pflag.FlagSet, names ...string) {
	for _, n := range names {
		if err := f.SetAnnotation(n, annotationPositive, []string{"true"}); err != nil {
			panic(fmt.Sprintf("requirePositive: %v", err)) // a programming error: no such flag
		}
	}
}

// envName is the environment variable of flag name.
func envName(name string) string {
	return "HALLPASS_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// applySettings fills the flags of cmd that the command line left unset,
// first from the environment and then from the config file, checks the
// result, and returns warnings for the operator (unknown variables).
func applySettings(cmd *cobra.Command) (warnings []string, err error) {
	fs := cmd.Flags()
	fromEnv, err := applyEnv(fs)
	if err != nil {
		return nil, err
	}
	root := cmd.Root()
	if f := fs.Lookup("config"); f != nil && f.Value.String() != "" {
		if err := applyConfigFile(fs, f.Value.String(), configKeys(root), fromEnv); err != nil {
			return nil, err
		}
	}
	if err := checkPositive(fs); err != nil {
		return nil, err
	}
	return unknownEnv(os.Environ(), root), nil
}

// applyEnv fills every flag the user did not set from its HALLPASS_*
// variable, so flags and environment stay one list. It returns the names
// of the flags it set. A flag set so counts as given, as on the command
// line: a required flag (plan and apply's --file) is satisfied, and a
// command that acts on the flags given (clients update, clients create's
// --grant-type) takes it, rather than silently using its default.
func applyEnv(fs *pflag.FlagSet) (map[string]bool, error) {
	var errs []error
	set := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		name := envName(f.Name)
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
			return
		}
		set[f.Name] = true
	})
	return set, errors.Join(errs...)
}

// configKeys are the keys a config file may hold: the flags of serve and
// the flags every command shares. A command applies those of its own
// flags among them and leaves the rest to the commands they belong to, so
// one file serves `serve` and the admin commands alike. The flags that
// describe one object on the command line (clients create --name…) are
// not settings and have no key.
func configKeys(root *cobra.Command) map[string]bool {
	keys := map[string]bool{}
	add := func(f *pflag.Flag) {
		// The admin token is a secret: never in a file.
		if f.Name != "help" && f.Name != "config" && f.Name != "token" {
			keys[f.Name] = true
		}
	}
	root.PersistentFlags().VisitAll(add)
	if serve, _, err := root.Find([]string{"serve"}); err == nil && serve != root {
		serve.LocalFlags().VisitAll(add)
	}
	return keys
}

// applyConfigFile sets, from the YAML file at path, the flags of fs that
// neither the command line nor the environment set. A key that is no
// setting is an error naming it.
func applyConfigFile(fs *pflag.FlagSet, path string, known, fromEnv map[string]bool) error {
	raw, err := readConfig(path)
	if err != nil {
		return err
	}
	values, err := parseConfig(raw)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	names := make([]string, 0, len(values))
	for k := range values {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs []error
	for _, key := range names {
		v := values[key]
		if env := envName(key); !known[key] && slices.Contains(secretEnv, env) {
			// Said as such: "did you mean server?" for a secret written
			// into the file sends the operator the wrong way.
			errs = append(errs, fmt.Errorf("config file %s, line %d: %s: secrets are never read from the file; set %s in the environment (and remove it from the file)", path, v.line, key, env))
			continue
		}
		if !known[key] {
			errs = append(errs, fmt.Errorf("config file %s, line %d: unknown key %q%s", path, v.line, key, suggest(key, known)))
			continue
		}
		f := fs.Lookup(key)
		if f == nil || f.Changed || fromEnv[key] {
			continue
		}
		if err := setFlag(f, v); err != nil {
			errs = append(errs, fmt.Errorf("config file %s, line %d: %s: %w", path, v.line, key, err))
		}
	}
	return errors.Join(errs...)
}

// readConfig reads the config file, refusing one too large to be one.
func readConfig(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("config file %s: %w", path, err)
	}
	if len(b) > maxConfigSize {
		return nil, fmt.Errorf("config file %s is larger than %d bytes", path, maxConfigSize)
	}
	return b, nil
}

// configValue is one key's value: a scalar's text, or a list's items.
type configValue struct {
	line   int
	scalar *string
	list   []string
}

// parseConfig reads a YAML mapping of setting names to scalars or lists
// of scalars. Anything else (nesting, anchors to maps, duplicate keys) is
// an error.
func parseConfig(raw []byte) (map[string]configValue, error) {
	doc, err := yamldoc.One(raw)
	if err != nil {
		return nil, err
	}
	out := map[string]configValue{}
	if doc.Kind == 0 { // an empty file
		return out, nil
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("must be a mapping of setting names to values (addr: localhost:8080)")
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: a key must be a setting name", k.Line)
		}
		if _, dup := out[k.Value]; dup {
			return nil, fmt.Errorf("line %d: key %q given twice", k.Line, k.Value)
		}
		cv := configValue{line: k.Line}
		switch {
		case v.Kind == yaml.ScalarNode && v.Tag == "!!null":
			return nil, fmt.Errorf("line %d: %s has no value (remove the key to use the default)", k.Line, k.Value)
		case v.Kind == yaml.ScalarNode:
			s := v.Value
			cv.scalar = &s
		case v.Kind == yaml.SequenceNode:
			cv.list = []string{}
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("line %d: %s: list items must be plain values", item.Line, k.Value)
				}
				cv.list = append(cv.list, item.Value)
			}
		default:
			return nil, fmt.Errorf("line %d: %s must be a value or a list of values", k.Line, k.Value)
		}
		out[k.Value] = cv
	}
	return out, nil
}

// setFlag gives f the value v from the config file.
func setFlag(f *pflag.Flag, v configValue) error {
	sv, isList := f.Value.(pflag.SliceValue)
	if v.scalar != nil {
		return f.Value.Set(*v.scalar)
	}
	if !isList {
		return fmt.Errorf("takes one value, not a list")
	}
	return sv.Replace(v.list)
}

// checkPositive refuses 0 or less in a flag marked by requirePositive.
func checkPositive(fs *pflag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *pflag.Flag) {
		if _, ok := f.Annotations[annotationPositive]; !ok {
			return
		}
		d, err := time.ParseDuration(f.Value.String())
		if err == nil && d <= 0 {
			errs = append(errs, fmt.Errorf("--%s %v: must be more than 0 (%s, config key %s)", f.Name, d, envName(f.Name), f.Name))
		}
	})
	return errors.Join(errs...)
}

// unknownEnv returns a warning for each HALLPASS_* variable in environ
// that names no flag of any command and is not read directly.
func unknownEnv(environ []string, root *cobra.Command) []string {
	known := map[string]string{} // variable → flag name
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		visit := func(f *pflag.Flag) { known[envName(f.Name)] = f.Name }
		c.Flags().VisitAll(visit)
		c.PersistentFlags().VisitAll(visit)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "HALLPASS_") || slices.Contains(envOnly, name) {
			continue
		}
		if _, ok := known[name]; ok {
			continue
		}
		// The variables read directly are candidates too: a mistyped
		// HALLPASS_ADMIN_TOKEN or HALLPASS_SECRET leaves the server on a
		// generated token or secret, the costliest typo to miss.
		names := map[string]bool{}
		for v := range known {
			names[v] = true
		}
		for _, v := range envOnly {
			names[v] = true
		}
		out = append(out, fmt.Sprintf("environment variable %s is not a hallpass setting and is ignored%s", name, suggest(name, names)))
	}
	sort.Strings(out)
	return out
}

// suggest names the candidate closest to s, when one is close enough to
// be the likely intent of a typo.
func suggest(s string, candidates map[string]bool) string {
	best, bestDist := "", 4
	for c := range candidates {
		if d := editDistance(s, c); d < bestDist || d == bestDist && c < best {
			best, bestDist = c, d
		}
	}
	if best == "" {
		// HALLPASS_ISSUER_URL for HALLPASS_ISSUER: a setting's name with
		// a word added; the longest such name.
		for c := range candidates {
			if (strings.HasPrefix(s, c+"_") || strings.HasPrefix(s, c+"-")) && len(c) > len(best) {
				best = c
			}
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %s?)", best)
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// documentFlags makes every flag's help name its environment variable,
// and keeps backquotes in help texts as text: pflag would take a
// backquoted word for the name of the flag's argument.
func documentFlags(root *cobra.Command) {
	seen := map[*pflag.Flag]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		visit := func(f *pflag.Flag) {
			if seen[f] || f.Name == "help" {
				return
			}
			seen[f] = true
			f.Usage = strings.ReplaceAll(f.Usage, "`", "'") + " [" + envName(f.Name) + "]"
		}
		c.LocalNonPersistentFlags().VisitAll(visit)
		c.PersistentFlags().VisitAll(visit)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}
