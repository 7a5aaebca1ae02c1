package backend

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/internal/testkit/faultproxy"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"userinfo", "postgres://u:s3cret@db:5432/x?sslmode=disable", "postgres://u:xxxxx@db:5432/x?sslmode=disable"},
		{"postgresql scheme", "postgresql://u:s3cret@db/x", "postgresql://u:xxxxx@db/x"},
		{"user without password", "postgres://u@db/x", "postgres://u@db/x"},
		{"no userinfo", "postgres://db:5432/x?sslmode=disable", "postgres://db:5432/x?sslmode=disable"},
		{"sqlite", "sqlite:hallpass.db", "sqlite:hallpass.db"},
		{"sqlite path naming a password", "sqlite:/data/password=x.db", "sqlite:/data/password=x.db"},
		{"unencoded @ in password", "postgres://u:p@ss@db/x", "postgres://u:xxxxx@db/x"},
		{"unencoded / in password", "postgres://u:pa/ss@db/x", "postgres://u:xxxxx@db/x"},
		{"unencoded ? in password", "postgres://u:12?ab@db/x", "postgres://u:xxxxx@db/x"},
		{"unencoded # in password", "postgres://u:p#ss@db/x", "postgres://u:xxxxx@db/x"},
		{"encoded password", "postgres://u:p%40ss@db/x", "postgres://u:xxxxx@db/x"},
		{"@ in a query value", "postgres://u:s3cret@db/x?application_name=a@b", "postgres://u:xxxxx@db/x?application_name=a@b"},
		{"@ in a query value, no userinfo", "postgres://db/x?application_name=a@b", "postgres://db/x?application_name=a@b"},
		{"password parameter", "postgres://u@db/x?sslmode=disable&password=s3cret", "postgres://u@db/x?sslmode=disable&password=xxxxx"},
		{"sslpassword parameter", "postgres://db/x?sslpassword=s3cret&sslmode=verify-full", "postgres://db/x?sslpassword=xxxxx&sslmode=verify-full"},
		{"encoded parameter name", "postgres://db/x?pass%77ord=s3cret", "postgres://db/x?pass%77ord=xxxxx"},
		{"upper-case parameter name", "postgres://db/x?PASSWORD=s3cret", "postgres://db/x?PASSWORD=xxxxx"},
		{"# in password parameter", "postgres://db/x?password=s3#cret&a=b", "postgres://db/x?password=xxxxx&a=b"},
		{"both", "postgres://u:s3cret@db/x?password=other", "postgres://u:xxxxx@db/x?password=xxxxx"},
		{"other scheme", "mysql://u:s3cret@db/x", "mysql://u:xxxxx@db/x"},
		{"keyword/value", "host=db port=5432 user=u password=s3cret dbname=x", "host=db port=5432 user=u password=xxxxx dbname=x"},
		{"keyword/value, quoted", "host=db password='s3 cret' dbname=x", "host=db password=xxxxx dbname=x"},
		{"keyword/value, escaped quote", `host=db password='s3\' cret' dbname=x`, "host=db password=xxxxx dbname=x"},
		{"keyword/value, escaped space", `host=db password=s3\ cret dbname=x`, "host=db password=xxxxx dbname=x"},
		{"keyword/value, spaces around =", "host = db password = s3cret", "host = db password = xxxxx"},
		{"keyword/value, sslpassword", "host=db sslpassword=s3cret", "host=db sslpassword=xxxxx"},
		{"keyword/value, unterminated quote", "host=db password='s3 cret", "host=db xxxxx"},
		{"keyword/value, broken after password", "host=db password=s3 cret", "host=db password=xxxxx xxxxx"},
		{"no connection string", "hallpass.db", "hallpass.db"},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact(tc.in)
			if got != tc.want {
				t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
			}
			for _, secret := range []string{"s3cret", "s3 cret", "cret", "p@ss", "pa/ss", "12?ab", "p#ss", "p%40ss", "other"} {
				if strings.Contains(tc.in, secret) && strings.Contains(got, secret) && !strings.Contains(tc.name, "sqlite") && !strings.Contains(tc.name, "query value") {
					t.Errorf("Redact(%q) = %q still shows %q", tc.in, got, secret)
				}
			}
		})
	}
}

func TestOpenRejectsUnknown(t *testing.T) {
	for _, dsn := range []string{"mysql://u:secret@db/x", "sqlite:", "hallpass.db", "host=db password=secret"} {
		_, err := Open(context.Background(), dsn)
		if err == nil {
			t.Errorf("Open(%q) succeeded", dsn)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error leaks the password: %v", dsn, err)
		}
	}
}

// TestOpenErrorsHidePassword opens PostgreSQL URLs that carry a password
// in each place one can hide, at an address where nothing listens, where
// a server accepts and never answers, and with a syntax error: the error
// names the address and never shows the password.
func TestOpenErrorsHidePassword(t *testing.T) {
	silent := faultproxy.Silent(t)
	closed := faultproxy.ClosedPort(t)
	const pw = "s3cret-Pw"
	for _, tc := range []struct{ name, dsn, host string }{
		{"userinfo, closed port", "postgres://u:" + pw + "@" + closed + "/db?sslmode=disable", closed},
		{"password parameter, closed port", "postgres://u@" + closed + "/db?password=" + pw, closed},
		{"userinfo, silent server", "postgres://u:" + pw + "@" + silent + "/db", silent},
		{"password parameter, silent server", "postgresql://" + silent + "/db?user=u&password=" + pw, silent},
		{"unparsable port", "postgres://u:" + pw + "@127.0.0.1:x5432/db", "127.0.0.1"},
		{"unparsable parameter", "postgres://u:" + pw + "@127.0.0.1/db?connect_timeout=soon", "127.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			_, err := OpenTimeout(context.Background(), tc.dsn, time.Second)
			if err == nil {
				t.Fatal("Open succeeded")
			}
			if strings.Contains(err.Error(), pw) {
				t.Errorf("error shows the password: %v", err)
			}
			if !strings.Contains(err.Error(), tc.host) {
				t.Errorf("error does not name %s: %v", tc.host, err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("Open gave up after %v, want about 1s", d)
			}
			if tc.host == silent && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error on a silent server is no deadline error: %v", err)
			}
		})
	}
}
