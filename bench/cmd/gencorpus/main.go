// Command gencorpus writes the benchmark corpus, a busy host's auditd
// record stream (see package gen), to a file or standard output, and a
// summary to standard error:
//
//	go run ./bench/cmd/gencorpus -records 1000000 -o /tmp/corpus
//	cat /tmp/corpus | bin/audisp-backlog -foreground -config my.conf
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/audisp-backlog/audisp-backlog/bench/gen"
)

func main() {
	c := gen.Default(0)
	var out, nodes string
	flag.IntVar(&c.Records, "records", 1000000, "lines to write")
	flag.Uint64Var(&c.Seed, "seed", c.Seed, "stream seed")
	flag.IntVar(&c.ResetEvery, "reset-every", c.ResetEvery, "mean lines between real backlog_max_depth resets; 0 for none")
	flag.StringVar(&nodes, "nodes", strings.Join(c.Nodes, ","), "comma-separated node names for node= prefixes; empty for none")
	flag.StringVar(&out, "o", "-", "output `file`; - for standard output")
	flag.Parse()
	c.Nodes = nil
	if nodes != "" {
		c.Nodes = strings.Split(nodes, ",")
	}
	if err := run(c, out); err != nil {
		fmt.Fprintln(os.Stderr, "gencorpus:", err)
		os.Exit(1)
	}
}

func run(c gen.Config, out string) error {
	w := os.Stdout
	if out != "-" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close() // after the Close below, which reports errors
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	s, err := gen.Write(bw, c)
	if err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "%d lines, %d bytes (%.1f per line), longest %d, %d of 8000+ bytes, %d real resets, %d look-alikes, %d mentions\n",
		s.Lines, s.Bytes, float64(s.Bytes)/float64(max(s.Lines, 1)), s.MaxLine, s.LongLines, len(s.Resets), s.LookAlikes, s.Mentions)
	return nil
}
