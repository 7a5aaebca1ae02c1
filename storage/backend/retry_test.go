package backend

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
)

// TestWorthRetrying: what opening the database waits out (an outage) and
// what it returns at once (a mistake), for errors wrapped as
// postgres.OpenConfig wraps them.
func TestWorthRetrying(t *testing.T) {
	wrap := func(err error) error {
		return fmt.Errorf("open postgres: ping: %w", err)
	}
	pg := func(code string) error { return wrap(&pgconn.PgError{Severity: "FATAL", Code: code}) }
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"connection refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"connection dropped", wrap(io.ErrUnexpectedEOF), true},
		{"no answer in time", wrap(context.DeadlineExceeded), true},
		{"not the standby asked for", wrap(errors.New("ValidateConnect failed: server is not in hot standby mode")), true},
		{"starting up (57P03)", pg("57P03"), true},
		{"too many connections (53300)", pg("53300"), true},
		{"out of memory (53200)", pg("53200"), true},
		{"connection failure (08006)", pg("08006"), true},
		{"terminated by an administrator (57P01)", pg("57P01"), true},
		{"crash shutdown (57P02)", pg("57P02"), true},
		{"server I/O error (58030)", pg("58030"), true},
		{"unknown parameter (42704)", pg("42704"), false},
		{"invalid parameter value (22023)", pg("22023"), false},
		{"wrong password (28P01)", pg("28P01"), false},
		{"no pg_hba.conf entry, no such role (28000)", pg("28000"), false},
		{"no CONNECT privilege (42501)", pg("42501"), false},
		{"no such database (3D000)", pg("3D000"), false},
		{"database not accepting connections (55000)", pg("55000"), false},
		// Supavisor (Supabase's pooler) answers its own passing states
		// FATAL XX000: max client connections, a checkout timeout, the
		// database behind it restarting (DbHandler exited).
		{"pooler's internal error (XX000)", pg("XX000"), true},
		{"data corrupted (XX001)", pg("XX001"), true},
		{"certificate not verified", wrap(&tls.CertificateVerificationError{Err: x509.UnknownAuthorityError{}}), false},
		{"certificate for another host", wrap(x509.HostnameError{Host: "db"}), false},
		{"expired certificate", wrap(x509.CertificateInvalidError{Reason: x509.Expired}), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := worthRetrying(tc.err); got != tc.want {
				t.Errorf("worthRetrying(%v) = %v, want %v", tc.err, got, tc.want)
			}
		})
	}
}
