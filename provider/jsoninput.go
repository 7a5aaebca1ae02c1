package provider

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// jsonMode says how decodeJSON treats a request body.
type jsonMode uint8

const (
	// jsonLenient ignores members the target does not name: RFC 7591 §2
	// has registration ignore metadata it does not understand.
	jsonLenient jsonMode = 0
	// jsonStrict refuses members the target does not name, so that a typo
	// ("rolez") in the admin API is an error rather than a silently
	// dropped setting.
	jsonStrict jsonMode = 1 << iota
	// jsonOptional lets an empty body mean "no input", however it is
	// framed: Content-Length: 0 or a chunked body of no bytes.
	jsonOptional
	// jsonNothing, for requests that take no input (noInput), also takes
	// a body that is JSON for nothing as none: null or white space only
	// (JSON.stringify(null), a client that encodes whatever it is given).
	// Where input is optional (a rotation) null stays refused: it is no
	// object, and its sender may have meant one.
	jsonNothing
)

// errNULInString marks a JSON string holding U+0000. No field of hallpass
// needs one, and PostgreSQL refuses it in text columns, so it is refused
// before it can reach a store.
var errNULInString = errors.New("string holds a NUL character")

// decodeJSON reads one JSON object from r's body into v. It is the one
// place registration and the admin API read JSON, so the rules hold for
// every such endpoint: duplicate member names, invalid UTF-8 and NUL
// characters are refused (two parsers must never disagree about what was
// sent), and every error says in plain words which field is wrong. The
// body is already capped by the limitBody middleware; badCode is the error
// code the endpoint's RFC uses for malformed input.
func decodeJSON(r *http.Request, v any, badCode string, mode jsonMode) error {
	var body []byte
	if r.Body != nil {
		var err error
		body, err = io.ReadAll(r.Body)
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				return errorf(http.StatusRequestEntityTooLarge, badCode, "request body larger than %d bytes", tooBig.Limit)
			}
			return errorf(http.StatusBadRequest, badCode, "could not read the request body")
		}
	}
	// Decided on the bytes received, not on Content-Length, which a
	// chunked request does not send.
	if len(body) == 0 && mode&jsonOptional != 0 {
		return nil
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errorf(http.StatusUnsupportedMediaType, badCode, "Content-Type must be application/json")
	}
	if mode&jsonNothing != 0 {
		if rest := bytes.Trim(body, " \t\r\n"); len(rest) == 0 || string(rest) == "null" {
			return nil
		}
	}
	if err := unmarshalJSON(body, v, mode&jsonStrict != 0); err != nil {
		return errorf(http.StatusBadRequest, badCode, "%v", err)
	}
	return nil
}

// noInput guards an admin request that takes no input (a DELETE, a
// revoke): a JSON body naming a field is refused as decodeJSON refuses a
// field it does not know, rather than ignored, which made a change its
// sender meant to limit ({"immediate": false} to a key's revoke). No
// body, {}, null or white space passes (jsonNothing).
func (p *Provider) noInput(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := decodeJSON(r, &struct{}{}, "invalid_request", jsonStrict|jsonOptional|jsonNothing); err != nil {
			p.writeError(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// unmarshalJSON decodes body, which must be exactly one JSON object, into
// v (a pointer to a struct). Its errors are meant for the client: plain
// words, never a Go type or the library's wording.
func unmarshalJSON(body []byte, v any, strict bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errors.New("request body is empty; send a JSON object")
	}
	if !utf8.Valid(body) {
		return fmt.Errorf("request body is not valid UTF-8 (at byte %d)", invalidUTF8At(body))
	}
	// The decoder's defaults refuse duplicate names and invalid UTF-8.
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	if dec.PeekKind() != '{' {
		// Say "not JSON" rather than "not an object" where that is true.
		if _, err := dec.ReadValue(); err != nil {
			return describeJSONError(err, v)
		}
		return errors.New("request body must be a JSON object")
	}
	err := json.UnmarshalDecode(dec, v,
		json.RejectUnknownMembers(strict),
		json.WithUnmarshalers(json.UnmarshalFromFunc(refuseNUL)))
	if err != nil {
		return describeJSONError(err, v)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return errors.New("request body must hold exactly one JSON object, with nothing after it")
	}
	return nil
}

// refuseNUL decodes a JSON string into s unless it holds U+0000; other
// kinds are left to the default (which reports a type mismatch).
func refuseNUL(dec *jsontext.Decoder, s *string) error {
	if dec.PeekKind() != '"' {
		return json.SkipFunc
	}
	tok, err := dec.ReadToken()
	if err != nil {
		return err
	}
	str := tok.String()
	if strings.IndexByte(str, 0) >= 0 {
		return errNULInString
	}
	*s = str
	return nil
}

// describeJSONError turns a decoding error into a sentence naming the
// field at fault and what it should be.
func describeJSONError(err error, v any) error {
	var syn *jsontext.SyntacticError
	var sem *json.SemanticError
	switch {
	case errors.Is(err, jsontext.ErrDuplicateName) && errors.As(err, &syn):
		return fmt.Errorf("duplicate field %q", fieldPath(syn.JSONPointer))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("request body is not valid JSON: it ends too soon")
	case errors.As(err, &syn):
		return fmt.Errorf("request body is not valid JSON (at byte %d)", syn.ByteOffset)
	case errors.Is(err, json.ErrUnknownName) && errors.As(err, &sem):
		return fmt.Errorf("unknown field %q", fieldPath(sem.JSONPointer))
	case errors.As(err, &sem) && sem.JSONPointer != "":
		field := topField(sem.JSONPointer)
		if errors.Is(err, errNULInString) {
			return fmt.Errorf("field %q must not contain a NUL character (\\u0000)", field)
		}
		return fmt.Errorf("field %q must be %s", field, describeType(fieldType(reflect.TypeOf(v), field), false))
	}
	return errors.New("request body is not a valid JSON object")
}

// fieldPath renders a JSON pointer as the member names on the way,
// separated by dots ("scopes.0" for the first element of scopes).
func fieldPath(p jsontext.Pointer) string {
	var names []string
	for tok := range p.Tokens() {
		names = append(names, tok)
	}
	return strings.Join(names, ".")
}

// topField is the top-level member a JSON pointer leads through.
func topField(p jsontext.Pointer) string {
	for tok := range p.Tokens() {
		return tok
	}
	return ""
}

// fieldType returns the Go type of the field of struct type t (or pointer
// to one) that JSON member name decodes into, or nil.
func fieldType(t reflect.Type, name string) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case tag == "-" || (!f.IsExported() && !f.Anonymous):
			continue
		case f.Anonymous && tag == "":
			if ft := fieldType(f.Type, name); ft != nil {
				return ft
			}
		case tag == name || (tag == "" && f.Name == name):
			return f.Type
		}
	}
	return nil
}

// describeType says what JSON a Go type accepts, in words ("an array of
// strings"); plural gives the form used for array elements.
func describeType(t reflect.Type, plural bool) string {
	pick := func(one, many string) string {
		if plural {
			return many
		}
		return one
	}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return pick("a valid value", "valid values")
	}
	if t == reflect.TypeFor[time.Time]() {
		return pick("an RFC 3339 date-time string", "RFC 3339 date-time strings")
	}
	switch t.Kind() {
	case reflect.String:
		return pick("a string", "strings")
	case reflect.Bool:
		return pick("true or false", "booleans")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return pick("an integer", "integers")
	case reflect.Float32, reflect.Float64:
		return pick("a number", "numbers")
	case reflect.Slice, reflect.Array:
		return pick("an array of ", "arrays of ") + describeType(t.Elem(), true)
	case reflect.Map, reflect.Struct:
		return pick("an object", "objects")
	}
	return pick("a valid value", "valid values")
}

// invalidUTF8At is the offset of the first byte of b that is not part of
// valid UTF-8.
func invalidUTF8At(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}
