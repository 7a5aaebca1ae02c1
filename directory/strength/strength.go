package strength

import (
	"sync"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/match"
	"github.com/trustelem/zxcvbn/scoring"
)

// Result is a password's rating.
type Result struct {
	// Guesses is how many guesses an attacker who knows the model needs.
	Guesses float64
	// Score is 0 (too guessable: under 10^3 guesses) to 4 (very
	// unguessable: 10^10 or more); 3 withstands offline guessing of a
	// slow hash. Refuse passwords under the score your policy needs.
	Score int
	// Sequence is what the password was taken to be made of, in order:
	// read each match's Pattern ("dictionary", "spatial", "repeat",
	// "sequence", "regex", "date", "bruteforce") and, for dictionary
	// words, DictionaryName, to tell the user what made it weak.
	Sequence []*match.Match
}

// Estimator rates passwords. Its word index is built on its first
// rating, not before, and is then shared by all its copies; it is safe
// for concurrent use. NewEstimator makes one with an index of its own;
// the zero value shares the index of Rate.
type Estimator struct {
	index func() *index // nil: shared's
}

// NewEstimator returns an Estimator that has not yet built its index.
func NewEstimator() Estimator {
	return Estimator{index: sync.OnceValue(buildIndex)}
}

// shared is the Estimator behind Rate. It is the package's one
// package-level value: a sync.OnceValue, so the index it builds on the
// first rating is never changed after.
var shared = NewEstimator()

// Rate rates password; userInputs are words an attacker may know about
// its owner (name, username, email), which make a password built from
// them weak. It rates as github.com/trustelem/zxcvbn's PasswordStrength
// does, or easier to guess when l33t substitutes hide a word the library
// misreads (never harder), and takes time that grows fast with the
// length, so rate a bounded prefix of long passwords. Invalid UTF-8
// scores 0.
func Rate(password string, userInputs []string) Result {
	return shared.Rate(password, userInputs)
}

// Rate rates password as the package's Rate does.
func (e Estimator) Rate(password string, userInputs []string) Result {
	if !utf8.ValidString(password) {
		// As the library: a password that is not text is weak.
		return Result{}
	}
	index := e.index
	if index == nil {
		index = shared.index
	}
	m := newMatcher(index(), userInputs)
	// Only the l33t and repeat matches depend on the readings: the
	// other patterns are matched once for both ratings.
	found := m.patternMatches(password)
	seq := scoring.MostGuessableMatchSequence(password, m.omnimatch(password, found, l33tSubstitutions), false)
	if holdsSubstitute(password) {
		// zxcvbn's search for the likeliest sequence is not exhaustive:
		// at each position it drops a sequence when a shorter one ending
		// there is likelier, though the dropped one may lead to a likelier
		// whole. So the readings the library loses, which add matches, can
		// also rate a password harder to guess (6rang3r…: granger, found
		// by a lost reading, displaces 6 then ranger). The library's own
		// readings alone rate as the library does; the easier of the two
		// ratings is kept, so Rate is never more lenient than the library.
		lib := scoring.MostGuessableMatchSequence(password, m.omnimatch(password, found, libraryReadings), false)
		if lib.Guesses < seq.Guesses {
			seq = lib
		}
	}
	return Result{Guesses: seq.Guesses, Score: guessesToScore(seq.Guesses), Sequence: seq.Sequence}
}

// guessesToScore maps guesses to zxcvbn's 0–4 score. The small delta
// keeps a password at exactly 10^n guesses (the minimum of some
// patterns) on the weaker side despite float rounding.
func guessesToScore(guesses float64) int {
	const delta = 5
	switch {
	case guesses < 1e3+delta:
		return 0
	case guesses < 1e6+delta:
		return 1
	case guesses < 1e8+delta:
		return 2
	case guesses < 1e10+delta:
		return 3
	}
	return 4
}

// matcher finds every pattern in one password, for the ratings of a
// Rate: it holds the shared word index, the user's words and the l33t
// matches found so far.
type matcher struct {
	index *index
	// user ranks the user's words: lowercased word → position + 1, the
	// later of two equal words winning, as in the library.
	user map[string]int
	// maxWord is the byte length of the longest word in any list; no
	// longer substring can match.
	maxWord int
	// l33t holds the l33t matches of the matcher's one password by the
	// password with a reading's substitutes replaced, for the readings
	// of both ratings; nil until the first.
	l33t map[string][]*match.Match
}

func newMatcher(ix *index, userInputs []string) *matcher {
	m := &matcher{index: ix, user: rankWords(userInputs), maxWord: ix.maxWord}
	for w := range m.user {
		m.maxWord = max(m.maxWord, len(w))
	}
	return m
}

// patterns holds a password's matches of the patterns that do not
// depend on how its substitutes are read, each pattern's apart.
type patterns struct {
	dictionary, reversed, spatial, sequence, year, date []*match.Match
}

// patternMatches matches in password the patterns that do not depend on
// the readings of its substitutes.
func (m *matcher) patternMatches(password string) patterns {
	return patterns{
		dictionary: m.dictionaryMatches(password),
		reversed:   m.reversedMatches(password),
		spatial:    spatialMatches(password),
		sequence:   sequenceMatches(password),
		year:       yearMatches(password),
		date:       dateMatches(password),
	}
}

// omnimatch returns every match of every pattern in password, sorted by
// position (match.Sort: by start, then end, keeping the order of equal
// ones, as the library sorts; so no pattern sorts its own): found, password's patternMatches, with the l33t and repeat
// matches of readings, the ways to read password's substitutes
// (l33tSubstitutions or libraryReadings). The order within each
// position follows the library's (each matcher's matches in turn) so
// that ties resolve alike.
func (m *matcher) omnimatch(password string, found patterns, readings func(string) [][]l33tSub) []*match.Match {
	var all []*match.Match
	for _, ms := range [][]*match.Match{
		found.dictionary,
		found.reversed,
		m.l33tMatches(password, readings),
		found.spatial,
		m.repeatMatches(password, readings),
		found.sequence,
		found.year,
		found.date,
	} {
		all = append(all, ms...)
	}
	match.Sort(all)
	return all
}
