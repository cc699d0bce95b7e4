/*
 * auditget: the floor audisp-backlog's idle cost is measured against. Every
 * PERIOD_MS milliseconds it sends one AUDIT_GET over a blocking
 * NETLINK_AUDIT socket and reads the reply with a blocking recv, sleeping
 * in between with clock_nanosleep on absolute times (no drift, like a Go
 * ticker). It never sends anything but AUDIT_GET: read-only.
 *
 *   gcc -O2 -o auditget auditget.c && ./auditget 100
 *
 * It runs until killed, and exits 1 if the kernel refuses the request.
 */
#include <errno.h>
#include <linux/audit.h>
#include <linux/netlink.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

int main(int argc, char **argv)
{
	long ms = argc > 1 ? atol(argv[1]) : 100;
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_AUDIT);
	if (fd < 0 || ms <= 0) {
		perror("auditget: socket");
		return 1;
	}
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	struct nlmsghdr req = {.nlmsg_len = NLMSG_HDRLEN, .nlmsg_type = AUDIT_GET, .nlmsg_flags = NLM_F_REQUEST};
	static char buf[8192];
	struct timespec next;
	clock_gettime(CLOCK_MONOTONIC, &next);
	for (unsigned seq = 1;; seq++) {
		req.nlmsg_seq = seq;
		if (sendto(fd, &req, req.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) {
			perror("auditget: sendto");
			return 1;
		}
		for (;;) {
			ssize_t n = recv(fd, buf, sizeof buf, 0);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < (ssize_t)NLMSG_HDRLEN) {
				perror("auditget: recv");
				return 1;
			}
			struct nlmsghdr *h = (struct nlmsghdr *)buf;
			if (h->nlmsg_seq != seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				fprintf(stderr, "auditget: AUDIT_GET refused: %s\n",
					strerror(-((struct nlmsgerr *)NLMSG_DATA(h))->error));
				return 1;
			}
			if (h->nlmsg_type == AUDIT_GET)
				break;
		}
		next.tv_nsec += (ms % 1000) * 1000000L;
		next.tv_sec += ms / 1000 + next.tv_nsec / 1000000000L;
		next.tv_nsec %= 1000000000L;
		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL) == EINTR)
			;
	}
}
