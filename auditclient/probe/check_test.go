package probe

import (
	"errors"
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

// A Debian 6.12 host as root: everything Open needs.
func goodHost() fstest.MapFS {
	return fstest.MapFS{
		"proc/sys/kernel/osrelease":    {Data: []byte("6.12.117+deb13-amd64\n")},
		"sys/kernel/security/lockdown": {Data: []byte("[none] integrity confidentiality\n")},
		"proc/self/status":             {Data: []byte("Name:\taudisp-backlog\nCapEff:\t000001ffffffffff\n")},
		"sys/kernel/btf/vmlinux":       {Data: []byte("BTF")},
		"proc/kallsyms": {Data: []byte("ffffffff81000000 T _stext\nffffffff83a1c2c0 b audit_queue\n" +
			"ffffffff83a1c2a8 b audit_retry_queue\nffffffff83a1c290 b audit_hold_queue\n")},
	}
}

func allFunctions(names ...string) (map[string]bool, error) {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m, nil
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(fstest.MapFS)
		funcs  func(...string) (map[string]bool, error)
		want   []error // sentinels the error must wrap; none: nil error
		addr   string
		retry  bool
		checks func(t *testing.T, r Report)
	}{
		{name: "root on Debian", addr: AddressKallsyms, retry: true},
		{name: "lockdown integrity is fine", edit: func(m fstest.MapFS) {
			m["sys/kernel/security/lockdown"].Data = []byte("none [integrity] confidentiality\n")
		}, addr: AddressKallsyms, retry: true},
		{name: "no lockdown file: unknown, assumed none", edit: func(m fstest.MapFS) {
			delete(m, "sys/kernel/security/lockdown")
		}, addr: AddressKallsyms, retry: true, checks: func(t *testing.T, r Report) {
			if r.Lockdown != "" {
				t.Errorf("Lockdown = %q, want empty", r.Lockdown)
			}
		}},
		{name: "lockdown confidentiality", edit: func(m fstest.MapFS) {
			m["sys/kernel/security/lockdown"].Data = []byte("none integrity [confidentiality]\n")
		}, want: []error{ErrLockdown}, addr: AddressKallsyms, retry: true},
		{name: "bullseye 5.10", edit: func(m fstest.MapFS) {
			m["proc/sys/kernel/osrelease"].Data = []byte("5.10.0-33-amd64\n")
		}, want: []error{ErrKernelTooOld}, addr: AddressKallsyms, retry: true},
		{name: "no BTF", edit: func(m fstest.MapFS) {
			delete(m, "sys/kernel/btf/vmlinux")
		}, want: []error{ErrNoBTF}, addr: AddressKallsyms, retry: true},
		{name: "skb_queue_tail not in BTF", funcs: func(names ...string) (map[string]bool, error) {
			return map[string]bool{fnLogLost: true, fnSendQueue: true}, nil
		}, want: []error{ErrNoBTF}, addr: AddressKallsyms, retry: true},
		{name: "no capabilities", edit: func(m fstest.MapFS) {
			m["proc/self/status"].Data = []byte("CapEff:\t0000000000000000\n")
		}, want: []error{ErrPrivileges}, addr: AddressKallsyms, retry: true},
		{name: "CAP_BPF without CAP_PERFMON", edit: func(m fstest.MapFS) {
			m["proc/self/status"].Data = []byte("CapEff:\t0000008400000000\n") // BPF, SYSLOG
		}, want: []error{ErrPrivileges}, addr: AddressKallsyms, retry: true},
		{name: "CAP_BPF and CAP_PERFMON only", edit: func(m fstest.MapFS) {
			m["proc/self/status"].Data = []byte("CapEff:\t000000c000000000\n")
		}, addr: AddressKallsyms, retry: true, checks: func(t *testing.T, r Report) {
			if !r.CapBPF || r.CapSyslog {
				t.Errorf("CapBPF %t CapSyslog %t, want true false", r.CapBPF, r.CapSyslog)
			}
		}},
		{name: "kptr_restrict: learn the address from kauditd", edit: func(m fstest.MapFS) {
			m["proc/kallsyms"].Data = []byte("0000000000000000 b audit_queue\n0000000000000000 b audit_retry_queue\n")
		}, addr: AddressSendQueue},
		{name: "no kallsyms and no kauditd_send_queue", edit: func(m fstest.MapFS) {
			delete(m, "proc/kallsyms")
		}, funcs: func(names ...string) (map[string]bool, error) {
			return map[string]bool{fnQueueTail: true, fnLogLost: true}, nil
		}, want: []error{ErrNoQueueAddress}},
		{name: "audit_log_lost missing: still runs", funcs: func(names ...string) (map[string]bool, error) {
			return map[string]bool{fnQueueTail: true, fnSendQueue: true}, nil
		}, addr: AddressKallsyms, retry: true, checks: func(t *testing.T, r Report) {
			if r.LostByCause {
				t.Error("LostByCause = true without audit_log_lost")
			}
		}},
		{name: "everything wrong at once", edit: func(m fstest.MapFS) {
			m["proc/sys/kernel/osrelease"].Data = []byte("4.19.0\n")
			m["sys/kernel/security/lockdown"].Data = []byte("none integrity [confidentiality]\n")
			m["proc/self/status"].Data = []byte("CapEff:\t0\n")
			delete(m, "sys/kernel/btf/vmlinux")
			delete(m, "proc/kallsyms")
		}, want: []error{ErrKernelTooOld, ErrLockdown, ErrPrivileges, ErrNoBTF}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := goodHost()
			if tt.edit != nil {
				tt.edit(m)
			}
			funcs := tt.funcs
			if funcs == nil {
				funcs = allFunctions
			}
			r, addrs, err := inspect(system{fsys: m, functions: funcs})
			if len(tt.want) == 0 && err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			for _, w := range tt.want {
				if !errors.Is(err, w) {
					t.Errorf("error %v does not wrap %v", err, w)
				}
			}
			if r.Address != tt.addr || r.RetryHold != tt.retry {
				t.Errorf("Address %q RetryHold %t, want %q %t", r.Address, r.RetryHold, tt.addr, tt.retry)
			}
			if (addrs.queue != 0) != (tt.addr == AddressKallsyms) || (addrs.retry != 0) != tt.retry {
				t.Errorf("addresses %+v for Address %q RetryHold %t", addrs, r.Address, r.RetryHold)
			}
			if tt.checks != nil {
				tt.checks(t, r)
			}
			if s := r.String(); !strings.Contains(s, "kernel ") {
				t.Errorf("String() = %q", s)
			}
		})
	}
}

// TestCheckHost runs Check on this machine: it only reads files, so it is
// safe anywhere. What it finds depends on the host, so it asserts only
// that the report and the error agree.
func TestCheckHost(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: not Linux")
	}
	r, err := Check()
	t.Logf("host: %v; err: %v", r, err)
	if r.Kernel == "" {
		t.Error("no kernel release")
	}
	if !r.BTF && !errors.Is(err, ErrNoBTF) {
		t.Errorf("BTF false but error %v does not wrap ErrNoBTF", err)
	}
	if !r.CapBPF && !errors.Is(err, ErrPrivileges) {
		t.Errorf("CapBPF false but error %v does not wrap ErrPrivileges", err)
	}
}
