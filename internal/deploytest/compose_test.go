package deploytest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// No container engine runs here, so docker-compose.yml and the Dockerfile
// are checked against what the binaries themselves say they read and where
// they listen.

// composeFile is the part of the compose specification this repository
// uses. Decoding is strict, so a misspelt key fails the test instead of
// being ignored by the check (and by compose, silently or not).
type composeFile struct {
	Name     string                    `yaml:"name"`
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
}

type composeService struct {
	Image       string            `yaml:"image"`
	Build       *composeBuild     `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Ports       []string          `yaml:"ports"`
	Volumes     []string          `yaml:"volumes"`
	DependsOn   map[string]struct {
		Condition string `yaml:"condition"`
	} `yaml:"depends_on"`
	Healthcheck *struct {
		Test     []string `yaml:"test"`
		Interval string   `yaml:"interval"`
		Timeout  string   `yaml:"timeout"`
		Retries  int      `yaml:"retries"`
	} `yaml:"healthcheck"`
	Restart string `yaml:"restart"`
}

type composeBuild struct {
	Context    string `yaml:"context"`
	Dockerfile string `yaml:"dockerfile"`
	Target     string `yaml:"target"`
}

// interpolation matches compose's ${VAR}, ${VAR:-default} and ${VAR-default}.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}`)

// interpolate resolves variables as `docker compose up` does with an empty
// environment and no .env file: each must have a default, so the demo
// starts with no setup.
func interpolate(s string) (string, error) {
	var errs []string
	out := interpolation.ReplaceAllStringFunc(s, func(m string) string {
		sub := interpolation.FindStringSubmatch(m)
		if sub[2] == "" {
			errs = append(errs, sub[1])
		}
		return sub[3]
	})
	if len(errs) > 0 {
		return "", fmt.Errorf("no default for ${%s}: `docker compose up` would need it set", strings.Join(errs, "}, ${"))
	}
	return out, nil
}

// stage is one FROM of the Dockerfile.
type stage struct {
	name        string
	env         map[string]string
	expose      []string
	healthcheck []string // the exec form's arguments
	entrypoint  []string
}

// parseDockerfile reads the stages of a Dockerfile, joining continued
// lines; it understands what this repository's Dockerfile uses.
func parseDockerfile(t *testing.T, path string) map[string]*stage {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if c, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(c + " ")
			continue
		}
		cur.WriteString(line)
		lines = append(lines, cur.String())
		cur.Reset()
	}
	stages := map[string]*stage{}
	var st *stage
	jsonArgs := regexp.MustCompile(`"([^"]*)"`)
	execForm := func(s string) []string {
		var args []string
		for _, m := range jsonArgs.FindAllStringSubmatch(s, -1) {
			args = append(args, m[1])
		}
		return args
	}
	for _, line := range lines {
		instr, rest, _ := strings.Cut(line, " ")
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			st = &stage{env: map[string]string{}}
			if len(f) >= 3 && strings.EqualFold(f[len(f)-2], "AS") {
				st.name = f[len(f)-1]
			}
			stages[st.name] = st
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, _ := strings.Cut(kv, "=")
				st.env[k] = v
			}
		case "EXPOSE":
			st.expose = append(st.expose, strings.Fields(rest)...)
		case "HEALTHCHECK":
			_, cmd, ok := strings.Cut(rest, "CMD ")
			if !ok || !strings.HasPrefix(strings.TrimSpace(cmd), "[") {
				t.Errorf("Dockerfile stage %s: HEALTHCHECK %q is not CMD in exec form (distroless has no shell)", st.name, rest)
			}
			st.healthcheck = execForm(cmd)
		case "ENTRYPOINT":
			st.entrypoint = execForm(rest)
		}
	}
	return stages
}

// envVars lists the environment variables a built binary reads, from its
// own help: the (env NAME) of schoolapi's and demoapp's flags, and for
// hallpass (the command given, e.g. serve) HALLPASS_ + each flag's name
// plus the environment-only variables its help names.
func envVars(t *testing.T, binary string, command []string) map[string]bool {
	t.Helper()
	args := []string{"-h"}
	if binary == "hallpass" {
		args = append(append([]string{}, command...), "--help")
	}
	cmd := exec.Command(bin(binary), args...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", binary, args, err, out)
	}
	vars := map[string]bool{}
	switch binary {
	case "hallpass":
		for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
			if m[1] != "help" {
				vars["HALLPASS_"+strings.ToUpper(strings.ReplaceAll(m[1], "-", "_"))] = true
			}
		}
		root := exec.Command(bin("hallpass"), "--help")
		root.Env = cleanEnv()
		long, err := root.CombinedOutput()
		if err != nil {
			t.Fatalf("hallpass --help: %v", err)
		}
		for _, v := range regexp.MustCompile(`HALLPASS_[A-Z_]+`).FindAllString(string(long), -1) {
			if v != "HALLPASS_SOME_FLAG" { // the help's example of the naming rule
				vars[v] = true
			}
		}
	default:
		for _, m := range regexp.MustCompile(`\b([A-Z]+_[A-Z0-9_]+)\b`).FindAllStringSubmatch(string(out), -1) {
			vars[m[1]] = true
		}
	}
	if len(vars) < 3 {
		t.Fatalf("found only %v in the help of %s %v:\n%s", vars, binary, args, out)
	}
	return vars
}

// required lists the settings of binary whose defaults (made for a
// laptop: localhost addresses) are wrong in a container, so compose or the
// image must set them.
func required(binary string) []string {
	switch binary {
	case "hallpass":
		return []string{"HALLPASS_ADDR", "HALLPASS_ISSUER", "HALLPASS_DATABASE", "HALLPASS_SECRET"}
	case "schoolapi":
		return []string{"SCHOOLAPI_ADDR", "SCHOOLAPI_ISSUER", "SCHOOLAPI_HALLPASS_URL", "SCHOOLAPI_AUDIENCE"}
	case "demoapp":
		return []string{"DEMOAPP_ADDR", "DEMOAPP_ISSUER", "DEMOAPP_HALLPASS_URL", "DEMOAPP_REDIRECT_URL", "DEMOAPP_PUBLIC_URL", "DEMOAPP_SCHOOLAPI_URL"}
	}
	return nil
}

// addrVar returns the listen-address variable of one of the three
// binaries, and false for any other program.
func addrVar(binary string) (string, bool) {
	switch binary {
	case "hallpass", "schoolapi", "demoapp":
		return strings.ToUpper(binary) + "_ADDR", true
	}
	return "", false
}

func TestComposeFile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(cf.Services) == 0 {
		t.Fatal("docker-compose.yml has no services")
	}
	for name, svc := range cf.Services {
		for k, v := range svc.Environment {
			s, err := interpolate(v)
			if err != nil {
				t.Errorf("service %s, %s: %v", name, k, err)
			}
			svc.Environment[k] = s
		}
		cf.Services[name] = svc
	}

	stagesByFile := map[string]map[string]*stage{}
	// effective is each built service's environment: its image's ENV
	// overlaid by compose's environment.
	effective := map[string]map[string]string{}
	binaryOf := map[string]string{}
	// published maps "service container-port" to the host port.
	published := map[string]string{}

	for _, name := range sortedKeys(cf.Services) {
		svc := cf.Services[name]
		t.Run(name, func(t *testing.T) {
			if svc.Image == "" && svc.Build == nil {
				t.Fatal("neither image nor build")
			}
			for _, p := range svc.Ports {
				host, container, ok := strings.Cut(strings.Trim(p, `"`), ":")
				if !ok {
					t.Errorf("port %q: publish it as HOST:CONTAINER", p)
					continue
				}
				published[name+" "+container] = host
			}
			for dep, d := range svc.DependsOn {
				other, ok := cf.Services[dep]
				if !ok {
					t.Errorf("depends on %s, which is not a service", dep)
					continue
				}
				if d.Condition == "service_healthy" && other.Healthcheck == nil && other.Build == nil {
					t.Errorf("waits for %s to be healthy, which has no healthcheck", dep)
				}
			}
			for _, v := range svc.Volumes {
				src, _, _ := strings.Cut(v, ":")
				if _, ok := cf.Volumes[src]; !ok && !strings.HasPrefix(src, ".") && !strings.HasPrefix(src, "/") {
					t.Errorf("volume %q is not declared under volumes:", src)
				}
			}
			if svc.Build == nil {
				if svc.Healthcheck == nil || len(svc.Healthcheck.Test) == 0 {
					t.Errorf("image %s has no healthcheck in docker-compose.yml", svc.Image)
				}
				return
			}

			// Built here: the context, the Dockerfile and the target exist.
			ctxDir := filepath.Join(repoRoot, svc.Build.Context)
			if fi, err := os.Stat(ctxDir); err != nil || !fi.IsDir() {
				t.Fatalf("build context %q: %v", svc.Build.Context, err)
			}
			df := svc.Build.Dockerfile
			if df == "" {
				df = "Dockerfile"
			}
			dfPath := filepath.Join(ctxDir, df)
			if stagesByFile[dfPath] == nil {
				stagesByFile[dfPath] = parseDockerfile(t, dfPath)
			}
			st, ok := stagesByFile[dfPath][svc.Build.Target]
			if !ok || svc.Build.Target == "" {
				t.Fatalf("build target %q is not a stage of %s", svc.Build.Target, df)
			}
			if len(st.entrypoint) == 0 {
				t.Fatalf("stage %s has no ENTRYPOINT", st.name)
			}
			binary := filepath.Base(st.entrypoint[0])
			addrKey, ok := addrVar(binary)
			if !ok {
				t.Fatalf("stage %s runs %s, not one of this repository's binaries", st.name, binary)
			}
			binaryOf[name] = binary

			// The image checks its own health, with its own binary.
			if len(st.healthcheck) == 0 {
				t.Errorf("stage %s has no HEALTHCHECK", st.name)
			} else if st.healthcheck[0] != st.entrypoint[0] || !slices.ContainsFunc(st.healthcheck[1:], func(a string) bool { return strings.TrimLeft(a, "-") == "healthcheck" }) {
				t.Errorf("stage %s: HEALTHCHECK %v does not run %s's health check", st.name, st.healthcheck, st.entrypoint[0])
			} else {
				// The binary accepts that command line.
				args := append(append([]string{}, st.healthcheck[1:]...), "-h")
				if binary == "hallpass" {
					args[len(args)-1] = "--help"
				}
				cmd := exec.Command(bin(binary), args...)
				cmd.Env = cleanEnv()
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("the HEALTHCHECK's command line is refused: %s %v: %v\n%s", binary, args, err, out)
				}
			}

			// Every variable set is one the binary reads, and none that
			// matters in a container is left to its default.
			command := svc.Command
			if binary == "hallpass" && len(command) == 0 {
				command = []string{"serve"}
			}
			known := envVars(t, binary, command)
			env := map[string]string{}
			for k, v := range st.env {
				env[k] = v
			}
			for k, v := range svc.Environment {
				env[k] = v
			}
			effective[name] = env
			for _, k := range sortedKeys(env) {
				if !known[k] {
					t.Errorf("%s is set, but %s does not read it (it reads %v)", k, binary, sortedKeys(known))
				}
			}
			for _, k := range required(binary) {
				if env[k] == "" {
					t.Errorf("%s is not set: %s's default is wrong in a container", k, binary)
				}
			}
			if binary == "hallpass" && len(svc.Command) > 0 {
				cmd := exec.Command(bin(binary), append(append([]string{}, svc.Command...), "--help")...)
				cmd.Env = cleanEnv()
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("command %v is refused by hallpass: %v\n%s", svc.Command, err, out)
				}
			}

			// It listens on every interface, on the port compose publishes
			// and the image exposes.
			host, port, err := net.SplitHostPort(env[addrKey])
			if err != nil {
				t.Fatalf("%s=%q: %v", addrKey, env[addrKey], err)
			}
			if host != "0.0.0.0" && host != "" && host != "::" {
				t.Errorf("%s=%q: in a container, listen on 0.0.0.0 (localhost is unreachable from outside)", addrKey, env[addrKey])
			}
			if _, ok := published[name+" "+port]; !ok {
				t.Errorf("listens on port %s, but ports %v publish no such container port", port, svc.Ports)
			}
			if !slices.Contains(st.expose, port) {
				t.Errorf("listens on port %s, but stage %s exposes %v", port, st.name, st.expose)
			}
		})
	}

	// Across services: one issuer, internal URLs that name services and
	// the ports they listen on, and browser-facing URLs on published ports.
	hp := serviceOf(binaryOf, "hallpass")
	sa := serviceOf(binaryOf, "schoolapi")
	da := serviceOf(binaryOf, "demoapp")
	if hp == "" || sa == "" || da == "" {
		t.Fatalf("compose must run hallpass, schoolapi and demoapp; it runs %v", binaryOf)
	}
	issuer := effective[hp]["HALLPASS_ISSUER"]
	for _, v := range []string{effective[sa]["SCHOOLAPI_ISSUER"], effective[da]["DEMOAPP_ISSUER"]} {
		if v != issuer {
			t.Errorf("issuer %q differs from hallpass's HALLPASS_ISSUER %q: every token would be refused", v, issuer)
		}
	}
	browserFacing := func(what, raw, service string) {
		t.Helper()
		u, err := url.Parse(raw)
		if err != nil || u.Hostname() != "localhost" {
			t.Errorf("%s %q: the browser on the host reaches the services at localhost", what, raw)
			return
		}
		_, port, _ := net.SplitHostPort(effective[service][mustAddrVar(binaryOf[service])])
		if published[service+" "+port] != u.Port() {
			t.Errorf("%s %q: port %s is not where %s's port %s is published (%s)", what, raw, u.Port(), service, port, published[service+" "+port])
		}
	}
	internal := func(what, raw, service string) {
		t.Helper()
		u, err := url.Parse(raw)
		_, port, _ := net.SplitHostPort(effective[service][mustAddrVar(binaryOf[service])])
		if err != nil || u.Hostname() != service || u.Port() != port {
			t.Errorf("%s %q: want http://%s:%s, the %s service on the compose network", what, raw, service, port, service)
		}
	}
	browserFacing("HALLPASS_ISSUER", issuer, hp)
	browserFacing("DEMOAPP_PUBLIC_URL", effective[da]["DEMOAPP_PUBLIC_URL"], da)
	browserFacing("DEMOAPP_REDIRECT_URL", effective[da]["DEMOAPP_REDIRECT_URL"], da)
	if r := effective[da]["DEMOAPP_REDIRECT_URL"]; !strings.HasPrefix(r, effective[da]["DEMOAPP_PUBLIC_URL"]+"/") {
		t.Errorf("DEMOAPP_REDIRECT_URL %q is not under DEMOAPP_PUBLIC_URL", r)
	}
	internal("SCHOOLAPI_HALLPASS_URL", effective[sa]["SCHOOLAPI_HALLPASS_URL"], hp)
	internal("DEMOAPP_HALLPASS_URL", effective[da]["DEMOAPP_HALLPASS_URL"], hp)
	internal("DEMOAPP_SCHOOLAPI_URL", effective[da]["DEMOAPP_SCHOOLAPI_URL"], sa)
	if a := effective[sa]["SCHOOLAPI_AUDIENCE"]; a != schoolAudience {
		t.Errorf("SCHOOLAPI_AUDIENCE %q is not the audience --dev gives the school scopes (%s)", a, schoolAudience)
	}
	for _, dep := range []struct{ from, to string }{{sa, hp}, {da, hp}} {
		if cf.Services[dep.from].DependsOn[dep.to].Condition != "service_healthy" {
			t.Errorf("%s does not wait for %s to be healthy", dep.from, dep.to)
		}
	}

	// hallpass's database is the postgres service, with its credentials.
	db, err := url.Parse(effective[hp]["HALLPASS_DATABASE"])
	if err != nil || db.Scheme != "postgres" {
		t.Fatalf("HALLPASS_DATABASE %q is not a postgres:// URL", effective[hp]["HALLPASS_DATABASE"])
	}
	pg, ok := cf.Services[db.Hostname()]
	if !ok {
		t.Fatalf("HALLPASS_DATABASE names host %s, which is not a service", db.Hostname())
	}
	pw, _ := db.User.Password()
	if db.User.Username() != pg.Environment["POSTGRES_USER"] || pw != pg.Environment["POSTGRES_PASSWORD"] || strings.TrimPrefix(db.Path, "/") != pg.Environment["POSTGRES_DB"] {
		t.Errorf("HALLPASS_DATABASE %s does not match the %s service's POSTGRES_USER/PASSWORD/DB", effective[hp]["HALLPASS_DATABASE"], db.Hostname())
	}
	if cf.Services[hp].DependsOn[db.Hostname()].Condition != "service_healthy" {
		t.Errorf("hallpass does not wait for %s to be healthy", db.Hostname())
	}
	if s := effective[hp]["HALLPASS_SECRET"]; len(s) < 32 {
		t.Errorf("HALLPASS_SECRET's default has %d characters; hallpass refuses fewer than 32", len(s))
	}
	if s, ok := effective[hp]["HALLPASS_ADMIN_TOKEN"]; ok && len(s) < 32 {
		t.Errorf("HALLPASS_ADMIN_TOKEN's default has %d bytes; hallpass refuses fewer than 32", len(s))
	}
}

// TestDockerfile checks what the compose test does not reach: that the
// build copies only paths that exist and builds every binary the stages
// run, statically.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w"`, "./cmd/hallpass", "./cmd/schoolapi", "./cmd/demoapp"} {
		if !strings.Contains(df, want) {
			t.Errorf("the Dockerfile's build lacks %s", want)
		}
	}
	stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	for _, name := range []string{"hallpass", "schoolapi", "demoapp"} {
		st, ok := stages[name]
		if !ok {
			t.Errorf("no stage %s", name)
			continue
		}
		if len(st.entrypoint) == 0 || filepath.Base(st.entrypoint[0]) != name || len(st.healthcheck) == 0 {
			t.Errorf("stage %s: ENTRYPOINT %v, HEALTHCHECK %v", name, st.entrypoint, st.healthcheck)
		}
		if !strings.Contains(df, "COPY --from=build /out/"+name+" "+st.entrypoint[0]) {
			t.Errorf("stage %s does not copy the built %s to %s", name, name, st.entrypoint[0])
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^COPY (?:--chown=\S+ )?([^-\s]\S*(?: \S+)*) \S+$`).FindAllStringSubmatch(df, -1) {
		for _, src := range strings.Fields(m[1]) {
			if src == "." {
				continue
			}
			if _, err := os.Stat(filepath.Join(repoRoot, src)); err != nil {
				t.Errorf("COPY %s: %v", src, err)
			}
		}
	}
	if !regexp.MustCompile(`(?m)^USER \d+:\d+$`).MatchString(df) || strings.Contains(df, "USER root") || strings.Contains(df, "USER 0") {
		t.Error("the images must run as a numeric non-root USER")
	}
	// The last stage is what a plain `docker build .` makes: hallpass.
	froms := regexp.MustCompile(`(?m)^FROM .* AS (\S+)$`).FindAllStringSubmatch(df, -1)
	if last := froms[len(froms)-1][1]; last != "hallpass" {
		t.Errorf("the default (last) stage is %s, want hallpass", last)
	}
}

func mustAddrVar(binary string) string {
	v, _ := addrVar(binary)
	return v
}

func serviceOf(binaryOf map[string]string, binary string) string {
	for s, b := range binaryOf {
		if b == binary {
			return s
		}
	}
	return ""
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
