/* SPDX-License-Identifier: GPL-2.0 OR MIT */
/*
 * queue.h: the few kernel types and BPF definitions queue.bpf.c needs,
 * written by hand instead of a generated vmlinux.h or libbpf's headers.
 *
 * Kernel structs carry preserve_access_index, so clang records CO-RE
 * relocations for every field read: the loader (cilium/ebpf) moves each
 * access to where the running kernel's BTF puts the field. Only the fields
 * read are declared; their offsets here do not matter.
 */
#ifndef AUDISP_QUEUE_H
#define AUDISP_QUEUE_H

typedef unsigned char __u8;
typedef unsigned int __u32;
typedef unsigned long long __u64;
typedef long long __s64;

/* include/linux/skbuff.h */
struct sk_buff_head {
	__u32 qlen;
} __attribute__((preserve_access_index));

/* include/uapi/linux/bpf.h */
enum {
	BPF_MAP_TYPE_ARRAY = 2,
};
#define BPF_F_MMAPABLE (1U << 10)

/* libbpf's conventions for map definitions and sections, which cilium/ebpf reads. */
#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int (*name)[val]
#define __type(name, val) typeof(val) *name
#define __always_inline inline __attribute__((always_inline))

/* Helper calls by number, as include/uapi/linux/bpf.h numbers them. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static long (*bpf_probe_read_kernel_str)(void *dst, __u32 size, const void *unsafe_ptr) = (void *)115;

#endif
