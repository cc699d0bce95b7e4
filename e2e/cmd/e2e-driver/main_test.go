//go:build linux

package main

import "testing"

func TestAuditStamp(t *testing.T) {
	tests := []struct {
		line       string
		wantSerial string
		wantMS     int64
	}{
		{`type=CONFIG_CHANGE msg=audit(1795542125.130:6): op=set backlog_max_depth=0 old=5 auid=4294967295 ses=4294967295 res=1` + "\x1d" + `AUID="unset"`, "6", 1795542125130},
		{`node=h type=SYSCALL msg=audit(1700000000.007:12345): arch=c000003e syscall=44`, "12345", 1700000000007},
		{`no stamp here`, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.wantSerial, func(t *testing.T) {
			serial, ms := auditStamp(tt.line)
			if serial != tt.wantSerial || ms != tt.wantMS {
				t.Errorf("auditStamp: got %q, %d; want %q, %d", serial, ms, tt.wantSerial, tt.wantMS)
			}
		})
	}
}
