package auditclient

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// DefaultHZ is assumed when the kernel's configuration cannot be read.
const DefaultHZ = 1000

// TickRate finds the kernel's tick rate (CONFIG_HZ), the unit of the
// jiffies fields of Status (BacklogWaitTime, BacklogWaitTimeActual). It
// reads ROOT/proc/config.gz (CONFIG_IKCONFIG_PROC) or
// ROOT/boot/config-RELEASE, as shipped by Debian, Ubuntu, Fedora, RHEL and
// SUSE; root is "" on a live system. It returns where the value came from,
// or DefaultHZ and the reason it could not be found.
func TickRate(root string) (hz uint32, source string, err error) {
	release, err := os.ReadFile(root + "/proc/sys/kernel/osrelease")
	if err != nil {
		return DefaultHZ, "", fmt.Errorf("kernel release: %w", err)
	}
	paths := []string{root + "/proc/config.gz", root + "/boot/config-" + strings.TrimSpace(string(release))}
	var errs []string
	for _, p := range paths {
		hz, err := configHZ(p)
		if err == nil {
			return hz, p, nil
		}
		errs = append(errs, err.Error())
	}
	return DefaultHZ, "", fmt.Errorf("kernel HZ unknown, assuming %d: %s", DefaultHZ, strings.Join(errs, "; "))
}

// configHZ reads CONFIG_HZ from a kernel config file, gzipped or not.
func configHZ(path string) (uint32, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	return parseConfigHZ(io.LimitReader(r, 4<<20))
}

// parseConfigHZ finds "CONFIG_HZ=N" in a kernel config.
func parseConfigHZ(r io.Reader) (uint32, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		v, ok := bytes.CutPrefix(sc.Bytes(), []byte("CONFIG_HZ="))
		if !ok {
			continue
		}
		n, err := strconv.ParseUint(string(v), 10, 32)
		if err != nil || n == 0 {
			return 0, fmt.Errorf("bad CONFIG_HZ=%q", v)
		}
		return uint32(n), nil
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("no CONFIG_HZ")
}

// Ticks converts a count of kernel ticks (jiffies) at hz ticks a second to
// a duration; 0 when hz is 0.
func Ticks(ticks, hz uint32) time.Duration {
	if hz == 0 {
		return 0
	}
	return time.Duration(ticks) * time.Second / time.Duration(hz)
}
