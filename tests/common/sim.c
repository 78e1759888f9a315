/* _GNU_SOURCE: MSG_CMSG_CLOEXEC, pipe2. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/common/sim.h"

static int64_t now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void base_init(struct sim *sim, int fd) {
	memset(sim, 0, sizeof(*sim));
	sim->fd = fd;
	sim->stderr_fd = -1;
	sim->extra_fd = -1;
	sim->next_fence = 1;
	sim->next_resource = 1;
	sim->next_read_pipe = CROSS_DOMAIN_PIPE_READ_START + 1;
	sim->layout = CROSS_DOMAIN_MAX_IDENTIFIERS;
	for (int i = 0; i < SIM_MAX_BLOB_REPLIES; i++) {
		sim->blob_replies[i].fd = -1;
	}
}

void sim_init_fd(struct sim *sim, int fd) {
	base_init(sim, fd);
}

bool sim_spawn(struct sim *sim, const char *crosswayd, const char *display, const char *const *args,
	       bool capture_stderr) {
	int sv[2];
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
		return false;
	}
	int errpipe[2] = {-1, -1};
	if (capture_stderr && pipe2(errpipe, O_CLOEXEC) != 0) {
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(sv[0]);
		close(sv[1]);
		return false;
	}
	if (pid == 0) {
		// The child gets the link as fd 3, whatever fd it was.
		if (dup2(sv[1], 3) < 0) {
			_exit(127);
		}
		if (capture_stderr) {
			dup2(errpipe[1], 2);
		}
		const char *argv[32];
		int n = 0;
		argv[n++] = crosswayd;
		argv[n++] = "--fd";
		argv[n++] = "3";
		if (display) {
			argv[n++] = "--wayland-display";
			argv[n++] = display;
		}
		for (int i = 0; args && args[i] && n < 31; i++) {
			argv[n++] = args[i];
		}
		argv[n] = NULL;
		execv(crosswayd, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	base_init(sim, sv[0]);
	sim->pid = pid;
	if (capture_stderr) {
		close(errpipe[1]);
		sim->stderr_fd = errpipe[0];
		fcntl(sim->stderr_fd, F_SETFL, O_NONBLOCK);
	}
	return true;
}

size_t sim_read_stderr(struct sim *sim, char *buf, size_t cap, int timeout_ms) {
	size_t n = 0;
	if (sim->stderr_fd < 0 || cap == 0) {
		return 0;
	}
	int64_t deadline = now_ms() + timeout_ms;
	while (n + 1 < cap) {
		ssize_t r = read(sim->stderr_fd, buf + n, cap - 1 - n);
		if (r > 0) {
			n += (size_t)r;
			continue;
		}
		if (r == 0) {
			break;
		}
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			break;
		}
		struct pollfd p = {.fd = sim->stderr_fd, .events = POLLIN};
		poll(&p, 1, (int)left);
	}
	buf[n] = '\0';
	return n;
}

static void close_blob_fds(struct sim *sim) {
	for (int i = 0; i < SIM_MAX_BLOB_REPLIES; i++) {
		if (sim->blob_replies[i].fd >= 0) {
			close(sim->blob_replies[i].fd);
			sim->blob_replies[i].fd = -1;
		}
	}
}

int sim_finish(struct sim *sim, int timeout_ms) {
	if (sim->fd >= 0) {
		close(sim->fd);
		sim->fd = -1;
	}
	close_blob_fds(sim);
	int result = -2;
	if (sim->pid > 0) {
		int64_t deadline = now_ms() + timeout_ms;
		int status;
		for (;;) {
			pid_t r = waitpid(sim->pid, &status, WNOHANG);
			if (r == sim->pid) {
				result = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
				break;
			}
			if (now_ms() > deadline) {
				kill(sim->pid, SIGKILL);
				waitpid(sim->pid, &status, 0);
				result = -1;
				break;
			}
			usleep(2000);
		}
		sim->pid = 0;
	}
	if (sim->stderr_fd >= 0) {
		close(sim->stderr_fd);
		sim->stderr_fd = -1;
	}
	return result;
}

void sim_kill(struct sim *sim) {
	if (sim->pid > 0) {
		kill(sim->pid, SIGKILL);
	}
	sim_finish(sim, 1000);
}

bool sim_send_raw(struct sim *sim, const void *pkt, size_t len, int fd) {
	return sim_sendmsg(sim->fd, pkt, len, fd);
}

bool sim_sendmsg(int sock, const void *pkt, size_t len, int fd) {
	struct iovec iov = {.iov_base = (void *)pkt, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	union {
		struct cmsghdr hdr;
		char buf[CMSG_SPACE(sizeof(int))];
	} control;
	if (fd >= 0) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.buf;
		mh.msg_controllen = sizeof(control.buf);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	ssize_t n;
	do {
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	} while (n < 0 && errno == EINTR);
	return n == (ssize_t)len;
}

static uint8_t sendbuf[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE];

bool sim_send_hello(struct sim *sim, const char *vm, uint32_t flags) {
	size_t n = backend_link_encode_hello(sendbuf, sizeof(sendbuf), ++sim->serial, 1, flags, vm,
					     "sim");
	return sim_send_raw(sim, sendbuf, n, -1);
}

bool sim_send_attach(struct sim *sim, uint32_t resource_id, uint32_t kind, uint64_t size, int fd) {
	size_t n = backend_link_encode_attach(
		sendbuf, sizeof(sendbuf), ++sim->serial, resource_id, kind, size,
		kind == CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY ? CROSSWAY_BACKEND_BLOB_MEM_GUEST
							     : CROSSWAY_BACKEND_BLOB_MEM_HOST3D,
		kind == CROSSWAY_BACKEND_ATTACH_HOST_FD ? CROSSWAY_BACKEND_HANDLE_SHM : 0, 0);
	return sim_send_raw(sim, sendbuf, n, fd);
}

bool sim_send_detach(struct sim *sim, uint32_t resource_id) {
	size_t n = backend_link_encode_resource(sendbuf, sizeof(sendbuf), CROSSWAY_BACKEND_DETACH,
						++sim->serial, resource_id);
	return sim_send_raw(sim, sendbuf, n, -1);
}

bool sim_send_unref(struct sim *sim, uint32_t resource_id) {
	size_t n = backend_link_encode_resource(sendbuf, sizeof(sendbuf), CROSSWAY_BACKEND_UNREF,
						++sim->serial, resource_id);
	return sim_send_raw(sim, sendbuf, n, -1);
}

bool sim_send_submit(struct sim *sim, const void *cmds, uint32_t len) {
	size_t n = backend_link_encode_submit(sendbuf, sizeof(sendbuf), ++sim->serial, cmds, len);
	return n > 0 && sim_send_raw(sim, sendbuf, n, -1);
}

uint64_t sim_send_fence(struct sim *sim, uint32_t ring_idx) {
	uint64_t id = sim->next_fence++;
	size_t n = backend_link_encode_fence(sendbuf, sizeof(sendbuf), ++sim->serial, id, ring_idx);
	sim_send_raw(sim, sendbuf, n, -1);
	return id;
}

uint32_t sim_send_create_blob(struct sim *sim, uint32_t resource_id, uint64_t blob_id,
			      uint64_t size) {
	uint32_t serial = ++sim->serial;
	size_t n = backend_link_encode_create_blob(
		sendbuf, sizeof(sendbuf), serial, resource_id, CROSSWAY_BACKEND_BLOB_MEM_HOST3D,
		CROSSWAY_BACKEND_BLOB_FLAG_MAPPABLE | CROSSWAY_BACKEND_BLOB_FLAG_SHAREABLE, blob_id,
		size);
	sim_send_raw(sim, sendbuf, n, -1);
	return serial;
}

bool sim_send_shutdown(struct sim *sim) {
	size_t n = backend_link_encode_shutdown(sendbuf, sizeof(sendbuf), ++sim->serial);
	return sim_send_raw(sim, sendbuf, n, -1);
}

static struct sim_ring *ring_for(struct sim *sim, uint32_t resource_id) {
	if (sim->query.resource_id == resource_id) {
		return &sim->query;
	}
	if (sim->channel.resource_id == resource_id) {
		return &sim->channel;
	}
	return NULL;
}

static void fault(struct sim *sim, const char *text) {
	if (sim->fault[0] == '\0') {
		snprintf(sim->fault, sizeof(sim->fault), "%s", text);
	}
}

int sim_handle_message(struct sim *sim, int timeout_ms) {
	if (sim->closed) {
		return -1;
	}
	struct pollfd pfd = {.fd = sim->fd, .events = POLLIN};
	int pr = poll(&pfd, 1, timeout_ms);
	if (pr == 0) {
		return 0;
	}
	if (pr < 0) {
		return errno == EINTR ? 0 : -1;
	}
	static uint8_t buf[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE + 8];
	union {
		struct cmsghdr hdr;
		char b[CMSG_SPACE(sizeof(int) * 4)];
	} control;
	struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf)};
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = control.b,
		.msg_controllen = sizeof(control.b),
	};
	ssize_t n = recvmsg(sim->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
		return 0;
	}
	if (n < 0 && errno == ECONNRESET) {
		// crosswayd exited with our requests unread: the kernel reports
		// that once, but its last messages (an ERROR) are still queued.
		return 0;
	}
	int fds[4];
	int nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < k && nfds < 4; i++) {
				memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			}
		}
	}
	if (n <= 0) {
		for (int i = 0; i < nfds; i++) {
			close(fds[i]);
		}
		sim->closed = true;
		return -1;
	}
	struct backend_msg msg;
	struct wire_error err;
	if (!backend_link_decode(buf, (size_t)n, (size_t)nfds, CROSSWAY_BACKEND_MAX_MESSAGE_SIZE,
				 BACKEND_LINK_TO_BACKEND, &msg, &err)) {
		char text[400];
		snprintf(text, sizeof(text), "crosswayd sent a bad message: %s", err.text);
		fault(sim, text);
		for (int i = 0; i < nfds; i++) {
			close(fds[i]);
		}
		return 1;
	}
	switch (msg.hdr.type) {
	case CROSSWAY_BACKEND_HELLO_REPLY:
		sim->hello_reply = msg.hello_reply;
		sim->have_hello_reply = true;
		break;
	case CROSSWAY_BACKEND_RING_WRITE: {
		struct sim_ring *ring = ring_for(sim, msg.ring_write.resource_id);
		uint64_t end = (uint64_t)msg.ring_write.offset + msg.ring_write.length;
		if (ring == NULL) {
			fault(sim, "RING_WRITE to a resource that is not a ring");
		} else if (end > ring->size) {
			// A backend must refuse this; the test wants to know.
			fault(sim, "RING_WRITE past the end of the ring");
		} else {
			memcpy(ring->mem + msg.ring_write.offset, msg.payload,
			       msg.ring_write.length);
		}
		sim->ring_writes++;
		break;
	}
	case CROSSWAY_BACKEND_FENCE_DONE:
		if (sim->done_count < SIM_MAX_DONE_FENCES) {
			sim->done_fences[sim->done_count++] = msg.fence_done.fence_id;
		} else {
			memmove(sim->done_fences, sim->done_fences + 1,
				(SIM_MAX_DONE_FENCES - 1) * sizeof(uint64_t));
			sim->done_fences[SIM_MAX_DONE_FENCES - 1] = msg.fence_done.fence_id;
		}
		if (msg.fence_done.ring_idx == CROSSWAY_BACKEND_RING_CHANNEL) {
			sim->channel_records++;
		}
		break;
	case CROSSWAY_BACKEND_BLOB_REPLY: {
		int slot = -1;
		for (int i = 0; i < SIM_MAX_BLOB_REPLIES; i++) {
			if (!sim->blob_replies[i].used) {
				slot = i;
				break;
			}
		}
		if (slot < 0) {
			fault(sim, "too many unclaimed BLOB_REPLYs");
			if (nfds > 0) {
				close(fds[0]);
			}
			break;
		}
		sim->blob_replies[slot].used = true;
		sim->blob_replies[slot].reply = msg.blob_reply;
		sim->blob_replies[slot].fd = nfds > 0 ? fds[0] : -1;
		nfds = 0;
		break;
	}
	case CROSSWAY_BACKEND_ERROR:
		snprintf(sim->error_text, sizeof(sim->error_text), "%s", (const char *)msg.payload);
		sim->error_code = msg.error.code;
		sim->have_error = true;
		break;
	}
	for (int i = 0; i < nfds; i++) {
		close(fds[i]);
	}
	return 1;
}

bool sim_wait(struct sim *sim, bool (*cond)(struct sim *, void *), void *data, int timeout_ms) {
	int64_t deadline = now_ms() + timeout_ms;
	while (!cond(sim, data)) {
		int64_t left = deadline - now_ms();
		if (left <= 0) {
			return false;
		}
		if (sim->extra_fd >= 0 && sim->extra_dispatch) {
			struct pollfd p[2] = {{.fd = sim->fd, .events = POLLIN},
					      {.fd = sim->extra_fd, .events = POLLIN}};
			int slice = left < 20 ? (int)left : 20;
			poll(p, 2, slice);
			if (p[1].revents) {
				sim->extra_dispatch(sim->extra_data, 0);
			}
			if (p[0].revents) {
				if (sim_handle_message(sim, 0) < 0 && !cond(sim, data)) {
					// Keep the compositor running a bit: the
					// condition may depend on it.
					sim->extra_dispatch(sim->extra_data, 0);
					return cond(sim, data);
				}
			}
			sim->extra_dispatch(sim->extra_data, 0);
		} else if (sim_handle_message(sim, (int)left) < 0) {
			return cond(sim, data);
		}
	}
	return true;
}

static bool fence_done(struct sim *sim, void *data) {
	uint64_t id = *(uint64_t *)data;
	for (uint32_t i = 0; i < sim->done_count; i++) {
		if (sim->done_fences[i] == id) {
			return true;
		}
	}
	return false;
}

bool sim_wait_fence(struct sim *sim, uint64_t fence_id, int timeout_ms) {
	return sim_wait(sim, fence_done, &fence_id, timeout_ms);
}

static bool error_or_closed(struct sim *sim, void *data) {
	(void)data;
	return sim->have_error && sim->closed;
}

bool sim_wait_error(struct sim *sim, int timeout_ms) {
	sim_wait(sim, error_or_closed, NULL, timeout_ms);
	return sim->have_error;
}

static bool have_hello(struct sim *sim, void *data) {
	(void)data;
	return sim->have_hello_reply || sim->closed;
}

bool sim_hello(struct sim *sim, const char *vm) {
	return sim_send_hello(sim, vm, 0) && sim_wait(sim, have_hello, NULL, 5000) &&
	       sim->have_hello_reply;
}

bool sim_hello_named(struct sim *sim, const char *vm, const char *ctx_name) {
	size_t n = backend_link_encode_hello(sendbuf, sizeof(sendbuf), ++sim->serial, 1, 0, vm,
					     ctx_name);
	return n > 0 && sim_send_raw(sim, sendbuf, n, -1) &&
	       sim_wait(sim, have_hello, NULL, 5000) && sim->have_hello_reply;
}

bool sim_init(struct sim *sim, uint32_t init_size, int timeout_ms) {
	sim->query.resource_id = sim->next_resource++;
	sim->query.size = SIM_RING_SIZE;
	sim->shared_ring = init_size == CROSS_DOMAIN_INIT_LEGACY_SIZE;
	if (!sim_send_attach(sim, sim->query.resource_id, CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY,
			     SIM_RING_SIZE, -1)) {
		return false;
	}
	if (sim->shared_ring) {
		// One ring for both: the channel "ring" aliases the query one.
		sim->channel.resource_id = 0;
		sim->layout = CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY;
	} else {
		sim->channel.resource_id = sim->next_resource++;
		sim->channel.size = SIM_RING_SIZE;
		if (!sim_send_attach(sim, sim->channel.resource_id,
				     CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, SIM_RING_SIZE, -1)) {
			return false;
		}
	}
	uint8_t cmd[64];
	size_t n = cross_domain_encode_init(cmd, sizeof(cmd), init_size, sim->query.resource_id,
					    sim->shared_ring ? sim->query.resource_id
							     : sim->channel.resource_id,
					    CROSS_DOMAIN_CHANNEL_TYPE_WAYLAND);
	if (n == 0 || !sim_send_submit(sim, cmd, (uint32_t)n)) {
		return false;
	}
	uint64_t fence = sim_send_fence(sim, CROSSWAY_BACKEND_RING_QUERY);
	return sim_wait_fence(sim, fence, timeout_ms) && !sim->have_error;
}

bool sim_image_requirements(struct sim *sim, uint32_t width, uint32_t height, uint32_t format,
			    struct cross_domain_image_requirements *req, int timeout_ms) {
	uint8_t cmd[CROSS_DOMAIN_GET_IMAGE_REQUIREMENTS_SIZE];
	size_t n = cross_domain_encode_get_image_requirements(
		cmd, sizeof(cmd), width, height, format,
		CROSS_DOMAIN_GBM_BO_USE_SCANOUT | CROSS_DOMAIN_GBM_BO_USE_LINEAR);
	if (!sim_send_submit(sim, cmd, (uint32_t)n)) {
		return false;
	}
	uint64_t fence = sim_send_fence(sim, CROSSWAY_BACKEND_RING_QUERY);
	if (!sim_wait_fence(sim, fence, timeout_ms) || sim->have_error) {
		return false;
	}
	return cross_domain_decode_image_requirements(sim->query.mem, sim->query.size, req);
}

struct blob_wait {
	uint32_t serial;
};

static bool blob_replied(struct sim *sim, void *data) {
	struct blob_wait *w = data;
	for (int i = 0; i < SIM_MAX_BLOB_REPLIES; i++) {
		if (sim->blob_replies[i].used &&
		    sim->blob_replies[i].reply.hdr.serial == w->serial) {
			return true;
		}
	}
	return sim->closed;
}

int sim_take_blob_reply(struct sim *sim, uint32_t serial,
			struct crossway_backend_blob_reply *reply) {
	for (int i = 0; i < SIM_MAX_BLOB_REPLIES; i++) {
		struct sim_blob_reply *b = &sim->blob_replies[i];
		if (b->used && b->reply.hdr.serial == serial) {
			if (reply) {
				*reply = b->reply;
			}
			int fd = b->fd;
			b->fd = -1;
			b->used = false;
			return fd;
		}
	}
	return -1;
}

int sim_create_blob(struct sim *sim, uint64_t blob_id, uint64_t size, uint32_t *resource_id,
		    struct crossway_backend_blob_reply *reply, int timeout_ms) {
	uint32_t rid = sim->next_resource++;
	struct blob_wait w = {.serial = sim_send_create_blob(sim, rid, blob_id, size)};
	if (!sim_wait(sim, blob_replied, &w, timeout_ms)) {
		return -1;
	}
	int fd = sim_take_blob_reply(sim, w.serial, reply);
	if (fd < 0) {
		return -1;
	}
	// The guest kernel opens a GEM handle (attach) and the proxy closes it
	// once the dma-buf is exported (detach).
	sim_send_attach(sim, rid, CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, size, -1);
	sim_send_detach(sim, rid);
	if (resource_id) {
		*resource_id = rid;
	}
	return fd;
}

bool sim_send_wayland(struct sim *sim, const void *data, uint32_t len, const uint32_t *ids,
		      const uint32_t *types, uint32_t count) {
	static uint8_t cmd[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE];
	for (uint32_t i = 0; i < count; i++) {
		if (types[i] == CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB) {
			sim_send_attach(sim, ids[i], CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, 0, -1);
		}
	}
	uint32_t sizes[CROSS_DOMAIN_MAX_IDENTIFIERS] = {0};
	size_t n = cross_domain_encode_send(cmd, sizeof(cmd), sim->layout, count, ids, types, sizes,
					    data, len);
	if (n == 0 || !sim_send_submit(sim, cmd, (uint32_t)n)) {
		return false;
	}
	for (uint32_t i = 0; i < count; i++) {
		if (types[i] == CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB) {
			sim_send_detach(sim, ids[i]);
		}
	}
	return true;
}

uint32_t sim_next_read_pipe(struct sim *sim) {
	return sim->next_read_pipe++;
}

bool sim_send_write(struct sim *sim, uint32_t identifier, const void *data, uint32_t len,
		    bool hang_up) {
	static uint8_t cmd[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE];
	size_t n = cross_domain_encode_write(cmd, sizeof(cmd), identifier, hang_up ? 1 : 0, data,
					     len);
	return n > 0 && sim_send_submit(sim, cmd, (uint32_t)n);
}

bool sim_poll_record(struct sim *sim, struct cross_domain_record *rec, int timeout_ms) {
	uint8_t cmd[CROSS_DOMAIN_POLL_SIZE];
	size_t n = cross_domain_encode_poll(cmd, sizeof(cmd));
	if (!sim_send_submit(sim, cmd, (uint32_t)n)) {
		return false;
	}
	uint64_t fence = sim_send_fence(sim, CROSSWAY_BACKEND_RING_CHANNEL);
	if (!sim_wait_fence(sim, fence, timeout_ms)) {
		return false;
	}
	struct sim_ring *ring = sim->shared_ring ? &sim->query : &sim->channel;
	struct wire_error err;
	if (!cross_domain_decode_record(ring->mem, ring->size, sim->layout, rec, &err)) {
		char text[400];
		snprintf(text, sizeof(text), "bad channel record: %s", err.text);
		fault(sim, text);
		return false;
	}
	return true;
}
