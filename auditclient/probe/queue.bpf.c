//go:build ignore

// SPDX-License-Identifier: GPL-2.0 OR MIT
/*
 * queue.bpf.c: the in-kernel half of package probe. It watches the depth of
 * the kernel's audit queue (kernel/audit.c's static audit_queue) the way
 * the backlog_max_depth patch does, plus what the patch cannot see.
 *
 * Every audit record enters audit_queue through
 * skb_queue_tail(&audit_queue, skb); kauditd moves records it cannot
 * deliver to audit_retry_queue and audit_hold_queue through the same
 * function. skb_queue_tail is exported, in BTF and not inlined into
 * kernel/audit.c, whereas audit_log_end's shape and symbol names change
 * between kernels (on Debian's 7.2 it is a wrapper around a clone without
 * BTF). So an fexit on skb_queue_tail, filtered on the three queues'
 * addresses, sees every enqueue; it reads list->qlen right after the
 * record went in, where the patch reads skb_queue_len(&audit_queue).
 *
 * All figures live in one BPF_F_MMAPABLE array element that userspace maps
 * and reads without a system call, in two slots (see struct state), so
 * that a reset neither loses an update nor splits one between intervals.
 */
#include "queue.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

#define HIST_BUCKETS 32
#define CAS_TRIES 64

/* Causes of audit_log_lost(), from its message argument. */
enum lost_cause {
	LOST_RATE_LIMIT,     /* "rate limit exceeded" */
	LOST_BACKLOG_LIMIT,  /* "backlog limit exceeded" */
	LOST_NO_MEMORY,      /* "out of memory in ..." */
	LOST_RETRY_OVERFLOW, /* "kauditd retry queue overflow" */
	LOST_HOLD_OVERFLOW,  /* "kauditd hold queue overflow" */
	LOST_OTHER,
	LOST_CAUSES,
};

/* One interval's figures. */
struct figures {
	__u32 max_depth; /* highest audit_queue qlen after an enqueue */
	__u32 retry_max; /* highest audit_retry_queue qlen after an enqueue */
	__u32 hold_max;  /* highest audit_hold_queue qlen after an enqueue */
	__u32 pad;
	__u64 enqueued;  /* records put on audit_queue */
	__u64 depth_sum; /* sum of the qlen each of them found */
	__u64 hist[HIST_BUCKETS]; /* hist[k]: enqueues with 2^k <= qlen < 2^(k+1); k=0 also qlen 0 */
	__u64 lost[LOST_CAUSES];  /* audit_log_lost() calls by cause */
};

/*
 * The shared state. The addresses are written by userspace before the
 * programs are attached (or, for audit_queue, by on_send_queue).
 *
 * The figures are double-buffered so that one interval's are consistent
 * with each other (every figure covers the same enqueues): programs update
 * slot[epoch & 1]; ReadAndReset adds 1 to epoch, waits until inflight[old]
 * is 0, then reads and zeroes slot[old]. A program announces itself in
 * inflight[e] before it touches slot[e] and checks that epoch still
 * selects e afterwards; if not, it withdraws and uses the new slot. So
 * once the reader has seen inflight[old] at 0 after its flip, no program
 * touches slot[old] again until the next flip.
 */
struct state {
	__u64 queue;       /* &audit_queue; 0 until known */
	__u64 retry_queue; /* &audit_retry_queue; 0 if unknown */
	__u64 hold_queue;  /* &audit_hold_queue; 0 if unknown */
	__u32 epoch;
	__u32 pad;
	__u64 inflight[2];
	struct figures slot[2];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__type(key, __u32);
	__type(value, struct state);
	__uint(max_entries, 1);
} shared SEC(".maps");

static __always_inline struct state *get_state(void)
{
	__u32 key = 0;

	return bpf_map_lookup_elem(&shared, &key);
}

/*
 * enter returns the slot to update and counts the caller in its inflight;
 * leave must follow. The atomic add's result is used so that it is the
 * fully ordered fetch variant (on arm64 too): the epoch is read again only
 * after the add is visible to the reader.
 */
static __always_inline struct figures *enter(struct state *s, __u32 *slot)
{
	__u32 e = 0;
	__u64 old;

	for (int i = 0; i < 4; i++) {
		e = *(volatile __u32 *)&s->epoch & 1;
		old = __sync_fetch_and_add(&s->inflight[e], 1);
		asm volatile("" : : "r"(old));
		if ((*(volatile __u32 *)&s->epoch & 1) == e)
			break;
		/* A flip came in between: withdraw and follow it. After four
		 * flips in a row (never seen), stay: the update then counts in
		 * a later interval, which is late but never lost. */
		if (i < 3) {
			old = __sync_fetch_and_add(&s->inflight[e], -1);
			asm volatile("" : : "r"(old));
		}
	}
	*slot = e;
	return &s->slot[e];
}

static __always_inline void leave(struct state *s, __u32 slot)
{
	__sync_fetch_and_add(&s->inflight[slot & 1], -1);
}

/* raise_max sets *p to v if v is higher, with a bounded compare-and-swap. */
static __always_inline void raise_max(__u32 *p, __u32 v)
{
	for (int i = 0; i < CAS_TRIES; i++) {
		__u32 cur = *(volatile __u32 *)p;

		if (v <= cur)
			return;
		if (__sync_val_compare_and_swap(p, cur, v) == cur)
			return;
	}
}

/* ilog2 returns floor(log2(v)) for v > 0, and 0 for v == 0. */
static __always_inline __u32 ilog2(__u32 v)
{
	__u32 r, shift;

	r = (v > 0xFFFF) << 4;
	v >>= r;
	shift = (v > 0xFF) << 3;
	v >>= shift;
	r |= shift;
	shift = (v > 0xF) << 2;
	v >>= shift;
	r |= shift;
	shift = (v > 0x3) << 1;
	v >>= shift;
	r |= shift;
	r |= (v >> 1);
	return r;
}

/* void skb_queue_tail(struct sk_buff_head *list, struct sk_buff *newsk) */
SEC("fexit/skb_queue_tail")
int on_queue_tail(__u64 *ctx)
{
	struct sk_buff_head *list = (struct sk_buff_head *)ctx[0];
	__u64 addr = (__u64)list;
	struct figures *f;
	struct state *s;
	__u32 qlen, b, slot;

	s = get_state();
	if (!s)
		return 0;
	if (addr == s->queue) {
		qlen = list->qlen;
		f = enter(s, &slot);
		raise_max(&f->max_depth, qlen);
		__sync_fetch_and_add(&f->enqueued, 1);
		__sync_fetch_and_add(&f->depth_sum, qlen);
		b = ilog2(qlen);
		/* clang knows b < 32 and drops a plain mask, but older
		 * verifiers (6.1) cannot bound the shifts and ORs of ilog2: hide
		 * b from clang, then mask it where the verifier sees it. */
		asm volatile("" : "+r"(b));
		__sync_fetch_and_add(&f->hist[b & (HIST_BUCKETS - 1)], 1);
		leave(s, slot);
	} else if (addr == s->retry_queue) {
		qlen = list->qlen;
		f = enter(s, &slot);
		raise_max(&f->retry_max, qlen);
		leave(s, slot);
	} else if (addr == s->hold_queue) {
		qlen = list->qlen;
		f = enter(s, &slot);
		raise_max(&f->hold_max, qlen);
		leave(s, slot);
	}
	return 0;
}

/* void audit_log_lost(const char *message) */
SEC("fentry/audit_log_lost")
int on_log_lost(__u64 *ctx)
{
	const char *msg = (const char *)ctx[0];
	char buf[16] = {};
	__u32 cause = LOST_OTHER, slot;
	struct figures *f;
	struct state *s;

	s = get_state();
	if (!s)
		return 0;
	bpf_probe_read_kernel_str(buf, sizeof(buf), msg);
	if (buf[0] == 'r' && buf[1] == 'a' && buf[2] == 't' && buf[3] == 'e')
		cause = LOST_RATE_LIMIT;
	else if (buf[0] == 'b' && buf[1] == 'a' && buf[2] == 'c' && buf[3] == 'k')
		cause = LOST_BACKLOG_LIMIT;
	else if (buf[0] == 'o' && buf[1] == 'u' && buf[2] == 't' && buf[3] == ' ')
		cause = LOST_NO_MEMORY;
	else if (buf[0] == 'k' && buf[7] == ' ' && buf[8] == 'r')
		cause = LOST_RETRY_OVERFLOW;
	else if (buf[0] == 'k' && buf[7] == ' ' && buf[8] == 'h')
		cause = LOST_HOLD_OVERFLOW;
	f = enter(s, &slot);
	__sync_fetch_and_add(&f->lost[cause], 1);
	leave(s, slot);
	return 0;
}

/*
 * Where /proc/kallsyms does not give audit_queue's address: kauditd passes
 * it as the queue of kauditd_send_queue's call with retry_limit == 1 (the
 * hold and retry queues get UNICAST_RETRIES, 5).
 *
 * static int kauditd_send_queue(struct sock *sk, u32 portid,
 *                               struct sk_buff_head *queue,
 *                               unsigned int retry_limit, ...)
 */
SEC("fentry/kauditd_send_queue")
int on_send_queue(__u64 *ctx)
{
	struct state *s;

	if ((__u32)ctx[3] != 1)
		return 0;
	s = get_state();
	if (!s)
		return 0;
	if (!s->queue)
		__sync_val_compare_and_swap(&s->queue, 0, ctx[2]);
	return 0;
}
