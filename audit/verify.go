package audit

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"fmt"

	"github.com/go-jose/go-jose/v4"

	"github.com/hallpass/hallpass/internal/jws"
	"github.com/hallpass/hallpass/storage"
)

// VerifyStore is what Verify reads.
type VerifyStore interface {
	AuditHead(ctx context.Context) (seq int64, hash string, err error)
	ListAudit(ctx context.Context, q storage.AuditQuery) ([]storage.AuditEntry, error)
	ListAuditCheckpoints(ctx context.Context) ([]storage.AuditCheckpoint, error)
	ListKeys(ctx context.Context) ([]storage.Key, error)
}

// TamperError names the first entry of the chain that is not as it was
// appended. Seq is that entry (for a removed entry, the seq it had).
type TamperError struct {
	Seq    int64
	Reason string
}

// Error says which entry and what is wrong with it.
func (e *TamperError) Error() string {
	return fmt.Sprintf("audit log tampered with at entry %d: %s", e.Seq, e.Reason)
}

// Report is what Verify checked.
type Report struct {
	// First and Last are the seqs of the retained entries (0 for none).
	First, Last int64
	Entries     int
	// Checkpoints were checked against their signing key; Unsigned
	// checkpoints name a key the store no longer holds, so only their
	// agreement with the chain was checked.
	Checkpoints, Unchecked int
}

// verifyPage is how many entries Verify reads at once.
const verifyPage = 1000

// Verify walks the whole retained chain and every checkpoint. It returns
// a *TamperError naming the first entry that was altered (its content no
// longer matches its hash), removed (a gap in the seqs, entries missing
// before the first retained one without an "audit.pruned" entry and
// checkpoint for them, or after the last one while the head or a
// checkpoint names later ones) or reordered (an entry that does not
// follow its predecessor's hash), or a checkpoint whose signature or
// content is wrong. Other errors are the store's.
func Verify(ctx context.Context, s VerifyStore) (Report, error) {
	var rep Report
	headSeq, headHash, err := s.AuditHead(ctx)
	if err != nil {
		return rep, fmt.Errorf("verify audit log: %w", err)
	}
	cps, err := s.ListAuditCheckpoints(ctx)
	if err != nil {
		return rep, fmt.Errorf("verify audit log: %w", err)
	}
	pub, err := publicKeys(ctx, s)
	if err != nil {
		return rep, err
	}
	bySeq := make(map[int64]storage.AuditCheckpoint, len(cps))
	for _, c := range cps {
		checked, err := checkCheckpoint(c, pub)
		if err != nil {
			return rep, err
		}
		if checked {
			rep.Checkpoints++
		} else {
			rep.Unchecked++
		}
		bySeq[c.Seq] = c
	}

	var (
		prev       *storage.AuditEntry
		prunedUpTo = map[int64]bool{}
		after      int64
	)
	for {
		page, err := s.ListAudit(ctx, storage.AuditQuery{AfterSeq: after, Limit: verifyPage})
		if err != nil {
			return rep, fmt.Errorf("verify audit log: %w", err)
		}
		for i := range page {
			e := &page[i]
			if err := checkEntry(e, prev, bySeq); err != nil {
				return rep, err
			}
			if e.Action == "audit.pruned" {
				var d struct {
					Through int64 `json:"through"`
				}
				if json.Unmarshal([]byte(e.Details), &d) == nil {
					prunedUpTo[d.Through] = true
				}
			}
			if prev == nil {
				rep.First = e.Seq
			}
			rep.Entries++
			prev = e
		}
		if len(page) < verifyPage {
			break
		}
		after = page[len(page)-1].Seq
	}

	if prev == nil {
		// Nothing retained: everything was pruned up to the head, or
		// removed.
		if headSeq == 0 {
			return rep, nil
		}
		if c, ok := bySeq[headSeq]; !ok || c.Hash != headHash {
			return rep, &TamperError{Seq: headSeq, Reason: "removed: the head records it, but no entry and no checkpoint for it remain"}
		}
		return rep, nil
	}
	rep.Last = prev.Seq
	if rep.First > 1 && !prunedUpTo[rep.First-1] {
		return rep, &TamperError{Seq: rep.First - 1, Reason: "removed: the chain starts after it, but no audit.pruned entry records pruning through it"}
	}
	for _, c := range cps {
		if c.Seq > prev.Seq {
			return rep, &TamperError{Seq: prev.Seq + 1, Reason: fmt.Sprintf("removed: a signed checkpoint covers the chain up to entry %d", c.Seq)}
		}
	}
	switch {
	case headSeq > prev.Seq:
		return rep, &TamperError{Seq: prev.Seq + 1, Reason: fmt.Sprintf("removed: the chain's head records %d entries", headSeq)}
	case headSeq < prev.Seq || headHash != prev.Hash:
		return rep, &TamperError{Seq: prev.Seq, Reason: "the chain's head does not record this entry as the last one (entry or head altered)"}
	}
	return rep, nil
}

// checkEntry checks e against its own hash, its predecessor (nil for the
// first retained entry) and the checkpoints.
func checkEntry(e, prev *storage.AuditEntry, cps map[int64]storage.AuditCheckpoint) error {
	switch {
	case prev == nil && e.Seq == 1:
		if e.PrevHash != "" {
			return &TamperError{Seq: 1, Reason: "altered: the first entry names a predecessor"}
		}
	case prev == nil:
		c, ok := cps[e.Seq-1]
		if !ok {
			return &TamperError{Seq: e.Seq - 1, Reason: "removed: the chain starts after it, and no checkpoint covers it"}
		}
		if !equal(c.Hash, e.PrevHash) {
			return &TamperError{Seq: e.Seq, Reason: fmt.Sprintf("does not follow the signed checkpoint at %d (altered, reordered, or entries removed)", c.Seq)}
		}
	case e.Seq != prev.Seq+1:
		return &TamperError{Seq: prev.Seq + 1, Reason: fmt.Sprintf("removed: entry %d is followed by entry %d", prev.Seq, e.Seq)}
	}
	if !equal(Hash(e), e.Hash) {
		return &TamperError{Seq: e.Seq, Reason: "altered or moved: its content does not match its hash"}
	}
	if prev != nil && !equal(e.PrevHash, prev.Hash) {
		return &TamperError{Seq: e.Seq, Reason: fmt.Sprintf("does not follow entry %d (reordered, or entries replaced)", prev.Seq)}
	}
	if c, ok := cps[e.Seq]; ok && !equal(c.Hash, e.Hash) {
		return &TamperError{Seq: e.Seq, Reason: "differs from the signed checkpoint of it: an entry up to it was altered and the chain re-sealed"}
	}
	return nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// publicKeys returns the public keys the store holds, by kid.
func publicKeys(ctx context.Context, s VerifyStore) (map[string]*jose.JSONWebKey, error) {
	ks, err := s.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("verify audit log: %w", err)
	}
	out := make(map[string]*jose.JSONWebKey, len(ks))
	for _, k := range ks {
		var jwk jose.JSONWebKey
		if err := jwk.UnmarshalJSON(k.PublicJWK); err != nil {
			return nil, fmt.Errorf("verify audit log: public key %q: %w", k.ID, err)
		}
		out[k.ID] = &jwk
	}
	return out, nil
}

// checkCheckpoint checks c's signature when its key is known (reporting
// whether it was) and that the signed claims are the row's.
func checkCheckpoint(c storage.AuditCheckpoint, pub map[string]*jose.JSONWebKey) (bool, error) {
	bad := func(why string) error {
		return &TamperError{Seq: c.Seq, Reason: "checkpoint " + why}
	}
	// hallpass writes a checkpoint's signature in its one canonical
	// spelling; go-jose would also read others of the same bytes (line
	// breaks, base64url with unused bits set), which only a hand in the
	// database writes.
	if _, err := jws.Parse(c.Signature); err != nil {
		return false, bad("signature not as hallpass writes it")
	}
	sig, err := jose.ParseSigned(c.Signature, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(sig.Signatures) != 1 {
		return false, bad("signature unreadable")
	}
	kid := sig.Signatures[0].Header.KeyID
	if kid != c.KeyID {
		return false, bad("names another key than its signature")
	}
	if typ, _ := sig.Signatures[0].Protected.ExtraHeaders[jose.HeaderType].(string); typ != CheckpointType {
		return false, bad("signature is not of a checkpoint")
	}
	key, known := pub[kid]
	var payload []byte
	if known {
		if payload, err = sig.Verify(key); err != nil {
			return false, bad("signature does not verify")
		}
	} else {
		payload = sig.UnsafePayloadWithoutVerification()
	}
	var claims checkpointClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return false, bad("claims unreadable")
	}
	if claims.Seq != c.Seq || !equal(claims.Hash, c.Hash) || !claims.Time.Equal(c.Time) {
		return false, bad("row differs from what was signed")
	}
	return known, nil
}
