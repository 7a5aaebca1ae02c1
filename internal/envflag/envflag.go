package envflag

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// FlagSet is a flag.FlagSet whose flags fall back to environment variables.
type FlagSet struct {
	fs      *flag.FlagSet
	prefix  string
	withEnv map[string]bool // flag names that have a variable
	secrets []secret
}

// secret is an environment-only setting.
type secret struct {
	env, usage string
	p          *string
}

// New returns an empty FlagSet for the program name, whose variables start
// with prefix and "_", and which prints its usage to output.
func New(name, prefix string, output io.Writer) *FlagSet {
	f := &FlagSet{fs: flag.NewFlagSet(name, flag.ContinueOnError), prefix: prefix, withEnv: map[string]bool{}}
	f.fs.SetOutput(output)
	f.fs.Usage = func() {
		fmt.Fprintf(output, "Usage of %s:\n", name)
		f.fs.PrintDefaults()
		if len(f.secrets) > 0 {
			fmt.Fprintln(output, "\nEnvironment only (secrets are never flags):")
			for _, s := range f.secrets {
				fmt.Fprintf(output, "  %s\n    \t%s\n", s.env, s.usage)
			}
		}
	}
	return f
}

// EnvName returns the variable of the flag name: the prefix, "_", and the
// name in upper case with "-" as "_".
func (f *FlagSet) EnvName(name string) string {
	return f.prefix + "_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

func (f *FlagSet) describe(name, usage string) string {
	f.withEnv[name] = true
	return fmt.Sprintf("%s (env %s)", usage, f.EnvName(name))
}

// String defines a string flag with its variable.
func (f *FlagSet) String(p *string, name, value, usage string) {
	f.fs.StringVar(p, name, value, f.describe(name, usage))
}

// Duration defines a duration flag with its variable.
func (f *FlagSet) Duration(p *time.Duration, name string, value time.Duration, usage string) {
	f.fs.DurationVar(p, name, value, f.describe(name, usage))
}

// Bool defines a boolean flag that has no variable: a mode of the command
// line, such as -healthcheck.
func (f *FlagSet) Bool(p *bool, name string, value bool, usage string) {
	f.fs.BoolVar(p, name, value, usage)
}

// Secret defines an environment-only setting read from prefix_name.
func (f *FlagSet) Secret(p *string, name, usage string) {
	f.secrets = append(f.secrets, secret{env: f.EnvName(name), usage: usage, p: p})
}

// EnvNames lists every variable the FlagSet reads, sorted.
func (f *FlagSet) EnvNames() []string {
	var names []string
	for n := range f.withEnv {
		names = append(names, f.EnvName(n))
	}
	for _, s := range f.secrets {
		names = append(names, s.env)
	}
	sort.Strings(names)
	return names
}

// Parse parses args, then fills every flag not given on the command line
// and every secret from its variable, as lookup (os.LookupEnv) finds it.
// With -h or -help it prints the usage and returns flag.ErrHelp.
func (f *FlagSet) Parse(args []string, lookup func(string) (string, bool)) error {
	if err := f.fs.Parse(args); err != nil {
		return err
	}
	if f.fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", f.fs.Args())
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var errs []error
	f.fs.VisitAll(func(fl *flag.Flag) {
		if set[fl.Name] || !f.withEnv[fl.Name] {
			return
		}
		env := f.EnvName(fl.Name)
		v, ok := lookup(env)
		if !ok {
			return
		}
		if err := fl.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", env, v, err))
		}
	})
	for _, s := range f.secrets {
		if v, ok := lookup(s.env); ok {
			*s.p = v
		}
	}
	return errors.Join(errs...)
}
