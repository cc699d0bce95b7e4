package probe

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strconv"
)

// The kernel's three audit queues, static variables of kernel/audit.c.
const (
	symQueue      = "audit_queue"
	symRetryQueue = "audit_retry_queue"
	symHoldQueue  = "audit_hold_queue"
)

// kallsyms reads /proc/kallsyms-formatted lines ("ADDRESS TYPE NAME
// [MODULE]") from r and returns the addresses of the data symbols named in
// want. Symbols of modules are skipped: the queues are in the core kernel.
// A name with an LLVM LTO suffix (NAME.llvm.N) counts as NAME.
//
// A wanted name found with address 0 (kptr_restrict, or no CAP_SYSLOG:
// every address reads as zero) is left out, as is a name found twice at
// different addresses, which could not be told apart. So the result holds
// only addresses the probe can trust.
func kallsyms(r io.Reader, want ...string) (map[string]uint64, error) {
	found := make(map[string]uint64, len(want))
	dup := map[string]bool{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), 1<<16)
	for sc.Scan() {
		addr, typ, name, ok := kallsymsLine(sc.Bytes())
		if !ok || !isDataSymbol(typ) {
			continue
		}
		if i := bytes.Index(name, []byte(".llvm.")); i > 0 {
			name = name[:i]
		}
		for _, w := range want {
			if string(name) != w {
				continue
			}
			if prev, seen := found[w]; seen && prev != addr {
				dup[w] = true
			}
			found[w] = addr
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read kallsyms: %w", err)
	}
	for w, a := range found {
		if a == 0 || dup[w] {
			delete(found, w)
		}
	}
	return found, nil
}

// kallsymsLine splits one line; ok is false for a module's symbol or a
// line that is not "HEX TYPE NAME".
func kallsymsLine(line []byte) (addr uint64, typ byte, name []byte, ok bool) {
	a, rest, ok1 := bytes.Cut(line, []byte{' '})
	t, rest, ok2 := bytes.Cut(rest, []byte{' '})
	if !ok1 || !ok2 || len(t) != 1 || len(rest) == 0 {
		return 0, 0, nil, false
	}
	if bytes.ContainsAny(rest, " \t[") { // "NAME\t[module]"
		return 0, 0, nil, false
	}
	v, err := strconv.ParseUint(string(a), 16, 64)
	if err != nil {
		return 0, 0, nil, false
	}
	return v, t[0], rest, true
}

// isDataSymbol reports whether a kallsyms type letter is data or bss.
func isDataSymbol(t byte) bool {
	switch t {
	case 'b', 'B', 'd', 'D':
		return true
	}
	return false
}
