package directory

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
	"golang.org/x/text/unicode/norm"
)

// Argon2id parameters: OWASP's Password Storage Cheat Sheet minimum
// (m=19 MiB, t=2, p=1). Stored with each hash (PHC string format), so
// they can be raised later without invalidating existing passwords.
const (
	argonMemoryKiB = 19 * 1024
	argonTime      = 2
	argonThreads   = 1
	argonKeyLen    = 32
	argonSaltLen   = 16
	// MaxPasswordLen bounds, in bytes, the NFKC form of a new password
	// (HashPassword); legacy hashes are of passwords at most this long as
	// typed.
	MaxPasswordLen = 1024
	// MaxPasswordInputLen bounds, in bytes, a password as typed, before
	// it is normalised (normalizePassword), and so the work an attacker
	// can make one login cost: NFKC may make a string 18 times longer
	// (4096 bytes of U+FDFA become 45 KB, a few milliseconds' work, and
	// argon2id's input). No longer attempt is normalised, hashed or
	// checked. It is room for every spelling of every password the rules
	// accept (at most maxPasswordChars characters in NFKC), whatever the
	// keyboard: each of those characters is typed as at most 4 code
	// points (U+1F82 as α and three combining marks) of at most 4 bytes.
	// A password of 120 Hangul syllables is 360 bytes in NFC, but 1080 in
	// NFD (three conjoining jamo a syllable); bounded by MaxPasswordLen
	// as typed, that spelling, or the password set in it, could never
	// sign in.
	MaxPasswordInputLen = 4 * MaxPasswordLen
	// minPasswordLen bounds, in characters (code points), the NFKC form
	// of a new password (HashPassword): a floor under the policy's
	// minPasswordChars for callers that hash without it.
	minPasswordLen = 8
)

// nfkcParam is the PHC parameter that marks a hash as made from the NFKC
// form of its password (normalizePassword). Hashes without it (made
// before passwords were normalised) are legacy: made from the password
// exactly as it was typed.
const nfkcParam = "norm=nfkc"

// errPasswordNotText refuses a new password that is not valid UTF-8 or
// holds a control character (Unicode category Cc: NUL, tab, line
// breaks, DEL, the C1 controls). No sign-in form can submit one as typed,
// so it would be a password that cannot be used; and it never quotes the
// password. Format characters (Cf), such as the zero-width joiner inside
// many emoji, are printing text under NIST SP 800-63B 5.1.1.2 and stay
// allowed, as do spaces.
var errPasswordNotText = errors.New("password must be text without control characters such as tabs or line breaks, which cannot be typed into the sign-in form")

// errPasswordTooLong refuses a new password longer than
// MaxPasswordInputLen bytes as typed, whose NFKC form is longer than the
// rules allow.
var errPasswordTooLong = fmt.Errorf("password is too long: use at most %d characters", maxPasswordChars)

// normalizePassword returns password in Unicode Normalization Form KC, as
// NIST SP 800-63B 5.1.1.2 asks of verifiers: the same password typed on
// two systems whose keyboards compose characters differently ("é" as one
// code point on Windows, e + combining accent from some macOS sources),
// or in full-width or other compatibility forms ("ｐａｓｓ", "ﬁ"),
// becomes the same bytes before it is checked or hashed. An ASCII
// password, the usual case, is its own NFKC form and comes back as it is,
// without allocating; so does any password already in NFKC
// (norm.Form.String returns its input then).
func normalizePassword(password string) string {
	for i := 0; i < len(password); i++ {
		if password[i] >= utf8.RuneSelf {
			return norm.NFKC.String(password)
		}
	}
	return password
}

// newPasswordForm returns the form in which a password being set is
// checked against the password rules and hashed: its NFKC form
// (normalizePassword); or errPasswordNotText. Every new password goes
// through it, in CheckPasswordPolicy and again in HashPassword (where an
// already normalised password costs one scan), so that what the rules
// judged is what is stored.
func newPasswordForm(password string) (string, error) {
	if len(password) > MaxPasswordInputLen {
		// Refused before it is normalised: its NFKC form has more than
		// maxPasswordChars characters anyway (see MaxPasswordInputLen).
		return "", errPasswordTooLong
	}
	if !utf8.ValidString(password) {
		return "", errPasswordNotText
	}
	normal := normalizePassword(password)
	if strings.IndexFunc(normal, unicode.IsControl) >= 0 {
		return "", errPasswordNotText
	}
	return normal, nil
}

// HashPassword returns the PHC-format argon2id hash of password's NFKC
// form (newPasswordForm), marked as such (nfkcParam). A password that is
// not text (errPasswordNotText) is refused, and so is one whose NFKC form
// is shorter than minPasswordLen characters (counted as
// CheckPasswordPolicy counts them, in code points, not bytes) or longer
// than MaxPasswordLen bytes (the bound on what argon2id is given and
// sign-in's MaxPasswordInputLen rests on). Every password the policy
// accepts is within both.
func HashPassword(password string) (string, error) {
	normal, err := newPasswordForm(password)
	if err != nil {
		return "", err
	}
	if n := utf8.RuneCountInString(normal); n < minPasswordLen {
		return "", fmt.Errorf("password is too short: use at least %d characters (it has %d)", minPasswordLen, n)
	}
	if len(normal) > MaxPasswordLen {
		return "", fmt.Errorf("password is too long: it must be at most %d bytes in UTF-8 once normalised (NFKC), and it is %d", MaxPasswordLen, len(normal))
	}
	return hashNormalised(normal, true)
}

// hashNormalised hashes password as given, marking the hash with
// nfkcParam when normalised says password is in its NFKC form. Only
// HashPassword (normalised) and tests making legacy hashes call it.
func hashNormalised(password string, normalised bool) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	key := argon2.IDKey([]byte(password), salt, argonTime, argonMemoryKiB, argonThreads, argonKeyLen)
	params := fmt.Sprintf("m=%d,t=%d,p=%d", argonMemoryKiB, argonTime, argonThreads)
	if normalised {
		params += "," + nfkcParam
	}
	return fmt.Sprintf("$argon2id$v=%d$%s$%s$%s", argon2.Version, params,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key)), nil
}

var errBadHash = errors.New("malformed password hash")

// CheckPassword reports whether password matches the PHC hash, comparing
// in constant time. Every sign-in and every re-check of a current
// password (the account page's password change) comes here.
//
// A hash marked with nfkcParam was made from the NFKC form of the
// password (HashPassword), so the attempt is normalised the same way
// (normalizePassword) and hashed once: any canonically or compatibly
// equivalent spelling of the password signs in.
//
// A legacy hash (no nfkcParam: made from the password exactly as typed,
// before passwords were normalised) is checked against the attempt
// exactly as typed, once, and never also against its NFKC form. So it
// keeps working as it always did, and a password set with characters now
// refused (a tab) still signs in; but an attempt spelt differently from
// the one set (NFD against NFC) still fails, until the password is next
// set. Trying the NFKC form too, when it differs from the attempt, would
// also let a legacy password set in NFC sign in from NFD, but at the cost
// of a second argon2id computation for any attempt the attacker chooses
// not to be in NFKC: twice the CPU and memory per guess, and a failed
// login that takes twice as long for an existing legacy user as for an
// unknown username (dummyHash, one computation), which tells which
// usernames exist. One computation per check, whatever the hash and
// attempt, keeps both out. hallpass does not rehash at sign-in (a
// login writes no password hash), so legacy hashes are replaced when
// the password is next set.
//
// An attempt longer than MaxPasswordInputLen as typed fails at once,
// whatever the hash; any other is normalised and hashed once, whatever
// the hash and however long its NFKC form: which attempts cost no
// argon2id computation depends on the attempt alone, so the time a
// failure takes tells no legacy user from a current one or from an
// unknown username (dummyHash). (An attempt whose NFKC form is longer
// than MaxPasswordLen matches no hash HashPassword made, nor one longer
// than MaxPasswordLen as typed a legacy hash, whose passwords were
// bounded so; the computation is made all the same.)
func CheckPassword(hash, password string) (bool, error) {
	if len(password) > MaxPasswordInputLen {
		return false, nil
	}
	normal := normalizePassword(password)
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errBadHash
	}
	var version int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &version); err != nil || version != argon2.Version {
		return false, errBadHash
	}
	params, normalised := strings.CutSuffix(parts[3], ","+nfkcParam)
	var mem, iter uint32
	var threads uint8
	if _, err := fmt.Sscanf(params, "m=%d,t=%d,p=%d", &mem, &iter, &threads); err != nil || mem == 0 || iter == 0 || threads == 0 || mem > 1<<20 || iter > 20 ||
		params != fmt.Sprintf("m=%d,t=%d,p=%d", mem, iter, threads) {
		// Anything after the three numbers, but the marker, is not a
		// hash this code made: an unknown parameter might have been
		// meant to change how it is checked.
		return false, errBadHash
	}
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return false, errBadHash
	}
	want, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil || len(want) == 0 || len(want) > 64 {
		return false, errBadHash
	}
	if normalised {
		password = normal
	}
	got := argon2.IDKey([]byte(password), salt, iter, mem, threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// SamePassword reports whether a and b are the same password as a hash
// of either would see it: whether their NFKC forms (normalizePassword)
// are equal, compared in constant time. A form asking for a new password
// twice compares the two boxes with it, so that one typed in NFD and the
// other in NFC (or in full-width letters) agree, as they would at
// sign-in. Text longer than MaxPasswordInputLen, which no rule accepts
// as a password, is compared as it is, without being normalised.
func SamePassword(a, b string) bool {
	if len(a) <= MaxPasswordInputLen && len(b) <= MaxPasswordInputLen {
		a, b = normalizePassword(a), normalizePassword(b)
	}
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
