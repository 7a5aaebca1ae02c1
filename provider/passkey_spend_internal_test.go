package provider

import (
	"errors"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hallpass/hallpass/internal/testkit/testdb"
)

// TestSpendCeremonyTooLate checks, on a fake clock, that an answered
// ceremony is never recorded once its record (state expiry and
// spentCeremonyMargin) would already be past: by then the record of an
// earlier answer may have been swept, and recording this one would take
// a replay for the first answer. The storage sweeps by the real clock, so
// the fake one reads times around the real now.
func TestSpendCeremonyTooLate(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			base := time.Now()
			var now time.Time
			p := &Provider{cfg: Config{Store: testdb.Open(t, b.DSN(t)), Now: func() time.Time { return now }}}
			for _, tc := range []struct {
				name      string
				expires   time.Duration // the state's expiry, from the fake now
				wantSpent bool
			}{
				{"state live", time.Minute, true},
				{"a second before the margin ends", -spentCeremonyMargin + time.Second, true},
				{"as the margin ends", -spentCeremonyMargin, false},
				{"a day after", -24 * time.Hour, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					now = base
					c := &ceremony{sd: &webauthn.SessionData{Challenge: "challenge " + tc.name}, expires: now.Add(tc.expires)}
					err := p.spendCeremony(t.Context(), c)
					if tc.wantSpent != (err == nil) {
						t.Fatalf("spendCeremony: err = %v, want spent %v", err, tc.wantSpent)
					}
					if err != nil && !errors.Is(err, errPasskeyInput) {
						t.Fatalf("spendCeremony: err = %v, want errPasskeyInput", err)
					}
					// Spent or refused, it is never taken a second time.
					if err := p.spendCeremony(t.Context(), c); !errors.Is(err, errPasskeyInput) {
						t.Fatalf("second spendCeremony: err = %v, want errPasskeyInput", err)
					}
				})
			}
		})
	}
}
