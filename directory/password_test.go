package directory

import (
	"strings"
	"testing"

	"golang.org/x/text/unicode/norm"
)

func TestPasswordHashing(t *testing.T) {
	h, err := HashPassword("correct horse battery")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1,norm=nfkc$") || strings.Contains(h, "correct horse") {
		t.Fatalf("hash = %q", h)
	}
	h2, _ := HashPassword("correct horse battery")
	if h == h2 {
		t.Error("two hashes of one password are equal: no salt")
	}
	for pw, want := range map[string]bool{"correct horse battery": true, "correct horse batterY": false, "": false} {
		ok, err := CheckPassword(h, pw)
		if err != nil || ok != want {
			t.Errorf("CheckPassword(%q) = %v, %v; want %v", pw, ok, err, want)
		}
	}
	for _, bad := range []string{"", "$argon2i$v=19$m=1,t=1,p=1$AA$AA", "$argon2id$v=19$m=99999999,t=2,p=1$AAAA$AAAA", "plain"} {
		if ok, err := CheckPassword(bad, "x"); ok || err == nil {
			t.Errorf("CheckPassword(%q) = %v, %v; want error", bad, ok, err)
		}
	}
	if _, err := HashPassword("short"); err == nil {
		t.Error("7-character password accepted")
	}
}

// The spellings of one password, built with the standard forms so that
// the test says which form each is: "é" as one code point (NFC, what
// most keyboards send) and as e + combining acute (NFD, what some macOS
// sources give).
var (
	accentedNFC = norm.NFC.String("crème-brûlée-café-Noël-42")
	accentedNFD = norm.NFD.String("crème-brûlée-café-Noël-42")
)

// TestPasswordNormalised: a password set in one spelling signs in typed
// in any canonically or compatibly equivalent one (NFKC, NIST SP 800-63B
// 5.1.1.2), and in no other.
func TestPasswordNormalised(t *testing.T) {
	if accentedNFC == accentedNFD {
		t.Fatal("the NFC and NFD spellings are the same bytes: the test would prove nothing")
	}
	for _, tc := range []struct {
		name         string
		set, attempt string
		want         bool
	}{
		{"NFD set, NFC typed", accentedNFD, accentedNFC, true},
		{"NFC set, NFD typed", accentedNFC, accentedNFD, true},
		{"NFD set, NFD typed", accentedNFD, accentedNFD, true},
		{"full-width set, ASCII typed", "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ９", "correct horse 9", true},
		{"ASCII set, full-width typed", "correct horse 9", "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ９", true},
		{"ligature set, letters typed", "ﬁne-ﬂour-battery", "fine-flour-battery", true},
		{"superscript set, digit typed", "horse-battery-x²", "horse-battery-x2", true},
		{"Angstrom sign set, letter typed", "\u212bngstrom-battery", "\u00c5ngstrom-battery", true},
		{"conjoining jamo set, syllable typed", "\u1100\u1161-horse-battery", "\uac00-horse-battery", true},
		{"accent dropped", accentedNFC, "creme-brulee-cafe-Noel-42", false},
		{"case is kept", "Correct horse 9", "correct horse 9", false},
		{"full-width, another letter", "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ９", "correct horse 8", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := HashPassword(tc.set)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(h, "$m=19456,t=2,p=1,norm=nfkc$") {
				t.Errorf("hash %q is not marked as made from the NFKC form", h)
			}
			if ok, err := CheckPassword(h, tc.attempt); ok != tc.want || err != nil {
				t.Errorf("CheckPassword(hash of %+q, %+q) = %v, %v; want %v", tc.set, tc.attempt, ok, err, tc.want)
			}
		})
	}
}

// TestCheckPasswordLegacyHash: a hash made before passwords were
// normalised (no norm=nfkc: of the password as typed) keeps signing in
// with the password as it was typed, whatever it holds, and is checked
// against nothing else (CheckPassword says why).
func TestCheckPasswordLegacyHash(t *testing.T) {
	for _, tc := range []struct {
		name         string
		set, attempt string
		want         bool
	}{
		{"ASCII", "correct horse battery", "correct horse battery", true},
		{"NFD, as typed", accentedNFD, accentedNFD, true},
		{"NFC, as typed", accentedNFC, accentedNFC, true},
		{"full-width, as typed", "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ９", "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ９", true},
		// Refused as a new password now, but a stored one still signs in.
		{"tab, as typed", "correct\thorse battery", "correct\thorse battery", true},
		// 123 bytes as typed, 1323 in NFKC (U+FDFA is 18 characters).
		{"longer than MaxPasswordLen in NFKC, as typed", strings.Repeat("\ufdfa", 40) + "-42", strings.Repeat("\ufdfa", 40) + "-42", true},
		{"NFD set, NFC typed", accentedNFD, accentedNFC, false},
		{"NFC set, NFD typed", accentedNFC, accentedNFD, false},
		{"full-width set, ASCII typed", "ｃｏｒｒｅｃｔ ｈｏｒｓｅ ９", "correct horse 9", false},
		{"wrong", "correct horse battery", "correct horse batterY", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := hashNormalised(tc.set, false)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(h, "$argon2id$v=19$m=19456,t=2,p=1$") {
				t.Fatalf("legacy hash = %q", h)
			}
			if ok, err := CheckPassword(h, tc.attempt); ok != tc.want || err != nil {
				t.Errorf("CheckPassword(legacy hash of %+q, %+q) = %v, %v; want %v", tc.set, tc.attempt, ok, err, tc.want)
			}
		})
	}
}

// TestHashPasswordRefusesNonText: no password that is not text (invalid
// UTF-8, a control character) is hashed, whichever path sets it, and the
// refusal never quotes it.
func TestHashPasswordRefusesNonText(t *testing.T) {
	for name, pw := range map[string]string{
		"NUL":             "correct-horse\x00battery",
		"tab":             "correct-horse\tbattery",
		"line feed":       "correct-horse\nbattery",
		"carriage return": "correct-horse\rbattery",
		"DEL":             "correct-horse\x7fbattery",
		"C1 next line":    "correct-horse\u0085battery",
		"invalid UTF-8":   "correct-horse\xffbattery",
	} {
		t.Run(name, func(t *testing.T) {
			h, err := HashPassword(pw)
			if err == nil || h != "" {
				t.Fatalf("HashPassword(%+q) = %q, %v; want a refusal", pw, h, err)
			}
			if !strings.Contains(err.Error(), "without control characters") || strings.Contains(err.Error(), "battery") {
				t.Errorf("HashPassword(%+q) error %q: want one naming the problem, not the password", pw, err)
			}
		})
	}
}

// TestNormalizePasswordAllocations: the sign-in path's normalisation of
// an ASCII password, or of one already in NFKC, allocates nothing.
func TestNormalizePasswordAllocations(t *testing.T) {
	for _, pw := range []string{"correct horse battery staple", accentedNFC} {
		if n := testing.AllocsPerRun(100, func() { _ = normalizePassword(pw) }); n != 0 {
			t.Errorf("normalizePassword(%q) allocates %v times, want 0", pw, n)
		}
	}
	if got := normalizePassword(accentedNFD); got != accentedNFC {
		t.Errorf("normalizePassword(NFD) = %+q, want the NFC %+q", got, accentedNFC)
	}
}

// TestCheckPasswordHashParameters: the parameters of a hash are its
// three numbers and, at most, the norm=nfkc marker; a hash carrying
// anything else is not one hallpass made.
func TestCheckPasswordHashParameters(t *testing.T) {
	const saltKey = "$c2FsdHNhbHRzYWx0c2FsdA$ZHVtbXlkdW1teWR1bW15ZHVtbXlkdW1teWR1bW15ZHU"
	for params, wantErr := range map[string]bool{
		"m=19456,t=2,p=1":             false,
		"m=19456,t=2,p=1,norm=nfkc":   false,
		"m=19456,t=2,p=1,norm=nfd":    true,
		"m=19456,t=2,p=1,keyid=x":     true,
		"m=19456,t=2,p=1x":            true,
		"m=19456,t=2,p=1,norm=nfkc,x": true,
		"norm=nfkc,m=19456,t=2,p=1":   true,
	} {
		ok, err := CheckPassword("$argon2id$v=19$"+params+saltKey, "correct horse battery")
		if ok || (err != nil) != wantErr {
			t.Errorf("CheckPassword with parameters %q = %v, %v; want an error: %v", params, ok, err, wantErr)
		}
	}
}

// longHangul is a password of 120 Hangul syllables, each with a final
// consonant. Its NFC spelling (one code point, 3 bytes, a syllable: what
// most keyboards send) is well within the rules; its NFD spelling (three
// conjoining jamo, 9 bytes, a syllable: what some macOS sources give) is
// 1080 bytes, more than MaxPasswordLen.
func longHangul(t *testing.T) (nfc, nfd string) {
	t.Helper()
	var b strings.Builder
	for i := range 120 {
		s := (i*7919 + 13) % 11172
		if s%28 == 0 {
			s++ // a syllable with a final consonant
		}
		b.WriteRune(rune(0xAC00 + s))
	}
	nfc, nfd = norm.NFC.String(b.String()), norm.NFD.String(b.String())
	if len(nfd) <= MaxPasswordLen || len(nfc) > MaxPasswordLen {
		t.Fatalf("the spellings are %d (NFC) and %d (NFD) bytes: the test would prove nothing", len(nfc), len(nfd))
	}
	return nfc, nfd
}

// TestPasswordLongSpelling: a password the rules accept signs in typed
// as it was set, and in its other canonical spelling, however many bytes
// that spelling takes (NFD takes up to three times NFC's); an attempt
// longer than MaxPasswordInputLen, which no accepted password's spelling
// is, matches nothing, and is refused as a new password as too long.
func TestPasswordLongSpelling(t *testing.T) {
	nfc, nfd := longHangul(t)
	for _, tc := range []struct {
		name, set, attempt string
	}{
		{"NFD set, NFD typed", nfd, nfd},
		{"NFD set, NFC typed", nfd, nfc},
		{"NFC set, NFD typed", nfc, nfd},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := CheckPasswordPolicy(tc.set, "alice"); err != nil {
				t.Fatalf("CheckPasswordPolicy: %v", err)
			}
			h, err := HashPassword(tc.set)
			if err != nil {
				t.Fatal(err)
			}
			if ok, err := CheckPassword(h, tc.attempt); !ok || err != nil {
				t.Errorf("CheckPassword(hash of the %d-byte spelling, the %d-byte one) = %v, %v; want true", len(tc.set), len(tc.attempt), ok, err)
			}
		})
	}
	t.Run("longer than any spelling", func(t *testing.T) {
		h, err := HashPassword(nfc)
		if err != nil {
			t.Fatal(err)
		}
		// 4 × 1024 + 3 bytes whose NFKC form is nfc again: combining
		// grapheme joiners are kept by NFKC, so it is another password,
		// but no spelling of an accepted one is this long.
		long := nfc + strings.Repeat("\u034f", (MaxPasswordInputLen-len(nfc))/2+1)
		if ok, err := CheckPassword(h, long); ok || err != nil {
			t.Errorf("CheckPassword(%d bytes) = %v, %v; want false", len(long), ok, err)
		}
		if err := CheckPasswordPolicy(long, "alice"); err == nil || !strings.Contains(err.Error(), "too long") {
			t.Errorf("CheckPasswordPolicy(%d bytes) = %v; want it refused as too long", len(long), err)
		}
		if _, err := HashPassword(long); err == nil {
			t.Errorf("HashPassword(%d bytes) accepted", len(long))
		}
	})
}

// TestSamePassword: the two boxes of a new password and its confirmation
// agree when they spell the same password (the same NFKC form, as the
// hash sees it), whatever the spelling of each.
func TestSamePassword(t *testing.T) {
	nfc, nfd := longHangul(t)
	for _, tc := range []struct {
		name string
		a, b string
		want bool
	}{
		{"the same bytes", "quiet copper meadow 7", "quiet copper meadow 7", true},
		{"NFD and NFC", accentedNFD, accentedNFC, true},
		{"full-width and ASCII", "ｑｕｉｅｔ ｃｏｐｐｅｒ ｍｅａｄｏｗ ７", "quiet copper meadow 7", true},
		{"long NFD and NFC", nfd, nfc, true},
		{"another letter", "quiet copper meadow 7", "quiet copper meadow 8", false},
		{"case", "Quiet copper meadow 7", "quiet copper meadow 7", false},
		{"accent dropped", accentedNFC, "creme-brulee-cafe-Noel-42", false},
		{"one empty", "quiet copper meadow 7", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := SamePassword(tc.a, tc.b); got != tc.want {
				t.Errorf("SamePassword(a, b) = %v, want %v", got, tc.want)
			}
			if got := SamePassword(tc.b, tc.a); got != tc.want {
				t.Errorf("SamePassword(b, a) = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestHashPasswordLength: HashPassword counts its minimum in characters
// of the NFKC form, as CheckPasswordPolicy does, and its maximum in bytes
// of that form, and its refusals say which.
func TestHashPasswordLength(t *testing.T) {
	for _, tc := range []struct {
		name, password string
		want           string // "" if accepted, else part of the error
	}{
		{"7 ASCII characters", "1234567", "at least 8 characters (it has 7)"},
		{"8 ASCII characters", "12345678", ""},
		{"4 two-byte characters (8 bytes)", "éüöä", "at least 8 characters (it has 4)"},
		{"8 two-byte characters", "éüöäéüöä", ""},
		{"7 full-width characters, 7 once normalised", "ａｂｃｄｅｆｇ", "at least 8 characters (it has 7)"},
		{"1 character as typed, 18 once normalised", "\ufdfa", ""},
		{"1024 bytes", strings.Repeat("𝄞", MaxPasswordLen/4), ""},
		{"1025 bytes", strings.Repeat("𝄞", MaxPasswordLen/4) + "a", "at most 1024 bytes in UTF-8 once normalised (NFKC), and it is 1025"},
		{"1025 ASCII characters", strings.Repeat("a", MaxPasswordLen+1), "at most 1024 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, err := HashPassword(tc.password)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("HashPassword: %v; want it accepted", err)
			case tc.want == "":
				if ok, err := CheckPassword(h, tc.password); !ok || err != nil {
					t.Fatalf("CheckPassword of its hash = %v, %v", ok, err)
				}
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Fatalf("HashPassword: err = %v; want one containing %q", err, tc.want)
			}
		})
	}
}
