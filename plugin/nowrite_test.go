package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoExecNoFileWrites backs the claim "no shelling out, no writing
// files" in two ways. The binary's whole dependency graph (go list -deps)
// holds no os/exec; and the module's own code in the binary, every package
// of it, calls nothing that starts a process or creates, writes, removes,
// renames or changes a file. At run time, TestFaults checks that the
// plugin holds no regular file open for writing.
func TestNoExecNoFileWrites(t *testing.T) {
	const module = "github.com/audisp-backlog/audisp-backlog"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, rest, _ := strings.Cut(line, "\t")
		dir, goFiles, _ := strings.Cut(rest, "\t")
		if pkg == "os/exec" {
			t.Errorf("the plugin depends on os/exec")
		}
		if pkg == module || strings.HasPrefix(pkg, module+"/") {
			for _, f := range strings.Fields(goFiles) {
				files = append(files, filepath.Join(dir, f))
			}
		}
	}

	forbidden := map[string]bool{}
	for _, name := range strings.Fields(`
		os.Create os.CreateTemp os.WriteFile os.OpenFile
		os.Mkdir os.MkdirAll os.MkdirTemp os.Remove os.RemoveAll os.Rename
		os.Symlink os.Link os.Truncate os.Chmod os.Chown os.Lchown os.Chtimes
		os.StartProcess syscall.Exec syscall.ForkExec syscall.StartProcess
		syscall.Open syscall.Creat syscall.Openat unix.Exec unix.Open unix.Openat unix.Creat`) {
		forbidden[name] = true
	}
	if len(files) < 10 {
		t.Fatalf("found only %d source files: %v", len(files), files)
	}
	fset := token.NewFileSet()
	for _, f := range files {
		file, err := parser.ParseFile(fset, f, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range file.Imports {
			if imp.Path.Value == `"os/exec"` {
				t.Errorf("%s imports os/exec", f)
			}
		}
		ast.Inspect(file, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && forbidden[pkg.Name+"."+sel.Sel.Name] {
				t.Errorf("%s: %s.%s", fset.Position(sel.Pos()), pkg.Name, sel.Sel.Name)
			}
			return true
		})
	}
}
