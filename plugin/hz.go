package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// defaultHZ is assumed when the kernel's configuration cannot be read.
const defaultHZ = 1000

// kernelHZ finds the kernel's tick rate (CONFIG_HZ), which the kernel uses
// as the unit of backlog_wait_time_actual. It reads /proc/config.gz
// (CONFIG_IKCONFIG_PROC) or /boot/config-RELEASE, as shipped by Debian,
// Ubuntu, Fedora, RHEL and SUSE. It returns where the value came from, or
// defaultHZ and the reason it could not be found.
func kernelHZ(root string) (hz uint32, source string, err error) {
	release, err := os.ReadFile(root + "/proc/sys/kernel/osrelease")
	if err != nil {
		return defaultHZ, "", fmt.Errorf("kernel release: %w", err)
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
	return defaultHZ, "", fmt.Errorf("kernel HZ unknown, assuming %d: %s", defaultHZ, strings.Join(errs, "; "))
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
