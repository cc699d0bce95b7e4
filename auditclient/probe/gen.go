package probe

// queue_bpfel.go and queue_bpfel.o are generated from queue.bpf.c and
// committed, so that building the module needs no clang: `make generate`
// reruns this with clang-14, and `make generate-check` fails if the
// committed files differ from a fresh run.
//go:generate go tool bpf2go -cc clang-14 -strip llvm-strip-14 -target bpfel -tags linux -type state -cflags "-O2 -Wall -Werror -mcpu=v3" queue queue.bpf.c
