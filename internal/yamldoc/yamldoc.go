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
