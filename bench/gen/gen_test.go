package gen

import (
	"bytes"
	"fmt"
	"testing"
)

func TestGenerateDeterministic(t *testing.T) {
	a, sa := Generate(Default(20000))
	b, sb := Generate(Default(20000))
	if !bytes.Equal(a, b) || len(sa.Resets) != len(sb.Resets) {
		t.Fatal("the same Config gave different streams")
	}
	c := Default(20000)
	c.Seed = 2
	if other, _ := Generate(c); bytes.Equal(a, other) {
		t.Error("seeds 1 and 2 gave the same stream")
	}
}

// TestGenerateShape checks that the stream has the mix the benchmarks
// rely on. The exact set of resets is checked against the plugin's reader
// in plugin/records/bench_test.go.
func TestGenerateShape(t *testing.T) {
	c := Default(150000)
	c.ResetEvery = 2500
	data, s := Generate(c)

	if s.Lines != c.Records || bytes.Count(data, []byte{'\n'}) != c.Records {
		t.Fatalf("lines = %d (%d newlines), want %d", s.Lines, bytes.Count(data, []byte{'\n'}), c.Records)
	}
	if s.Bytes != len(data) {
		t.Errorf("Bytes = %d, want %d", s.Bytes, len(data))
	}
	if avg := float64(s.Bytes) / float64(s.Lines); avg < 190 || avg > 230 {
		t.Errorf("average line %.1f bytes, want about 210", avg)
	}
	if s.MaxLine > MaxLine || s.MaxLine < 8800 {
		t.Errorf("longest line %d bytes, want 8800..%d", s.MaxLine, MaxLine)
	}
	if s.LongLines == 0 || s.LongLines > s.Lines/1000 {
		t.Errorf("%d long lines, want a few", s.LongLines)
	}
	// 150000 lines at one reset per 2500: about 60.
	if n := len(s.Resets); n < 20 || n > 150 {
		t.Errorf("%d resets, want about 60", n)
	}
	if s.LookAlikes == 0 || s.Mentions == 0 {
		t.Errorf("look-alikes %d, mentions %d, want some of each", s.LookAlikes, s.Mentions)
	}
	for _, typ := range []string{"SYSCALL", "EXECVE", "CWD", "PATH", "PROCTITLE", "EOE", "SOCKADDR", "AVC", "USER_LOGIN", "USER_CMD", "CONFIG_CHANGE", "UNKNOWN[1338]"} {
		if s.Types[typ] == 0 {
			t.Errorf("no %s records", typ)
		}
	}
	total := 0
	for _, n := range s.Types {
		total += n
	}
	if total != s.Lines {
		t.Errorf("types add up to %d lines, want %d", total, s.Lines)
	}
	for _, want := range []string{"\nnode=web-1 type=", "\x1dARCH=x86_64 SYSCALL=", " msg='op=", "saddr=02000050", " old=8192 ", "backlog_wait_time_actual=0", "res=0\x1d", "proctitle=2F"} {
		if !bytes.Contains(data, []byte(want)) {
			t.Errorf("stream lacks %q", want)
		}
	}
	for _, r := range s.Resets {
		node := ""
		if r.Node != "" {
			node = "node=" + r.Node + " "
		}
		head := fmt.Sprintf("%stype=CONFIG_CHANGE msg=audit(%d.%03d:%d): ", node, r.Sec, r.Msec, r.Serial)
		if !bytes.Contains(data, []byte(head)) {
			t.Errorf("reset %+v: no line starting %q", r, head)
		}
	}
}

func TestWriteExactCount(t *testing.T) {
	for _, n := range []int{0, 1, 7, 1001} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			var buf bytes.Buffer
			s, err := Write(&buf, Config{Seed: 3, Records: n, ResetEvery: 10})
			if err != nil {
				t.Fatal(err)
			}
			if got := bytes.Count(buf.Bytes(), []byte{'\n'}); got != n || s.Lines != n {
				t.Errorf("got %d lines (summary %d), want %d", got, s.Lines, n)
			}
			if bytes.HasPrefix(buf.Bytes(), []byte("node=")) || bytes.Contains(buf.Bytes(), []byte("\nnode=")) {
				t.Error("node= prefix without Nodes")
			}
		})
	}
}
