package backend_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/faultproxy"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage/backend"
)

// TestOpenWaitsForTheDatabase: a PostgreSQL server that drops connections
// at first (starting up, restarting, its network not there yet) is tried
// again until the timeout, so a hallpass started alongside its database
// opens it; a database that refuses the login or does not exist is an
// error at once, with no retries to wait out.
func TestOpenWaitsForTheDatabase(t *testing.T) {
	u, err := url.Parse(testdb.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	px := faultproxy.New(t, u.Host)
	px.Cut()
	u.Host = px.Addr()
	restored := make(chan struct{})
	go func() {
		defer close(restored)
		time.Sleep(500 * time.Millisecond)
		px.Restore()
	}()
	st, err := backend.OpenTimeout(context.Background(), u.String(), 30*time.Second)
	<-restored
	if err != nil {
		t.Fatalf("open a database that drops connections for a while: %v", err)
	}
	st.Close()

	for name, change := range map[string]func(*url.URL){
		"no such database": func(u *url.URL) { u.Path = "/hallpass_no_such_database" },
		"no such role":     func(u *url.URL) { u.User = url.User("hallpass_no_such_role") },
	} {
		t.Run(name, func(t *testing.T) {
			bad, err := url.Parse(testdb.PostgresURL(t))
			if err != nil {
				t.Fatal(err)
			}
			change(bad)
			_, err = backend.OpenTimeout(context.Background(), bad.String(), 30*time.Second)
			if err == nil || strings.Contains(err.Error(), "still failing") {
				t.Errorf("open: %v; want the server's refusal at once, not retried", err)
			}
		})
	}
}
