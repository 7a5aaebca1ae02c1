package strength

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/frequency"
	"github.com/trustelem/zxcvbn/match"
)

// maxFuzzBytes is the policy's strengthPrefixBytes: the most the
// directory ever rates.
const maxFuzzBytes = 64

// sameRating fails t unless Rate and the library agree on pw: the score
// exactly, the guesses but for float rounding (the library sums and
// multiplies in map order, which varies). When pw holds a substitute
// (p4ssw0rd), some of whose readings the library loses
// (l33tSubstitutions), Rate may find it easier to guess, never harder.
func sameRating(t testing.TB, pw string, inputs []string) {
	t.Helper()
	got := Rate(pw, inputs)
	want := zxcvbn.PasswordStrength(pw, inputs)
	ok := got.Score == want.Score && closeEnough(got.Guesses, want.Guesses)
	if holdsSubstitute(pw) {
		ok = got.Score <= want.Score && (got.Guesses < want.Guesses || closeEnough(got.Guesses, want.Guesses))
	}
	if !ok {
		t.Errorf("Rate(%q, %q) = score %d, %g guesses; zxcvbn says score %d, %g guesses\ngot  %s\nwant %s",
			pw, inputs, got.Score, got.Guesses, want.Score, want.Guesses, describe(got.Sequence), describe(want.Sequence))
	}
}

// TestRateL33tEveryReading: passwords some of whose readings the library
// loses, which it rates hard to guess (3 or 4) and Rate, trying every
// reading, finds easy; and one that only a reading the library
// changed finds (trustno1 with its 1 kept), which Rate finds too.
func TestRateL33tEveryReading(t *testing.T) {
	for _, tc := range []struct {
		pw        string
		word      string
		wantBelow int
	}{
		{"73rm1n@70r1234", "terminator", 3},
		{"p@k1$7@n1234", "pakistan", 3},
		{"p@$$w0rd35", "password", 3},
		{"7ru$7n012024!", "trustno1", 3},
	} {
		got := Rate(tc.pw, nil)
		if got.Score >= tc.wantBelow {
			t.Errorf("Rate(%q) = score %d (%g guesses), want below %d: it is %s\n%s", tc.pw, got.Score, got.Guesses, tc.wantBelow, tc.word, describe(got.Sequence))
		}
		found := false
		for _, m := range got.Sequence {
			found = found || m.MatchedWord == tc.word
		}
		if !found {
			t.Errorf("Rate(%q) did not read %s: %s", tc.pw, tc.word, describe(got.Sequence))
		}
		sameRating(t, tc.pw, nil)
	}
}

// TestRateNoHarderThanLibrary: passwords where the readings the library
// loses add a match (granger, 6 read as g) that zxcvbn's search for the
// likeliest sequence then prefers, pruning the sequence that, extended,
// is likelier (6, then ranger): with every reading alone they were rated
// harder to guess than by the library. Rate keeps the lower of the two
// ratings, so never.
func TestRateNoHarderThanLibrary(t *testing.T) {
	for _, pw := range []string{"6rang3r90in8arrer4$"} {
		sameRating(t, pw, nil)
	}
}

func closeEnough(a, b float64) bool {
	return a == b || math.Abs(a-b) <= 1e-9*math.Max(math.Abs(a), math.Abs(b))
}

// describe lists a match sequence for a failure message.
func describe(ms []*match.Match) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s[%d:%d]%q=%g", m.Pattern, m.I, m.J, m.Token, m.Guesses))
	}
	return strings.Join(parts, " ")
}

// userWords are the user inputs of the corpus's user-inputs case, as
// directory.userInputs makes them.
// The library never finds a word that ends in a non-ASCII letter (josé):
// it cuts substrings before the last character's second byte. It does
// find one that ends in U+FFFD where that cut falls.
var userWords = []string{"alice", "alice.liddell@example.com", "alice.liddell", "liddell", "example", "com", "xandrel quorvith", "xandrel", "quorvith",
	"José", "josé", "müller", "straße", "日本", "ab\uFFFD", "Alice"}

// corpus returns the differential test's passwords: the word lists
// (whole when full, else every 17th word) and mutations of some of
// their words (every 53rd when full, else every 211th), then hand-picked
// patterns, dates, repeats, Unicode and random strings. Each entry says
// whether to rate it with userWords.
func corpus(full bool) []corpusEntry {
	mutateEvery := 211
	if full {
		mutateEvery = 53
	}
	var out []corpusEntry
	add := func(pw string) { out = append(out, corpusEntry{pw: pw}) }
	var names []string
	for name := range frequency.FrequencyLists {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for k, w := range frequency.FrequencyLists[name] {
			if full || k%17 == 0 {
				add(w)
			}
			if k%mutateEvery == 0 {
				for _, m := range mutations(w, k) {
					add(m)
				}
			}
		}
	}
	for _, pw := range handPicked() {
		add(pw)
	}
	for _, pw := range dates() {
		add(pw)
	}
	rng := rand.New(rand.NewPCG(13, 2026))
	randoms := 500
	if full {
		randoms = 3000
	}
	for k := range randoms {
		add(randomString(rng, 1+k%maxFuzzBytes))
	}
	for _, pw := range append(handPicked(), "alice", "Alice1984", "ecila", "liddell!", "xandrelquorvith", "4l1c3.l1dd3ll",
		"alice.liddell@example.com", "moc.elpmaxe", "aliceliddellalice", "xandrel.quorvith2",
		"josé1990", "ésoj", "Müller!", "mülleR", "straßenbahn", "日本日本", "abé12", "éba", "JOSÉ") {
		out = append(out, corpusEntry{pw: pw, withUser: true})
	}
	return out
}

type corpusEntry struct {
	pw       string
	withUser bool
}

// mutations are word changed as people change words.
func mutations(w string, k int) []string {
	l33t := strings.NewReplacer("a", "4", "e", "3", "o", "0", "s", "$", "i", "1", "l", "|", "t", "+", "g", "9")
	l33t2 := strings.NewReplacer("a", "@", "s", "5", "i", "!", "l", "1", "t", "7", "c", "(", "b", "8", "x", "%", "z", "2")
	years := []string{"1987", "2019", "2024", "99", "07"}
	return []string{
		strings.ToUpper(w[:1]) + w[1:],
		strings.ToUpper(w),
		reverse(w),
		l33t.Replace(w),
		l33t2.Replace(w),
		strings.ToUpper(w[:1]) + l33t.Replace(w[1:]) + "!",
		w + "1",
		w + "123",
		w + years[k%len(years)],
		"!" + w + fmt.Sprint(k%100),
		w + "12/05/1988",
		w + w,
		w + w + w,
		"abab" + w,
		w + "qwerty",
		w + " " + reverse(w),
	}
}

func handPicked() []string {
	return []string{
		"",
		"a", "A", "1", "!", "é", "𝄞",
		// Keyboard walks.
		"qwerty", "qwertyuiop", "asdfgh", "zxcvbnm", "1qaz2wsx", "!QAZ@WSX", "qWeRtY", "QWERTY", "poiuytrewq",
		"aoeuidhtns", ",.pyfgcrl", "789456123", "7412369", "1236987", "0258", "+-*/", "=/*-", "qazwsxedc",
		"zaq1xsw2cde3", "mnbvcxz", "`1234567890-=", "~!@#$%^&*()_+", "[];'./", "{}:\"<>?",
		// Sequences.
		"abcdef", "abcdefghijkl", "zyxwvu", "13579", "97531", "ACEGIK", "0123456789", "9876543210", "acegikmoqsuwy",
		"abcxyz", "aBcDeF", "αβγδε", "あいうえお", "123456789012",
		// Repeats.
		"aaaa", "aaaaaaaaaaaa", "abcabcabc", "abab", "ababab", "aabaab", "aabaabaabaab", "abcabcab", "xyzxyzxyzxyz",
		"ababpassword", "letmeinletmein", "11111111", "1212121212", "ééééé", "日本日本日本", "a\na\na\n", "ab\nab\n",
		"\n\n\n\n", "𝄞𝄞𝄞𝄞", "é1é1é1x", "aaé", "abcabcé", "xxyyxxyy", "abcabcabcxabcabc", "batmanbatman123",
		"P@ssw0rdP@ssw0rd", "qwertyqwerty", "1q2w3e1q2w3e",
		// l33t with many substitutes (several shared: 1 | 7).
		"p4$$w0rd", "P@ssw0rd2024", "h4x0r", "l33t", "1|7!", "|1|7+", "a1l|7t", "$3cr3t", "7r0ub4dor&3", "c0mput3r",
		"+r0ub1e", "1ll1n01$", "b4s3b4ll", "8ase8all", "(ookie", "{a}[b]<c>", "9r4ndm4", "%ylophon3", "2e8ra",
		"4@8({[<36!9!1|7 0$5+7%2", "1|71|71|7", "$|!7+@4(", "p@$$w0rd!", "!|1l7t+", "4@(3610$+%2!|",
		// Readings the library loses or changes by sharing arrays: a
		// second substitute for the third letter (p@$$w0rd45) or the
		// fourth (p@$$w0rd35), a shared substitute (1) in between.
		"p@$$w0rd45", "p@$$w0rd35", "p4$$w0rd5@", "$3cr3+5", "3l3ph4n+$5", "p@$$w0rd!1|7", "b4$3b4ll5", "1nt3rn3t$5",
		"m0nk3y$5+7", "c4$+l3$5", "|337$p34k5", "+r1pl3$5@",
		// From the password policy's tests.
		"correct-horse-battery-staple", "vD9#qLm2!xTe", "correct horse battery", "always-correct-horse-9",
		"vD9#qLm2!xT", "äöüßäöüßäöü", "password1234", "qwertyuiop12", "Password123!", "abcdefghijkl",
		"xandrelquorvith", "xandrel.quorvith2", "my-alice-horse-battery-7", "Tr0ub4dour&3", "correcthorsebatterystaple",
		// Unicode.
		"pässwörd", "Ärger2019", "日本語のパスワード", "İstanbul", "\u212Ailler", "\u212A", "KİLLER", "paß", "ﬀoo",
		"\uFFFDpassword", "pass\uFFFD", "ΣΊΣΥΦΟΣ", "Привет123", "mañana", "naïve", "١٢٣٤", "١٩٩١", "۱۹۹۱۰۱۰۱",
		"\u00a0\u00a0\u00a0", "a\u3000b", "\u0130\u0130\u0130", "ĳssel", "Ǆungla", "ǅ", "ß",
		// 64 bytes.
		strings.Repeat("ab", 32), strings.Repeat("x", 64), strings.Repeat("𝄞", 16), strings.Repeat("p4$$", 16),
		"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ!@",
		"correct-horse-battery-staple-correct-horse-battery-staple-corre",
	}
}

// dates are dates written in every way the matcher reads.
func dates() []string {
	var out []string
	for _, d := range [][3]int{{1, 1, 1991}, {12, 5, 1988}, {31, 12, 2019}, {29, 2, 2004}, {7, 11, 1066}, {15, 6, 2050}, {3, 4, 2051}, {13, 13, 1999}, {0, 5, 2000}} {
		day, month, year := d[0], d[1], d[2]
		for _, sep := range []string{"", " ", "/", "\\", "_", ".", "-", "\u00a0", "\u3000", "\t", "\n", ":"} {
			for _, f := range []string{"%d%s%d%s%d", "%02d%s%02d%s%d", "%d%s%d%s%02d", "%02d%s%02d%s%02d"} {
				y := year
				if strings.HasSuffix(f, "%02d") {
					y %= 100
				}
				out = append(out,
					fmt.Sprintf(f, day, sep, month, sep, y),
					fmt.Sprintf(f, month, sep, day, sep, y),
					fmt.Sprintf("%d%s%02d%s%02d", year, sep, month, sep, day),
					"x"+fmt.Sprintf(f, day, sep, month, sep, y)+"\n",
				)
			}
		}
	}
	return append(out, "1191", "9111", "111504", "2015_06_04", "1.1.91", "11111991", "19911111", "20101010",
		"1991\n", "1.1.1991\n", "١٩٩١١", "1٩91", "1١1991", "٣/٣/٩١", "12/31/99", "123456", "0000", "19000101")
}

// randomString is n bytes, mostly printable ASCII, some multibyte
// characters, some from the l33t table, as the fuzzer would not find
// quickly.
func randomString(rng *rand.Rand, n int) string {
	const ascii = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 !\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	const l33t = "4@8({[<3691!|70$5+%2"
	var b strings.Builder
	for b.Len() < n {
		switch rng.IntN(10) {
		case 0:
			b.WriteRune([]rune("éß日𝄞İ\u212A\n١Σ")[rng.IntN(9)])
		case 1, 2:
			b.WriteByte(l33t[rng.IntN(len(l33t))])
		default:
			b.WriteByte(ascii[rng.IntN(len(ascii))])
		}
	}
	s := b.String()
	for len(s) > n {
		_, w := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-w]
	}
	return s
}

// TestRateMatchesZxcvbn: Rate rates as the library on every word of its
// lists, mutations of them, patterns, dates, repeats, Unicode and random
// strings. The whole corpus (127,000 passwords, over a minute of CPU,
// most of it the library's) runs with HALLPASS_STRENGTH_CORPUS=full;
// else a sample of 18,000 (and CI runs the fuzz target's seeds).
func TestRateMatchesZxcvbn(t *testing.T) {
	c := corpus(os.Getenv("HALLPASS_STRENGTH_CORPUS") == "full")
	for _, e := range c {
		var inputs []string
		if e.withUser {
			inputs = userWords
		}
		sameRating(t, e.pw, inputs)
	}
	t.Logf("%d passwords rated alike", len(c))
}

// TestRateInvalidUTF8: a password that is not text scores 0, as in the
// library.
func TestRateInvalidUTF8(t *testing.T) {
	for _, pw := range []string{"\xff", "correct-horse-\xff-battery-staple", "\xe6\x97", "p\xc3"} {
		if r := Rate(pw, nil); r.Score != 0 || r.Guesses != 0 || r.Sequence != nil {
			t.Errorf("Rate(%q) = %+v, want the zero Result", pw, r)
		}
		sameRating(t, pw, nil)
	}
}

// TestWordListsLowercase: the index looks up lowercased substrings as
// they are, which finds every word only while the lists are lowercase.
func TestWordListsLowercase(t *testing.T) {
	for name, words := range frequency.FrequencyLists {
		for _, w := range words {
			if strings.ToLower(w) != w {
				t.Errorf("list %s has %q, not lowercase", name, w)
			}
		}
	}
}

// TestIndexRanks: every word is found with its rank, and a word of no
// list is not.
func TestIndexRanks(t *testing.T) {
	ix := buildIndex()
	for k, name := range ix.names {
		for pos, w := range frequency.FrequencyLists[name] {
			if got := ix.rank(k, hash([]byte(w)), []byte(w)); got != pos+1 {
				t.Fatalf("%s: rank of %q = %d, want %d", name, w, got, pos+1)
			}
		}
		if got := ix.rank(k, hash([]byte("xq\x00zv")), []byte("xq\x00zv")); got != 0 {
			t.Errorf("%s: rank of a non-word = %d", name, got)
		}
	}
}

// FuzzRateMatchesZxcvbn: Rate and the library agree on any password of
// up to 64 bytes, with or without user inputs (given as one string,
// split at commas, also cut at 64 bytes).
func FuzzRateMatchesZxcvbn(f *testing.F) {
	for _, pw := range handPicked() {
		f.Add(pw, "")
	}
	for _, pw := range dates()[:40] {
		f.Add(pw, "")
	}
	f.Add("alice1984", "alice,liddell")
	f.Add("4l1c3!", "Alice,alice")
	f.Fuzz(func(t *testing.T, pw, inputs string) {
		// Cut, not skip, longer inputs: a cut can split a character,
		// which is an input like any other.
		pw, inputs = pw[:min(len(pw), maxFuzzBytes)], inputs[:min(len(inputs), maxFuzzBytes)]
		var in []string
		if inputs != "" {
			in = strings.Split(inputs, ",")
		}
		sameRating(t, pw, in)
	})
}

// typical are passwords as people set them, for the benchmarks.
var typical = []string{"correct-horse-battery-staple", "P@ssw0rd2024", "vD9#qLm2!xTe", "alice1984!", "qwertyuiop12", "Tr0ub4dour&3"}

// BenchmarkRate rates typical passwords; compare BenchmarkZxcvbn.
func BenchmarkRate(b *testing.B) {
	Rate("warm", nil) // build the index outside the timing
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Rate(typical[i%len(typical)], userWords)
	}
}

// BenchmarkZxcvbn is the library on the same passwords.
func BenchmarkZxcvbn(b *testing.B) {
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		zxcvbn.PasswordStrength(typical[i%len(typical)], userWords)
	}
}

// TestEstimatorsAgree: an Estimator of its own and the zero Estimator
// rate as Rate does.
func TestEstimatorsAgree(t *testing.T) {
	for _, pw := range []string{"p@$$w0rd2024", "correct-horse-battery-staple", "alice1984", ""} {
		want := Rate(pw, userWords)
		for name, e := range map[string]Estimator{"NewEstimator": NewEstimator(), "zero": {}} {
			if got := e.Rate(pw, userWords); got.Guesses != want.Guesses || got.Score != want.Score {
				t.Errorf("%s: Rate(%q) = %g guesses, score %d; Rate gives %g, %d", name, pw, got.Guesses, got.Score, want.Guesses, want.Score)
			}
		}
	}
}

// TestWordListsMatchLibrary: the embedded lists are the library's, word
// for word and in order, so ranks are the library's. After an upgrade of
// the library, `go generate ./directory/strength` rewrites them.
func TestWordListsMatchLibrary(t *testing.T) {
	var names []string
	for _, wl := range wordLists() {
		names = append(names, wl.name)
		want, ok := frequency.FrequencyLists[wl.name]
		if !ok {
			t.Errorf("list %s is not the library's", wl.name)
			continue
		}
		got := strings.Split(strings.TrimSuffix(wl.text, "\n"), "\n")
		if !strings.HasSuffix(wl.text, "\n") || !slices.Equal(got, want) {
			t.Errorf("list %s differs from the library's (%d words, want %d): run go generate", wl.name, len(got), len(want))
		}
	}
	if !slices.IsSorted(names) || len(names) != len(frequency.FrequencyLists) {
		t.Errorf("lists %q, want the library's %d, sorted", names, len(frequency.FrequencyLists))
	}
}

// TestNoWordMapsAtStart: no package that builds maps of the word lists
// when the program starts is linked into a program importing this one.
func TestNoWordMapsAtStart(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		switch p {
		case "github.com/trustelem/zxcvbn", "github.com/trustelem/zxcvbn/matching", "github.com/trustelem/zxcvbn/frequency":
			t.Errorf("the package imports %s, which builds maps of the word lists at start", p)
		}
	}
}
