/*
Package auditdstate reads the state report auditd writes: the only window
into auditd's own queue to its plugins, where records are lost when a
plugin falls behind ("queue to plugins is full - dropping event"), past
the kernel's backlog that the rest of the plugin measures.

# The file

auditd's cont_handler (src/auditd.c) writes the report when auditd gets
SIGCONT (`auditctl --signal state`) and, from auditd 4.0.5, every
report_interval seconds when auditd.conf sets it (the default, 0, never).
This package only reads it: it never signals auditd. Where it is:
/var/run/auditd.state up to auditd 4.1.1, /run/audit/auditd.state from
4.1.2 ([Paths]). auditd creates it owned by root with mode 0640 and
rewrites it in place (fopen "w": truncate, then write), so a reader can
catch it empty or, across two reads, half old and half new: [Parse]
rejects what shows in the text and [Read] also rejects a file whose size
or modification time changed while it read it, both with [ErrIncomplete].
[Reader] keeps the last whole report for such a read, and sends nothing
for a report older than its maximum age ([ErrStale]) or missing.

The lines differ between versions, and Parse reads every spelling:

	3.0-4.0.1    Logging partition free space 77681 MB
	4.0.2-4.0.5  Logging partition free space = 77680 MB
	4.1.0-       Logging partition free space = 77665 MiB
	4.0.4-4.0.5  glibc arena (total memory) is: 132 KB, was: 132 KB
	4.1.0-       glibc arena (total memory) is: 132 KiB, was: 132 KiB
	3.0-         current plugin queue depth = 0
	             max plugin queue depth used = 7
	             plugin queue size = 2000
	             plugin queue overflow detected = no
	             plugin queueing suspended = no

# Metrics

The plugin sends the report's queue, log and memory figures as the
linux.audit.auditd.* gauges of emit's metric table, each only when the
report states it and is fresh (never as 0 in its place). The queue holds
one entry per record (auditd's dispatch_event queues each netlink
message). Its overflow is a flag, not a count, cleared only when auditd
restarts or a reload grows q_depth; its max_depth is auditd's high-water
mark since it started, not an interval's peak. README.md, "Switching from
audisp-statsd", maps audisp-statsd's metrics to the plugin's.
*/
package auditdstate
