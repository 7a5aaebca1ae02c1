package directory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/hallpass/hallpass/audit"
	"github.com/hallpass/hallpass/internal/testkit/testdb"
	"github.com/hallpass/hallpass/storage"
)

// recordedEvents is a Recorder that keeps every event.
type recordedEvents struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *recordedEvents) Record(_ context.Context, ev audit.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

// only returns the one event of action, or fails the test.
func (r *recordedEvents) only(t *testing.T, action string) audit.Event {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	var found []audit.Event
	for _, ev := range r.events {
		if ev.Action == action {
			found = append(found, ev)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s events, want 1: %+v", len(found), action, r.events)
	}
	return found[0]
}

// The audit record of a role's deletion names who lost it and which
// scopes came with it: the role's holders (the first
// maxRecordedHolders by username, and how many there were) and its
// scopes. A role nobody holds is recorded with none; an unknown role is
// not found and records nothing.
func TestRoleDeleteRecordsHolders(t *testing.T) {
	for _, b := range testdb.Backends() {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			st := testdb.Open(t, b.DSN(t))
			rec := &recordedEvents{}
			svc := New(st, Options{Audit: rec})
			for _, r := range []RoleView{
				{Name: "teacher", Scopes: []string{"results:write", "results:read"}},
				{Name: "student", Scopes: []string{"results:read"}},
				{Name: "crowd", Scopes: []string{}},
				{Name: "nobody", Scopes: []string{"x"}},
			} {
				if _, err := svc.Roles().Create(ctx, r); err != nil {
					t.Fatal(err)
				}
			}
			user := func(name string, roles ...string) {
				t.Helper()
				if err := st.CreateUser(ctx, &storage.User{ID: "id-" + name, Username: name, Roles: roles}); err != nil {
					t.Fatal(err)
				}
			}
			user("bob", "teacher", "student")
			user("alice", "teacher")
			user("carol", "student")
			for i := range maxRecordedHolders + 2 {
				user(fmt.Sprintf("m%03d", i), "crowd")
			}

			details := func(t *testing.T, role string) map[string]any {
				t.Helper()
				if err := svc.Roles().Delete(ctx, role); err != nil {
					t.Fatalf("Delete(%s): %v", role, err)
				}
				ev := rec.only(t, "role.delete")
				rec.events = nil
				if ev.Object != "role:"+role {
					t.Errorf("object %q", ev.Object)
				}
				// As the audit log stores them.
				b, err := json.Marshal(ev.Details)
				if err != nil {
					t.Fatal(err)
				}
				var d map[string]any
				if err := json.Unmarshal(b, &d); err != nil {
					t.Fatal(err)
				}
				return d
			}
			strs := func(v any) []string {
				list, _ := v.([]any)
				out := []string{}
				for _, s := range list {
					text, _ := s.(string)
					out = append(out, text)
				}
				return out
			}

			d := details(t, "teacher")
			if got := strs(d["holders"]); !slices.Equal(got, []string{"alice", "bob"}) || d["holder_count"] != float64(2) {
				t.Errorf("teacher's deletion records holders %q, count %v; want alice, bob and 2", got, d["holder_count"])
			}
			if got := strs(d["scopes"]); !slices.Equal(got, []string{"results:write", "results:read"}) {
				t.Errorf("teacher's deletion records scopes %q", got)
			}

			d = details(t, "crowd")
			if got := strs(d["holders"]); len(got) != maxRecordedHolders || got[0] != "m000" || d["holder_count"] != float64(maxRecordedHolders+2) {
				t.Errorf("crowd's deletion records %d holders %q, count %v; want %d from m000, and %d", len(got), got, d["holder_count"], maxRecordedHolders, maxRecordedHolders+2)
			}

			d = details(t, "nobody")
			if h, ok := d["holders"].([]any); !ok || len(h) != 0 || d["holder_count"] != float64(0) {
				t.Errorf("nobody's deletion records holders %v, count %v; want [] and 0", d["holders"], d["holder_count"])
			}

			if err := svc.Roles().Delete(ctx, "no-such-role"); !errors.Is(err, ErrNotFound) {
				t.Errorf("Delete(no-such-role) = %v, want not found", err)
			}
			if len(rec.events) != 0 {
				t.Errorf("a refused deletion recorded %+v", rec.events)
			}
			if u, err := st.GetUser(ctx, "id-bob"); err != nil || !slices.Equal(u.Roles, []string{"student"}) {
				t.Errorf("bob after teacher's deletion: %+v, %v", u, err)
			}
		})
	}
}
