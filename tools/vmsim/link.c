/* _GNU_SOURCE: MSG_CMSG_CLOEXEC. */
#define _GNU_SOURCE
#include "tools/vmsim/link.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tools/vmsim/vmsim.h"
#include "wire/backend_link.h"

/* Long enough for a slow sanitizer build, short enough to notice a hang. */
#define LINK_WAIT_MS 20000

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool link_spawn(struct vm_link *link, const char *crosswayd, const char *display,
		char *const *extra_args) {
	memset(link, 0, sizeof(*link));
	link->fd = -1;
	link->blob_fd = -1;
	link->next_resource = 1;
	link->next_fence = 1;
	link->max_message = CROSSWAY_BACKEND_MAX_MESSAGE_SIZE;

	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		return false;
	}
	pid_t pid = fork();
	if (pid < 0) {
		int e = errno;
		close(sv[0]);
		close(sv[1]);
		errno = e;
		return false;
	}
	if (pid == 0) {
		// crosswayd finds the link as fd 3 whatever number it had here;
		// dup2 clears close-on-exec on the copy.
		if (dup2(sv[1], 3) < 0) {
			_exit(127);
		}
		char *argv[64];
		int n = 0;
		argv[n++] = (char *)crosswayd;
		argv[n++] = "--fd";
		argv[n++] = "3";
		if (display != NULL) {
			argv[n++] = "--wayland-display";
			argv[n++] = (char *)display;
		}
		for (int i = 0; extra_args != NULL && extra_args[i] != NULL && n < 63; i++) {
			argv[n++] = extra_args[i];
		}
		argv[n] = NULL;
		execvp(crosswayd, argv);
		fprintf(stderr, "crossway-vmsim: cannot run %s: %s\n", crosswayd, strerror(errno));
		_exit(127);
	}
	close(sv[1]);
	link->fd = sv[0];
	link->pid = pid;
	return true;
}

uint32_t link_new_resource(struct vm_link *link) {
	return link->next_resource++;
}

static bool send_packet(struct vm_link *link, const uint8_t *pkt, size_t len) {
	if (len == 0 || link->closed) {
		return false;
	}
	ssize_t n;
	do {
		n = send(link->fd, pkt, len, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	if (n != (ssize_t)len) {
		link->closed = true;
		return false;
	}
	return true;
}

bool link_hello(struct vm_link *link, const char *vm_name, const char *ctx_name, uint32_t ctx_id) {
	uint8_t pkt[sizeof(struct crossway_backend_hello)];
	size_t n = backend_link_encode_hello(pkt, sizeof(pkt), ++link->serial, ctx_id, 0, vm_name,
					     ctx_name);
	if (!send_packet(link, pkt, n)) {
		return false;
	}
	int64_t deadline = now_ms() + LINK_WAIT_MS;
	while (link->max_identifiers == 0) {
		int left = (int)(deadline - now_ms());
		if (left <= 0 || link_dispatch(link, left) < 0) {
			return false;
		}
	}
	return true;
}

static bool attach(struct vm_link *link, uint32_t resource_id, uint32_t kind, uint64_t size) {
	uint8_t pkt[sizeof(struct crossway_backend_attach)];
	size_t n = backend_link_encode_attach(pkt, sizeof(pkt), ++link->serial, resource_id, kind,
					      size, 0, 0, 0);
	return send_packet(link, pkt, n);
}

bool link_attach_ring(struct vm_link *link, uint32_t resource_id) {
	return attach(link, resource_id, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, VM_RING_SIZE);
}

bool link_attach_blob(struct vm_link *link, uint32_t resource_id) {
	return attach(link, resource_id, CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, 0);
}

static bool resource_message(struct vm_link *link, uint32_t type, uint32_t resource_id) {
	uint8_t pkt[sizeof(struct crossway_backend_resource)];
	size_t n = backend_link_encode_resource(pkt, sizeof(pkt), type, ++link->serial,
						resource_id);
	return send_packet(link, pkt, n);
}

bool link_detach(struct vm_link *link, uint32_t resource_id) {
	return resource_message(link, CROSSWAY_BACKEND_DETACH, resource_id);
}

bool link_unref(struct vm_link *link, uint32_t resource_id) {
	return resource_message(link, CROSSWAY_BACKEND_UNREF, resource_id);
}

bool link_submit(struct vm_link *link, const void *cmds, uint32_t len) {
	uint8_t pkt[8192];
	size_t n = backend_link_encode_submit(pkt, sizeof(pkt), ++link->serial, cmds, len);
	return send_packet(link, pkt, n);
}

bool link_shutdown(struct vm_link *link) {
	uint8_t pkt[CROSSWAY_BACKEND_HEADER_SIZE];
	size_t n = backend_link_encode_shutdown(pkt, sizeof(pkt), ++link->serial);
	return send_packet(link, pkt, n);
}

static uint64_t fence(struct vm_link *link, uint32_t ring_idx) {
	uint8_t pkt[sizeof(struct crossway_backend_fence)];
	uint64_t id = link->next_fence++;
	size_t n = backend_link_encode_fence(pkt, sizeof(pkt), ++link->serial, id, ring_idx);
	return send_packet(link, pkt, n) ? id : 0;
}

bool link_init_rings(struct vm_link *link, uint32_t init_size) {
	link->shared_ring = init_size == CROSS_DOMAIN_INIT_LEGACY_SIZE;
	link->query_ring_id = link_new_resource(link);
	link->channel_ring_id = link->shared_ring ? link->query_ring_id : link_new_resource(link);
	if (!link_attach_ring(link, link->query_ring_id) ||
	    (!link->shared_ring && !link_attach_ring(link, link->channel_ring_id))) {
		return false;
	}
	uint8_t cmd[64];
	size_t n = cross_domain_encode_init(cmd, sizeof(cmd), init_size, link->query_ring_id,
					    link->channel_ring_id,
					    CROSS_DOMAIN_CHANNEL_TYPE_WAYLAND);
	return n > 0 && link_submit(link, cmd, (uint32_t)n);
}

bool link_poll(struct vm_link *link) {
	uint8_t cmd[CROSS_DOMAIN_POLL_SIZE];
	size_t n = cross_domain_encode_poll(cmd, sizeof(cmd));
	if (!link_submit(link, cmd, (uint32_t)n)) {
		return false;
	}
	link->record_ready = false;
	link->channel_fence = fence(link, CROSSWAY_BACKEND_RING_CHANNEL);
	return link->channel_fence != 0;
}

/* Handles messages until @done is true. */
static bool wait_for(struct vm_link *link, const bool *done) {
	int64_t deadline = now_ms() + LINK_WAIT_MS;
	while (!*done) {
		int left = (int)(deadline - now_ms());
		if (left <= 0) {
			vmsim_log("no answer from crosswayd in %d ms", LINK_WAIT_MS);
			return false;
		}
		if (link_dispatch(link, left) < 0) {
			return false;
		}
	}
	return true;
}

bool link_image_requirements(struct vm_link *link, uint32_t width, uint32_t height, uint32_t fourcc,
			     struct cross_domain_image_requirements *req) {
	uint8_t cmd[CROSS_DOMAIN_GET_IMAGE_REQUIREMENTS_SIZE];
	size_t n = cross_domain_encode_get_image_requirements(
		cmd, sizeof(cmd), width, height, fourcc,
		CROSS_DOMAIN_GBM_BO_USE_SCANOUT | CROSS_DOMAIN_GBM_BO_USE_LINEAR);
	if (!link_submit(link, cmd, (uint32_t)n)) {
		return false;
	}
	link->query_done = false;
	link->query_fence = fence(link, CROSSWAY_BACKEND_RING_QUERY);
	if (link->query_fence == 0 || !wait_for(link, &link->query_done)) {
		return false;
	}
	return cross_domain_decode_image_requirements(link->query_ring, VM_RING_SIZE, req);
}

int link_create_blob(struct vm_link *link, uint64_t blob_id, uint64_t size, uint32_t *resource_id,
		     struct crossway_backend_blob_reply *reply) {
	uint32_t res = link_new_resource(link);
	uint8_t pkt[sizeof(struct crossway_backend_create_blob)];
	uint32_t serial = ++link->serial;
	size_t n = backend_link_encode_create_blob(
		pkt, sizeof(pkt), serial, res, CROSSWAY_BACKEND_BLOB_MEM_HOST3D,
		CROSSWAY_BACKEND_BLOB_FLAG_MAPPABLE | CROSSWAY_BACKEND_BLOB_FLAG_SHAREABLE, blob_id,
		size);
	link->blob_serial = serial;
	link->blob_replied = false;
	if (!send_packet(link, pkt, n) || !wait_for(link, &link->blob_replied)) {
		return -1;
	}
	*reply = link->blob_reply;
	*resource_id = res;
	int fd = link->blob_fd;
	link->blob_fd = -1;
	if (fd < 0) {
		vmsim_log("CREATE_BLOB of %llu bytes from blob %llu refused: %s",
			  (unsigned long long)size, (unsigned long long)blob_id,
			  strerror(-reply->status));
		return -1;
	}
	// The guest kernel attaches a resource to the context when it creates
	// the GEM handle for it.
	if (!link_attach_blob(link, res)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* RING_WRITE: copy into guest memory, checking bounds as a backend must. */
static bool apply_ring_write(struct vm_link *link, const struct backend_msg *msg) {
	uint8_t *ring = NULL;
	if (msg->ring_write.resource_id == link->query_ring_id) {
		ring = link->query_ring;
	} else if (msg->ring_write.resource_id == link->channel_ring_id) {
		ring = link->channel_ring;
	}
	uint64_t end = (uint64_t)msg->ring_write.offset + msg->payload_size;
	if (ring == NULL || end > VM_RING_SIZE) {
		vmsim_log("RING_WRITE of %u bytes at %u into resource %u is outside guest memory",
			  msg->payload_size, msg->ring_write.offset, msg->ring_write.resource_id);
		return false;
	}
	memcpy(ring + msg->ring_write.offset, msg->payload, msg->payload_size);
	return true;
}

static bool apply_fence_done(struct vm_link *link, const struct backend_msg *msg) {
	uint64_t id = msg->fence_done.fence_id;
	if (id != 0 && id == link->channel_fence) {
		// A 16-byte INIT names one ring for both jobs.
		memcpy(link->record, link->shared_ring ? link->query_ring : link->channel_ring,
		       VM_RING_SIZE);
		link->record_ready = true;
		link->channel_fence = 0;
	} else if (id != 0 && id == link->query_fence) {
		link->query_done = true;
		link->query_fence = 0;
	} else {
		vmsim_log("FENCE_DONE for fence %llu, which is not outstanding",
			  (unsigned long long)id);
		return false;
	}
	return true;
}

int link_dispatch(struct vm_link *link, int timeout_ms) {
	if (link->closed) {
		return -1;
	}
	struct pollfd pfd = {.fd = link->fd, .events = POLLIN};
	int r = poll(&pfd, 1, timeout_ms);
	if (r < 0) {
		return errno == EINTR ? 0 : -1;
	}
	if (r == 0) {
		return 0;
	}
	static uint8_t pkt[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE];
	int fds[2] = {-1, -1};
	size_t nfds = 0;
	union {
		char buf[CMSG_SPACE(sizeof(int) * 2)];
		struct cmsghdr align;
	} control;
	struct iovec iov = {.iov_base = pkt, .iov_len = sizeof(pkt)};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.buf,
		.msg_controllen = sizeof(control.buf),
	};
	ssize_t n = recvmsg(link->fd, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0 && (errno == EINTR || errno == ECONNRESET)) {
		// ECONNRESET: crosswayd exited with our requests unread; its last
		// messages (an ERROR) are still there to read.
		return 0;
	}
	if (n <= 0) {
		link->closed = true;
		return -1;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < count; i++) {
				int fd;
				memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (nfds < 2) {
					fds[nfds++] = fd;
				} else {
					close(fd);
				}
			}
		}
	}
	struct backend_msg msg;
	struct wire_error err = {{0}};
	bool ok = !(mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) &&
		  backend_link_decode(pkt, (size_t)n, nfds, link->max_message,
				      BACKEND_LINK_TO_BACKEND, &msg, &err);
	if (!ok) {
		vmsim_log("bad message from crosswayd: %s",
			  err.text[0] ? err.text : "truncated packet");
		goto broken;
	}
	switch (msg.hdr.type) {
	case CROSSWAY_BACKEND_HELLO_REPLY:
		link->max_message = msg.hello_reply.max_message_size;
		link->caps = msg.hello_reply.caps;
		link->max_identifiers = msg.hello_reply.max_identifiers;
		if (link->max_identifiers == 0) {
			vmsim_log("HELLO_REPLY with max_identifiers 0");
			goto broken;
		}
		break;
	case CROSSWAY_BACKEND_RING_WRITE:
		if (!apply_ring_write(link, &msg)) {
			goto broken;
		}
		break;
	case CROSSWAY_BACKEND_FENCE_DONE:
		if (!apply_fence_done(link, &msg)) {
			goto broken;
		}
		break;
	case CROSSWAY_BACKEND_BLOB_REPLY:
		if (msg.hdr.serial != link->blob_serial || link->blob_replied) {
			vmsim_log("BLOB_REPLY for serial %u, which was not asked for",
				  msg.hdr.serial);
			goto broken;
		}
		link->blob_reply = msg.blob_reply;
		link->blob_fd = nfds == 1 ? fds[0] : -1;
		link->blob_replied = true;
		return 1;
	case CROSSWAY_BACKEND_ERROR:
		snprintf(link->error, sizeof(link->error), "%s (%s)", (const char *)msg.payload,
			 strerror(-msg.error.code));
		vmsim_log("crosswayd ended the context: %s", link->error);
		goto broken;
	default:
		vmsim_log("unexpected %s from crosswayd", backend_link_type_name(msg.hdr.type));
		goto broken;
	}
	for (size_t i = 0; i < nfds; i++) {
		close(fds[i]);
	}
	return 1;

broken:
	for (size_t i = 0; i < nfds; i++) {
		close(fds[i]);
	}
	link->closed = true;
	return -1;
}

int link_finish(struct vm_link *link, int timeout_ms) {
	if (link->fd >= 0) {
		close(link->fd);
		link->fd = -1;
	}
	if (link->blob_fd >= 0) {
		close(link->blob_fd);
		link->blob_fd = -1;
	}
	link->closed = true;
	if (link->pid <= 0) {
		return -1;
	}
	int status = 0;
	int64_t deadline = now_ms() + timeout_ms;
	for (;;) {
		pid_t r = waitpid(link->pid, &status, WNOHANG);
		if (r == link->pid) {
			break;
		}
		if (r < 0 && errno != EINTR) {
			return -1;
		}
		if (now_ms() >= deadline) {
			kill(link->pid, SIGKILL);
			waitpid(link->pid, &status, 0);
			break;
		}
		struct timespec ts = {.tv_sec = 0, .tv_nsec = 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	link->pid = 0;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
