package conf

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden and the generated packaging files")

// TestGolden parses each testdata/*.conf and compares the outcome with its
// .golden twin: the effective configuration as WriteTo prints it plus the
// keys set in the file, or the error text.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.conf")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata/*.conf: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			got := goldenOutput(t, file)
			golden := strings.TrimSuffix(file, ".conf") + ".golden"
			compareFile(t, golden, got)
		})
	}
}

func goldenOutput(t *testing.T, file string) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c, err := Parse(f, file)
	var b bytes.Buffer
	if err != nil {
		b.WriteString("error:\n")
		b.WriteString(err.Error())
		b.WriteString("\n")
		return b.Bytes()
	}
	if _, err := c.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	var set []string
	for _, k := range Keys() {
		if c.IsSet(k.Name) {
			set = append(set, k.Name)
		}
	}
	sort.Strings(set)
	b.WriteString("# set: " + strings.Join(set, " ") + "\n")
	return b.Bytes()
}

// compareFile fails unless file holds got; with -update it writes got.
func compareFile(t *testing.T, file string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./conf -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale (run go test ./conf -update after checking the diff)\ngot:\n%s\nwant:\n%s", file, got, want)
	}
}
