package hallpasstest

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/hallpass/hallpass/internal/testkit/oauthtest"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/provider"
	"github.com/hallpass/hallpass/storage"
)

// Options adjust the server Start wires.
type Options struct {
	// AdminToken is the admin bearer token the server accepts; it must be
	// at least provider.MinAdminTokenLen bytes.
	AdminToken string
	// Keys, when set, adjusts the key manager's options (e.g. JWKSMaxAge).
	// Its GenerateKey hands out keys reused across the process's
	// databases, distinct within each (keySupply); nil generates afresh.
	Keys func(*keys.Options)
	// Config, when set, adjusts the provider's Config last, before New.
	// The key manager and the secrets are made from the unwrapped store.
	Config func(*provider.Config)
	// LocalhostIssuer makes the issuer http://localhost:PORT instead of
	// http://127.0.0.1:PORT: WebAuthn accepts no IP address as a
	// relying-party id, so passkeys work only with a host name.
	LocalhostIssuer bool
	// InsecureHost, when set, makes the issuer http://InsecureHost:PORT,
	// a host that is not loopback, with Config.AllowInsecureIssuer (as
	// --insecure-http-issuer); Server.HTTP dials the test server for it.
	InsecureHost string
}

// Server is a running hallpass. Its embedded oauthtest.Client (Issuer
// the URL, HTTP the client below) asks its token, introspection and
// revocation endpoints.
type Server struct {
	oauthtest.Client
	URL        string // the issuer
	Store      storage.Store
	Keys       *keys.Manager
	Provider   *provider.Provider
	Handler    http.Handler // the provider's handler, for requests net/http clients refuse to send
	AdminToken string
}

// lateHandler lets the httptest.Server start (and so know its URL, the
// issuer) before the provider that serves it exists.
type lateHandler struct{ h atomic.Value }

func (l *lateHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h, ok := l.h.Load().(http.Handler)
	if !ok {
		http.Error(w, "provider not ready", http.StatusServiceUnavailable)
		return
	}
	h.ServeHTTP(w, r)
}

// Start starts hallpass on the database dsn names (see testdb.Backends),
// logging warnings and errors to the test's output; the server and the
// store close when the test ends.
func Start(t testing.TB, dsn string, o Options) *Server {
	t.Helper()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))

	store := testdb.Open(t, dsn)

	late := &lateHandler{}
	srv := httptest.NewServer(late)
	// Registered after testdb.Open's cleanup, so it runs first: no request
	// is in flight when the store closes.
	t.Cleanup(srv.Close)

	issuer := srv.URL
	client := srv.Client()
	if o.LocalhostIssuer {
		issuer = strings.Replace(issuer, "://127.0.0.1:", "://localhost:", 1)
	}
	insecure := o.InsecureHost != ""
	if insecure {
		issuer = strings.Replace(issuer, "://127.0.0.1:", "://"+o.InsecureHost+":", 1)
		// Every connection goes to the test server, whatever host the
		// request names: the host resolves nowhere.
		tr := client.Transport.(*http.Transport).Clone()
		addr := srv.Listener.Addr().String()
		tr.DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
		client = &http.Client{Transport: tr}
	}

	sealer, err := keys.NewSealer(bytes.Repeat([]byte("k"), keys.MinSecretLen))
	if err != nil {
		t.Fatalf("NewSealer: %v", err)
	}
	keyOpts := keys.Options{Logger: log, GenerateKey: sharedKeys.generator(t.Cleanup, dsn)}
	if o.Keys != nil {
		o.Keys(&keyOpts)
	}
	a, err := provider.Assemble(context.Background(), provider.Config{
		Issuer:              issuer,
		Store:               store,
		Logger:              log,
		AllowInsecureIssuer: insecure,
	}, provider.Wiring{Sealer: sealer, Keys: keyOpts, AdminToken: o.AdminToken, Adjust: o.Config})
	if err != nil {
		t.Fatalf("assemble hallpass: %v", err)
	}
	if a.GeneratedAdminToken != "" {
		t.Fatal("Assemble generated an admin token; want the configured one used")
	}
	t.Cleanup(a.Provider.Close)
	h := a.Provider.Handler()
	late.h.Store(h)
	return &Server{
		Client:     oauthtest.Client{Issuer: issuer, HTTP: client},
		URL:        issuer,
		Store:      store,
		Keys:       a.Keys,
		Provider:   a.Provider,
		Handler:    h,
		AdminToken: o.AdminToken,
	}
}
