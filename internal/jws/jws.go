package jws

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ErrMalformed is wrapped by every error of Parse.
var ErrMalformed = errors.New("jws: not a JWS in strict compact serialization")

// Compact is a JWS in compact serialization, its segments decoded. Nothing
// in it is verified: Parse checks the form, not the signature.
type Compact struct {
	// Header is the JOSE header, a JSON object without crit.
	Header []byte
	// Payload and Signature are the decoded second and third segments.
	Payload, Signature []byte
	// SigningInput is the text the signature covers: the first two
	// segments and the dot between them, as written.
	SigningInput string
}

// enc is base64url without padding (RFC 7515 §2), and strict: the unused
// bits of the last character must be zero, so that a segment is the one
// encoding of its bytes.
var enc = base64.RawURLEncoding.Strict()

// segmentName names segment i in errors.
func segmentName(i int) string { return [...]string{"header", "payload", "signature"}[i] }

// Parse splits token into its three segments and decodes them, refusing
// (with an error wrapping ErrMalformed) anything but the one canonical
// spelling of a JWS: exactly three dot-separated segments, each only of
// base64url characters (no padding, no whitespace) and the one encoding
// of its bytes (re-encoded, they give the segment back); and a header that
// is a JSON object with no crit parameter (in any case), since hallpass
// understands no extension (RFC 7515 §4.1.11). Errors say which rule
// failed, never the token.
func Parse(token string) (*Compact, error) {
	segs := strings.SplitN(token, ".", 4)
	if len(segs) != 3 {
		return nil, fmt.Errorf("%w: %d segments, want 3", ErrMalformed, len(segs))
	}
	var dec [3][]byte
	for i, s := range segs {
		if j := outsideAlphabet(s); j >= 0 {
			return nil, fmt.Errorf("%w: %s: a character outside the base64url alphabet at offset %d", ErrMalformed, segmentName(i), j)
		}
		// With the alphabet checked (no line breaks, which the decoder
		// would skip) and strict decoding (zero unused bits), the
		// segment is the one encoding of what it decodes to.
		b, err := enc.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: not canonical base64url: %w", ErrMalformed, segmentName(i), err)
		}
		dec[i] = b
	}
	// Only crit is read, into a struct rather than a map: a third of the
	// cost. encoding/json resolves escapes in keys and matches them
	// without regard to case, so this finds every "crit" go-jose would
	// (and refuses "Crit" too, which hallpass never writes either); a
	// RawMessage keeps any value, null and [] included.
	var header struct {
		Crit json.RawMessage `json:"crit"`
	}
	if !bytes.HasPrefix(bytes.TrimLeft(dec[0], " \t\r\n"), []byte("{")) || json.Unmarshal(dec[0], &header) != nil {
		return nil, fmt.Errorf("%w: header is not a JSON object", ErrMalformed)
	}
	if header.Crit != nil {
		return nil, fmt.Errorf("%w: header has crit", ErrMalformed)
	}
	return &Compact{
		Header:       dec[0],
		Payload:      dec[1],
		Signature:    dec[2],
		SigningInput: token[:len(segs[0])+1+len(segs[1])],
	}, nil
}

// outsideAlphabet returns the offset of the first byte of s outside
// base64url's alphabet (RFC 4648 §5; padding is outside), or -1.
func outsideAlphabet(s string) int {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return i
		}
	}
	return -1
}
