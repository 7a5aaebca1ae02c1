package backend

import (
	"net/url"
	"regexp"
	"strings"
)

// mask replaces every password Redact finds.
const mask = "xxxxx"

// urlScheme matches the scheme of a URL-form connection string.
var urlScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.-]*://`)

// Redact returns dsn with every password it may hold replaced by "xxxxx",
// for logs and errors: the password of a URL's userinfo
// (postgres://user:pw@host), the value of every query parameter whose name
// contains "password" (?password=..., ?sslpassword=...), and the same keys
// of a keyword/value connection string (host=db password=...). The rest is
// kept, so the result still names the host.
//
// A string is masked by how every reader could take it — Go's URL parser,
// pgx's, and a person who forgot to percent-encode — so a malformed one is
// masked too generously rather than shown.
func Redact(dsn string) string {
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		return dsn // a file path: no password
	case urlScheme.MatchString(dsn):
		return redactURL(dsn)
	}
	return redactKeywordValue(dsn)
}

func redactURL(dsn string) string {
	start := strings.Index(dsn, "://") + len("://")
	rest := dsn[start:]

	// The userinfo ends at an '@'. Go's parser takes the last '@' before
	// the path (after cutting the fragment and the query), pgx's the first
	// '@' if it comes before any '/'; a URL Go cannot parse may hold an
	// unencoded '/', '?' or '#' in its password, so there the last '@' of
	// all counts. The widest reading wins.
	authority := rest
	for _, sep := range []string{"#", "?", "/"} {
		authority, _, _ = strings.Cut(authority, sep)
	}
	end := strings.LastIndex(authority, "@")
	if at, slash := strings.Index(rest, "@"), strings.Index(rest, "/"); at >= 0 && (slash < 0 || at < slash) {
		end = max(end, at)
	}
	if _, err := url.Parse(dsn); err != nil {
		end = max(end, strings.LastIndex(rest, "@"))
	}

	var b strings.Builder
	b.WriteString(dsn[:start])
	tail := rest
	if end >= 0 {
		userinfo := rest[:end]
		if user, _, ok := strings.Cut(userinfo, ":"); ok {
			b.WriteString(user + ":" + mask)
		} else {
			b.WriteString(userinfo)
		}
		tail = rest[end:]
	}
	path, query, ok := strings.Cut(tail, "?")
	b.WriteString(path)
	if !ok {
		return b.String()
	}
	b.WriteByte('?')
	// A value is masked up to the next '&', fragment included: an
	// unencoded '#' may be part of a password.
	for i, param := range strings.Split(query, "&") {
		if i > 0 {
			b.WriteByte('&')
		}
		key, _, hasValue := strings.Cut(param, "=")
		if hasValue && isPasswordKey(key) {
			b.WriteString(key + "=" + mask)
		} else {
			b.WriteString(param)
		}
	}
	return b.String()
}

// isPasswordKey reports whether a connection parameter (percent-encoded or
// not) names a password: password, sslpassword, or anything else that
// says so.
func isPasswordKey(key string) bool {
	if k, err := url.QueryUnescape(key); err == nil {
		key = k
	}
	return strings.Contains(strings.ToLower(key), "password")
}

// redactKeywordValue masks the password values of a keyword/value
// connection string: key = value pairs separated by whitespace, a value
// either bare (ending at whitespace) or in single quotes, with backslash
// escapes in both, as libpq and pgx read them. From the first place the
// string stops following that grammar, the rest is masked if the string
// mentions a password anywhere, and kept otherwise (it is then no
// connection string at all, e.g. a file name).
func redactKeywordValue(dsn string) string {
	var b strings.Builder
	s := dsn
	for {
		trimmed := strings.TrimLeft(s, " \t\n\r\v\f")
		b.WriteString(s[:len(s)-len(trimmed)])
		s = trimmed
		if s == "" {
			return b.String()
		}
		eq := strings.IndexByte(s, '=')
		if eq < 0 || strings.TrimSpace(s[:eq]) == "" || strings.ContainsAny(strings.TrimSpace(s[:eq]), " \t\n\r\v\f'\\") {
			break
		}
		key := strings.TrimSpace(s[:eq])
		afterEq := s[eq+1:]
		valueStart := strings.TrimLeft(afterEq, " \t\n\r\v\f")
		n, ok := valueLen(valueStart)
		if !ok {
			break
		}
		b.WriteString(s[:eq+1])
		b.WriteString(afterEq[:len(afterEq)-len(valueStart)])
		if isPasswordKey(key) {
			b.WriteString(mask)
		} else {
			b.WriteString(valueStart[:n])
		}
		s = valueStart[n:]
	}
	if strings.Contains(strings.ToLower(dsn), "password") {
		b.WriteString(mask)
	} else {
		b.WriteString(s)
	}
	return b.String()
}

// valueLen returns the length of the keyword/value value at the start of
// s, and false if it is malformed (an unterminated quote or escape).
func valueLen(s string) (int, bool) {
	if strings.HasPrefix(s, "'") {
		for i := 1; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '\'':
				return i + 1, true
			}
		}
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 == len(s) {
				return 0, false
			}
			i++
		case ' ', '\t', '\n', '\r', '\v', '\f':
			return i, true
		}
	}
	return len(s), true
}
