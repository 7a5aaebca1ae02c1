package audit

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/hallpass/hallpass/storage"
)

// Event is something worth recording. Action is "<family>.<verb>"
// ("client.update", "signin.failure"); the families are listed in README
// "Audit and observability".
type Event struct {
	Action string
	// Actor overrides the context's actor (WithActor) when set: a sign-in
	// names the user who signed in.
	Actor string
	// Object names what was acted on, "<kind>:<id>" ("client:abc").
	Object   string
	ClientID string
	// Details says what else the event carries: changed field names, a
	// reason. Never secrets, tokens or password hashes.
	Details map[string]any
}

type actorKey struct{}

type requestKey struct{}

// request is who called, as the provider saw it.
type request struct{ clientAddr, userAgent string }

// WithActor returns ctx naming who acts in it: "admin-token",
// "cli:<os user>", "user:<id>".
func WithActor(ctx context.Context, actor string) context.Context {
	return context.WithValue(ctx, actorKey{}, actor)
}

// Actor returns the actor WithActor put in ctx, or "".
func Actor(ctx context.Context) string {
	a, _ := ctx.Value(actorKey{}).(string)
	return a
}

// WithRequest returns ctx carrying the client address (after the
// trusted-proxy rule) and user agent of the request it serves.
func WithRequest(ctx context.Context, clientAddr, userAgent string) context.Context {
	return context.WithValue(ctx, requestKey{}, request{clientAddr, userAgent})
}

// maxUserAgent bounds the user agent kept in an entry: it is the client's
// to choose, and an entry is kept for months.
const maxUserAgent = 256

func requestOf(ctx context.Context) request {
	r, _ := ctx.Value(requestKey{}).(request)
	r.userAgent = cleanUserAgent(r.userAgent)
	return r
}

// cleanUserAgent is a User-Agent header as an entry keeps it: valid UTF-8
// of printable characters (an invalid byte becomes U+FFFD), at most
// maxUserAgent bytes, cut between characters. The header is the client's
// to write, and obs-text bytes pass net/http: an entry holding one, or a
// character cut in half, is refused by PostgreSQL's text columns, so any
// client could keep the event it causes (a failed sign-in, a replayed
// refresh token) out of the log.
func cleanUserAgent(ua string) string {
	if len(ua) <= maxUserAgent && printable(ua) {
		// Every request's: kept without a copy.
		return ua
	}
	var b strings.Builder
	for _, c := range ua {
		if !unicode.IsPrint(c) {
			continue
		}
		if b.Len()+utf8.RuneLen(c) > maxUserAgent {
			break
		}
		b.WriteRune(c)
	}
	return b.String()
}

// printable reports whether s is valid UTF-8 of printable characters.
func printable(s string) bool {
	for _, c := range s {
		if c == utf8.RuneError || !unicode.IsPrint(c) {
			return false
		}
	}
	return true
}

// keepable returns s as text every store keeps: each run of invalid
// UTF-8 and each NUL character replaced by U+FFFD. A client chooses its
// User-Agent, and a sign-in the name it types, bytes and all; an entry
// holding text a store refuses (storage.ErrInvalidInput: PostgreSQL
// takes neither) would not be recorded at all, and anyone could keep
// their failed sign-ins out of the log.
func keepable(s string) string {
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// Hash returns the hash an entry is sealed with: SHA-256, in lower-case
// hex, over a canonical encoding of every field but Hash itself: a
// version tag, then each of Seq (decimal), Time (RFC 3339 in UTC, with
// the fraction storage keeps), Actor, Action, Object, ClientAddr,
// UserAgent, ClientID, Details and PrevHash as an 8-byte big-endian
// length followed by its bytes. Lengths make the encoding unambiguous,
// and PrevHash links the entry to its predecessor.
func Hash(e *storage.AuditEntry) string {
	h := sha256.New()
	h.Write([]byte("hallpass audit entry v1\x00"))
	var n [8]byte
	for _, f := range []string{
		strconv.FormatInt(e.Seq, 10),
		e.Time.UTC().Format(time.RFC3339Nano),
		e.Actor, e.Action, e.Object, e.ClientAddr, e.UserAgent, e.ClientID, e.Details,
		e.PrevHash,
	} {
		binary.BigEndian.PutUint64(n[:], uint64(len(f)))
		h.Write(n[:])
		h.Write([]byte(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}
