package strength

import (
	"strconv"
	"unicode"

	"github.com/trustelem/zxcvbn/match"
	"github.com/trustelem/zxcvbn/scoring"
)

// Dates are day, month and year in some order, the year of two or four
// digits, with no separator (1991, 110191) or the same one twice
// (1.1.91, 11/11/1991). Years run from 1000 to 2050.
const (
	dateMinYear = 1000
	dateMaxYear = 2050
)

// dmy is a reading of a date.
type dmy struct{ day, month, year int }

// dateMatches returns the dates in password, leaving out those inside a
// longer one (2015_06_04 also holds 15_06_04 and 2015).
//
// The library tests each substring of 4 to 8 bytes against ^\d{4,8}$
// and of 6 to 10 bytes against ^(\d{1,4})([\s/\\_.-])(\d{1,2})\2(\d{1,4})$
// with a .NET-style engine: on characters, \d any Unicode decimal digit,
// \s any Unicode space, and $ also before a final line feed. Substrings
// are cut at bytes, and numbers are read with strconv.Atoi, which reads a
// non-ASCII digit or a stray byte as 0; all as here.
func dateMatches(password string) []*match.Match {
	var found []*match.Match
	for i := 0; i+4 <= len(password); i++ {
		for j := i + 3; j <= i+7 && j < len(password); j++ {
			token := password[i : j+1]
			if !allDigitsDate(token) {
				continue
			}
			// The ways to cut the token into three numbers, as the
			// positions of the second and third.
			var cuts [][2]int
			switch len(token) {
			case 4:
				cuts = [][2]int{{1, 2}, {2, 3}} // 1 1 91, 91 1 1
			case 5:
				cuts = [][2]int{{1, 3}, {2, 3}} // 1 11 91, 11 1 91
			case 6:
				cuts = [][2]int{{1, 2}, {2, 4}, {4, 5}} // 1 1 1991, 11 11 91, 1991 1 1
			case 7:
				cuts = [][2]int{{1, 3}, {2, 3}, {4, 5}, {4, 6}} // 1 11 1991, 11 1 1991, 1991 1 11, 1991 11 1
			case 8:
				cuts = [][2]int{{2, 4}, {4, 6}} // 11 11 1991, 1991 11 11
			}
			// Of the readings, the one with the year nearest the
			// reference year takes fewest guesses (111504 is 11-15-04,
			// not 1-1-1504); the first of equals.
			var best *dmy
			for _, c := range cuts {
				d := readDate(token[:c[0]], token[c[0]:c[1]], token[c[1]:])
				if d != nil && (best == nil || yearDistance(d.year) < yearDistance(best.year)) {
					best = d
				}
			}
			if best != nil {
				found = append(found, dateMatch(token, i, j, "", best))
			}
		}
	}
	for i := 0; i+6 <= len(password); i++ {
		for j := i + 5; j <= i+9 && j < len(password); j++ {
			token := password[i : j+1]
			if n1, sep, n2, n3, ok := splitDate(token); ok {
				if d := readDate(n1, n2, n3); d != nil {
					found = append(found, dateMatch(token, i, j, sep, d))
				}
			}
		}
	}
	var out []*match.Match
	for k, d := range found {
		inside := false
		for l, o := range found {
			if l != k && o.I <= d.I && o.J >= d.J {
				inside = true
				break
			}
		}
		if !inside {
			out = append(out, d)
		}
	}
	return out
}

func dateMatch(token string, i, j int, sep string, d *dmy) *match.Match {
	return &match.Match{
		Pattern:   "date",
		Token:     token,
		I:         i,
		J:         j,
		Separator: sep,
		Year:      d.year,
		Month:     d.month,
		Day:       d.day,
	}
}

func yearDistance(year int) int {
	return max(year-scoring.ReferenceYear, scoring.ReferenceYear-year)
}

// dateChars returns token's characters, without a final line feed,
// which the library's $ lets through.
func dateChars(token string) []rune {
	r := []rune(token)
	if len(r) > 0 && r[len(r)-1] == '\n' {
		r = r[:len(r)-1]
	}
	return r
}

// allDigitsDate reports whether token matches ^\d{4,8}$.
func allDigitsDate(token string) bool {
	r := dateChars(token)
	if len(r) < 4 || len(r) > 8 {
		return false
	}
	for _, c := range r {
		if !unicode.IsDigit(c) {
			return false
		}
	}
	return true
}

// splitDate matches token against
// ^(\d{1,4})([\s/\\_.-])(\d{1,2})\2(\d{1,4})$ and returns its groups.
// Digits and separators are apart, so a match is unique.
func splitDate(token string) (n1, sep, n2, n3 string, ok bool) {
	r := dateChars(token)
	digits := func(from, most int) int { // end of the run of digits at from
		to := from
		for to < len(r) && unicode.IsDigit(r[to]) {
			to++
		}
		if to == from || to-from > most {
			return -1
		}
		return to
	}
	e1 := digits(0, 4)
	if e1 < 0 || e1 >= len(r) || !isDateSeparator(r[e1]) {
		return "", "", "", "", false
	}
	e2 := digits(e1+1, 2)
	if e2 < 0 || e2 >= len(r) || r[e2] != r[e1] {
		return "", "", "", "", false
	}
	if e3 := digits(e2+1, 4); e3 != len(r) {
		return "", "", "", "", false
	}
	return string(r[:e1]), string(r[e1]), string(r[e1+1 : e2]), string(r[e2+1:]), true
}

func isDateSeparator(c rune) bool {
	switch c {
	case '/', '\\', '_', '.', '-':
		return true
	}
	return unicode.IsSpace(c)
}

// readDate reads three numbers as a date, or returns nil: the middle one
// is never a year, a four-digit year comes first or last, and a
// two-digit year is read as the nearest (87 is 1987, 15 is 2015).
func readDate(s1, s2, s3 string) *dmy {
	n1, _ := strconv.Atoi(s1)
	n2, _ := strconv.Atoi(s2)
	n3, _ := strconv.Atoi(s3)
	if n2 > 31 || n2 <= 0 {
		return nil
	}
	over12, over31, under1 := 0, 0, 0
	for _, n := range [...]int{n1, n2, n3} {
		if (n > 99 && n < dateMinYear) || n > dateMaxYear {
			return nil
		}
		if n > 31 {
			over31++
		}
		if n > 12 {
			over12++
		}
		if n <= 0 {
			under1++
		}
	}
	if over31 >= 2 || over12 == 3 || under1 >= 2 {
		return nil
	}
	// Year last, then year first.
	splits := [...][3]int{{n3, n1, n2}, {n1, n2, n3}}
	for _, s := range splits {
		if dateMinYear <= s[0] && s[0] <= dateMaxYear {
			// A four-digit year with no day and month beside it is no date.
			return dayMonth(s[1], s[2], s[0])
		}
	}
	for _, s := range splits {
		if d := dayMonth(s[1], s[2], s[0]); d != nil {
			switch {
			case d.year > 99:
			case d.year > 50:
				d.year += 1900
			default:
				d.year += 2000
			}
			return d
		}
	}
	return nil
}

// dayMonth reads a and b as day and month, or month and day.
func dayMonth(a, b, year int) *dmy {
	switch {
	case a <= 31 && b <= 12:
		return &dmy{day: a, month: b, year: year}
	case b <= 31 && a <= 12:
		return &dmy{day: b, month: a, year: year}
	}
	return nil
}
