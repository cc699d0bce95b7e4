// Command gopoller is the Go floor that audisp-backlog's idle cost is
// measured against, beside the C poller: one goroutine woken by a
// time.Ticker reads the audit status (AUDIT_GET) through auditclient, the
// plugin's own client, and does nothing else. What the plugin costs above
// it is the plugin's own doing; what it costs above the C poller but not
// above this is the Go runtime's.
//
// It reads its standard input to the end and then exits, as the plugin
// does under auditd. It only reads: it is safe against a host's kernel.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/audisp-backlog/audisp-backlog/auditclient"
)

func main() {
	every := flag.Duration("every", 100*time.Millisecond, "how often to read the audit status")
	flag.Parse()
	c, err := auditclient.Open()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gopoller:", err)
		os.Exit(1)
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	t := time.NewTicker(*every)
	for range t.C {
		if _, err := c.Status(); err != nil {
			fmt.Fprintln(os.Stderr, "gopoller:", err)
			os.Exit(1)
		}
	}
}
