package probe

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Lockdown modes, as /sys/kernel/security/lockdown names them.
const (
	LockdownNone            = "none"
	LockdownIntegrity       = "integrity"
	LockdownConfidentiality = "confidentiality"
)

// parseLockdown returns the selected mode of a lockdown file such as
// "none [integrity] confidentiality\n".
func parseLockdown(b []byte) (string, error) {
	for _, w := range strings.Fields(string(b)) {
		if len(w) > 2 && w[0] == '[' && w[len(w)-1] == ']' {
			return w[1 : len(w)-1], nil
		}
	}
	return "", fmt.Errorf("lockdown: no [selected] mode in %q", b)
}

// parseRelease returns the major and minor numbers of a kernel release
// such as "6.12.117-amd64" or "7.2.0-1-cloud-amd64".
func parseRelease(s string) (major, minor int, err error) {
	s = strings.TrimSpace(s)
	maj, rest, ok := strings.Cut(s, ".")
	if !ok {
		return 0, 0, fmt.Errorf("kernel release %q: no major.minor", s)
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	major, err1 := strconv.Atoi(maj)
	minor, err2 := strconv.Atoi(rest[:end])
	if err := errors.Join(err1, err2); err != nil {
		return 0, 0, fmt.Errorf("kernel release %q: %w", s, err)
	}
	return major, minor, nil
}

// Capability numbers (include/uapi/linux/capability.h).
const (
	capSysAdmin = 21
	capSyslog   = 34
	capPerfmon  = 38
	capBPF      = 39
)

// parseCapEff returns the effective capability set from the contents of
// /proc/PID/status.
func parseCapEff(status []byte) (uint64, error) {
	for line := range bytes.Lines(status) {
		v, ok := bytes.CutPrefix(line, []byte("CapEff:"))
		if !ok {
			continue
		}
		c, err := strconv.ParseUint(string(bytes.TrimSpace(v)), 16, 64)
		if err != nil {
			return 0, fmt.Errorf("status: CapEff: %w", err)
		}
		return c, nil
	}
	return 0, errors.New("status: no CapEff line")
}

func hasCap(set uint64, c int) bool { return set&(1<<c) != 0 }
