package strength

import (
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/adjacency"
	"github.com/trustelem/zxcvbn/match"
	"github.com/trustelem/zxcvbn/scoring"
)

// shiftedKeys are the characters typed with shift on the qwerty and
// dvorak layouts (the keypads have none).
const shiftedKeys = `~!@#$%^&*()_+QWERTYUIOP{}|ASDFGHJKL:"ZXCVBNM<>?`

// spatialMatches returns walks of three or more adjacent keys (qwerty,
// zxcvbn, 7896) on each keyboard, counting turns and shifted keys.
func spatialMatches(password string) []*match.Match {
	var out []*match.Match
	// The adjacency graphs, in the library's order.
	for _, name := range [...]string{"qwerty", "dvorak", "keypad", "mac_keypad"} {
		out = append(out, keyboardWalks(password, adjacency.Graphs[name])...)
	}
	return out
}

// keyboardWalks finds walks on one keyboard, byte by byte: a non-ASCII
// byte is on no keyboard.
func keyboardWalks(password string, g *adjacency.Graph) []*match.Match {
	shifted := ""
	if g.Name == "qwerty" || g.Name == "dvorak" {
		shifted = shiftedKeys
	}
	var out []*match.Match
	for i := 0; i < len(password)-1; {
		j := i + 1
		lastDirection := -1 // none yet: the first step is a turn
		turns, shiftedCount := 0, 0
		if strings.IndexByte(shifted, password[i]) >= 0 {
			shiftedCount = 1
		}
		for {
			direction := -1
			if j < len(password) && password[j] < utf8.RuneSelf {
				// The neighbours of a key, one entry per direction, each
				// the key's unshifted and shifted character ("" if none).
				for d, keys := range g.Graph[string(rune(password[j-1]))] {
					if at := strings.IndexByte(keys, password[j]); at >= 0 {
						direction = d
						if at == 1 {
							shiftedCount++
						}
						break
					}
				}
			}
			if direction < 0 {
				break
			}
			if direction != lastDirection {
				turns++
				lastDirection = direction
			}
			j++
		}
		if j-i > 2 { // two keys side by side are chance
			out = append(out, &match.Match{
				Pattern:      "spatial",
				I:            i,
				J:            j - 1,
				Token:        password[i:j],
				Graph:        g.Name,
				Turns:        turns,
				ShiftedCount: shiftedCount,
			})
		}
		i = j
	}
	return out
}

// sequenceMatches returns runs of characters with a constant step of at
// most 5 (abc, 13579, zyx), byte by byte, as the library does.
func sequenceMatches(password string) []*match.Match {
	out := []*match.Match{}
	add := func(i, j, delta int) {
		step := max(delta, -delta)
		if (j-i > 1 || step == 1) && step > 0 && step <= 5 {
			token := password[i : j+1]
			name, space := "unicode", 26 // the roman alphabet, conservatively
			switch {
			case allBytesIn(token, 'a', 'z'):
				name = "lower"
			case allBytesIn(token, 'A', 'Z'):
				name = "upper"
			case allBytesIn(token, '0', '9'):
				name, space = "digits", 10
			}
			out = append(out, &match.Match{
				Pattern:       "sequence",
				I:             i,
				J:             j,
				Token:         token,
				SequenceName:  name,
				SequenceSpace: space,
				Ascending:     delta > 0,
			})
		}
	}
	i, lastDelta := 0, 0
	for k := 1; k < len(password); k++ {
		delta := int(password[k]) - int(password[k-1])
		if k == 1 {
			lastDelta = delta
		}
		if delta == lastDelta {
			continue
		}
		add(i, k-1, lastDelta)
		i, lastDelta = k-1, delta
	}
	add(i, len(password)-1, lastDelta)
	return out
}

// allBytesIn reports whether each byte of s is in [lo, hi]; s is never
// empty (a sequence has two bytes or more, a year four).
func allBytesIn(s string, lo, hi byte) bool {
	for k := 0; k < len(s); k++ {
		if s[k] < lo || s[k] > hi {
			return false
		}
	}
	return true
}

// yearMatches returns recent years, 1900–2019, as the library's regular
// expression 19\d\d|200\d|201\d finds them: left to right, not
// overlapping.
func yearMatches(password string) []*match.Match {
	var out []*match.Match
	for i := 0; i+4 <= len(password); {
		y := password[i : i+4]
		if allBytesIn(y[2:], '0', '9') && (y[:2] == "19" || y[:3] == "200" || y[:3] == "201") {
			out = append(out, &match.Match{Pattern: "regex", Token: y, I: i, J: i + 3, RegexName: "recent_year"})
			i += 4
			continue
		}
		i++
	}
	return out
}

// repeatMatches returns runs of a repeated string (aaa, abcabc), rated
// as the string's guesses times the number of repeats, its base matched
// with readings.
//
// The library finds them with the backtracking expressions (.+)\1+
// (greedy) and (.+?)\1+ (lazy), whose '.' is any character but a line
// feed, on characters; repeatAt does the same search.
func (m *matcher) repeatMatches(password string, readings func(string) [][]l33tSub) []*match.Match {
	var out []*match.Match
	runes := []rune(password)
	start := 0 // in characters
	for start < len(runes) {
		at, greedy, lazy, ok := repeatAt(runes, start)
		if !ok {
			break
		}
		var base []rune
		length := 0
		if greedy[0]*greedy[1] > lazy[0]*lazy[1] {
			// The longest repeated string may itself repeat (aabaab in
			// aabaabaabaab): the base is its shortest period.
			length = greedy[0] * greedy[1]
			base = runes[at : at+shortestPeriod(runes[at:at+length])]
		} else {
			length = lazy[0] * lazy[1]
			base = runes[at : at+lazy[0]]
		}
		baseToken := string(base)
		token := string(runes[at : at+length])
		i := len(string(runes[:at]))
		last := i + len(token) - utf8.RuneLen(runes[at+length-1]) // start of the last character
		bm := newMatcher(m.index, nil)
		baseMatches := bm.omnimatch(baseToken, bm.patternMatches(baseToken), readings)
		rated := scoring.MostGuessableMatchSequence(baseToken, baseMatches, false)
		out = append(out, &match.Match{
			Pattern:     "repeat",
			I:           i,
			J:           last,
			Token:       token,
			BaseToken:   baseToken,
			BaseGuesses: rated.Guesses,
			BaseMatches: rated.Sequence,
			// Characters over bytes, as the library divides.
			RepeatCount: length / len(baseToken),
		})
		// The library resumes at the byte after the last character's
		// first, which is mid-character (and so stops it) if that
		// character is not ASCII.
		if utf8.RuneLen(runes[at+length-1]) > 1 {
			break
		}
		start = at + length
	}
	return out
}

// repeatAt finds the first position at or after start where a string
// of characters without a line feed is followed by itself, and returns
// it with the longest such string (greedy) and the shortest (lazy),
// each as {length, times repeated in a row}.
func repeatAt(runes []rune, start int) (at int, greedy, lazy [2]int, ok bool) {
	for at = start; at < len(runes); at++ {
		// Candidate lengths stop at the first line feed.
		longest := 0
		for longest < len(runes)-at && runes[at+longest] != '\n' {
			longest++
		}
		longest = min(longest, (len(runes)-at)/2)
		shortest := 0
		for n := 1; n <= longest; n++ {
			if repeats(runes, at, n) > 1 {
				shortest = n
				break
			}
		}
		if shortest == 0 {
			continue
		}
		for n := longest; n >= shortest; n-- {
			if times := repeats(runes, at, n); times > 1 {
				return at, [2]int{n, times}, [2]int{shortest, repeats(runes, at, shortest)}, true
			}
		}
	}
	return 0, greedy, lazy, false
}

// repeats returns how many times runes[at:at+n] occurs in a row from at.
func repeats(runes []rune, at, n int) int {
	times := 1
	for next := at + n; next+n <= len(runes) && slices.Equal(runes[at:at+n], runes[next:next+n]); next += n {
		times++
	}
	return times
}

// shortestPeriod returns the length of the shortest string that,
// repeated at least twice, makes s, as the library's ^(.+?)\1+$ finds
// it; s itself must be such a repeat.
func shortestPeriod(s []rune) int {
	for n := 1; n <= len(s)/2; n++ {
		if len(s)%n == 0 && repeats(s, 0, n)*n == len(s) {
			return n
		}
	}
	return len(s)
}
