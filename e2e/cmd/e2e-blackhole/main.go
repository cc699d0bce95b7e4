// Command e2e-blackhole is the e2e guest's hung collector: it accepts TCP
// connections on -addr and never reads nor answers, so an OTLP export to it
// waits until its own deadline. The stall scenario measures how long the
// plugin then takes to exit when auditd stops it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/audisp-backlog/audisp-backlog/emit/emittest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:4317", "TCP listen address")
	flag.Parse()
	b, err := emittest.ListenBlackhole(*addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e-blackhole: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("@e2e {\"ev\":\"blackhole-ready\",\"line\":%q}\n", b.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	fmt.Printf("@e2e {\"ev\":\"blackhole-done\",\"value\":%d}\n", b.Accepted())
	b.Close()
}
