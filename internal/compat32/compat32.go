// Package compat32 makes system calls through another architecture's
// entry point, for tests of the plugin's seccomp filter: a filter that
// checks only the native table can be got round this way (on x86-64, int
// $0x80 reaches the i386 table, where execve is 11, not 59).
package compat32

// I386Getpid is getpid (20) in the i386 table.
const I386Getpid = 20
