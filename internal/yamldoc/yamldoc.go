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
// input gives a zero Node.
func One(raw []byte) (yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return yaml.Node{}, nil
		}
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
