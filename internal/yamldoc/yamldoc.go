// Package yamldoc reads a YAML file that is one document, as hallpass's
// configuration file and configuration-as-code files are.
package yamldoc

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"go.yaml.in/yaml/v3"
)

// One parses raw as a single YAML document. yaml.Unmarshal reads the
// first document and ignores the rest of the input, so a second document
// (after "---", or text after "...") would be silently dropped: settings
// not taken, or, for configuration as code with --prune, objects deleted
// because the part of the file that names them was never read. Empty
// documents after the first (a trailing "---") are allowed. An empty
// input gives a zero Node. An explicit tag that could change a value
// (!!binary, a custom tag) is refused (see checkTags).
func One(raw []byte) (yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return yaml.Node{}, nil
		}
		return yaml.Node{}, err
	}
	if err := checkTags(&doc); err != nil {
		return yaml.Node{}, err
	}
	if err := checkAliases(&doc); err != nil {
		return yaml.Node{}, err
	}
	for {
		var more yaml.Node
		err := dec.Decode(&more)
		if errors.Is(err, io.EOF) {
			return doc, nil
		}
		if err != nil {
			return yaml.Node{}, err
		}
		if len(more.Content) > 0 && (more.Content[0].Kind != yaml.ScalarNode || more.Content[0].Tag != "!!null") {
			return yaml.Node{}, fmt.Errorf("line %d: a second YAML document: the file must be one document (join its lists or settings into one)", more.Content[0].Line)
		}
	}
}

// allowedTag reports whether a file may write tag explicitly: each of
// these only says what the plain text already is ("!!str 010" keeps
// "010" as text).
func allowedTag(tag string) bool {
	switch tag {
	case "!!str", "!!int", "!!float", "!!bool", "!!null", "!!seq", "!!map":
		return true
	}
	return false
}

// checkTags refuses a node with any other explicit tag. "!!binary
// aHR0cHM6Ly9ldmlsLmV4YW1wbGUv" is decoded to text ("https://evil.example/")
// that a reviewer of the file never read; "!!timestamp" reformats; a local
// or language tag ("!env", "!!python/object") promises a meaning hallpass
// does not give and was silently dropped, leaving the bare text. Aliases
// are not followed: the anchored node is checked where it is written.
func checkTags(n *yaml.Node) error {
	if n.Style&yaml.TaggedStyle != 0 && !allowedTag(n.Tag) {
		return fmt.Errorf("line %d: tag %s is not supported: write the value as plain text", n.Line, n.Tag)
	}
	for _, c := range n.Content {
		if err := checkTags(c); err != nil {
			return err
		}
	}
	return nil
}

// MaxAliasedNodes bounds the nodes a document's aliases stand for, in
// all: far more than any reuse of an anchored list or mapping needs.
// Its readers decode each entry of a list on its own, so yaml's own
// guard, which weighs the aliases of one decoding, never saw a file of
// many entries each aliasing one long list: a 400 kB file of roles each
// listing "scopes: *s" (990 scopes) decoded to 13 million strings,
// 1.4 GB allocated and 12 seconds, and a file's 4 MiB ten times that;
// each list stayed below the directory's bound of 1000 entries.
const MaxAliasedNodes = 100_000

// checkAliases refuses a document whose aliases, expanded, stand for
// more than MaxAliasedNodes nodes in all, or an alias inside the node it
// names (a document that cannot be expanded). It counts without
// expanding: each aliased node's size is computed once, and saturates
// past the bound (nested aliases double it at each level).
func checkAliases(doc *yaml.Node) error {
	const open = -1 // being sized: an alias reaching it is inside it
	sizes := map[*yaml.Node]int{}
	var size func(n *yaml.Node) (int, error)
	size = func(n *yaml.Node) (int, error) {
		if n.Kind == yaml.AliasNode {
			n = n.Alias
		}
		switch s, ok := sizes[n]; {
		case ok && s == open:
			return 0, fmt.Errorf("line %d: an alias of &%s is inside the node it names", n.Line, n.Anchor)
		case ok:
			return s, nil
		}
		sizes[n] = open
		total := 1
		for _, c := range n.Content {
			s, err := size(c)
			if err != nil {
				return 0, err
			}
			total = min(total+s, MaxAliasedNodes+1)
		}
		sizes[n] = total
		return total, nil
	}
	aliased := 0
	var walk func(n *yaml.Node) error
	walk = func(n *yaml.Node) error {
		if n.Kind == yaml.AliasNode {
			s, err := size(n)
			if err != nil {
				return err
			}
			if aliased += s; aliased > MaxAliasedNodes {
				return fmt.Errorf("line %d: the aliases up to this one (*%s) stand for more than %d values in all: write the lists out, or anchor less", n.Line, n.Value, MaxAliasedNodes)
			}
			return nil
		}
		for _, c := range n.Content {
			if err := walk(c); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(doc)
}
