package postgres

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/faultproxy"
)

// TestOpenErrorsHidePassword: whatever form the connection string takes
// (URL userinfo, password parameter, keyword/value) and however opening
// fails (nothing listening, a server that never answers, a syntax error),
// the error names the address or the problem but never the password.
func TestOpenErrorsHidePassword(t *testing.T) {
	_, silentPort, _ := net.SplitHostPort(faultproxy.Silent(t))
	_, closedPort, _ := net.SplitHostPort(faultproxy.ClosedPort(t))

	const pw = "s3cret-Pw"
	for _, tc := range []struct{ name, dsn, want string }{
		{"userinfo, closed port", "postgres://u:" + pw + "@127.0.0.1:" + closedPort + "/db", "127.0.0.1:" + closedPort},
		{"password parameter, closed port", "postgres://u@127.0.0.1:" + closedPort + "/db?password=" + pw, "127.0.0.1:" + closedPort},
		{"keyword/value, closed port", "host=127.0.0.1 port=" + closedPort + " user=u password=" + pw + " dbname=db", "127.0.0.1:" + closedPort},
		{"keyword/value, silent server", "host=127.0.0.1 port=" + silentPort + " user=u password='" + pw + "' dbname=db connect_timeout=1", "timeout"},
		{"keyword/value, bad port", "host=127.0.0.1 port=x user=u password=" + pw, "invalid port"},
		// pgx's own parse errors would show "s3cret-Pw'" here.
		{"keyword/value, escaped quote, bad port", `host=127.0.0.1 port=x password='a\' ` + pw + `'`, "invalid port"},
		{"keyword/value, unterminated quote", "host=127.0.0.1 password='" + pw, "cannot parse"},
		{"URL, password with an unencoded slash", "postgres://u:" + pw + "/x@127.0.0.1/db", "cannot parse"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s, err := Open(ctx, tc.dsn)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error does not say %q: %v", tc.want, err)
			}
		})
	}
}

func TestHidePassword(t *testing.T) {
	err := hidePassword(fmt.Errorf("connect as u with s3cret: %w", context.DeadlineExceeded), "s3cret")
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("hidePassword kept the password: %v", err)
	}
	if !strings.Contains(err.Error(), "xxxxx") || !strings.Contains(err.Error(), "deadline") {
		t.Errorf("hidePassword lost the message: %v", err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("hidePassword broke errors.Is")
	}
}
