package storagetest

import (
	"testing"
	"time"

	"github.com/hallpass/hallpass/storage"
)

// Passkeys: a credential id is unique across users, the signature counter
// only advances (a counter that does not is refused, a clone's sign),
// reading a user's passkey and deleting take the owner, and resetting
// factors or deleting the user deletes them.

func testPasskeys(t *testing.T, s storage.Store) {
	ctx := t.Context()
	mustCreateUser(t, ctx, s, "user-1")
	mustCreateUser(t, ctx, s, "user-2")

	_, err := s.GetPasskey(ctx, "nope")
	notFound(t, err, "GetPasskey of an unknown id")
	list, err := s.ListPasskeys(ctx, "user-1")
	noErr(t, err, "ListPasskeys without passkeys")
	if len(list) != 0 {
		t.Fatalf("ListPasskeys without passkeys = %v", list)
	}
	errIs(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "x", UserID: "nobody", PublicKey: []byte{1}, Name: "n"}),
		storage.ErrInvalidReference, "CreatePasskey of an unknown user")

	full := &storage.Passkey{ID: "cred-b", UserID: "user-1", PublicKey: []byte{0xa5, 0x01, 0x02, 0x00, 0xff},
		SignCount: 7, Transports: []string{"internal", "hybrid"}, AAGUID: []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
		BackupEligible: true, BackupState: true, UserVerified: true, AttestationFormat: "packed",
		Name: "Laptop ✓ \"work\"", CreatedAt: baseTime()}
	noErr(t, s.CreatePasskey(ctx, full), "CreatePasskey")
	check(t, "GetPasskey", full, mustGet(t, func() (*storage.Passkey, error) { return s.GetPasskey(ctx, "cred-b") }))
	bare := &storage.Passkey{ID: "cred-a", UserID: "user-1", PublicKey: []byte{1}, Name: "Key", CreatedAt: baseTime().Add(time.Minute)}
	noErr(t, s.CreatePasskey(ctx, bare), "CreatePasskey without counter, transports or AAGUID")
	check(t, "GetPasskey of a bare passkey", bare, mustGet(t, func() (*storage.Passkey, error) { return s.GetPasskey(ctx, "cred-a") }))
	errIs(t, s.CreatePasskey(ctx, &storage.Passkey{ID: "cred-b", UserID: "user-2", PublicKey: []byte{1}, Name: "dup"}),
		storage.ErrConflict, "CreatePasskey with another user's credential id")
	other := &storage.Passkey{ID: "cred-c", UserID: "user-2", PublicKey: []byte{2}, Name: "Phone", CreatedAt: baseTime()}
	noErr(t, s.CreatePasskey(ctx, other), "CreatePasskey of user-2")

	// Reading a user's passkey takes the owner.
	check(t, "GetUserPasskey", full, mustGet(t, func() (*storage.Passkey, error) { return s.GetUserPasskey(ctx, "user-1", "cred-b") }))
	_, err = s.GetUserPasskey(ctx, "user-2", "cred-b")
	notFound(t, err, "GetUserPasskey of another user's passkey")
	_, err = s.GetUserPasskey(ctx, "user-1", "nope")
	notFound(t, err, "GetUserPasskey of an unknown id")
	_, err = s.GetUserPasskey(ctx, "nobody", "cred-b")
	notFound(t, err, "GetUserPasskey of an unknown user")

	list, err = s.ListPasskeys(ctx, "user-1")
	noErr(t, err, "ListPasskeys")
	check(t, "ListPasskeys (oldest first)", []storage.Passkey{*full, *bare}, list)

	// The counter only advances.
	used := baseTime().Add(time.Hour)
	noErr(t, s.UsePasskey(ctx, "cred-b", 8, false, used), "UsePasskey with a higher count")
	full.SignCount, full.BackupState, full.LastUsedAt = 8, false, used
	check(t, "GetPasskey after use", full, mustGet(t, func() (*storage.Passkey, error) { return s.GetPasskey(ctx, "cred-b") }))
	errIs(t, s.UsePasskey(ctx, "cred-b", 8, true, used.Add(time.Hour)), storage.ErrConflict, "UsePasskey with the same count (replay or clone)")
	errIs(t, s.UsePasskey(ctx, "cred-b", 3, true, used.Add(time.Hour)), storage.ErrConflict, "UsePasskey with a lower count (clone)")
	errIs(t, s.UsePasskey(ctx, "cred-b", 0, true, used.Add(time.Hour)), storage.ErrConflict, "UsePasskey with 0 after a count")
	check(t, "GetPasskey after refused uses", full, mustGet(t, func() (*storage.Passkey, error) { return s.GetPasskey(ctx, "cred-b") }))
	// An authenticator without a counter says 0 every time.
	noErr(t, s.UsePasskey(ctx, "cred-a", 0, false, used), "UsePasskey of a counterless authenticator")
	noErr(t, s.UsePasskey(ctx, "cred-a", 0, false, used.Add(time.Minute)), "UsePasskey of a counterless authenticator again")
	bare.LastUsedAt = used.Add(time.Minute)
	check(t, "GetPasskey of a counterless passkey", bare, mustGet(t, func() (*storage.Passkey, error) { return s.GetPasskey(ctx, "cred-a") }))
	notFound(t, s.UsePasskey(ctx, "nope", 1, false, used), "UsePasskey of an unknown id")

	// Deleting takes the owner.
	notFound(t, s.DeletePasskey(ctx, "user-2", "cred-a"), "DeletePasskey of another user's passkey")
	noErr(t, s.DeletePasskey(ctx, "user-1", "cred-a"), "DeletePasskey")
	notFound(t, s.DeletePasskey(ctx, "user-1", "cred-a"), "DeletePasskey twice")
	_, err = s.GetPasskey(ctx, "cred-a")
	notFound(t, err, "GetPasskey after DeletePasskey")

	// Resetting factors takes the user's passkeys and leaves others'.
	noErr(t, s.DeleteUserFactors(ctx, "user-1"), "DeleteUserFactors")
	_, err = s.GetPasskey(ctx, "cred-b")
	notFound(t, err, "GetPasskey after DeleteUserFactors")
	mustGet(t, func() (*storage.Passkey, error) { return s.GetPasskey(ctx, "cred-c") })

	// Deleting the user deletes their passkeys.
	noErr(t, s.DeleteUser(ctx, "user-2"), "DeleteUser")
	_, err = s.GetPasskey(ctx, "cred-c")
	notFound(t, err, "GetPasskey of a deleted user's passkey")
}
