package strength

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn/frequency"
	"github.com/trustelem/zxcvbn/match"
)

// index finds words of frequency.FrequencyLists. Each list has an
// open-addressing hash table of uint32 (the word's position + 1, 0 for
// an empty slot): about 1 MB that holds no pointers, so the garbage
// collector never scans it, where maps of the words would be ten times
// that and scanned at every collection.
type index struct {
	names  []string   // list names, sorted
	lists  [][]string // the words, frequency.FrequencyLists[names[k]]
	tables [][]uint32 // tables[k] indexes lists[k]; its length is a power of 2
	// maxWord is the byte length of the longest word.
	maxWord int
}

// buildIndex indexes the word lists. Their words are lowercase (a test
// checks), so a lowercased substring is looked up as is.
func buildIndex() *index {
	ix := &index{}
	for name := range frequency.FrequencyLists {
		ix.names = append(ix.names, name)
	}
	slices.Sort(ix.names)
	for _, name := range ix.names {
		words := frequency.FrequencyLists[name]
		size := 1
		for size < 2*len(words) { // at most half full: short probes
			size *= 2
		}
		table := make([]uint32, size)
		for pos, w := range words {
			slot := probe(table, words, hash(w), w)
			// A repeated word keeps its last position, as the
			// library's map does.
			table[slot] = uint32(pos + 1)
			ix.maxWord = max(ix.maxWord, len(w))
		}
		ix.lists = append(ix.lists, words)
		ix.tables = append(ix.tables, table)
	}
	return ix
}

// probe returns the slot of table, indexing words, that holds word, or
// else the empty slot where it would go; h is hash(word). It takes a
// string, to build the table, or bytes, so that looking up a substring
// allocates nothing.
func probe[S string | []byte](table []uint32, words []string, h uint32, word S) int {
	mask := uint32(len(table) - 1)
	for slot := h & mask; ; slot = (slot + 1) & mask {
		if table[slot] == 0 || words[table[slot]-1] == string(word) {
			return int(slot)
		}
	}
}

// rank returns the rank of word (its position + 1) in list k, or 0; h
// is hash(word).
func (ix *index) rank(k int, h uint32, word []byte) int {
	return int(ix.tables[k][probe(ix.tables[k], ix.lists[k], h, word)])
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
