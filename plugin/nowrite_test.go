package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestNoExecNoFileWrites backs the claim "no shelling out, no writing
// files" in two ways. No package of the binary's dependency graph (go
// list -deps) imports os/exec, but for the few listed in execAllowed with
// the reason; and the module's own code in the binary, every package
// of it, calls nothing that starts a process or creates, writes, removes,
// renames or changes a file. At run time, TestFaults checks that the
// plugin holds no regular file open for writing.
func TestNoExecNoFileWrites(t *testing.T) {
	// The dependencies allowed to import os/exec, and why no process is
	// ever started through them.
	execAllowed := map[string]bool{
		// cilium/ebpf's file descriptor tracing, which every package
		// of it imports, holds Windows tracing helpers (wpr.exe,
		// netsh.exe) that only cilium's own tests call.
		"github.com/cilium/ebpf/internal/testutils/testmain": true,
	}
	const module = "github.com/audisp-backlog/audisp-backlog"
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}\t{{.Dir}}\t{{join .GoFiles \" \"}}\t{{join .Imports \" \"}}", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		pkg, dir, goFiles, imports := f[0], f[1], f[2], f[3]
		if slices.Contains(strings.Fields(imports), "os/exec") && !execAllowed[pkg] {
			t.Errorf("%s imports os/exec: the plugin must not start processes", pkg)
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
