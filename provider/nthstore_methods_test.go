package provider_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"slices"
	"testing"

	"github.com/hallpass/hallpass/storage"
)

// TestNthStoreWrapsEveryMethod keeps the failure sweeps whole: nthStore
// embeds storage.Store, so a method added to the store and not to
// nthStore would pass through unfailed and the sweeps would silently
// stop covering it.
func TestNthStoreWrapsEveryMethod(t *testing.T) {
	f, err := parser.ParseFile(token.NewFileSet(), "nthstore_test.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var wrapped []string
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Recv == nil || len(fn.Recv.List) != 1 {
			continue
		}
		if star, ok := fn.Recv.List[0].Type.(*ast.StarExpr); ok {
			if id, ok := star.X.(*ast.Ident); ok && id.Name == "nthStore" {
				wrapped = append(wrapped, fn.Name.Name)
			}
		}
	}
	// Close and AfterCommit cannot fail.
	unfailing := []string{"Close", "AfterCommit"}
	st := reflect.TypeFor[storage.Store]()
	for i := range st.NumMethod() {
		name := st.Method(i).Name
		if !slices.Contains(wrapped, name) && !slices.Contains(unfailing, name) {
			t.Errorf("nthStore does not wrap storage.Store's %s: the failure sweeps never fail it", name)
		}
	}
}
