//go:build !linux

package main

import "fmt"

const sandboxChildEnv = "AUDISP_SANDBOX_CHILD"

// sandboxChild: the sandbox is Linux's only.
func sandboxChild(string) int {
	fmt.Println("no sandbox on this system")
	return 2
}
