// Package probe measures the kernel's audit queue from inside the kernel
// with a small eBPF program, on stock kernels that lack the
// backlog_max_depth patch.
//
// Every audit record enters kernel/audit.c's audit_queue through
// skb_queue_tail(&audit_queue, skb). An fexit program on skb_queue_tail,
// filtered on audit_queue's address, reads the queue's length right after
// each record went in (where the patch reads skb_queue_len(&audit_queue))
// and keeps the interval's maximum, the number of records queued, the sum
// and a log2 histogram of the depths they found. The same filter watches
// kauditd's retry and hold queues, which the kernel's backlog figure does
// not count, and an fentry on audit_log_lost counts lost records by cause.
// queue.bpf.c is the program; queue_bpfel.go and queue_bpfel.o are
// generated from it by bpf2go (`make generate`).
//
// Open needs CAP_BPF and CAP_PERFMON (or CAP_SYS_ADMIN) and, to read
// audit_queue's address from /proc/kallsyms, CAP_SYSLOG. Nothing after
// Open does: ReadAndReset works on memory shared with the kernel, with no
// system call, so a caller may drop every capability and forbid bpf(2)
// once Open has returned. Check says whether Open could work, and why
// not, without loading anything.
package probe
