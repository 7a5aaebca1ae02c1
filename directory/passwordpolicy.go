package directory

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/hallpass/hallpass/directory/strength"
)

// The password rules. Lengths are counted in characters (Unicode code
// points), as a person counts them, not in bytes.
const (
	// minPasswordChars: length is what slows guessing most; together with
	// the strength check it keeps out the short passwords people reuse.
	minPasswordChars = 12
	// maxPasswordChars keeps every accepted password's NFKC form within
	// MaxPasswordLen bytes (256 × 4-byte UTF-8), and each of its
	// spellings within MaxPasswordInputLen, the bound sign-in checks
	// before it normalises and hashes, so nothing set here, in whatever
	// spelling it is typed, can be refused at sign-in for its length.
	maxPasswordChars = 256
	// minPasswordScore is zxcvbn's "safely unguessable": 10^8 guesses or
	// more, far beyond online guessing, and some protection should the
	// hashes leak.
	minPasswordScore = 3
	// strengthPrefixBytes is how much of a password the estimator sees.
	// zxcvbn's matching grows much faster than the length (measured on a
	// busy 2-core machine: a random 1024-character password 28 s, 256
	// characters 430 ms, 128 characters 80 ms, 64 characters under 10 ms),
	// and a password whose first
	// 64 bytes are hard to guess is no easier to guess whole. The other
	// rules see the whole password.
	strengthPrefixBytes = 64
	// minUsernameInPassword: a username shorter than this is found inside
	// passwords by chance (bo, al); the estimator still weighs it.
	minUsernameInPassword = 3
	// generatedPasswordChars of base64url are 120 random bits.
	generatedPasswordChars = 20
)

// CheckPasswordPolicy returns nil if password may be set for the user
// named username, or else an error that says why in plain words, starting
// with "password". related are other things known about the user (email
// address, name): a password built from them is easy to guess. Every path
// that sets a password (admin API, console, account page, CLI,
// config-as-code, --dev seeding) goes through it. The rules judge the
// password's NFKC form, the one HashPassword stores (newPasswordForm):
// lengths are counted in it, and a full-width username ("ａｌｉｃｅ") is
// the username. A password that is not text is refused first.
func CheckPasswordPolicy(password, username string, related ...string) error {
	password, err := newPasswordForm(password)
	if err != nil {
		return err
	}
	n := utf8.RuneCountInString(password)
	if n < minPasswordChars {
		return fmt.Errorf("password is too short: use at least %d characters (it has %d)", minPasswordChars, n)
	}
	if n > maxPasswordChars {
		return fmt.Errorf("password is too long: use at most %d characters (it has %d)", maxPasswordChars, n)
	}
	if len(username) >= minUsernameInPassword && strings.Contains(strings.ToLower(password), strings.ToLower(username)) {
		return errors.New("password must not contain the username")
	}
	r := strength.Rate(strengthPrefix(password), userInputs(username, related))
	if r.Score < minPasswordScore {
		return fmt.Errorf("password is too easy to guess: %sadd more words or characters, and avoid common words, names and patterns", weakness(r))
	}
	return nil
}

// GeneratePassword returns a random password that passes
// CheckPasswordPolicy for the user.
func GeneratePassword(username string, related ...string) (string, error) {
	// A random string can, rarely, contain the username or a pattern the
	// estimator dislikes; draw again rather than hand out a refused one.
	for range 16 {
		pw := randomText(generatedPasswordChars / 4 * 3) // base64: 4 characters for 3 bytes
		if CheckPasswordPolicy(pw, username, related...) == nil {
			return pw, nil
		}
	}
	return "", errors.New("generate password: no random password passed the password rules in 16 tries")
}

// strengthPrefix is at most strengthPrefixBytes of password, cut at a
// character boundary.
func strengthPrefix(password string) string {
	if len(password) <= strengthPrefixBytes {
		return password
	}
	cut := strengthPrefixBytes
	for cut > 0 && !utf8.RuneStart(password[cut]) {
		cut--
	}
	return password[:cut]
}

// userInputs are the words zxcvbn treats as known to an attacker: the
// username, each related string whole, an email address's local part, and
// each of their words (zxcvbn matches an input only as a whole, so
// "Alice Liddell" alone would not catch "liddell"). Each in its NFKC
// form, the password's (newPasswordForm), before it is cut into words:
// a name stored in NFD ("e" and a combining accent, which is no letter
// and so cut it in two) or in full-width letters is found in a password
// however either was typed.
func userInputs(username string, related []string) []string {
	var out []string
	seen := map[string]bool{}
	add := func(s string) {
		s = strings.ToLower(strings.TrimSpace(s))
		if len(s) < minUsernameInPassword || seen[s] {
			return
		}
		seen[s] = true
		out = append(out, s)
	}
	for _, s := range append([]string{username}, related...) {
		s = normalizePassword(s)
		add(s)
		if local, _, ok := strings.Cut(s, "@"); ok {
			add(local)
		}
		for _, w := range strings.FieldsFunc(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
			add(w)
		}
	}
	return out
}

// weakness names what the estimator found the password made of, e.g.
// "it is mostly a common password and a year; ", or "" if nothing.
func weakness(r strength.Result) string {
	var parts []string
	for _, m := range r.Sequence {
		var what string
		switch m.Pattern {
		case "dictionary":
			switch m.DictionaryName {
			case "passwords":
				what = "a common password"
			case "user_inputs":
				what = "the user's name, username or email"
			case "male_names", "female_names", "surnames":
				what = "a common name"
			default:
				what = "a common word"
			}
		case "spatial":
			what = "a keyboard pattern"
		case "repeat":
			what = "repeated characters"
		case "sequence":
			what = "a sequence such as abc or 123"
		case "regex":
			what = "a year"
		case "date":
			what = "a date"
		}
		if what != "" && !slices.Contains(parts, what) {
			parts = append(parts, what)
		}
	}
	switch len(parts) {
	case 0:
		return ""
	case 1:
		return "it is mostly " + parts[0] + "; "
	}
	return "it is mostly " + strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1] + "; "
}
