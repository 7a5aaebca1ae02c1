package strength

import (
	"cmp"
	"slices"
	"strings"

	"github.com/trustelem/zxcvbn/match"
)

// l33tTable returns zxcvbn's table of substitutions: each letter with
// the characters that may stand for it. Letters are in order,
// substitutes in the order they are tried. It returns an array literal:
// fixed, not package state, and with nothing to parse on each call.
func l33tTable() [12]l33tLetter {
	return [...]l33tLetter{
		{'a', "4@"}, {'b', "8"}, {'c', "({[<"}, {'e', "3"}, {'g', "69"}, {'i', "1!|"},
		{'l', "1|7"}, {'o', "0"}, {'s', "$5"}, {'t', "+7"}, {'x', "%"}, {'z', "2"},
	}
}

// l33tLetter is a letter of l33tTable and its substitutes.
type l33tLetter struct {
	letter byte
	subs   string
}

// l33tSub is one substitution: l33t stands for letter.
type l33tSub struct{ l33t, letter byte }

// l33tMatches returns words of the lists spelt with substitutes (p4ssw0rd),
// trying each way readings reads the substitutes password holds.
func (m *matcher) l33tMatches(password string, readings func(string) [][]l33tSub) []*match.Match {
	out := []*match.Match{}
	for _, subs := range readings(password) {
		// letter[c] is what c stands for in this reading, 0 if itself;
		// a later substitution of the same character wins, as when the
		// library makes its map of a reading it changed.
		var letter [128]byte
		var used []byte
		for _, s := range subs {
			if letter[s.l33t] == 0 {
				used = append(used, s.l33t)
			}
			letter[s.l33t] = s.letter
		}
		if len(used) == 0 {
			break
		}
		subbed := []byte(password)
		for k, c := range subbed {
			if c < 128 && letter[c] != 0 {
				subbed[k] = letter[c]
			}
		}
		// Readings that spell password alike find the same matches with
		// the same substitutions (a substitute is never a letter, so
		// their letter agrees on every substitute password holds), and
		// the second rating's readings are among the first's.
		if found, ok := m.l33t[string(subbed)]; ok {
			out = append(out, found...)
			continue
		}
		start := len(out)
		for _, d := range m.dictionaryMatches(string(subbed)) {
			token := password[d.I : d.J+1]
			// One character is noise (4 is "a"), and a token that is the
			// word itself is found by the plain dictionary match.
			if len(token) <= 1 || strings.ToLower(token) == d.MatchedWord {
				continue
			}
			d.Sub = map[string]string{}
			for _, c := range used {
				if strings.IndexByte(token, c) >= 0 {
					d.Sub[string(rune(c))] = string(rune(letter[c]))
				}
			}
			d.L33t = true
			d.Token = token
			out = append(out, d)
		}
		if m.l33t == nil {
			m.l33t = map[string][]*match.Match{}
		}
		m.l33t[string(subbed)] = out[start:len(out):len(out)]
	}
	return out
}

// holdsSubstitute reports whether password holds a character of
// l33tTable that stands for a letter.
func holdsSubstitute(password string) bool {
	for _, l := range l33tTable() {
		if strings.ContainsAny(password, l.subs) {
			return true
		}
	}
	return false
}

// l33tSubstitutions lists the ways to read the substitutes in password,
// each a list of substitutions; the first is empty when password holds
// none. They are zxcvbn's readings (everyReading) and the library's
// (libraryReadings): github.com/trustelem/zxcvbn loses some of zxcvbn's
// and changes others, and so rates p@$$w0rd35 safely unguessable, and
// terminator1234 spelt 73rm1n@70r1234 very unguessable, while a reading
// it changed can find a word the others miss. More matches can still
// make a password harder to guess (zxcvbn's search drops sequences), so
// Rate also rates with the library's readings alone and keeps the easier
// rating: never harder to guess than by the library, and alike when the
// password holds no substitute (TestRateMatchesZxcvbn).
func l33tSubstitutions(password string) [][]l33tSub {
	return dedupSubs(append(libraryReadings(password), everyReading(password)...))
}

// everyReading lists zxcvbn's readings of the substitutes in password: in
// each, every letter that has substitutes in password is read from one
// of them (4 or @ for a), and a substitute that stands for two letters
// (1 for i or l) for one of them. Each list is extended in an array of
// its own.
func everyReading(password string) [][]l33tSub {
	return readings(password, func(sub []l33tSub, s l33tSub) []l33tSub { return append(slices.Clip(sub), s) })
}

// libraryReadings lists the readings of the substitutes in password as
// github.com/trustelem/zxcvbn enumerates them. It builds its lists by
// appending to shared slices, so that appending one substitution to a
// list that has spare capacity overwrites another list's, and sorting
// one list reorders another that shares its array: some readings are
// lost, and some changed, leaving a substitute as itself (which finds
// trustno1 in 7ru$7n01). appendSub copies the library's capacities so
// that the same happens here.
func libraryReadings(password string) [][]l33tSub { return readings(password, appendSub) }

// readings enumerates zxcvbn's readings of the substitutes in password,
// extending a list with one substitution by extend.
func readings(password string, extend func([]l33tSub, l33tSub) []l33tSub) [][]l33tSub {
	subs := [][]l33tSub{{}}
	for _, l := range l33tTable() {
		var next [][]l33tSub
		for k := 0; k < len(l.subs); k++ {
			c := l.subs[k]
			if strings.IndexByte(password, c) < 0 {
				continue // only substitutes the password holds
			}
			for _, sub := range subs {
				at := slices.IndexFunc(sub, func(s l33tSub) bool { return s.l33t == c })
				if at < 0 {
					next = append(next, extend(sub, l33tSub{c, l.letter}))
					continue
				}
				// c already stands for another letter: keep that reading,
				// and add one where it stands for this letter instead, in
				// a new array exactly as long (its capacity matters to
				// libraryReadings' extend).
				alt := make([]l33tSub, 0, len(sub))
				alt = append(alt, sub[:at]...)
				alt = append(alt, sub[at+1:]...)
				alt = append(alt, l33tSub{c, l.letter})
				next = append(next, sub, alt)
			}
		}
		if next != nil {
			subs = dedupSubs(next)
		}
	}
	return subs
}

// appendSub appends s to sub as Go's append does for the library's
// elements (two strings, 32 bytes): in place when sub has spare
// capacity, else into a new array of twice the capacity, at least 1.
// Appending l33tSub values directly would size arrays differently.
func appendSub(sub []l33tSub, s l33tSub) []l33tSub {
	if len(sub) == cap(sub) {
		grown := make([]l33tSub, len(sub), max(1, 2*cap(sub)))
		copy(grown, sub)
		sub = grown
	}
	return append(sub, s)
}

// dedupSubs sorts each list in place by substitute, as the library does
// (which can reorder lists sharing an array), and keeps the first of
// equal lists.
func dedupSubs(subs [][]l33tSub) [][]l33tSub {
	var out [][]l33tSub
	seen := map[string]bool{}
	var key []byte
	for _, sub := range subs {
		slices.SortStableFunc(sub, func(a, b l33tSub) int { return cmp.Compare(a.l33t, b.l33t) })
		key = key[:0]
		for _, s := range sub {
			key = append(key, s.l33t, s.letter)
		}
		if !seen[string(key)] {
			seen[string(key)] = true
			out = append(out, sub)
		}
	}
	return out
}
