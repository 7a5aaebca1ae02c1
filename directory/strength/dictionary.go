package strength

import (
	_ "embed" // the word lists
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/match"
)

//go:generate go run ./internal/genwords

// The frequency lists of github.com/trustelem/zxcvbn (MIT licence, see
// words/LICENSE.txt), written by internal/genwords, one word per line,
// most frequent first. Importing the library's frequency package instead
// would build its map of 94,000 words when the program starts: 1.5 MB of
// heap that every garbage collection scans, in a process that rates a
// password only when one is set. Embedded, they are read-only data that
// nothing touches until the first rating.
var (
	//go:embed words/english_wikipedia.txt
	englishWikipedia string
	//go:embed words/female_names.txt
	femaleNames string
	//go:embed words/male_names.txt
	maleNames string
	//go:embed words/passwords.txt
	passwords string
	//go:embed words/surnames.txt
	surnames string
	//go:embed words/us_tv_and_film.txt
	usTVAndFilm string
)

// wordLists returns the lists by the names the library gives them,
// sorted by name.
func wordLists() []struct{ name, text string } {
	return []struct{ name, text string }{
		{"english_wikipedia", englishWikipedia},
		{"female_names", femaleNames},
		{"male_names", maleNames},
		{"passwords", passwords},
		{"surnames", surnames},
		{"us_tv_and_film", usTVAndFilm},
	}
}

// index finds words of the lists. Each list has an open-addressing hash
// table of uint32 (the word's position + 1, 0 for an empty slot) and the
// offsets of its words in the embedded text: about 1.2 MB that holds no
// pointers, so the garbage collector never scans it.
type index struct {
	names []string // list names, sorted
	lists []list   // lists[k] is the list named names[k]
	// maxWord is the byte length of the longest word.
	maxWord int
}

// list is one word list, indexed.
type list struct {
	text   string   // the words, each followed by a line break
	starts []uint32 // starts[pos] is where word pos begins; one more at the end
	table  []uint32 // its length is a power of 2
}

// word returns the word at pos.
func (l *list) word(pos int) string {
	return l.text[l.starts[pos] : l.starts[pos+1]-1]
}

// buildIndex indexes the word lists. Their words are lowercase (a test
// checks), so a lowercased substring is looked up as is.
func buildIndex() *index {
	ix := &index{}
	for _, wl := range wordLists() {
		l := list{text: wl.text, starts: make([]uint32, 1, strings.Count(wl.text, "\n")+1)}
		for i := 0; i < len(wl.text); i++ {
			if wl.text[i] == '\n' {
				l.starts = append(l.starts, uint32(i+1))
			}
		}
		n := len(l.starts) - 1
		size := 1
		for size < 2*n { // at most half full: short probes
			size *= 2
		}
		l.table = make([]uint32, size)
		for pos := range n {
			w := l.word(pos)
			slot := probe(&l, hash(w), w)
			// A repeated word keeps its last position, as the
			// library's map does.
			l.table[slot] = uint32(pos + 1)
			ix.maxWord = max(ix.maxWord, len(w))
		}
		ix.names = append(ix.names, wl.name)
		ix.lists = append(ix.lists, l)
	}
	return ix
}

// probe returns the slot of l's table that holds word, or else the empty
// slot where it would go; h is hash(word). It takes a string, to build
// the table, or bytes, so that looking up a substring allocates nothing.
func probe[S string | []byte](l *list, h uint32, word S) int {
	mask := uint32(len(l.table) - 1)
	for slot := h & mask; ; slot = (slot + 1) & mask {
		if l.table[slot] == 0 || l.word(int(l.table[slot]-1)) == string(word) {
			return int(slot)
		}
	}
}

// rank returns the rank of word (its position + 1) in list k, or 0; h
// is hash(word).
func (ix *index) rank(k int, h uint32, word []byte) int {
	l := &ix.lists[k]
	return int(l.table[probe(l, h, word)])
}

// hash is 32-bit FNV-1a: a fixed hash, so the tables need no seed.
func hash[S string | []byte](s S) uint32 {
	h := uint32(2166136261)
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// rankWords ranks the user's words as the library ranks a list.
func rankWords(words []string) map[string]int {
	ranks := make(map[string]int, len(words))
	for pos, w := range words {
		ranks[strings.ToLower(w)] = pos + 1
	}
	return ranks
}

// dictionaryMatches returns the substrings of s that are, lowercased, a
// word of a list or of the user's, sorted by position.
//
// The library tries password[i:j+1] for every pair of character starts
// i ≤ j, so a substring ends with the first byte of its last character:
// a whole character if ASCII, else an invalid byte that lowercasing turns
// into U+FFFD. The same substrings are tried here, lowercased one
// character at a time rather than each whole.
func (m *matcher) dictionaryMatches(s string) []*match.Match {
	var out []*match.Match
	var key []byte
	for i := 0; i < len(s); {
		_, width := utf8.DecodeRuneInString(s[i:])
		key = key[:0]
		for j := i; j < len(s) && len(key) < m.maxWord; {
			r, w := utf8.DecodeRuneInString(s[j:])
			n := len(key)
			if r < utf8.RuneSelf {
				key = append(key, byte(unicode.ToLower(r)))
			} else {
				key = utf8.AppendRune(key, utf8.RuneError)
			}
			out = m.lookup(out, s, i, j, key)
			key = utf8.AppendRune(key[:n], unicode.ToLower(r))
			j += w
		}
		i += width
	}
	return out
}

// lookup appends a match of s[i:j+1] for each list holding word.
func (m *matcher) lookup(out []*match.Match, s string, i, j int, word []byte) []*match.Match {
	var matched string // word as a string, made only when it matches
	add := func(list string, rank int) {
		if matched == "" {
			matched = string(word)
		}
		out = append(out, &match.Match{
			Pattern:        "dictionary",
			I:              i,
			J:              j,
			Token:          s[i : j+1],
			MatchedWord:    matched,
			Rank:           rank,
			DictionaryName: list,
		})
	}
	if len(word) <= m.index.maxWord {
		h := hash(word)
		for k, list := range m.index.names {
			if rank := m.index.rank(k, h, word); rank > 0 {
				add(list, rank)
			}
		}
	}
	if rank := m.user[string(word)]; rank > 0 {
		add("user_inputs", rank)
	}
	return out
}

// reversedMatches returns words spelt backwards in password. Positions
// are mapped back byte by byte, as the library does.
func (m *matcher) reversedMatches(password string) []*match.Match {
	out := m.dictionaryMatches(reverse(password))
	for _, d := range out {
		d.Token = reverse(d.Token)
		d.Reversed = true
		d.I, d.J = len(password)-1-d.J, len(password)-1-d.I
	}
	return out
}

// reverse reverses s character by character; an invalid byte becomes
// U+FFFD.
func reverse(s string) string {
	r := []rune(s)
	slices.Reverse(r)
	return string(r)
}
