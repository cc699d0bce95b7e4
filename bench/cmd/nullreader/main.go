// Command nullreader reads its standard input until end of file and does
// nothing with it: the cost of merely reading a record stream from Go, the
// baseline the plugin is measured against. It reads into one 64 KiB
// buffer, the size of the plugin's.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
)

func main() {
	buf := make([]byte, 64<<10)
	for {
		_, err := os.Stdin.Read(buf)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "nullreader:", err)
			os.Exit(1)
		}
	}
}
