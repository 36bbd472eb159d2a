package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// PID 1's reaper waits for every child (init/reap): a wait of exec.Cmd's
// own (Run, Output, CombinedOutput, Wait) races with it and fails now and
// then with "no child processes". So no code that runs in PID 1 waits for
// a command itself; it goes through the reaper (RunCmd, Output, Start).
// stage1 runs before the reaper, as the initramfs's PID 1, and waits
// itself.
func TestNoOwnWaitsInPID1(t *testing.T) {
	fset := token.NewFileSet()
	var bad []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (path == "stage1" || path == "reap" || path == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		bad = append(bad, ownWaits(fset, f)...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("%s: waits for a command itself; PID 1's reaper must (h.reaper.RunCmd, Output or Start)", b)
	}
}

// ownWaits finds the calls of Run, Output, CombinedOutput or Wait on an
// exec.Command (or exec.CommandContext) or on a variable assigned one.
func ownWaits(fset *token.FileSet, f *ast.File) []string {
	isCommand := func(e ast.Expr) bool {
		sel := methodCall(e)
		if sel == nil {
			return false
		}
		pkg, ok := sel.X.(*ast.Ident)
		return ok && pkg.Name == "exec" && (sel.Sel.Name == "Command" || sel.Sel.Name == "CommandContext")
	}
	cmds := map[*ast.Object]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		if as, ok := n.(*ast.AssignStmt); ok && len(as.Lhs) == len(as.Rhs) {
			for i, r := range as.Rhs {
				if id, ok := as.Lhs[i].(*ast.Ident); ok && id.Obj != nil && isCommand(r) {
					cmds[id.Obj] = true
				}
			}
		}
		return true
	})
	var bad []string
	ast.Inspect(f, func(n ast.Node) bool {
		s := methodCall(n)
		if s == nil {
			return true
		}
		switch s.Sel.Name {
		case "Run", "Output", "CombinedOutput", "Wait":
		default:
			return true
		}
		id, _ := s.X.(*ast.Ident)
		if isCommand(s.X) || (id != nil && id.Obj != nil && cmds[id.Obj]) {
			bad = append(bad, fset.Position(n.Pos()).String())
		}
		return true
	})
	return bad
}

// methodCall is the selector X.Name of a call X.Name(...), or nil when e
// is no such call.
func methodCall(e ast.Node) *ast.SelectorExpr {
	call, ok := e.(*ast.CallExpr)
	if !ok {
		return nil
	}
	sel, _ := call.Fun.(*ast.SelectorExpr)
	return sel
}
