package provider

import (
	"log/slog"
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hallpass/hallpass/keys"
)

// FuzzPasskeyInput feeds arbitrary posted passkey forms to their parsers:
// the browser's answer (as a sign-in and as a registration), the
// ceremony's state and the passkey's name. None may panic; a state opens
// only when hallpass sealed it for this kind and binding and it has not
// expired; a name that is accepted is short, trimmed text.
func FuzzPasskeyInput(f *testing.F) {
	now := time.Date(2026, 12, 6, 7, 0, 0, 0, time.UTC)
	sealer, err := keys.NewSealer([]byte(strings.Repeat("k", 40)))
	if err != nil {
		f.Fatal(err)
	}
	iss := &url.URL{Scheme: "https", Host: "id.example"}
	p := &Provider{cfg: Config{Now: func() time.Time { return now }, Sealer: sealer}, issuer: iss,
		webauthn: newRelyingParty(iss, slog.New(slog.DiscardHandler))}
	if !p.passkeysOn() {
		f.Fatal("no relying party for https://id.example")
	}
	// A fixed challenge: the fuzzing workers seal their own states, whose
	// seals differ but open to the same ceremony.
	sd := &webauthn.SessionData{Challenge: "dGhlIGZpeGVkIGNoYWxsZW5nZSBvZiB0aGUgZnV6eg", RelyingPartyID: "id.example",
		UserVerification: protocol.VerificationRequired}
	state, err := p.sealCeremony(ceremonyLogin, "handle", sd)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AAAA","signature":"AAAA","userHandle":"dQ"}}`, state, "Work laptop")
	f.Add(`{"id":"AAAA","rawId":"AAAA","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"oA","transports":["internal"]}}`, "AQ", "  two  spaces ")
	f.Add(`{"id":`, "", "\x00")
	f.Add("[]", strings.Repeat("A", 5000), strings.Repeat("é", 70))
	f.Fuzz(func(t *testing.T, credential, posted, name string) {
		_, _ = parseAssertion(credential)
		_, _ = parseAttestation(credential)
		if got, err := p.openCeremony(ceremonyLogin, "handle", posted); err == nil && got.sd.Challenge != sd.Challenge {
			t.Fatalf("a state hallpass did not seal opened: %q", posted)
		}
		if _, err := p.openCeremony(ceremonyFactor, "handle", posted); err == nil {
			t.Fatalf("a login ceremony's state opened as a second factor's: %q", posted)
		}
		if n := passkeyName(name); n != "" && (utf8.RuneCountInString(n) > maxPasskeyNameLen || n != strings.TrimSpace(n) || !utf8.ValidString(n)) {
			t.Fatalf("passkeyName(%q) = %q", name, n)
		}
	})
}
