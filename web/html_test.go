package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// Helpers to inspect rendered pages through a real HTML parser.

func parseBody(t *testing.T, rec *httptest.ResponseRecorder) *html.Node {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(rec.Body.String()))
	if err != nil {
		t.Fatalf("parsing page: %v", err)
	}
	return doc
}

func attr(n *html.Node, key string) (string, bool) {
	for _, a := range n.Attr {
		if a.Namespace == "" && a.Key == key {
			return a.Val, true
		}
	}
	return "", false
}

func attrIs(n *html.Node, key, val string) bool {
	v, ok := attr(n, key)
	return ok && v == val
}

// findAll returns every element under n (n included) for which match holds.
func findAll(n *html.Node, match func(*html.Node) bool) []*html.Node {
	var out []*html.Node
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode && match(n) {
			out = append(out, n)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return out
}

// tag matches elements by name and, in pairs, attribute values.
func tag(name string, kv ...string) func(*html.Node) bool {
	return func(n *html.Node) bool {
		if n.Data != name {
			return false
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if !attrIs(n, kv[i], kv[i+1]) {
				return false
			}
		}
		return true
	}
}

func findOne(t *testing.T, n *html.Node, what string, match func(*html.Node) bool) *html.Node {
	t.Helper()
	got := findAll(n, match)
	if len(got) != 1 {
		t.Fatalf("want exactly one %s, found %d", what, len(got))
	}
	return got[0]
}

// text returns n's text content with runs of white space collapsed.
func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return strings.Join(strings.Fields(b.String()), " ")
}

// hasLabel reports whether doc has a non-empty <label for=id>.
func hasLabel(doc *html.Node, id string) bool {
	if id == "" {
		return false
	}
	for _, l := range findAll(doc, tag("label", "for", id)) {
		if text(l) != "" {
			return true
		}
	}
	return false
}
