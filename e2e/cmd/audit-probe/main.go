//go:build linux

// Command audit-probe is an e2e guest tool that measures what the eBPF
// probe (auditclient/probe) costs the work it watches. Its fexit runs on
// every skb_queue_tail in the system, not only audit's, so it times:
//
//   - unix: a 64-byte AF_UNIX datagram sent and received (the receiver's
//     queue is filled by skb_queue_tail);
//   - netlink: a 64-byte NETLINK_USERSOCK message from one socket to
//     another (netlink_unicast queues it with skb_queue_tail);
//   - audit: one AUDIT_USER record generated and queued on audit_queue
//     (the probe's full path: filter match, compare-and-swap, counters);
//   - getpid: a system call that queues nothing, as a control for the
//     noise of the machine.
//
// Each round measures every workload for -dur with the probe attached and
// without, in alternating order, opening and closing the probe each time.
// Results go to stdout as "@e2e {json}" lines for the host to reduce.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/audisp-backlog/audisp-backlog/auditclient/probe"
	"github.com/audisp-backlog/audisp-backlog/e2e/internal/auditnl"
)

func main() {
	rounds := flag.Int("rounds", 8, "rounds, each with and without the probe")
	dur := flag.Duration("dur", time.Second, "time per workload and mode")
	flag.Parse()
	if err := run(*rounds, *dur); err != nil {
		fmt.Fprintf(os.Stderr, "audit-probe: %v\n", err)
		os.Exit(1)
	}
}

func event(ev string, f map[string]any) {
	f["ev"] = ev
	b, _ := json.Marshal(f) // maps of numbers, strings and bools
	fmt.Printf("@e2e %s\n", b)
}

// A workload does one operation per call.
type workload struct {
	name string
	op   func() error
	per  int // records or messages per call
}

func run(rounds int, dur time.Duration) error {
	works, closeAll, err := workloads()
	if err != nil {
		return err
	}
	defer closeAll()
	for r := range rounds {
		modes := []bool{false, true}
		if r%2 == 1 {
			modes = []bool{true, false}
		}
		for _, on := range modes {
			var p *probe.Probe
			if on {
				start := time.Now()
				if p, err = probe.Open(nil); err != nil {
					return err
				}
				event("bench-open", map[string]any{"round": r, "ms": time.Since(start).Milliseconds()})
			}
			for _, w := range works {
				ns, ops, err := measure(w, dur)
				if err != nil {
					return fmt.Errorf("%s: %w", w.name, err)
				}
				event("bench", map[string]any{"round": r, "probe": on, "work": w.name, "ns_op": ns, "ops": ops})
			}
			if p != nil {
				// Then, untimed, what the program itself costs per call
				// (the kernel's BPF run-time statistics, which add their
				// own clock reads, so apart from the timed runs).
				if err := progCost(r, works, dur/2); err != nil {
					return err
				}
				s, _ := p.ReadAndReset()
				event("bench-probe", map[string]any{"round": r, "enqueued": s.Enqueued, "max": s.MaxDepth})
				if err := p.Close(); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// measure runs w for about dur and returns nanoseconds per operation.
func measure(w workload, dur time.Duration) (float64, int, error) {
	var ops int
	start := time.Now()
	for time.Since(start) < dur {
		for range 64 {
			if err := w.op(); err != nil {
				return 0, 0, err
			}
		}
		ops += 64 * w.per
	}
	return float64(time.Since(start).Nanoseconds()) / float64(ops), ops, nil
}

func workloads() ([]workload, func(), error) {
	var closers []func()
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	fail := func(err error) ([]workload, func(), error) { closeAll(); return nil, nil, err }
	msg := make([]byte, 64)
	buf := make([]byte, 256)

	ux, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fail(fmt.Errorf("socketpair: %w", err))
	}
	closers = append(closers, func() { unix.Close(ux[0]); unix.Close(ux[1]) })

	nlSock := func() (int, uint32, error) {
		fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_USERSOCK)
		if err != nil {
			return 0, 0, fmt.Errorf("netlink socket: %w", err)
		}
		closers = append(closers, func() { unix.Close(fd) })
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
			return 0, 0, fmt.Errorf("bind netlink: %w", err)
		}
		sa, err := unix.Getsockname(fd)
		if err != nil {
			return 0, 0, fmt.Errorf("netlink getsockname: %w", err)
		}
		return fd, sa.(*unix.SockaddrNetlink).Pid, nil
	}
	nlA, _, err := nlSock()
	if err != nil {
		return fail(err)
	}
	nlB, pidB, err := nlSock()
	if err != nil {
		return fail(err)
	}
	nlMsg := make([]byte, unix.NLMSG_HDRLEN+48)
	nlMsg[0] = byte(len(nlMsg)) // nlmsg_len, little-endian; type, flags, seq 0
	dst := &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Pid: pidB}

	au, err := auditnl.Open()
	if err != nil {
		return fail(err)
	}
	closers = append(closers, func() { au.Close() })
	sent := 0

	return []workload{
		{name: "unix", per: 1, op: func() error {
			if _, err := unix.Write(ux[0], msg); err != nil {
				return err
			}
			_, err := unix.Read(ux[1], buf)
			return err
		}},
		{name: "netlink", per: 1, op: func() error {
			if err := unix.Sendto(nlA, nlMsg, 0, dst); err != nil {
				return err
			}
			_, _, err := unix.Recvfrom(nlB, buf, 0)
			return err
		}},
		{name: "audit", per: 8, op: func() error {
			// 8 records per sendmsg; every 1024 records, wait for auditd
			// to drain the queue. The wait is timed: delivering the
			// records to auditd is part of the work the probe watches.
			if err := au.SendUser("bench", 8, 8); err != nil {
				return err
			}
			if sent += 8; sent%1024 == 0 {
				return drain(au)
			}
			return nil
		}},
		{name: "getpid", per: 1, op: func() error { unix.Getpid(); return nil }},
	}, closeAll, nil
}

// drain waits until auditd has taken the queue below 64 records, so the
// audit workload never reaches the backlog limit (where the kernel would
// make the sender wait).
func drain(c *auditnl.Conn) error {
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		st, err := c.Status()
		if err != nil {
			return err
		}
		if st.Backlog < 64 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("audit backlog still %d after 10 s: is auditd running?", st.Backlog)
		}
	}
}

// progCost enables the kernel's BPF run-time statistics, runs each
// workload for dur, and reports the calls of the probe's fexit program
// per operation and its mean run time per call. The trampoline around
// the program is not in these figures; the timed runs include it.
func progCost(round int, works []workload, dur time.Duration) error {
	stats, err := ebpf.EnableStats(uint32(unix.BPF_STATS_RUN_TIME))
	if err != nil {
		return fmt.Errorf("enable BPF stats: %w", err)
	}
	defer stats.Close()
	prog, err := findProgram("on_queue_tail")
	if err != nil {
		return err
	}
	defer prog.Close()
	for _, w := range works {
		before, err := prog.Stats()
		if err != nil {
			return err
		}
		_, ops, err := measure(w, dur)
		if err != nil {
			return fmt.Errorf("%s: %w", w.name, err)
		}
		after, err := prog.Stats()
		if err != nil {
			return err
		}
		calls := after.RunCount - before.RunCount
		ns := 0.0
		if calls > 0 {
			ns = float64(after.Runtime-before.Runtime) / float64(calls)
		}
		event("bench-prog", map[string]any{"round": round, "work": w.name, "calls_per_op": float64(calls) / float64(ops), "ns_per_call": ns})
	}
	return nil
}

// findProgram returns the loaded BPF program named name.
func findProgram(name string) (*ebpf.Program, error) {
	for id := ebpf.ProgramID(0); ; {
		next, err := ebpf.ProgramGetNextID(id)
		if err != nil {
			return nil, fmt.Errorf("no BPF program %s loaded: %w", name, err)
		}
		id = next
		p, err := ebpf.NewProgramFromID(id)
		if err != nil {
			continue
		}
		if info, err := p.Info(); err == nil && info.Name == name {
			return p, nil
		}
		p.Close()
	}
}
