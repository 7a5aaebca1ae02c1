package state

import (
	"testing"

	"github.com/hallpass/hallpass/directory"
)

// TestSameUserInput: Apply creates a user from the input it hashed for
// before its transaction only when that input is, field for field, the
// one the transaction's plan creates; any difference sends it round again.
func TestSameUserInput(t *testing.T) {
	base := directory.UserInput{Username: "bob", Password: "correct horse battery", Email: "bob@example.com",
		EmailVerified: true, Name: "Bob", Roles: []string{"student"}}
	tests := []struct {
		name   string
		change func(*directory.UserInput)
		same   bool
	}{
		{"identical", func(*directory.UserInput) {}, true},
		{"roles differ", func(u *directory.UserInput) { u.Roles = []string{"teacher"} }, false},
		{"password differs", func(u *directory.UserInput) { u.Password = "another long passphrase" }, false},
		{"disabled differs", func(u *directory.UserInput) { u.Disabled = true }, false},
		{"email verified differs", func(u *directory.UserInput) { u.EmailVerified = false }, false},
		{"name differs", func(u *directory.UserInput) { u.Name = "Robert" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := base
			b.Roles = append([]string(nil), base.Roles...)
			tt.change(&b)
			if got := sameUserInput(base, b); got != tt.same {
				t.Errorf("sameUserInput = %v, want %v", got, tt.same)
			}
		})
	}
}
