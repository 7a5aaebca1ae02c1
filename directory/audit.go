package directory

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"

	"github.com/hallpass/hallpass/audit"
)

// Recorder receives every change the service makes, for the audit log
// (audit.Log). The admin API, the CLI and whatever else changes the
// directory all pass through the service, so each change is recorded once,
// with the actor the caller put in the context (audit.WithActor).
type Recorder interface {
	Record(ctx context.Context, ev audit.Event)
}

// noRecorder records nothing: a Service without Options.Audit.
type noRecorder struct{}

func (noRecorder) Record(context.Context, audit.Event) {}

// record records a change of object name. fields names what changed,
// never the values: they may be personal (an email) and some are secret.
func record(ctx context.Context, r Recorder, object Object, verb, id string, fields []string, extra map[string]any) {
	details := map[string]any{}
	if len(fields) > 0 {
		details["fields"] = fields
	}
	for k, v := range extra {
		details[k] = v
	}
	ev := audit.Event{Action: string(object) + "." + verb, Object: string(object) + ":" + id, Details: details}
	if object == ObjectClient {
		ev.ClientID = id
	}
	r.Record(ctx, ev)
}

// recordUpdate records an update of object name that changed fields; an
// update that changed nothing (a PUT of the record as it is) is no change
// and records nothing.
func recordUpdate(ctx context.Context, r Recorder, object Object, id string, fields []string, extra map[string]any) {
	if len(fields) == 0 {
		return
	}
	record(ctx, r, object, "update", id, fields, extra)
}

// ignoredFields are the fields every change changes, or that only echo
// others.
var ignoredFields = []string{"created_at", "updated_at", "client_id_issued_at", "client_secret", "client_secret_expires_at"}

// changedFields returns the names of the top-level JSON fields whose values
// differ between the views old and new (nil old: every field new sets), in
// order.
func changedFields(old, new any) []string {
	o, n := jsonFields(old), jsonFields(new)
	var out []string
	for k, v := range n {
		if slices.Contains(ignoredFields, k) {
			continue
		}
		if ov, ok := o[k]; !ok || !bytes.Equal(ov, v) {
			if old == nil && (string(v) == `""` || string(v) == "[]" || string(v) == "null" || string(v) == "false") {
				continue
			}
			out = append(out, k)
		}
	}
	for k := range o {
		if _, ok := n[k]; !ok && !slices.Contains(ignoredFields, k) {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

func jsonFields(v any) map[string]json.RawMessage {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil
	}
	return m
}
