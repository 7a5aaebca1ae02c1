package directory

import (
	"golang.org/x/text/unicode/norm"

	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"unicode/utf8"
)

// hexRun is n characters of deterministic, unpatterned hex.
func hexRun(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		sum := sha256.Sum256([]byte{byte(i), byte(i >> 8)})
		b.WriteString(hex.EncodeToString(sum[:]))
	}
	return b.String()[:n]
}

func TestCheckPasswordPolicy(t *testing.T) {
	for _, tc := range []struct {
		name, password, username string
		related                  []string
		want                     string // a fragment of the error; "" accepts
	}{
		{name: "passphrase", password: "correct-horse-battery-staple", username: "alice"},
		{name: "random, exactly 12", password: "vD9#qLm2!xTe", username: "alice"},
		{name: "256 characters", password: hexRun(256), username: "alice"},
		{name: "256 characters, 216 of them 4-byte", password: hexRun(40) + strings.Repeat("𝄞", 216), username: "alice"},
		{name: "words with spaces", password: "correct horse battery", username: "bob"},
		{name: "a short username inside is chance", password: "always-correct-horse-9", username: "al"},

		{name: "empty", password: "", username: "alice", want: "password is too short: use at least 12 characters"},
		{name: "11 characters", password: "vD9#qLm2!xT", username: "alice", want: "password is too short: use at least 12 characters (it has 11)"},
		// 22 bytes but 11 characters: length is counted in characters.
		{name: "11 multibyte characters", password: "äöüßäöüßäöü", username: "alice", want: "is too short"},
		{name: "257 characters", password: hexRun(257), username: "alice", want: "password is too long: use at most 256 characters (it has 257)"},
		{name: "dictionary word and digits", password: "password1234", username: "alice", want: "password is too easy to guess: it is mostly a common password"},
		{name: "keyboard row", password: "qwertyuiop12", username: "alice", want: "password is too easy to guess"},
		{name: "capitalised common password", password: "Password123!", username: "alice", want: "too easy to guess"},
		{name: "l33t", password: "P@ssw0rd2024", username: "alice", want: "too easy to guess"},
		// Rated very unguessable by github.com/trustelem/zxcvbn, which
		// loses some readings of its substitutes (directory/strength).
		{name: "l33t the library misread", password: "73rm1n@70r1234", username: "alice", want: "password is too easy to guess: it is mostly a common password"},
		{name: "l33t the library misread, vacation", password: "v@c@710n1234", username: "alice", want: "too easy to guess"},
		{name: "one character repeated", password: "aaaaaaaaaaaa", username: "alice", want: "repeated characters"},
		{name: "alphabet", password: "abcdefghijkl", username: "alice", want: "a sequence such as abc or 123"},
		{name: "digits", password: "123456789012", username: "alice", want: "too easy to guess"},
		{name: "common password twice", password: "letmeinletmein", username: "alice", want: "too easy to guess"},
		{name: "contains the username", password: "my-alice-horse-battery-7", username: "alice", want: "password must not contain the username"},
		{name: "contains the username in capitals", password: "my-ALICE-horse-battery-7", username: "alice", want: "must not contain the username"},
		{name: "capitalised username inside", password: "the-aLiCe-horse-battery-7", username: "Alice", want: "must not contain the username"},
		{name: "is the username", password: "hallpass.admin", username: "hallpass.admin", want: "must not contain the username"},
		// Strong to the estimator but for what it knows about the user.
		{name: "name and surname", password: "xandrelquorvith", username: "bob", related: []string{"bob@example.com", "Xandrel Quorvith"},
			want: "it is mostly the user's name, username or email"},
		// The rules judge the password's NFKC form: what is known about
		// the user is compared in that form too, however it was typed.
		{name: "accented name, both in NFD", password: norm.NFD.String("xandrélquorvith"), username: "bob", related: []string{"bob@example.com", norm.NFD.String("Xandrél Quorvith")},
			want: "it is mostly the user's name, username or email"},
		{name: "accented name in NFD, password in NFC", password: norm.NFC.String("xandrélquorvith"), username: "bob", related: []string{"bob@example.com", norm.NFD.String("Xandrél Quorvith")},
			want: "it is mostly the user's name, username or email"},
		{name: "full-width name", password: "xandrelquorvith", username: "bob", related: []string{"bob@example.com", "Ｘａｎｄｒｅｌ Ｑｕｏｒｖｉｔｈ"},
			want: "it is mostly the user's name, username or email"},
		{name: "email local part", password: "xandrel.quorvith2", username: "bob", related: []string{"xandrel.quorvith@example.com", ""},
			want: "too easy to guess"},
		{name: "tab", password: "correct-horse\tbattery", username: "alice", want: "without control characters"},
		{name: "line break", password: "correct-horse\nbattery", username: "alice", want: "without control characters"},
		{name: "not UTF-8", password: "correct-horse-\xff-battery", username: "alice", want: "without control characters"},
		{name: "NUL", password: "correct-horse\x00battery", username: "alice", want: "without control characters"},
		{name: "C1 control", password: "correct-horse\u0085battery", username: "alice", want: "without control characters"},
		// Format characters are printing text: the family emoji is three
		// joined by zero-width joiners.
		{name: "emoji with zero-width joiners", password: "correct-horse-\U0001F468\u200d\U0001F469\u200d\U0001F467", username: "alice"},
		// The rules judge the NFKC form, the one stored (newPasswordForm).
		{name: "full-width username inside", password: "my-ａｌｉｃｅ-horse-battery-7", username: "alice", want: "must not contain the username"},
		{name: "11 characters, 12 in NFKC", password: "vD9#qLm2!xﬁ", username: "alice"},
		{name: "252 characters, 258 in NFKC", password: hexRun(250) + "㍿㍿", username: "alice", want: "password is too long: use at most 256 characters (it has 258)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckPasswordPolicy(tc.password, tc.username, tc.related...)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.want != "" && err == nil:
				t.Errorf("accepted, want an error with %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q, want it to say %q", err, tc.want)
			}
			if err != nil && tc.password != "" && strings.Contains(err.Error(), tc.password) {
				t.Errorf("the error repeats the password: %v", err)
			}
		})
	}
	// Without the user's details the same passwords are fine: the
	// refusals above come from passing them to the estimator.
	for _, pw := range []string{"xandrelquorvith", "xandrel.quorvith2"} {
		if err := CheckPasswordPolicy(pw, "bob"); err != nil {
			t.Errorf("%q refused without the user's name and email: %v", pw, err)
		}
	}
}

// TestPasswordBoundsAgree: any password the rules accept is within the
// byte bound of a hashed password, and any spelling of it (each of its
// NFKC characters at most 4 code points as typed) within the bound that
// sign-in checks before normalising, so it can always sign in.
func TestPasswordBoundsAgree(t *testing.T) {
	if maxPasswordChars*utf8.UTFMax > MaxPasswordLen {
		t.Fatalf("%d characters can be %d bytes, more than login's bound of %d", maxPasswordChars, maxPasswordChars*utf8.UTFMax, MaxPasswordLen)
	}
	if maxPasswordChars*4*utf8.UTFMax > MaxPasswordInputLen {
		t.Fatalf("%d characters can be typed in %d bytes, more than sign-in's bound of %d", maxPasswordChars, maxPasswordChars*4*utf8.UTFMax, MaxPasswordInputLen)
	}
	longest := strings.Repeat("𝄞", maxPasswordChars-12) + "vD9#qLm2!xTe"
	if err := CheckPasswordPolicy(longest, "alice"); err != nil {
		t.Fatalf("longest password refused: %v", err)
	}
	h, err := HashPassword(longest)
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := CheckPassword(h, longest); !ok || err != nil {
		t.Errorf("the longest accepted password (%d bytes) does not verify: %v %v", len(longest), ok, err)
	}
}

func TestStrengthPrefix(t *testing.T) {
	for _, tc := range []struct {
		in       string
		wantLen  int
		wantDesc string
	}{
		{"short", 5, "shorter than the cut: whole"},
		{strings.Repeat("a", 200), strengthPrefixBytes, "ASCII: the first 64 bytes"},
		// 63 ASCII bytes, then a 4-byte character across the cut.
		{strings.Repeat("a", 63) + "𝄞𝄞", 63, "never half a character"},
	} {
		got := strengthPrefix(tc.in)
		if len(got) != tc.wantLen || !utf8.ValidString(got) || !strings.HasPrefix(tc.in, got) {
			t.Errorf("%s: strengthPrefix = %d bytes (valid %v), want a %d-byte prefix", tc.wantDesc, len(got), utf8.ValidString(got), tc.wantLen)
		}
	}
	// A long password is judged by its start: a weak start is refused
	// whatever follows, and the check stays fast.
	if err := CheckPasswordPolicy(strings.Repeat("a", 100)+hexRun(100), "alice"); err == nil {
		t.Error("100 repeated characters then random ones accepted")
	}
}

func TestGeneratePassword(t *testing.T) {
	seen := map[string]bool{}
	// A 3-letter username of base64url letters is the one most likely to
	// turn up inside a random string by chance.
	for range 300 {
		pw, err := GeneratePassword("abc", "abc@example.com", "Abc Def")
		if err != nil {
			t.Fatal(err)
		}
		if err := CheckPasswordPolicy(pw, "abc", "abc@example.com", "Abc Def"); err != nil {
			t.Fatalf("generated password %q refused: %v", pw, err)
		}
		if len(pw) != generatedPasswordChars || seen[pw] {
			t.Fatalf("generated password %q: %d characters, seen before %v", pw, len(pw), seen[pw])
		}
		seen[pw] = true
	}
}

// BenchmarkCheckPasswordPolicy measures the longest accepted password; the
// estimator sees its first 64 bytes only.
func BenchmarkCheckPasswordPolicy(b *testing.B) {
	pw := hexRun(maxPasswordChars)
	for b.Loop() {
		if err := CheckPasswordPolicy(pw, "alice", "alice@example.com", "Alice Liddell"); err != nil {
			b.Fatal(err)
		}
	}
}
