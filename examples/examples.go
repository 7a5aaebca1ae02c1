// Package examples holds the example files of the repository that the
// binary embeds: the school of README.md as configuration as code, which
// `hallpass serve --dev` seeds.
package examples

import _ "embed"

//go:embed school.yaml
var school []byte

// School returns examples/school.yaml.
func School() []byte { return append([]byte(nil), school...) }
