package model

import (
	"go/ast"
	"go/parser"
	"go/token"
	"testing"
)

// TestEveryWorkspaceInputNamesItsWorkspace: the directives find the
// workspace of a guarded mutation in input.workspaceId through
// WorkspaceScoped. An input type that has the field but not the method would
// have every call refused, so every generated input with a WorkspaceID field
// must have a ScopeWorkspaceID method.
func TestEveryWorkspaceInputNamesItsWorkspace(t *testing.T) {
	fset := token.NewFileSet()
	withField := map[string]bool{}
	gen, err := parser.ParseFile(fset, "models_gen.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range gen.Decls {
		g, ok := d.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range g.Specs {
			ts, ok := spec.(*ast.TypeSpec)
			if !ok {
				continue
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				continue
			}
			for _, f := range st.Fields.List {
				for _, n := range f.Names {
					if n.Name == "WorkspaceID" {
						withField[ts.Name.Name] = true
					}
				}
			}
		}
	}
	scoped := map[string]bool{}
	src, err := parser.ParseFile(fset, "scope.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range src.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "ScopeWorkspaceID" && fn.Recv != nil {
			if id, ok := fn.Recv.List[0].Type.(*ast.Ident); ok {
				scoped[id.Name] = true
			}
		}
	}
	if len(withField) == 0 {
		t.Fatal("found no input with a WorkspaceID")
	}
	for name := range withField {
		if !scoped[name] {
			t.Errorf("%s has a WorkspaceID field but no ScopeWorkspaceID method (see scope.go)", name)
		}
	}
}
