package provider

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hallpass/hallpass/keys"
	"github.com/hallpass/hallpass/storage"
)

// FuzzSecondFactorInput feeds arbitrary posted enrolments and codes to
// the parsers of the second-factor forms: they must never panic, an
// enrolment opens only when hallpass sealed it for this user and it has
// not expired, and a code matches only the secret's code of a step
// within the skew.
func FuzzSecondFactorInput(f *testing.F) {
	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	sealer, err := keys.NewSealer([]byte(strings.Repeat("k", 40)))
	if err != nil {
		f.Fatal(err)
	}
	p := &Provider{cfg: Config{Now: func() time.Time { return now }, Sealer: sealer}, issuer: &url.URL{Scheme: "https", Host: "id.example"}}
	u := &storage.User{ID: "u-1", Username: "alice"}
	// A fixed secret: the fuzzing workers build their own enrolments,
	// whose seals differ but open to the same secret.
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	e, err := p.enrolmentOf(u, secret, "")
	if err != nil {
		f.Fatal(err)
	}
	other, err := p.newEnrolment(&storage.User{ID: "u-2", Username: "bob"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(e.sealed, "123456")
	f.Add(other.sealed, "abcd-efgh-ijkl-mnop")
	f.Add("", "")
	f.Add("AQ", " 12 34 56 ")
	f.Fuzz(func(t *testing.T, posted, code string) {
		got, err := p.openEnrolment(u, posted)
		if err == nil && got != secret {
			t.Fatalf("an enrolment hallpass did not seal for this user opened: %q", posted)
		}
		c := normaliseCode(code)
		_ = isRecoveryCode(c)
		if _, ok := p.matchTOTP(secret, c); ok && (len(c) != 6 || strings.Trim(c, "0123456789") != "") {
			t.Fatalf("a code that is not six digits matched: %q", c)
		}
	})
}
