package storagetest

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// check fails the test unless got is what a backend must return for want,
// field by field, so that a field added to a storage type is compared
// without touching the suite. want and got are a storage value, a pointer
// to one, a slice of them, or a single time or byte slice. The rules are
// the contract's, not Go's equality:
//
//   - a time is the same instant as stored(want) (UTC, truncated to the
//     microsecond, zero for zero) and is in UTC;
//   - a nil and an empty slice are equal: the backends do not keep the
//     difference;
//   - byte slices are compared by value;
//   - fields the store assigns (storeAssigned) are not compared;
//   - anything else must be equal.
//
// Every differing field is reported (the test goes on); a nil got, or a
// list of the wrong length, stops the test, as nothing after it can be
// compared.
func check[T any](t testing.TB, what string, want, got T) {
	t.Helper()
	w, g := reflect.ValueOf(&want).Elem(), reflect.ValueOf(&got).Elem()
	if w.Kind() == reflect.Pointer {
		if g.IsNil() {
			t.Fatalf("%s: got nil %s", what, g.Type().Elem())
		}
		if w.IsNil() {
			t.Fatalf("%s: got %+v, want nil", what, g.Elem())
		}
		w, g = w.Elem(), g.Elem()
	}
	if w.Kind() == reflect.Slice && w.Type().Elem().Kind() == reflect.Struct && w.Len() != g.Len() {
		t.Fatalf("%s: got %d %s %v, want %d %v", what, g.Len(), w.Type().Elem().Name(), names(g), w.Len(), names(w))
	}
	var d []string
	compare(&d, "", w, g)
	if len(d) > 0 {
		t.Errorf("%s differs:\n\t%s", what, strings.Join(d, "\n\t"))
	}
}

var timeType = reflect.TypeFor[time.Time]()

// compare appends to d a line for every difference between want and got,
// two values of one type, naming the field by its path from the compared
// value (e.g. "RedirectURIs", "[2].State").
func compare(d *[]string, path string, want, got reflect.Value) {
	label := strings.TrimPrefix(path, ".")
	if label == "" {
		label = "value"
	}
	differ := func(format string, args ...any) {
		*d = append(*d, label+": "+fmt.Sprintf(format, args...))
	}
	switch {
	case want.Type() == timeType:
		// Fields are exported, so Interface is allowed.
		w, g := stored(want.Interface().(time.Time)), got.Interface().(time.Time)
		if !g.Equal(w) || g.IsZero() != w.IsZero() {
			differ("got %v, want %v", g, w)
		}
		if g.Location() != time.UTC {
			differ("got location %v, want UTC", g.Location())
		}
	case want.Kind() == reflect.Struct:
		for i := range want.NumField() {
			name := want.Type().Field(i).Name
			if storeAssigned(name) {
				continue
			}
			compare(d, path+"."+name, want.Field(i), got.Field(i))
		}
	case want.Kind() == reflect.Slice && want.Type().Elem().Kind() == reflect.Uint8:
		if !bytes.Equal(want.Bytes(), got.Bytes()) {
			differ("got %x, want %x", got.Bytes(), want.Bytes())
		}
	case want.Kind() == reflect.Slice && want.Type().Elem().Kind() == reflect.Struct:
		if want.Len() != got.Len() {
			differ("got %d elements %v, want %d %v", got.Len(), names(got), want.Len(), names(want))
			return
		}
		for i := range want.Len() {
			compare(d, fmt.Sprintf("%s[%d]", path, i), want.Index(i), got.Index(i))
		}
	case want.Kind() == reflect.Slice:
		if want.Len() == 0 && got.Len() == 0 {
			return
		}
		equal := want.Len() == got.Len()
		for i := 0; equal && i < want.Len(); i++ {
			equal = want.Index(i).Equal(got.Index(i))
		}
		if !equal && want.Type().Elem().Kind() == reflect.String {
			differ("got %q, want %q", got, want)
		} else if !equal {
			differ("got %v, want %v", got, want)
		}
	case want.Kind() == reflect.String:
		if want.String() != got.String() {
			differ("got %q, want %q", got, want)
		}
	case want.Comparable():
		if !want.Equal(got) {
			differ("got %v, want %v", got, want)
		}
	default:
		// A map, a func or a pointer inside a storage type: the contract
		// must first say what a backend returns for it.
		differ("no rule to compare a %s: add one to compare", want.Type())
	}
}

// storeAssigned reports whether a field of a storage type is the store's
// to set, never the caller's, so a written value does not come back: the
// token epochs (a client's starts at a random value). testAccessRevocations
// checks them.
func storeAssigned(field string) bool {
	return field == "TokenEpoch"
}

// names lists the elements of a slice of structs by their first field,
// the ID or name in every storage type, for a message about its length.
func names(v reflect.Value) []string {
	ns := make([]string, v.Len())
	for i := range ns {
		ns[i] = fmt.Sprint(v.Index(i).Field(0))
	}
	return ns
}
