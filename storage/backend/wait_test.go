package backend_test

import (
	"bytes"
	"context"
	"log/slog"
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
// opens it. What is not waited for: TestOpenFailsAtOnceOnMistakes.
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
}

// TestOpenFailsAtOnceOnMistakes opens the real PostgreSQL server with
// URLs it refuses for what they ask, not for being down: each is an
// error at the first attempt (no attempt logged as retried) naming what
// the server refused, never the password; a host that is down, beside
// one refusing the same URL, is still waited for.
func TestOpenFailsAtOnceOnMistakes(t *testing.T) {
	base := testdb.PostgresURL(t)
	const pw = "s3cret-mistake"
	closed := faultproxy.ClosedPort(t)
	for _, tc := range []struct {
		name    string
		change  func(u *url.URL, q url.Values)
		names   string // in the error
		retried bool
	}{
		{"unknown parameter", func(_ *url.URL, q url.Values) { q.Set("bogus_param", "1") }, "bogus_param", false},
		{"unknown parameter in options", func(_ *url.URL, q url.Values) { q.Set("options", "-c bogus_option=1") }, "bogus_option", false},
		{"invalid parameter value", func(_ *url.URL, q url.Values) { q.Set("lock_timeout", "abc") }, "lock_timeout", false},
		{"no such database", func(u *url.URL, _ url.Values) { u.Path = "/hallpass_no_such_database" }, "hallpass_no_such_database", false},
		{"no such role", func(u *url.URL, _ url.Values) { u.User = url.UserPassword("hallpass_no_such_role", pw) }, "hallpass_no_such_role", false},
		{"every host refuses the parameter", func(u *url.URL, q url.Values) {
			u.Host += "," + u.Host
			q.Set("bogus_param", "1")
		}, "bogus_param", false},
		{"one host down, the other refuses the parameter", func(u *url.URL, q url.Values) {
			u.Host = closed + "," + u.Host
			q.Set("bogus_param", "1")
		}, "bogus_param", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := url.Parse(base)
			if err != nil {
				t.Fatal(err)
			}
			u.User = url.UserPassword(u.User.Username(), pw)
			q := u.Query()
			tc.change(u, q)
			u.RawQuery = q.Encode()
			// Long enough to retry a few times were it retried.
			timeout := 5 * time.Second
			if tc.retried {
				timeout = time.Second
			}
			var logged bytes.Buffer
			st, err := backend.OpenWaiting(context.Background(), u.String(), timeout, slog.New(slog.NewTextHandler(&logged, nil)))
			if err == nil {
				st.Close()
				t.Fatal("open succeeded")
			}
			retries := strings.Count(logged.String(), "trying again")
			if tc.retried && retries == 0 {
				t.Errorf("open: %v; want it retried while a host is down, logged no retry", err)
			}
			if !tc.retried && retries != 0 {
				t.Errorf("open: %v; want the server's refusal at the first attempt, logged %d retries:\n%s", err, retries, logged.String())
			}
			if !strings.Contains(err.Error(), tc.names) {
				t.Errorf("open: %v; want it to name %q", err, tc.names)
			}
			if strings.Contains(err.Error()+logged.String(), pw) {
				t.Errorf("open shows the password: %v\n%s", err, logged.String())
			}
			// The server answered: calling that an outage would send the
			// operator looking at the wrong thing.
			if !tc.retried && strings.Contains(err.Error(), "unavailable") {
				t.Errorf("open: %v; a refusal must not read as the database being unavailable", err)
			}
		})
	}
}
