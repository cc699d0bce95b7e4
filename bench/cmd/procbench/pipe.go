package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// pipeResult is one run of `cat corpus | consumer`.
type pipeResult struct {
	wall time.Duration // from starting both to the consumer's exit
	cpu  time.Duration // the consumer's user+system time (wait4 rusage)
	gcs  int           // GC cycles, from GODEBUG=gctrace=1, for Go consumers
}

// runPipe runs cat corpus | argv once.
func runPipe(corpus string, argv []string) (pipeResult, error) {
	pr, pw, err := os.Pipe()
	if err != nil {
		return pipeResult{}, err
	}
	cat := exec.Command("cat", corpus)
	cat.Stdout = pw
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdin = pr
	c.Env = append(os.Environ(), "GODEBUG=gctrace=1")
	var stderr bytes.Buffer
	c.Stderr = &stderr
	start := time.Now()
	if err := c.Start(); err != nil {
		pr.Close()
		pw.Close()
		return pipeResult{}, err
	}
	if err := cat.Start(); err != nil {
		pr.Close()
		pw.Close()
		c.Wait() // it ends at EOF; its error is not the one to report
		return pipeResult{}, err
	}
	pr.Close()
	pw.Close()
	catErr := cat.Wait()
	err = c.Wait()
	wall := time.Since(start)
	if catErr != nil {
		return pipeResult{}, fmt.Errorf("cat: %w", catErr)
	}
	if err != nil {
		return pipeResult{}, fmt.Errorf("%s: %w: %s", argv[0], err, lastLines(stderr.Bytes()))
	}
	ru := c.ProcessState.SysUsage().(*syscall.Rusage)
	// Not ru.Maxrss: exec copies the parent's high-water mark into it.
	return pipeResult{wall: wall, cpu: rusageCPU(ru), gcs: countGCs(stderr.Bytes())}, nil
}

// lastLines is the end of a child's stderr, for an error message.
func lastLines(b []byte) string {
	b = bytes.TrimSpace(b)
	if len(b) > 600 {
		b = b[len(b)-600:]
	}
	return string(b)
}

// pipeStats are the medians of several runs of one consumer.
type pipeStats struct {
	name        string
	wall, cpu   time.Duration
	gcs         int
	walls, cpus []time.Duration
}

// pipeBench runs each consumer rounds times, interleaved, so that all see
// the same changes in machine load.
func pipeBench(corpus string, rounds int, consumers []consumer) ([]pipeStats, error) {
	out := make([]pipeStats, len(consumers))
	for i, c := range consumers {
		out[i].name = c.name
	}
	for range rounds {
		for i, c := range consumers {
			r, err := runPipe(corpus, c.argv)
			if err != nil {
				return nil, err
			}
			out[i].walls = append(out[i].walls, r.wall)
			out[i].cpus = append(out[i].cpus, r.cpu)
			out[i].gcs = max(out[i].gcs, r.gcs)
		}
	}
	for i := range out {
		out[i].wall = median(out[i].walls)
		out[i].cpu = median(out[i].cpus)
	}
	return out, nil
}
