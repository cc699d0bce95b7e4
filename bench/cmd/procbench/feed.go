package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// feedResult is one run of the auditd-like feed: a producer writing one
// record per write(2) into a SOCK_STREAM socketpair whose other end is the
// consumer's stdin, as auditd's dispatcher does.
type feedResult struct {
	records  int
	wall     time.Duration // from the first write to the last one's return
	rate     float64       // records per second
	cpu      time.Duration // consumer's CPU time over the same span (schedstat)
	slices   uint64        // consumer's times put on a CPU over the span
	maxStall time.Duration // longest single write(2)
	stalls   int           // writes that took over 2 ms
	hwmKB    int64         // consumer's VmHWM at the end of the stream
	// maxQueued is the most bytes left unread when the paced producer
	// woke: how far the consumer fell behind.
	maxQueued int
}

// cpuShare is the consumer's CPU as a fraction of one core.
func (r feedResult) cpuShare() float64 { return r.cpu.Seconds() / r.wall.Seconds() }

// fed is a consumer running with a socketpair as its stdin.
type fed struct {
	cmd    *exec.Cmd
	near   int      // the producer's end
	far    *os.File // the consumer's end, kept open here to read its queue
	stderr *bytes.Buffer
}

// startOnSocket starts argv with stdin the far end of a new socketpair.
func startOnSocket(argv []string) (*fed, error) {
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socketpair: %w", err)
	}
	f := &fed{near: fds[0], far: os.NewFile(uintptr(fds[1]), "consumer-stdin"), stderr: new(bytes.Buffer)}
	f.cmd = exec.Command(argv[0], argv[1:]...)
	f.cmd.Stdin = f.far
	f.cmd.Stderr = f.stderr
	if err := f.cmd.Start(); err != nil {
		syscall.Close(f.near)
		f.far.Close()
		return nil, err
	}
	return f, nil
}

// queued is how many bytes the consumer has not read yet.
func (f *fed) queued() (int, error) { return unix.IoctlGetInt(int(f.far.Fd()), unix.SIOCINQ) }

// stop closes the producer's end (EOF for the consumer) and waits for the
// consumer to exit.
func (f *fed) stop() error {
	syscall.Close(f.near)
	err := f.cmd.Wait()
	f.far.Close()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", f.cmd.Path, err, lastLines(f.stderr.Bytes()))
	}
	return nil
}

// writeRecord writes one record with as few write(2) calls as the socket
// allows: one, unless the record is larger than the free space.
func writeRecord(fd int, rec []byte) error {
	for len(rec) > 0 {
		n, err := syscall.Write(fd, rec)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		rec = rec[n:]
	}
	return nil
}

// runFeed starts argv on a socketpair, lets it settle, and feeds it
// records: all of them as fast as it takes them when rate is 0, else
// rate records per second for dur. Pacing wakes every millisecond, looks
// how much the consumer has left unread (its lag), and writes the records
// then due, one write(2) each.
func runFeed(argv []string, lines [][]byte, count, rate int, dur, settle time.Duration) (feedResult, error) {
	f, err := startOnSocket(argv)
	if err != nil {
		return feedResult{}, err
	}
	pid := f.cmd.Process.Pid
	time.Sleep(settle)

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	r := feedResult{}
	before, err := schedOf(pid)
	if err != nil {
		f.stop()
		return r, err
	}
	start := time.Now()
	write := func(i int) error {
		t := time.Now()
		if err := writeRecord(f.near, lines[i%len(lines)]); err != nil {
			return err
		}
		d := time.Since(t)
		r.maxStall = max(r.maxStall, d)
		if d > 2*time.Millisecond {
			r.stalls++
		}
		r.records++
		return nil
	}
	if rate == 0 {
		for i := range count {
			if err := write(i); err != nil {
				f.stop()
				return r, err
			}
		}
	} else {
		total := int(float64(rate) * dur.Seconds())
		for r.records < total {
			q, err := f.queued()
			if err != nil {
				f.stop()
				return r, fmt.Errorf("SIOCINQ: %w", err)
			}
			r.maxQueued = max(r.maxQueued, q)
			due := min(total, int(float64(rate)*time.Since(start).Seconds())+1)
			for r.records < due {
				if err := write(r.records); err != nil {
					f.stop()
					return r, err
				}
			}
			time.Sleep(time.Millisecond - time.Since(start)%time.Millisecond)
		}
	}
	r.wall = time.Since(start)
	after, err1 := schedOf(pid)
	kb, err2 := hwm(pid)
	if err := f.stop(); err != nil {
		return r, err
	}
	if err1 != nil || err2 != nil {
		return r, fmt.Errorf("measuring %s: %v %v", argv[0], err1, err2)
	}
	d := after.sub(before)
	r.cpu, r.slices, r.hwmKB = d.cpu, d.slices, kb
	r.rate = float64(r.records) / r.wall.Seconds()
	return r, nil
}

// feedStats are the medians of several feeds of one consumer.
type feedStats struct {
	name      string
	rate      float64
	share     float64 // CPU as a fraction of a core
	maxStall  time.Duration
	stalls    int
	hwmKB     int64
	maxQueued int // bytes, the worst of the runs
}

// feedBench runs the feed rounds times per consumer, interleaved.
func feedBench(lines [][]byte, count, rate int, dur, settle time.Duration, rounds int, consumers []consumer) ([]feedStats, error) {
	rates := make([][]float64, len(consumers))
	shares := make([][]float64, len(consumers))
	out := make([]feedStats, len(consumers))
	for range rounds {
		for i, c := range consumers {
			r, err := runFeed(c.argv, lines, count, rate, dur, settle)
			if err != nil {
				return nil, err
			}
			rates[i] = append(rates[i], r.rate)
			shares[i] = append(shares[i], r.cpuShare())
			out[i].maxStall = max(out[i].maxStall, r.maxStall)
			out[i].stalls += r.stalls
			out[i].hwmKB = max(out[i].hwmKB, r.hwmKB)
			out[i].maxQueued = max(out[i].maxQueued, r.maxQueued)
		}
	}
	for i, c := range consumers {
		out[i].name = c.name
		out[i].rate = median(rates[i])
		out[i].share = median(shares[i])
	}
	return out, nil
}
