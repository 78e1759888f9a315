/*
 * Hostile Wayland-level input on the Wayland-socket front end
 * (security.md §7.5). Each test runs the recording compositor in-process,
 * spawns `crosswayd --listen` against it and connects two raw clients: an
 * attacker, which writes hand-built bytes and fds, and a healthy one. It
 * checks the attacker gets a wl_display.error naming what was wrong (or the
 * documented clamp), that the recorder never saw the offending request, that
 * the log names it and that the healthy client still completes a round trip.
 *
 * With HOSTILE_SEED_DIR set, every test also writes what the attacker sent as
 * a stream-mode input of tests/fuzz/fuzz_wayland_msg.c into that directory
 * (H-NN-<name>-socket, never overwriting a file).
 */
/* _GNU_SOURCE: memfd_create, F_ADD_SEALS, F_GET_SEALS. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <wayland-server-core.h>
#include <wayland-server-protocol.h>

#include "proto_tables.h"
#include "tests/harness/test.h"
#include "tests/recorder/recorder.h"
#include "wire/limits.h"
#include "wire/wayland_msg.h"

#define VM_NAME "hostile"
#define WAIT_MS 5000
#define MAX_GLOBALS 64
#define MAX_CLIENTS 3
#define SEED_CAP 65536

struct global {
	uint32_t name;
	char interface[64];
	uint32_t version;
};

struct client {
	int fd;
	uint8_t in[65536];
	size_t in_len;
	bool eof;
	bool got_error;
	uint32_t error_object, error_code;
	char error_text[4096];
	uint32_t next_id;
	uint32_t registry;
	struct global globals[MAX_GLOBALS];
	size_t global_count;
	uint32_t sync_id;  // the pending wl_display.sync callback, 0: none
	bool sync_done;    // its done event arrived
	size_t fds_in;     // fds received (closed at once)
	uint32_t keyboard; // a wl_keyboard whose keymap events are counted
	size_t keymaps;
	uint32_t enter_serial;     // of the last wl_keyboard.enter on it
	uint32_t xdg_surface;      // an xdg_surface whose configure serial is kept
	uint32_t configure_serial; // 0: none yet
	bool record_seeds;         // what this client sends goes into the seed
	size_t globals_removed;    // wl_registry.global_remove events
	uint32_t data_device;      // a wl_data_device whose events are kept
	uint32_t data_offer;       // the last offer it announced (data_offer), 0: none
	size_t offer_events;       // wl_data_offer events (offer, actions) on data_offer
	bool got_selection, got_drag_enter;
	uint32_t selection_offer, drag_offer; // the offers they named (0: null)
	uint32_t dmabuf_params;               // a zwp_linux_buffer_params_v1 ...
	uint32_t dmabuf_created;              // ... and the wl_buffer its created brought
};

struct fixture {
	struct recorder *rec;
	pid_t pid;
	char socket_path[PATH_MAX];
	char log_path[PATH_MAX];
	struct client *clients[MAX_CLIENTS];
	size_t client_count;
	// Attack bookkeeping.
	uint64_t mark_seq;       // records after this one are after the attack
	unsigned attacker_index; // the attacker's recorder client
	size_t comp_clients;     // recorder clients before the attack
	// The fuzz seed: stream-mode actions of the attacker.
	uint8_t seed[SEED_CAP];
	size_t seed_len;
};

/* ---------------------------------------------------------------------- */
/* Messages                                                               */

struct msg {
	uint8_t b[8192];
	size_t len;
};

#define STR(s)                                                                                     \
	{                                                                                          \
		.bytes = {(s), (uint32_t)sizeof(s) }                                               \
	}

/* Appends a request encoded from the tables. */
static void req(struct msg *m, uint32_t id, const struct proto_interface *iface, uint16_t op,
		const union wayland_value *v) {
	size_t n = wayland_msg_encode(m->b + m->len, sizeof(m->b) - m->len, id, op,
				      &iface->requests[op], v);
	test_assert_msg(n > 0, "cannot encode %s.%s", iface->name, iface->requests[op].name);
	m->len += n;
}

/* Appends literal 32-bit words. */
static void words(struct msg *m, const uint32_t *w, size_t n) {
	test_assert(m->len + 4 * n <= sizeof(m->b));
	for (size_t i = 0; i < n; i++) {
		wayland_msg_set_u32(m->b, m->len, w[i]);
		m->len += 4;
	}
}

#define WORDS(m, ...)                                                                              \
	words((m), (const uint32_t[]){__VA_ARGS__},                                                \
	      sizeof((const uint32_t[]){__VA_ARGS__}) / sizeof(uint32_t))

static uint32_t hdr_word(uint32_t size, uint32_t opcode) {
	return size << 16 | opcode;
}

/* ---------------------------------------------------------------------- */
/* Event loop                                                             */

static void seed_add(struct fixture *f, const uint8_t *data, size_t len, size_t nfds) {
	size_t done = 0;
	do {
		size_t k = len - done > 65535 ? 65535 : len - done;
		if (f->seed_len + 3 + k > SEED_CAP) {
			// Floods are cut short: a seed needs only the start.
			if (f->seed_len + 3 >= SEED_CAP) {
				return;
			}
			k = SEED_CAP - f->seed_len - 3;
			len = done + k;
		}
		f->seed[f->seed_len++] = (uint8_t)((done == 0 ? (nfds > 63 ? 63 : nfds) : 0) << 2);
		f->seed[f->seed_len++] = (uint8_t)(k & 0xff);
		f->seed[f->seed_len++] = (uint8_t)(k >> 8);
		memcpy(f->seed + f->seed_len, data + done, k);
		f->seed_len += k;
		done += k;
	} while (done < len);
}

static void handle_event(struct client *c, const uint8_t *p, uint32_t size) {
	uint32_t id = wayland_msg_get_u32(p, 0);
	uint32_t op = wayland_msg_get_u32(p, 4) & 0xffff;
	if (id == 1 && op == PROTO_WL_DISPLAY_EVT_ERROR && size >= 20) {
		c->got_error = true;
		c->error_object = wayland_msg_get_u32(p, 8);
		c->error_code = wayland_msg_get_u32(p, 12);
		uint32_t len = wayland_msg_get_u32(p, 16);
		if (len > size - 20) {
			len = size - 20;
		}
		if (len >= sizeof(c->error_text)) {
			len = sizeof(c->error_text) - 1;
		}
		memcpy(c->error_text, p + 20, len);
		c->error_text[len] = '\0';
	} else if (id != 0 && id == c->registry && op == PROTO_WL_REGISTRY_EVT_GLOBAL &&
		   size >= 20 && c->global_count < MAX_GLOBALS) {
		struct global *g = &c->globals[c->global_count];
		g->name = wayland_msg_get_u32(p, 8);
		uint32_t len = wayland_msg_get_u32(p, 12);
		uint32_t padded = (len + 3) & ~3u;
		if (len == 0 || len >= sizeof(g->interface) || 16 + padded + 4 > size) {
			return;
		}
		memcpy(g->interface, p + 16, len);
		g->interface[len - 1] = '\0';
		g->version = wayland_msg_get_u32(p, 16 + padded);
		c->global_count++;
	} else if (id != 0 && id == c->registry && op == PROTO_WL_REGISTRY_EVT_GLOBAL_REMOVE) {
		c->globals_removed++;
	} else if (id != 0 && id == c->data_device && size >= 12) {
		if (op == PROTO_WL_DATA_DEVICE_EVT_DATA_OFFER) {
			c->data_offer = wayland_msg_get_u32(p, 8);
		} else if (op == PROTO_WL_DATA_DEVICE_EVT_SELECTION) {
			c->got_selection = true;
			c->selection_offer = wayland_msg_get_u32(p, 8);
		} else if (op == PROTO_WL_DATA_DEVICE_EVT_ENTER && size >= 28) {
			c->got_drag_enter = true;
			c->drag_offer = wayland_msg_get_u32(p, 24);
		}
	} else if (id != 0 && id == c->data_offer) {
		c->offer_events++;
	} else if (id != 0 && id == c->dmabuf_params &&
		   op == PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_EVT_CREATED && size >= 12) {
		c->dmabuf_created = wayland_msg_get_u32(p, 8);
	} else if (id != 0 && id == c->sync_id && op == 0) {
		c->sync_done = true;
	} else if (id != 0 && id == c->keyboard && op == PROTO_WL_KEYBOARD_EVT_KEYMAP) {
		c->keymaps++;
	} else if (id != 0 && id == c->keyboard && op == PROTO_WL_KEYBOARD_EVT_ENTER &&
		   size >= 12) {
		c->enter_serial = wayland_msg_get_u32(p, 8);
	} else if (id != 0 && id == c->xdg_surface && op == PROTO_XDG_SURFACE_EVT_CONFIGURE &&
		   size >= 12) {
		c->configure_serial = wayland_msg_get_u32(p, 8);
	}
}

static void client_read(struct client *c) {
	for (;;) {
		char cbuf[CMSG_SPACE(sizeof(int) * 32)];
		struct iovec iov = {c->in + c->in_len, sizeof(c->in) - c->in_len};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = cbuf,
				    .msg_controllen = sizeof(cbuf)};
		ssize_t n = recvmsg(c->fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			return;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); n >= 0 && cm != NULL;
		     cm = CMSG_NXTHDR(&mh, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				int fds[32];
				memcpy(fds, CMSG_DATA(cm), k * sizeof(int));
				for (size_t i = 0; i < k; i++) {
					close(fds[i]);
				}
				c->fds_in += k;
			}
		}
		if (n <= 0) {
			c->eof = true; // EOF, ECONNRESET
			return;
		}
		c->in_len += (size_t)n;
		size_t pos = 0;
		while (c->in_len - pos >= 8) {
			uint32_t size = wayland_msg_get_u32(c->in + pos, 4) >> 16;
			test_assert_msg(size >= 8 && size % 4 == 0,
					"bad event size %u from crosswayd", (unsigned)size);
			if (size > c->in_len - pos) {
				break;
			}
			handle_event(c, c->in + pos, size);
			pos += size;
		}
		memmove(c->in, c->in + pos, c->in_len - pos);
		c->in_len -= pos;
	}
}

/* Runs the recorder and reads every client for up to @timeout_ms. */
static void pump(struct fixture *f, int timeout_ms) {
	struct pollfd pfd[1 + MAX_CLIENTS];
	size_t n = 0;
	recorder_dispatch(f->rec, 0);
	pfd[n++] = (struct pollfd){.fd = recorder_get_fd(f->rec), .events = POLLIN};
	for (size_t i = 0; i < f->client_count; i++) {
		struct client *c = f->clients[i];
		pfd[n++] = (struct pollfd){.fd = c->eof ? -1 : c->fd, .events = POLLIN};
	}
	if (poll(pfd, n, timeout_ms) < 0 && errno != EINTR) {
		test_fail(__FILE__, __LINE__, "poll: %s", strerror(errno));
	}
	recorder_dispatch(f->rec, 0);
	for (size_t i = 0; i < f->client_count; i++) {
		if (pfd[1 + i].revents && !f->clients[i]->eof) {
			client_read(f->clients[i]);
		}
	}
}

static long long now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

typedef bool (*cond_func_t)(struct fixture *f, void *data);

static bool wait_for(struct fixture *f, cond_func_t cond, void *data, int timeout_ms) {
	long long end = now_ms() + timeout_ms;
	while (!cond(f, data)) {
		long long left = end - now_ms();
		if (left <= 0) {
			return false;
		}
		pump(f, left > 50 ? 50 : (int)left);
	}
	return true;
}

/* Sends everything, with fds on the first part; keeps the recorder running
 * while the socket is full. False when crosswayd hung up. */
static bool send_bytes(struct fixture *f, struct client *c, const void *data, size_t len,
		       const int *fds, size_t nfds) {
	if (c->record_seeds) {
		seed_add(f, data, len, nfds);
	}
	size_t done = 0;
	bool fds_sent = nfds == 0;
	long long end = now_ms() + 30000;
	while (done < len || !fds_sent) {
		char cbuf[CMSG_SPACE(sizeof(int) * 64)] = {0};
		struct iovec iov = {(uint8_t *)data + done, len - done};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		if (!fds_sent) {
			test_assert(nfds <= 64);
			mh.msg_control = cbuf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
		}
		ssize_t n = sendmsg(c->fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			test_assert_msg(now_ms() < end, "crosswayd stopped reading");
			pump(f, 10);
			continue;
		}
		if (n < 0) {
			return false; // EPIPE, ECONNRESET: the connection was ended
		}
		fds_sent = true;
		done += (size_t)n;
	}
	return true;
}

static void send_msg(struct fixture *f, struct client *c, const struct msg *m) {
	send_bytes(f, c, m->b, m->len, NULL, 0);
}

static bool sync_done(struct fixture *f, void *data) {
	struct client *c = data;
	return c->sync_done || c->eof;
}

/* wl_display.sync round trip; true when its done event arrived. */
static bool roundtrip(struct fixture *f, struct client *c) {
	struct msg m = {0};
	c->sync_id = c->next_id++;
	c->sync_done = false;
	req(&m, 1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC,
	    (union wayland_value[]){{.u = c->sync_id}});
	if (!send_bytes(f, c, m.b, m.len, NULL, 0)) {
		return false;
	}
	wait_for(f, sync_done, c, WAIT_MS);
	return c->sync_done;
}

/* ---------------------------------------------------------------------- */
/* Set-up                                                                 */

static struct client *client_connect(struct fixture *f, const char *path) {
	test_assert(f->client_count < MAX_CLIENTS);
	struct client *c = calloc(1, sizeof(*c));
	test_assert(c != NULL);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	test_assert(c->fd >= 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	test_assert(strlen(path) < sizeof(addr.sun_path));
	strcpy(addr.sun_path, path);
	test_assert_msg(connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) == 0,
			"connect %s: %s", path, strerror(errno));
	c->next_id = 2;
	f->clients[f->client_count++] = c;
	return c;
}

/* get_registry and a round trip, so the globals are known. */
static void client_start(struct fixture *f, struct client *c) {
	struct msg m = {0};
	c->registry = c->next_id++;
	req(&m, 1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY,
	    (union wayland_value[]){{.u = c->registry}});
	send_msg(f, c, &m);
	test_assert_msg(roundtrip(f, c), "no round trip for a new client: %s",
			c->got_error ? c->error_text : "no error");
}

static void client_close(struct client *c) {
	if (c->fd >= 0) {
		close(c->fd);
		c->fd = -1;
	}
	c->eof = true;
}

static bool socket_ready(struct fixture *f, void *data) {
	return access(f->socket_path, F_OK) == 0;
}

static void write_file(const char *path, const char *a, const char *b) {
	FILE *out = fopen(path, "we");
	test_assert(out != NULL);
	fputs(a, out);
	fputs(b, out);
	test_assert(fclose(out) == 0);
}

static char *read_file(const char *path) {
	FILE *in = fopen(path, "re");
	if (in == NULL) {
		return NULL;
	}
	size_t cap = 4096, len = 0;
	char *s = malloc(cap);
	test_assert(s != NULL);
	size_t n;
	while ((n = fread(s + len, 1, cap - len - 1, in)) > 0) {
		len += n;
		if (cap - len - 1 == 0) {
			cap *= 2;
			s = realloc(s, cap);
			test_assert(s != NULL);
		}
	}
	s[len] = '\0';
	fclose(in);
	return s;
}

/*
 * Starts the recorder and crosswayd --listen, whose policy is the shipped
 * default plus @extra_config lines.
 */
static void fixture_init(struct fixture *f, const char *extra_config) {
	memset(f, 0, sizeof(*f));
	f->pid = -1;
	const char *dir = getenv("XDG_RUNTIME_DIR");
	test_assert(dir != NULL);
	struct recorder_options opts = {
		.seat = true,
		.data_device = true,
		.dmabuf_version = 3,
		.extra_globals = true,
		.viewporter = true,
		.fast = true,
		.hold_drags = true,
	};
	f->rec = recorder_create(&opts);
	test_assert(f->rec != NULL);
	char config[PATH_MAX];
	snprintf(config, sizeof(config), "%s/hostile.conf", dir);
	char *policy = read_file(HOSTILE_POLICY);
	test_assert_msg(policy != NULL, "cannot read %s", HOSTILE_POLICY);
	write_file(config, policy, extra_config ? extra_config : "");
	free(policy);
	snprintf(f->socket_path, sizeof(f->socket_path), "%s/crossway-hostile", dir);
	snprintf(f->log_path, sizeof(f->log_path), "%s/crosswayd.log", dir);
	int log = open(f->log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	test_assert(log >= 0);
	const char *exe = getenv("CROSSWAYD");
	if (exe == NULL || exe[0] == '\0') {
		exe = HOSTILE_CROSSWAYD;
	}
	f->pid = fork();
	test_assert(f->pid >= 0);
	if (f->pid == 0) {
		dup2(log, STDOUT_FILENO);
		dup2(log, STDERR_FILENO);
		execl(exe, exe, "--listen", "crossway-hostile", "--vm", VM_NAME,
		      "--wayland-display", recorder_socket_name(f->rec), "--config", config,
		      "--render-node", "none", (char *)NULL);
		_exit(127);
	}
	close(log);
	test_assert_msg(wait_for(f, socket_ready, NULL, WAIT_MS), "crosswayd did not listen");
}

static void fixture_finish(struct fixture *f) {
	for (size_t i = 0; i < f->client_count; i++) {
		client_close(f->clients[i]);
		free(f->clients[i]);
	}
	f->client_count = 0;
	if (f->pid > 0) {
		kill(f->pid, SIGTERM);
		int status;
		long long end = now_ms() + WAIT_MS;
		while (waitpid(f->pid, &status, WNOHANG) == 0) {
			if (now_ms() > end) {
				kill(f->pid, SIGKILL);
				waitpid(f->pid, &status, 0);
				break;
			}
			pump(f, 10);
		}
		f->pid = -1;
	}
	if (getenv("HOSTILE_VERBOSE") != NULL) {
		char *log = read_file(f->log_path);
		test_note("crosswayd log:\n%s", log ? log : "");
		free(log);
	}
	recorder_destroy(f->rec);
	f->rec = NULL;
}

/* Writes the seed (only when HOSTILE_SEED_DIR is set; never overwrites). */
static void write_seed(struct fixture *f, const char *name) {
	const char *dir = getenv("HOSTILE_SEED_DIR");
	if (dir == NULL || f->seed_len == 0) {
		return;
	}
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s-socket", dir, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0) {
		test_note("seed %s: %s", path, strerror(errno));
		return;
	}
	uint8_t mode = 0; // stream mode
	test_assert(write(fd, &mode, 1) == 1);
	test_assert(write(fd, f->seed, f->seed_len) == (ssize_t)f->seed_len);
	close(fd);
}

/* The usual start: a healthy client, then the attacker, both with a registry. */
struct session {
	struct fixture f;
	struct client *healthy;
	struct client *attacker;
};

static void session_start(struct session *s, const char *extra_config) {
	fixture_init(&s->f, extra_config);
	s->healthy = client_connect(&s->f, s->f.socket_path);
	client_start(&s->f, s->healthy);
	s->attacker = client_connect(&s->f, s->f.socket_path);
	s->attacker->record_seeds = true;
	client_start(&s->f, s->attacker);
}

static const struct global *find_global(const struct client *c, const char *iface) {
	for (size_t i = 0; i < c->global_count; i++) {
		if (strcmp(c->globals[i].interface, iface) == 0) {
			return &c->globals[i];
		}
	}
	return NULL;
}

/* Binds an advertised global at @version (0: the advertised one). */
static uint32_t bind_global(struct msg *m, struct client *c, const char *iface, uint32_t version) {
	const struct global *g = find_global(c, iface);
	test_assert_msg(g != NULL, "%s is not advertised", iface);
	uint32_t id = c->next_id++;
	req(m, c->registry, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    (union wayland_value[]){{.u = g->name},
				    {.bytes = {iface, (uint32_t)strlen(iface) + 1}},
				    {.u = version ? version : g->version},
				    {.u = id}});
	return id;
}

/* Sends @m and waits for its round trip (set-up that must be accepted). */
static void setup(struct session *s, const struct msg *m) {
	send_msg(&s->f, s->attacker, m);
	test_assert_msg(roundtrip(&s->f, s->attacker), "set-up refused: %s",
			s->attacker->error_text);
}

/* Remembers where the attack starts in the recorder's records. */
static void mark(struct session *s) {
	const struct recorder_record *r = recorder_last(s->f.rec, "wl_display.sync");
	test_assert(r != NULL);
	s->f.attacker_index = r->client; // the attacker's round trip was the last
	size_t n = recorder_record_count(s->f.rec);
	s->f.mark_seq = recorder_record_get(s->f.rec, n - 1)->seq;
	s->f.comp_clients = recorder_client_count(s->f.rec);
}

static bool attacker_gone(struct fixture *f, void *data) {
	struct client *c = data;
	return c->eof && recorder_client_count(f->rec) < f->comp_clients;
}

/* Requests from the attacker recorded after the mark. */
static size_t requests_after_mark(struct session *s, const char *name) {
	size_t count = 0;
	for (size_t i = 0; i < recorder_record_count(s->f.rec); i++) {
		const struct recorder_record *r = recorder_record_get(s->f.rec, i);
		if (r->seq > s->f.mark_seq && r->direction == RECORDER_DIRECTION_REQUEST &&
		    r->client == s->f.attacker_index &&
		    (name == NULL || strcmp(r->name, name) == 0)) {
			if (name == NULL) {
				test_note("forwarded after the attack: %s", r->text);
			}
			count++;
		}
	}
	return count;
}

/* The log has a "Connection ended" line containing @needle. */
static bool log_has(struct fixture *f, void *data) {
	const char *needle = data;
	char *log = read_file(f->log_path);
	bool found = false;
	for (char *line = log; line != NULL && *line != '\0' && !found;) {
		char *nl = strchr(line, '\n');
		if (nl != NULL) {
			*nl = '\0';
		}
		found = strstr(line, "Connection ended") != NULL && strstr(line, needle) != NULL;
		line = nl ? nl + 1 : NULL;
	}
	free(log);
	return found;
}

static void check_healthy(struct session *s) {
	test_assert_msg(roundtrip(&s->f, s->healthy), "the healthy client stopped working: %s",
			s->healthy->got_error ? s->healthy->error_text : "no error");
	test_assert(!s->healthy->got_error && !s->healthy->eof);
}

/*
 * The attacker must get wl_display.error (object wl_display#1, code
 * invalid_method: socket_front.c's generic code) with a text containing every
 * needle, then EOF; nothing of the attack may reach the recorder; the log
 * names it; the healthy client still works.
 */
static void expect_error(struct session *s, const char *name, const char *const *needles) {
	struct client *a = s->attacker;
	test_assert_msg(wait_for(&s->f, attacker_gone, a, WAIT_MS),
			"the attacker's connection was not ended (eof %d, error \"%s\")", a->eof,
			a->error_text);
	test_assert_msg(a->got_error, "no wl_display.error before the hang-up");
	test_assert_int_eq(a->error_object, 1);
	test_assert_int_eq(a->error_code, 1);
	for (size_t i = 0; needles[i] != NULL; i++) {
		test_assert_str_contains(a->error_text, needles[i]);
		test_assert_msg(wait_for(&s->f, log_has, (void *)needles[i], WAIT_MS),
				"the log has no \"Connection ended\" line with \"%s\"", needles[i]);
	}
	test_assert_int_eq(requests_after_mark(s, NULL), 0);
	check_healthy(s);
	write_seed(&s->f, name);
	fixture_finish(&s->f);
}

/* Sends @m and checks crosswayd took it: the attacker's round trip still
 * completes (a clamp or rewrite, not an error). */
static void send_accepted(struct session *s, const struct msg *m, const char *what) {
	send_msg(&s->f, s->attacker, m);
	test_assert_msg(roundtrip(&s->f, s->attacker), "%s: %s", what, s->attacker->error_text);
}

/* The end of a test whose attack was clamped or allowed: the healthy client
 * still works; the attack becomes a seed (@seed NULL: none). */
static void passed(struct session *s, const char *seed) {
	check_healthy(s);
	if (seed != NULL) {
		write_seed(&s->f, seed);
	}
	fixture_finish(&s->f);
}

#define NEEDLES(...) ((const char *const[]){__VA_ARGS__, NULL})

/* Sends the attack and checks the error. */
static void attack(struct session *s, const char *name, const struct msg *m, const int *fds,
		   size_t nfds, const char *const *needles) {
	mark(s);
	send_bytes(&s->f, s->attacker, m->b, m->len, fds, nfds);
	expect_error(s, name, needles);
}

static int make_memfd(size_t size, bool sealable) {
	int fd = memfd_create("hostile", MFD_CLOEXEC | (sealable ? MFD_ALLOW_SEALING : 0));
	test_assert(fd >= 0);
	test_assert(ftruncate(fd, (off_t)size) == 0);
	return fd;
}

/* ---------------------------------------------------------------------- */
/* Compositor events the recorder does not make itself                    */

/* Events made here with libwayland-server on the recorder's display, as a
 * compositor would send them: host drags, a host offer announced apart from
 * its selection event, an output that goes away. */

struct resource_search {
	const char *cls;
	struct wl_resource *found;
};

static enum wl_iterator_result resource_match(struct wl_resource *r, void *data) {
	struct resource_search *rs = data;
	if (strcmp(wl_resource_get_class(r), rs->cls) == 0) {
		rs->found = r;
	}
	return WL_ITERATOR_CONTINUE;
}

/* A resource of interface @cls at the recorder (the healthy client makes
 * none, so it is the attacker's). */
static struct wl_resource *comp_resource(struct session *s, const char *cls) {
	struct resource_search rs = {.cls = cls};
	struct wl_client *client;
	wl_client_for_each(client, wl_display_get_client_list(recorder_display(s->f.rec))) {
		wl_client_for_each_resource(client, resource_match, &rs);
	}
	test_assert_msg(rs.found != NULL, "the recorder has no %s", cls);
	return rs.found;
}

struct source_search {
	struct wl_resource *first, *last; // lowest and highest id
};

static enum wl_iterator_result source_match(struct wl_resource *r, void *data) {
	struct source_search *ss = data;
	if (strcmp(wl_resource_get_class(r), "wl_data_source") == 0) {
		if (ss->first == NULL || wl_resource_get_id(r) < wl_resource_get_id(ss->first)) {
			ss->first = r;
		}
		if (ss->last == NULL || wl_resource_get_id(r) > wl_resource_get_id(ss->last)) {
			ss->last = r;
		}
	}
	return WL_ITERATOR_CONTINUE;
}

/* The recorder's ends of the attacker's first and last data sources. */
static void comp_sources(struct session *s, struct wl_resource **first, struct wl_resource **last) {
	struct source_search ss = {0};
	struct wl_client *client;
	wl_client_for_each(client, wl_display_get_client_list(recorder_display(s->f.rec))) {
		wl_client_for_each_resource(client, source_match, &ss);
	}
	test_assert(ss.first != NULL && ss.last != NULL && ss.first != ss.last);
	*first = ss.first;
	*last = ss.last;
}

static void comp_flush(struct session *s) {
	wl_display_flush_clients(recorder_display(s->f.rec));
}

static void offer_accept(struct wl_client *client, struct wl_resource *resource, uint32_t serial,
			 const char *mime) {
}

static void offer_receive(struct wl_client *client, struct wl_resource *resource, const char *mime,
			  int32_t fd) {
	close(fd);
}

static void offer_destroy(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static void offer_finish(struct wl_client *client, struct wl_resource *resource) {
}

static void offer_set_actions(struct wl_client *client, struct wl_resource *resource,
			      uint32_t actions, uint32_t preferred) {
}

static const struct wl_data_offer_interface host_offer_impl = {
	.accept = offer_accept,
	.receive = offer_receive,
	.destroy = offer_destroy,
	.finish = offer_finish,
	.set_actions = offer_set_actions,
};

/* Announces a host offer of text/plain on @device (data_offer, offer and
 * source_actions) without saying what it is for yet. */
static struct wl_resource *host_offer(struct wl_resource *device) {
	struct wl_resource *offer = wl_resource_create(wl_resource_get_client(device),
						       &wl_data_offer_interface,
						       wl_resource_get_version(device), 0);
	test_assert(offer != NULL);
	wl_resource_set_implementation(offer, &host_offer_impl, NULL, NULL);
	wl_data_device_send_data_offer(device, offer);
	wl_data_offer_send_offer(offer, "text/plain");
	if (wl_resource_get_version(offer) >= WL_DATA_OFFER_SOURCE_ACTIONS_SINCE_VERSION) {
		wl_data_offer_send_source_actions(offer, WL_DATA_DEVICE_MANAGER_DND_ACTION_COPY);
	}
	return offer;
}

/* The guest's wl_data_offer.receive(text/plain) on @offer, with a pipe. */
static void guest_receive(struct session *s, uint32_t offer) {
	struct msg m = {0};
	req(&m, offer, &proto_wl_data_offer, PROTO_WL_DATA_OFFER_REQ_RECEIVE,
	    (union wayland_value[]){STR("text/plain"), {.u = 0}});
	int p[2];
	test_assert(pipe2(p, O_CLOEXEC) == 0);
	send_bytes(&s->f, s->attacker, m.b, m.len, &p[1], 1);
	close(p[0]);
	close(p[1]);
	test_assert_msg(roundtrip(&s->f, s->attacker), "receive ended the connection: %s",
			s->attacker->error_text);
}

static void output_release(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static const struct wl_output_interface output_impl = {.release = output_release};

static void output_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
	struct wl_resource *r = wl_resource_create(client, &wl_output_interface, (int)version, id);
	if (r == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &output_impl, NULL, NULL);
}

/* ---------------------------------------------------------------------- */
/* Wayland framing                                                        */

struct size_case {
	uint32_t size;
	const char *needle;
};

static const struct size_case lt8_cases[] = {{0, "size 0 < 8"}, {4, "size 4 < 8"}};

TEST_P(H_11_wl_size_lt_8, lt8_cases) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	WORDS(&m, 1, hdr_word(data->size, 0), 3);
	char name[64];
	snprintf(name, sizeof(name), "H-11-wl-size-lt-8-%u", (unsigned)data->size);
	attack(&s, name, &m, NULL, 0, NEEDLES("message to object 1", data->needle));
}

static const struct size_case unaligned_cases[] = {{9, "size 9 is not a multiple of 4"},
						   {4095, "size 4095 is not a multiple of 4"}};

TEST_P(H_12_wl_size_unaligned, unaligned_cases) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	WORDS(&m, 1, hdr_word(data->size, 0), 3); // only 12 bytes follow
	char name[64];
	snprintf(name, sizeof(name), "H-12-wl-size-unaligned-%u", (unsigned)data->size);
	attack(&s, name, &m, NULL, 0, NEEDLES("message to object 1", data->needle));
}

static const struct size_case huge_cases[] = {{4100, "size 4100 > limit 4096"},
					      {65532, "size 65532 > limit 4096"}};

/* Only the header is sent: the refusal must not wait for the body. */
TEST_P(H_13_wl_size_huge, huge_cases) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	WORDS(&m, 1, hdr_word(data->size, 0));
	char name[64];
	snprintf(name, sizeof(name), "H-13-wl-size-huge-%u", (unsigned)data->size);
	attack(&s, name, &m, NULL, 0, NEEDLES("message to object 1", data->needle));
}

TEST(H_14_wl_unknown_object) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	WORDS(&m, 77, hdr_word(12, 0), 5);
	attack(&s, "H-14-wl-unknown-object", &m, NULL, 0,
	       NEEDLES("request (opcode 0) to unknown object 77"));
}

TEST(H_14_wl_unknown_object_argument) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	uint32_t comp = bind_global(&m, s.attacker, "wl_compositor", 0);
	uint32_t surface = s.attacker->next_id++;
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    (union wayland_value[]){{.u = surface}});
	setup(&s, &m);
	m.len = 0;
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_ATTACH,
	    (union wayland_value[]){{.u = 999}, {.i = 0}, {.i = 0}});
	attack(&s, "H-14-wl-unknown-object-argument", &m, NULL, 0,
	       NEEDLES("wl_surface#", ".attach(opcode 1): argument 'buffer'",
		       "unknown object 999"));
}

TEST(H_15_wl_opcode_out_of_range) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	WORDS(&m, s.attacker->registry, hdr_word(8, 5));
	attack(&s, "H-15-wl-opcode-out-of-range", &m, NULL, 0,
	       NEEDLES("wl_registry#2: unknown request opcode 5"));
}

TEST(H_16_wl_request_newer_than_bound_version) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	uint32_t output = bind_global(&m, s.attacker, "wl_output", 1);
	setup(&s, &m);
	m.len = 0;
	req(&m, output, &proto_wl_output, PROTO_WL_OUTPUT_REQ_RELEASE, NULL);
	attack(&s, "H-16-wl-request-newer-than-bound-version", &m, NULL, 0,
	       NEEDLES("wl_output#", ".release(opcode 0): request needs version 3",
		       "object has version 1"));
}

/* wl_registry.bind with a hand-made string argument. */
static void bind_raw_string(struct msg *m, struct client *c, uint32_t len, const void *text,
			    size_t text_bytes) {
	const struct global *g = find_global(c, "wl_compositor");
	test_assert(g != NULL);
	uint32_t padded = (uint32_t)((text_bytes + 3) & ~(size_t)3);
	uint32_t size = 8 + 4 + 4 + padded + 4 + 4;
	WORDS(m, c->registry, hdr_word(size, PROTO_WL_REGISTRY_REQ_BIND), g->name, len);
	uint8_t buf[64] = {0};
	test_assert(text_bytes <= sizeof(buf));
	memcpy(buf, text, text_bytes);
	memcpy(m->b + m->len, buf, padded);
	m->len += padded;
	WORDS(m, 1, c->next_id);
}

struct string_case {
	uint32_t len;
	const char *text;
	size_t text_bytes;
	const char *name;
	const char *needle;
};

static const struct string_case overflow_cases[] = {
	{0xffffffffu, "wl_compositor", 14, "H-17-wl-string-len-overflow-ffffffff",
	 "string length runs past the message"},
	{0xfffffffdu, "wl_compositor", 14, "H-17-wl-string-len-overflow-fffffffd",
	 "string length runs past the message"},
};

TEST_P(H_17_wl_string_len_overflow, overflow_cases) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	bind_raw_string(&m, s.attacker, data->len, data->text, data->text_bytes);
	attack(&s, data->name, &m, NULL, 0,
	       NEEDLES("wl_registry#2.bind(opcode 0): argument 'interface'", data->needle));
}

static const struct string_case nul_cases[] = {
	{13, "wl_compositor", 13, "H-18-wl-string-no-nul", "string is not NUL-terminated"},
	{15, "wl_com\0positor", 15, "H-18-wl-string-interior-nul", "string has an embedded NUL"},
};

TEST_P(H_18_wl_string_no_nul, nul_cases) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	bind_raw_string(&m, s.attacker, data->len, data->text, data->text_bytes);
	attack(&s, data->name, &m, NULL, 0,
	       NEEDLES("wl_registry#2.bind(opcode 0): argument 'interface'", data->needle));
}

TEST(H_19_wl_null_nonnullable_string) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	bind_raw_string(&m, s.attacker, 0, "", 0);
	attack(&s, "H-19-wl-null-nonnullable-string", &m, NULL, 0,
	       NEEDLES("wl_registry#2.bind(opcode 0): argument 'interface'",
		       "null string is not allowed"));
}

TEST(H_19_wl_null_nonnullable_object) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	uint32_t sub = bind_global(&m, s.attacker, "wl_subcompositor", 0);
	uint32_t comp = bind_global(&m, s.attacker, "wl_compositor", 0);
	uint32_t parent = s.attacker->next_id++;
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    (union wayland_value[]){{.u = parent}});
	setup(&s, &m);
	m.len = 0;
	req(&m, sub, &proto_wl_subcompositor, PROTO_WL_SUBCOMPOSITOR_REQ_GET_SUBSURFACE,
	    (union wayland_value[]){{.u = s.attacker->next_id}, {.u = 0}, {.u = parent}});
	attack(&s, "H-19-wl-null-nonnullable-object", &m, NULL, 0,
	       NEEDLES("wl_subcompositor#", ".get_subsurface(opcode 1): argument 'surface'",
		       "null object is not allowed"));
}

TEST(H_19_wl_null_nonnullable_new_id) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	WORDS(&m, 1, hdr_word(12, PROTO_WL_DISPLAY_REQ_SYNC), 0);
	attack(&s, "H-19-wl-null-nonnullable-new-id", &m, NULL, 0,
	       NEEDLES("wl_display#1.sync(opcode 0): argument 'callback'", "new id 0"));
}

/* A wl_shm.create_pool and the set-up it needs. */
static uint32_t bind_shm(struct session *s) {
	struct msg m = {0};
	uint32_t shm = bind_global(&m, s->attacker, "wl_shm", 0);
	setup(s, &m);
	return shm;
}

static void create_pool(struct msg *m, struct client *c, uint32_t shm, uint32_t pool,
			int32_t size) {
	req(m, shm, &proto_wl_shm, PROTO_WL_SHM_REQ_CREATE_POOL,
	    (union wayland_value[]){{.u = pool}, {.u = 0}, {.i = size}});
	(void)c;
}

TEST(H_21_wl_fd_missing) {
	struct session s;
	session_start(&s, NULL);
	uint32_t shm = bind_shm(&s);
	struct msg m = {0};
	create_pool(&m, s.attacker, shm, s.attacker->next_id, 4096);
	attack(&s, "H-21-wl-fd-missing", &m, NULL, 0,
	       NEEDLES("wl_shm#", ".create_pool(opcode 0): needs 1 fds, 0 were sent"));
}

/* An fd with a message that takes none may wait one unit; after that it is
 * an error. */
TEST(H_22_wl_fd_surplus) {
	struct session s;
	session_start(&s, NULL);
	mark(&s);
	int fd = make_memfd(4096, true);
	struct msg m = {0};
	s.attacker->sync_id = s.attacker->next_id++;
	s.attacker->sync_done = false;
	req(&m, 1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC,
	    (union wayland_value[]){{.u = s.attacker->sync_id}});
	send_bytes(&s.f, s.attacker, m.b, m.len, &fd, 1);
	close(fd);
	wait_for(&s.f, sync_done, s.attacker, WAIT_MS);
	// The sync itself is valid and was forwarded: move the mark past it.
	mark(&s);
	m.len = 0;
	req(&m, 1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC,
	    (union wayland_value[]){{.u = s.attacker->next_id++}});
	send_msg(&s.f, s.attacker, &m);
	expect_error(&s, "H-22-wl-fd-surplus",
		     NEEDLES("1 fds were sent with no message to use them"));
}

TEST(H_23_wl_fd_29) {
	struct session s;
	session_start(&s, NULL);
	uint32_t shm = bind_shm(&s);
	// 29 pools, each with its own fd, in one sendmsg: every fd has a
	// message, but libwayland never sends more than 28 at once.
	int fds[29];
	struct msg m = {0};
	for (int i = 0; i < 29; i++) {
		fds[i] = make_memfd(4096, true);
		create_pool(&m, s.attacker, shm, s.attacker->next_id++, 4096);
	}
	mark(&s);
	send_bytes(&s.f, s.attacker, m.b, m.len, fds, 29);
	for (int i = 0; i < 29; i++) {
		close(fds[i]);
	}
	expect_error(&s, "H-23-wl-fd-29", NEEDLES("29 fds in one sendmsg, more than 28"));
}

/* ---------------------------------------------------------------------- */
/* Object ids                                                             */

TEST(H_24_wl_newid_skip) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	uint32_t id = s.attacker->next_id + 1;
	req(&m, 1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC,
	    (union wayland_value[]){{.u = id}});
	char needle[96];
	snprintf(needle, sizeof(needle), "new id %u skips ahead (next free id is %u)", (unsigned)id,
		 (unsigned)(id - 1));
	attack(&s, "H-24-wl-newid-skip", &m, NULL, 0,
	       NEEDLES("wl_display#1.sync(opcode 0)", needle));
}

static uint32_t bind_compositor(struct session *s) {
	struct msg m = {0};
	uint32_t comp = bind_global(&m, s->attacker, "wl_compositor", 0);
	setup(s, &m);
	return comp;
}

TEST(H_25_wl_newid_reuse_live) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	struct msg m = {0};
	uint32_t region = s.attacker->next_id++;
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_REGION,
	    (union wayland_value[]){{.u = region}});
	setup(&s, &m);
	m.len = 0;
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_REGION,
	    (union wayland_value[]){{.u = region}});
	char needle[64];
	snprintf(needle, sizeof(needle), "new id %u is already in use", (unsigned)region);
	attack(&s, "H-25-wl-newid-reuse-live", &m, NULL, 0,
	       NEEDLES("wl_compositor#", ".create_region(opcode 1)", needle));
}

TEST(H_26_wl_newid_reuse_pending_delete) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	struct msg m = {0};
	uint32_t region = s.attacker->next_id++;
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_REGION,
	    (union wayland_value[]){{.u = region}});
	setup(&s, &m);
	mark(&s);
	m.len = 0;
	req(&m, region, &proto_wl_region, PROTO_WL_REGION_REQ_DESTROY, NULL);
	struct msg m2 = {0};
	req(&m2, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_REGION,
	    (union wayland_value[]){{.u = region}});
	memcpy(m.b + m.len, m2.b, m2.len);
	m.len += m2.len;
	send_msg(&s.f, s.attacker, &m);
	char needle[96];
	snprintf(needle, sizeof(needle),
		 "new id %u is already in use (destroyed, deletion not yet confirmed)",
		 (unsigned)region);
	// The destroy is valid and may be forwarded; the create must not be.
	test_assert_msg(wait_for(&s.f, attacker_gone, s.attacker, WAIT_MS), "not ended");
	test_assert_int_eq(requests_after_mark(&s, "wl_compositor.create_region"), 0);
	test_assert(s.attacker->got_error);
	test_assert_int_eq(s.attacker->error_object, 1);
	test_assert_str_contains(s.attacker->error_text, needle);
	test_assert_msg(wait_for(&s.f, log_has, needle, WAIT_MS), "not in the log");
	passed(&s, "H-26-wl-newid-reuse-pending-delete");
}

TEST(H_27_wl_newid_server_range) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	req(&m, 1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC,
	    (union wayland_value[]){{.u = 0xff000001u}});
	attack(&s, "H-27-wl-newid-server-range", &m, NULL, 0,
	       NEEDLES("wl_display#1.sync(opcode 0)",
		       "new id 4278190081 is not in the client range"));
}

/* ---------------------------------------------------------------------- */
/* Registry                                                               */

static bool registry_done(struct fixture *f, void *data) {
	struct client *c = data;
	return c->sync_done;
}

/* The name of a global the recorder offers, learnt by a direct client. */
static uint32_t direct_global_name(struct session *s, const char *iface) {
	struct client *d = client_connect(&s->f, recorder_socket_path(s->f.rec));
	client_start(&s->f, d);
	(void)registry_done;
	const struct global *g = find_global(d, iface);
	test_assert_msg(g != NULL, "the recorder does not offer %s", iface);
	uint32_t name = g->name;
	client_close(d);
	return name;
}

struct hidden_case {
	const char *iface;   // a privileged global the recorder offers
	const char *bind_as; // the interface string of the bind
	const char *name;
	const char *needle;
};

/* Unknown to crossway's tables: refused by the decoder; named as a known
 * interface: refused by policy as never advertised. */
static const struct hidden_case hidden_cases[] = {
	{"zwlr_layer_shell_v1", "zwlr_layer_shell_v1", "H-28-wl-bind-hidden-layer-shell",
	 "argument 'id': interface is not known to crossway"},
	{"zwlr_screencopy_manager_v1", "zwlr_screencopy_manager_v1",
	 "H-28-wl-bind-hidden-screencopy", "argument 'id': interface is not known to crossway"},
	{"zwp_virtual_keyboard_manager_v1", "zwp_virtual_keyboard_manager_v1",
	 "H-28-wl-bind-hidden-virtual-keyboard",
	 "argument 'id': interface is not known to crossway"},
	{"zwlr_screencopy_manager_v1", "wl_output", "H-28-wl-bind-hidden-as-known",
	 "(wl_output) was not advertised"},
};

TEST_P(H_28_wl_bind_hidden, hidden_cases) {
	struct session s;
	session_start(&s, NULL);
	test_assert_msg(find_global(s.attacker, data->iface) == NULL, "%s was advertised",
			data->iface);
	uint32_t name = direct_global_name(&s, data->iface);
	struct msg m = {0};
	req(&m, s.attacker->registry, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    (union wayland_value[]){{.u = name},
				    {.bytes = {data->bind_as, (uint32_t)strlen(data->bind_as) + 1}},
				    {.u = 1},
				    {.u = s.attacker->next_id}});
	char global[64];
	snprintf(global, sizeof(global), "global %u", (unsigned)name);
	attack(&s, data->name, &m, NULL, 0,
	       strcmp(data->iface, data->bind_as) == 0
		       ? NEEDLES("wl_registry#2.bind(opcode 0)", data->needle)
		       : NEEDLES("wl_registry#2.bind(opcode 0)", global, data->needle));
}

TEST(H_29_wl_bind_wrong_iface) {
	struct session s;
	session_start(&s, NULL);
	const struct global *g = find_global(s.attacker, "wl_compositor");
	test_assert(g != NULL);
	struct msg m = {0};
	req(&m, s.attacker->registry, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    (union wayland_value[]){
		    {.u = g->name}, STR("wl_shm"), {.u = 1}, {.u = s.attacker->next_id}});
	char needle[96];
	snprintf(needle, sizeof(needle), "global %u is a wl_compositor, not a wl_shm",
		 (unsigned)g->name);
	attack(&s, "H-29-wl-bind-wrong-iface", &m, NULL, 0,
	       NEEDLES("wl_registry#2.bind(opcode 0)", needle));
}

TEST(H_29_wl_bind_unknown_iface) {
	struct session s;
	session_start(&s, NULL);
	const struct global *g = find_global(s.attacker, "wl_compositor");
	test_assert(g != NULL);
	struct msg m = {0};
	req(&m, s.attacker->registry, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    (union wayland_value[]){{.u = g->name},
				    STR("zz_not_an_interface"),
				    {.u = 1},
				    {.u = s.attacker->next_id}});
	attack(&s, "H-29-wl-bind-unknown-iface", &m, NULL, 0,
	       NEEDLES("wl_registry#2.bind(opcode 0)", "interface is not known to crossway"));
}

struct version_case {
	uint32_t add;     // advertised + add
	uint32_t version; // when add is 0
	const char *name;
	const char *needle;
};

static const struct version_case high_cases[] = {
	{1, 0, "H-30-wl-bind-version-too-high", "above the advertised"},
	{0, 0xffffffffu, "H-30-wl-bind-version-too-high-ffffffff",
	 "version 4294967295 is outside what crossway supports"},
};

TEST_P(H_30_wl_bind_version_too_high, high_cases) {
	struct session s;
	session_start(&s, NULL);
	// A global advertised below what crossway's tables know, so that
	// advertised + 1 passes the table check and meets the policy's.
	const struct global *g = NULL;
	for (size_t i = 0; i < s.attacker->global_count && g == NULL; i++) {
		const struct proto_interface *iface = proto_find_interface(
			s.attacker->globals[i].interface);
		if (iface != NULL && iface->version > s.attacker->globals[i].version) {
			g = &s.attacker->globals[i];
		}
	}
	test_assert_msg(g != NULL, "every global is at crossway's version (test assumption)");
	uint32_t version = data->add ? g->version + data->add : data->version;
	struct msg m = {0};
	req(&m, s.attacker->registry, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    (union wayland_value[]){{.u = g->name},
				    {.bytes = {g->interface, (uint32_t)strlen(g->interface) + 1}},
				    {.u = version},
				    {.u = s.attacker->next_id}});
	attack(&s, data->name, &m, NULL, 0, NEEDLES("wl_registry#2.bind(opcode 0)", data->needle));
}

TEST(H_31_wl_bind_version_0) {
	struct session s;
	session_start(&s, NULL);
	const struct global *g = find_global(s.attacker, "wl_compositor");
	test_assert(g != NULL);
	struct msg m = {0};
	req(&m, s.attacker->registry, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    (union wayland_value[]){
		    {.u = g->name}, STR("wl_compositor"), {.u = 0}, {.u = s.attacker->next_id}});
	attack(&s, "H-31-wl-bind-version-0", &m, NULL, 0,
	       NEEDLES("wl_registry#2.bind(opcode 0)", "version 0"));
}

/* A bind that crosses the compositor's global_remove (an output unplugged
 * while a client binds it) is a normal race: it reaches the compositor,
 * which answers it as for a direct client. The checks still apply: above
 * the advertised version ends the context. */
TEST(H_28_wl_bind_removed_global) {
	struct session s;
	session_start(&s, NULL);
	// Version 3, below crossway's: binding 4 is a policy error, not a table one.
	struct wl_global *output = wl_global_create(recorder_display(s.f.rec), &wl_output_interface,
						    3, NULL, output_bind);
	test_assert(output != NULL);
	comp_flush(&s);
	size_t before = s.attacker->global_count;
	test_assert(roundtrip(&s.f, s.attacker));
	test_assert_int_eq(s.attacker->global_count, before + 1);
	struct global g = s.attacker->globals[before];
	test_assert_str_eq(g.interface, "wl_output");
	test_assert_int_eq(g.version, 3);
	wl_global_remove(output);
	comp_flush(&s);
	test_assert(roundtrip(&s.f, s.attacker));
	test_assert_int_eq(s.attacker->globals_removed, 1);
	mark(&s);
	struct msg m = {0};
	req(&m, s.attacker->registry, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    (union wayland_value[]){{.u = g.name},
				    STR("wl_output"),
				    {.u = g.version},
				    {.u = s.attacker->next_id++}});
	send_accepted(&s, &m, "a bind to a just-removed global");
	test_assert_int_eq(requests_after_mark(&s, "wl_registry.bind"), 1);
	m.len = 0;
	req(&m, s.attacker->registry, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    (union wayland_value[]){{.u = g.name},
				    STR("wl_output"),
				    {.u = g.version + 1},
				    {.u = s.attacker->next_id}});
	attack(&s, "H-28-wl-bind-removed-global-version", &m, NULL, 0,
	       NEEDLES("wl_registry#2.bind(opcode 0)",
		       "wl_output version 4 is above the advertised 3"));
}

TEST(H_32_wl_destroy_display) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	WORDS(&m, 1, hdr_word(8, 2));
	attack(&s, "H-32-wl-destroy-display", &m, NULL, 0,
	       NEEDLES("wl_display#1: unknown request opcode 2"));
}

/* ---------------------------------------------------------------------- */
/* shm                                                                    */

TEST(H_33_shm_pool_too_small) {
	struct session s;
	session_start(&s, NULL);
	uint32_t shm = bind_shm(&s);
	struct msg m = {0};
	create_pool(&m, s.attacker, shm, s.attacker->next_id, 8192);
	int fd = make_memfd(4096, true);
	mark(&s);
	send_bytes(&s.f, s.attacker, m.b, m.len, &fd, 1);
	close(fd);
	expect_error(&s, "H-33-shm-pool-too-small",
		     NEEDLES("wl_shm#", ".create_pool(opcode 0): pool size 8192 outside the fd's "
					"4096 bytes"));
}

enum bad_fd {
	BAD_FD_SOCKET,
	BAD_FD_DIRECTORY,
	BAD_FD_PIPE,
	BAD_FD_PIPE_WRITE,
};

struct bad_fd_case {
	enum bad_fd kind;
	const char *name;
	const char *needle;
};

static const struct bad_fd_case bad_fd_cases[] = {
	{BAD_FD_SOCKET, "H-33-shm-pool-fd-socket", "argument 'fd' is a socket"},
	{BAD_FD_DIRECTORY, "H-33-shm-pool-fd-directory", "argument 'fd' is a directory"},
	{BAD_FD_PIPE, "H-33-shm-pool-fd-pipe", "the fd is not shared memory"},
	{BAD_FD_PIPE_WRITE, "H-33-shm-pool-fd-pipe-write", "the fd is not shared memory"},
};

/* Pool fds of the wrong type (rule 6). */
TEST_P(H_33_shm_pool_bad_fd_type, bad_fd_cases) {
	struct session s;
	session_start(&s, NULL);
	uint32_t shm = bind_shm(&s);
	int fd = -1, other = -1;
	switch (data->kind) {
	case BAD_FD_SOCKET:
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		break;
	case BAD_FD_DIRECTORY:
		fd = open(getenv("XDG_RUNTIME_DIR"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		break;
	case BAD_FD_PIPE:
	case BAD_FD_PIPE_WRITE: {
		int p[2];
		test_assert(pipe2(p, O_CLOEXEC) == 0);
		fd = data->kind == BAD_FD_PIPE ? p[0] : p[1];
		other = data->kind == BAD_FD_PIPE ? p[1] : p[0];
		break;
	}
	}
	test_assert(fd >= 0);
	struct msg m = {0};
	create_pool(&m, s.attacker, shm, s.attacker->next_id, 4096);
	mark(&s);
	send_bytes(&s.f, s.attacker, m.b, m.len, &fd, 1);
	close(fd);
	if (other >= 0) {
		close(other);
	}
	expect_error(&s, data->name, NEEDLES("wl_shm#", ".create_pool(opcode 0)", data->needle));
}

/* A pool of @size bytes on a sealable memfd of @fd_size; returns the pool id. */
static uint32_t make_pool(struct session *s, uint32_t shm, int32_t size, size_t fd_size) {
	struct msg m = {0};
	uint32_t pool = s->attacker->next_id++;
	create_pool(&m, s->attacker, shm, pool, size);
	int fd = make_memfd(fd_size, true);
	send_bytes(&s->f, s->attacker, m.b, m.len, &fd, 1);
	close(fd);
	test_assert_msg(roundtrip(&s->f, s->attacker), "pool refused: %s", s->attacker->error_text);
	return pool;
}

struct buffer_case {
	int32_t offset, width, height, stride;
	const char *name;
	const char *needle;
};

static const struct buffer_case outside_cases[] = {
	{0, 64, 64, 256, "H-34-shm-buffer-outside-pool",
	 "buffer ends at byte 16384, past the pool's 4096"},
	{4096, 1, 1, 4, "H-34-shm-buffer-outside-pool-offset",
	 "buffer ends at byte 4100, past the pool's 4096"},
	// stride * height is 2^32: zero in 32-bit arithmetic.
	{0, 16, 16, 0x10000000, "H-34-shm-buffer-outside-pool-wrap",
	 "buffer ends at byte 4294967296, past the pool's 4096"},
};

/* wl_shm_pool.create_buffer with the case's geometry in a 4096-byte pool. */
static void create_buffer_attack(const struct buffer_case *data) {
	struct session s;
	session_start(&s, NULL);
	uint32_t shm = bind_shm(&s);
	uint32_t pool = make_pool(&s, shm, 4096, 4096);
	struct msg m = {0};
	req(&m, pool, &proto_wl_shm_pool, PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER,
	    (union wayland_value[]){{.u = s.attacker->next_id},
				    {.i = data->offset},
				    {.i = data->width},
				    {.i = data->height},
				    {.i = data->stride},
				    {.u = 0}});
	attack(&s, data->name, &m, NULL, 0,
	       NEEDLES("wl_shm_pool#", ".create_buffer(opcode 0)", data->needle));
}

TEST_P(H_34_shm_buffer_outside_pool, outside_cases) {
	create_buffer_attack(data);
}

static const struct buffer_case zero_cases[] = {
	{0, 0, 16, 64, "H-35-shm-zero-width", "buffer 0x16 outside 1..16384"},
	{0, 16, -1, 64, "H-35-shm-negative-height", "buffer 16x-1 outside 1..16384"},
	{0, 16, 16, -64, "H-35-shm-negative-stride", "stride -64 is invalid"},
	{-4, 16, 16, 64, "H-35-shm-negative-offset", "offset -4 or stride 64 is invalid"},
	{0, 16, 16, 0, "H-35-shm-zero-stride", "stride 0 is invalid"},
};

TEST_P(H_35_shm_zero_or_negative, zero_cases) {
	create_buffer_attack(data);
}

/* crosswayd seals a sealable pool fd against shrinking: the client's own
 * truncation fails, so neither crosswayd nor the compositor can SIGBUS. */
TEST(H_36_shm_shrink) {
	struct session s;
	session_start(&s, NULL);
	uint32_t shm = bind_shm(&s);
	int fd = make_memfd(4096, true);
	struct msg m = {0};
	uint32_t pool = s.attacker->next_id++;
	create_pool(&m, s.attacker, shm, pool, 4096);
	req(&m, pool, &proto_wl_shm_pool, PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER,
	    (union wayland_value[]){{.u = s.attacker->next_id++},
				    {.i = 0},
				    {.i = 16},
				    {.i = 16},
				    {.i = 64},
				    {.u = 0}});
	mark(&s);
	send_bytes(&s.f, s.attacker, m.b, m.len, &fd, 1);
	test_assert_msg(roundtrip(&s.f, s.attacker), "pool refused: %s", s.attacker->error_text);
	test_assert(fcntl(fd, F_GET_SEALS) & F_SEAL_SHRINK);
	errno = 0;
	test_assert(ftruncate(fd, 0) != 0 && errno == EPERM);
	close(fd);
	test_assert_int_eq(requests_after_mark(&s, "wl_shm.create_pool"), 1);
	test_assert_int_eq(requests_after_mark(&s, "wl_shm_pool.create_buffer"), 1);
	test_assert(roundtrip(&s.f, s.attacker));
	passed(&s, "H-36-shm-shrink");
}

/* With unsealed-shm = refuse, a pool fd that cannot be sealed is refused. */
TEST(H_36_shm_shrink_unsealed_refused) {
	struct session s;
	session_start(&s, "unsealed-shm = refuse\n");
	uint32_t shm = bind_shm(&s);
	int fd = make_memfd(4096, false);
	struct msg m = {0};
	create_pool(&m, s.attacker, shm, s.attacker->next_id, 4096);
	mark(&s);
	send_bytes(&s.f, s.attacker, m.b, m.len, &fd, 1);
	close(fd);
	expect_error(&s, "H-36-shm-shrink-unsealed",
		     NEEDLES("wl_shm#", ".create_pool(opcode 0): the fd is not sealed against "
					"shrinking"));
}

TEST(H_37_shm_pool_resize_down) {
	struct session s;
	session_start(&s, NULL);
	uint32_t shm = bind_shm(&s);
	uint32_t pool = make_pool(&s, shm, 8192, 8192);
	struct msg m = {0};
	req(&m, pool, &proto_wl_shm_pool, PROTO_WL_SHM_POOL_REQ_RESIZE,
	    (union wayland_value[]){{.i = 4096}});
	attack(&s, "H-37-shm-pool-resize-down", &m, NULL, 0,
	       NEEDLES("wl_shm_pool#", ".resize(opcode 2): pool size 4096 is smaller than 8192"));
}

TEST(H_37_shm_pool_resize_past_fd) {
	struct session s;
	session_start(&s, NULL);
	uint32_t shm = bind_shm(&s);
	uint32_t pool = make_pool(&s, shm, 4096, 4096);
	struct msg m = {0};
	req(&m, pool, &proto_wl_shm_pool, PROTO_WL_SHM_POOL_REQ_RESIZE,
	    (union wayland_value[]){{.i = 1 << 20}});
	attack(&s, "H-37-shm-pool-resize-past-fd", &m, NULL, 0,
	       NEEDLES("wl_shm_pool#", ".resize(opcode 2): pool size 1048576 is past the fd's "
				       "4096 bytes"));
}

/* ---------------------------------------------------------------------- */
/* linux-dmabuf (the recorder offers v3)                                  */

/* Binds zwp_linux_dmabuf_v1 and makes a params object; returns its id. */
static uint32_t make_params(struct session *s) {
	struct msg m = {0};
	uint32_t dmabuf = bind_global(&m, s->attacker, "zwp_linux_dmabuf_v1", 0);
	uint32_t params = s->attacker->next_id++;
	req(&m, dmabuf, &proto_zwp_linux_dmabuf_v1, PROTO_ZWP_LINUX_DMABUF_V1_REQ_CREATE_PARAMS,
	    (union wayland_value[]){{.u = params}});
	setup(s, &m);
	return params;
}

#define DRM_FORMAT_XRGB8888 0x34325258u

static void params_add(struct msg *m, uint32_t params, uint32_t plane, uint32_t offset,
		       uint32_t stride) {
	req(m, params, &proto_zwp_linux_buffer_params_v1, PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_ADD,
	    (union wayland_value[]){
		    {.u = 0}, {.u = plane}, {.u = offset}, {.u = stride}, {.u = 0}, {.u = 0}});
}

static void send_with_memfd(struct session *s, const struct msg *m, size_t size) {
	int fd = make_memfd(size, true);
	send_bytes(&s->f, s->attacker, m->b, m->len, &fd, 1);
	close(fd);
}

TEST(H_38_dmabuf_bad_plane_index) {
	struct session s;
	session_start(&s, NULL);
	uint32_t params = make_params(&s);
	struct msg m = {0};
	params_add(&m, params, 4, 0, 256);
	mark(&s);
	send_with_memfd(&s, &m, 65536);
	expect_error(&s, "H-38-dmabuf-bad-plane-index",
		     NEEDLES("zwp_linux_buffer_params_v1#", ".add(opcode 1)",
			     "plane index 4 is out of range"));
}

TEST(H_38_dmabuf_duplicate_plane) {
	struct session s;
	session_start(&s, NULL);
	uint32_t params = make_params(&s);
	struct msg m = {0};
	params_add(&m, params, 0, 0, 256);
	send_with_memfd(&s, &m, 65536);
	test_assert(roundtrip(&s.f, s.attacker));
	mark(&s);
	send_with_memfd(&s, &m, 65536);
	expect_error(&s, "H-38-dmabuf-duplicate-plane",
		     NEEDLES("zwp_linux_buffer_params_v1#", ".add(opcode 1)",
			     "plane 0 was already added"));
}

TEST(H_38_dmabuf_plane_past_buffer) {
	struct session s;
	session_start(&s, NULL);
	uint32_t params = make_params(&s);
	struct msg m = {0};
	params_add(&m, params, 0, 0, 256);
	send_with_memfd(&s, &m, 4096);
	test_assert(roundtrip(&s.f, s.attacker));
	m.len = 0;
	req(&m, params, &proto_zwp_linux_buffer_params_v1,
	    PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_CREATE_IMMED,
	    (union wayland_value[]){{.u = s.attacker->next_id},
				    {.i = 64},
				    {.i = 64},
				    {.u = DRM_FORMAT_XRGB8888},
				    {.u = 0}});
	attack(&s, "H-38-dmabuf-plane-past-buffer", &m, NULL, 0,
	       NEEDLES("zwp_linux_buffer_params_v1#", ".create_immed(opcode 3)",
		       "plane 0 ends at byte 16384, past its buffer's 4096"));
}

/* Sends add(@plane) with its own memfd of @size bytes, @modifier on it. */
static void add_plane_fd(struct session *s, uint32_t params, uint32_t plane, uint32_t offset,
			 uint32_t stride, uint64_t modifier, size_t size) {
	struct msg m = {0};
	req(&m, params, &proto_zwp_linux_buffer_params_v1, PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_ADD,
	    (union wayland_value[]){{.u = 0},
				    {.u = plane},
				    {.u = offset},
				    {.u = stride},
				    {.u = (uint32_t)(modifier >> 32)},
				    {.u = (uint32_t)modifier}});
	send_with_memfd(s, &m, size);
	test_assert(roundtrip(&s->f, s->attacker));
}

static void create_immed_64x64(struct msg *m, struct session *s, uint32_t params) {
	req(m, params, &proto_zwp_linux_buffer_params_v1,
	    PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_CREATE_IMMED,
	    (union wayland_value[]){{.u = s->attacker->next_id++},
				    {.i = 64},
				    {.i = 64},
				    {.u = DRM_FORMAT_XRGB8888},
				    {.u = 0}});
}

/* Rule 7 for buffers: a plane the format does not have (XRGB8888 has one)
 * is, without a modifier, checked at the image's full height: 64 rows of
 * 256 bytes from offset 16384 need 32768 bytes, the fd has 24576 (half the
 * height, which every plane after the first used to be checked at, fits). */
TEST(H_38_dmabuf_extra_plane_past_buffer) {
	struct session s;
	session_start(&s, NULL);
	uint32_t params = make_params(&s);
	add_plane_fd(&s, params, 0, 0, 256, 0, 16384);
	add_plane_fd(&s, params, 1, 16384, 256, 0, 24576);
	struct msg m = {0};
	create_immed_64x64(&m, &s, params);
	attack(&s, "H-38-dmabuf-extra-plane-past-buffer", &m, NULL, 0,
	       NEEDLES("zwp_linux_buffer_params_v1#", ".create_immed(opcode 3)",
		       "plane 1 ends at byte 32768, past its buffer's 24576"));
}

/* The control: with a modifier, a plane the format does not have is the
 * modifier's auxiliary plane (compression metadata, far smaller than stride
 * x height, laid out as its vendor says), which need only start inside its
 * buffer; the compositor's importer checks the rest. The recorder offers no
 * compression modifier: X-tiled stands in for one, since crosswayd does not
 * know which modifiers have auxiliary planes. */
TEST(H_38_dmabuf_aux_plane_passes) {
	struct session s;
	session_start(&s, NULL);
	uint32_t params = make_params(&s);
	const uint64_t x_tiled = 1ull << 56 | 1;
	add_plane_fd(&s, params, 0, 0, 256, x_tiled, 16384);
	add_plane_fd(&s, params, 1, 4000, 64, x_tiled, 4096);
	mark(&s);
	struct msg m = {0};
	create_immed_64x64(&m, &s, params);
	send_accepted(&s, &m, "ended");
	test_assert_int_eq(requests_after_mark(&s, "zwp_linux_buffer_params_v1.create_immed"), 1);
	passed(&s, "H-38-dmabuf-aux-plane");
}

/* ... but it must start inside its buffer. */
TEST(H_38_dmabuf_aux_plane_past_buffer) {
	struct session s;
	session_start(&s, NULL);
	uint32_t params = make_params(&s);
	const uint64_t x_tiled = 1ull << 56 | 1;
	add_plane_fd(&s, params, 0, 0, 256, x_tiled, 16384);
	add_plane_fd(&s, params, 1, 4096, 64, x_tiled, 4096);
	struct msg m = {0};
	create_immed_64x64(&m, &s, params);
	attack(&s, "H-38-dmabuf-aux-plane-past-buffer", &m, NULL, 0,
	       NEEDLES("zwp_linux_buffer_params_v1#", ".create_immed(opcode 3)",
		       "plane 1 (a modifier's auxiliary plane) starts at byte 4096, past its "
		       "buffer's 4096"));
}

struct format_case {
	uint32_t format;
	uint64_t modifier;
	const char *name;
	const char *needle;
};

static const struct format_case format_cases[] = {
	{0x5a5a5a5a, 0, "H-39-dmabuf-bad-format-unknown",
	 "format 0x5a5a5a5a with modifier 0x0 was not offered"},
	{DRM_FORMAT_XRGB8888, 0x0100000000000099ull, "H-39-dmabuf-bad-format-modifier",
	 "format 0x34325258 with modifier 0x100000000000099 was not offered"},
};

/* Rule 7 for buffers (v3 path): params must use a format and modifier the
 * compositor advertised (and crossway showed); anything else ends the
 * context instead of reaching the compositor's importer. */
TEST_P(H_39_dmabuf_bad_format, format_cases) {
	struct session s;
	session_start(&s, NULL);
	uint32_t params = make_params(&s);
	struct msg m = {0};
	req(&m, params, &proto_zwp_linux_buffer_params_v1, PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_ADD,
	    (union wayland_value[]){{.u = 0},
				    {.u = 0},
				    {.u = 0},
				    {.u = 256},
				    {.u = (uint32_t)(data->modifier >> 32)},
				    {.u = (uint32_t)data->modifier}});
	send_with_memfd(&s, &m, 65536);
	test_assert(roundtrip(&s.f, s.attacker));
	m.len = 0;
	req(&m, params, &proto_zwp_linux_buffer_params_v1,
	    PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_CREATE_IMMED,
	    (union wayland_value[]){{.u = s.attacker->next_id},
				    {.i = 64},
				    {.i = 64},
				    {.u = data->format},
				    {.u = 0}});
	attack(&s, data->name, &m, NULL, 0,
	       NEEDLES("zwp_linux_buffer_params_v1#", ".create_immed(opcode 3)", data->needle));
}

/* The control: an advertised pair is created. */
TEST(H_39_dmabuf_offered_format_passes) {
	struct session s;
	session_start(&s, NULL);
	uint32_t params = make_params(&s);
	struct msg m = {0};
	params_add(&m, params, 0, 0, 256);
	send_with_memfd(&s, &m, 65536);
	test_assert(roundtrip(&s.f, s.attacker));
	mark(&s);
	m.len = 0;
	req(&m, params, &proto_zwp_linux_buffer_params_v1,
	    PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_CREATE_IMMED,
	    (union wayland_value[]){{.u = s.attacker->next_id++},
				    {.i = 64},
				    {.i = 64},
				    {.u = DRM_FORMAT_XRGB8888},
				    {.u = 0}});
	send_accepted(&s, &m, "ended");
	test_assert_int_eq(requests_after_mark(&s, "zwp_linux_buffer_params_v1.create_immed"), 1);
	passed(&s, NULL);
}

TEST(H_38_dmabuf_plane_fd_not_buffer) {
	struct session s;
	session_start(&s, NULL);
	uint32_t params = make_params(&s);
	struct msg m = {0};
	params_add(&m, params, 0, 0, 256);
	int p[2];
	test_assert(pipe2(p, O_CLOEXEC) == 0);
	mark(&s);
	send_bytes(&s.f, s.attacker, m.b, m.len, &p[0], 1);
	close(p[0]);
	close(p[1]);
	expect_error(
		&s, "H-38-dmabuf-plane-fd-not-buffer",
		NEEDLES("zwp_linux_buffer_params_v1#", ".add(opcode 1)", "the fd is not a buffer"));
}

static bool guest_closed_logged(struct fixture *f, void *data) {
	char *log = read_file(f->log_path);
	bool found = log != NULL && strstr(log, "the guest closed the connection") != NULL;
	free(log);
	return found;
}

/* Planes added, never used, then a hang-up: the context ends cleanly. */
TEST(H_40_dmabuf_params_leak) {
	struct session s;
	session_start(&s, NULL);
	uint32_t params = make_params(&s);
	struct msg m = {0};
	params_add(&m, params, 0, 0, 256);
	send_with_memfd(&s, &m, 65536);
	m.len = 0;
	params_add(&m, params, 1, 0, 256);
	send_with_memfd(&s, &m, 65536);
	test_assert(roundtrip(&s.f, s.attacker));
	mark(&s);
	client_close(s.attacker);
	test_assert_msg(wait_for(&s.f, attacker_gone, s.attacker, WAIT_MS),
			"the compositor connection stayed");
	test_assert_msg(wait_for(&s.f, guest_closed_logged, NULL, WAIT_MS), "no clean end logged");
	test_assert_int_eq(requests_after_mark(&s, NULL), 0);
	passed(&s, "H-40-dmabuf-params-leak");
}

/* ---------------------------------------------------------------------- */
/* Damage                                                                 */

/* A role-less surface with a 64x64 buffer attached; returns the surface. */
static uint32_t surface_with_buffer(struct session *s) {
	uint32_t shm = bind_shm(s);
	uint32_t comp = bind_compositor(s);
	uint32_t pool = make_pool(s, shm, 64 * 64 * 4, 64 * 64 * 4);
	struct msg m = {0};
	uint32_t surface = s->attacker->next_id++;
	uint32_t buffer = s->attacker->next_id++;
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    (union wayland_value[]){{.u = surface}});
	req(&m, pool, &proto_wl_shm_pool, PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER,
	    (union wayland_value[]){
		    {.u = buffer}, {.i = 0}, {.i = 64}, {.i = 64}, {.i = 256}, {.u = 0}});
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_ATTACH,
	    (union wayland_value[]){{.u = buffer}, {.i = 0}, {.i = 0}});
	setup(s, &m);
	return surface;
}

static void damage_req(struct msg *m, uint32_t surface, uint16_t op, int32_t x, int32_t y,
		       int32_t w, int32_t h) {
	req(m, surface, &proto_wl_surface, op,
	    (union wayland_value[]){{.i = x}, {.i = y}, {.i = w}, {.i = h}});
}

static void check_rect(const struct recorder_record *r, int32_t x, int32_t y, int32_t w,
		       int32_t h) {
	test_assert(r != NULL && r->arg_count == 4);
	test_assert_msg(r->args[0].i == x && r->args[1].i == y && r->args[2].i == w &&
				r->args[3].i == h,
			"%s, expected %d,%d %dx%d", r->text, x, y, w, h);
}

/* Rule 9: damage is clamped to the buffer (or the dimension limit), empty
 * rectangles are dropped; never fatal. */
TEST(H_41_damage_extreme) {
	struct session s;
	session_start(&s, NULL);
	uint32_t surface = surface_with_buffer(&s);
	mark(&s);
	struct msg m = {0};
	uint16_t db = PROTO_WL_SURFACE_REQ_DAMAGE_BUFFER, d = PROTO_WL_SURFACE_REQ_DAMAGE;
	damage_req(&m, surface, db, INT32_MIN, INT32_MIN, INT32_MAX, INT32_MAX); // empty
	damage_req(&m, surface, db, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX); // empty
	damage_req(&m, surface, db, 0, 0, INT32_MAX, INT32_MAX);
	damage_req(&m, surface, db, -5, 10, 20, INT32_MAX);
	damage_req(&m, surface, d, INT32_MIN, INT32_MIN, INT32_MAX, INT32_MAX); // empty
	damage_req(&m, surface, d, -100, -100, INT32_MAX, INT32_MAX);
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL);
	send_accepted(&s, &m, "damage ended the connection");
	test_assert(!s.attacker->got_error);
	test_assert_int_eq(requests_after_mark(&s, "wl_surface.damage_buffer"), 2);
	test_assert_int_eq(requests_after_mark(&s, "wl_surface.damage"), 1);
	test_assert_int_eq(requests_after_mark(&s, "wl_surface.commit"), 1);
	size_t n = recorder_count(s.f.rec, "wl_surface.damage_buffer");
	check_rect(recorder_find(s.f.rec, "wl_surface.damage_buffer", n - 2), 0, 0, 64, 64);
	check_rect(recorder_find(s.f.rec, "wl_surface.damage_buffer", n - 1), 0, 10, 15, 54);
	check_rect(recorder_last(s.f.rec, "wl_surface.damage"), 0, 0, 16384, 16384);
	passed(&s, "H-41-damage-extreme");
}

struct created_case {
	bool destroy_early; // params destroyed right behind create, before created comes
	const char *name;
};

static const struct created_case created_cases[] = {
	{false, "H-38-dmabuf-created-buffer-size"},
	{true, "H-38-dmabuf-created-buffer-size-early-destroy"},
};

/* Rule 9 for buffers from create (not create_immed): the wl_buffer of the
 * created event has the size create asked for, so buffer damage is clamped
 * to 64x64 as for any buffer, also when the guest destroyed the params
 * before the event arrived. */
TEST_P(H_38_dmabuf_created_buffer_size, created_cases) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	uint32_t params = make_params(&s);
	s.attacker->dmabuf_params = params;
	add_plane_fd(&s, params, 0, 0, 256, 0, 16384);
	struct msg m = {0};
	req(&m, params, &proto_zwp_linux_buffer_params_v1,
	    PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_CREATE,
	    (union wayland_value[]){{.i = 64}, {.i = 64}, {.u = DRM_FORMAT_XRGB8888}, {.u = 0}});
	if (data->destroy_early) {
		req(&m, params, &proto_zwp_linux_buffer_params_v1,
		    PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_DESTROY, NULL);
	}
	setup(&s, &m);
	uint32_t buffer = s.attacker->dmabuf_created;
	test_assert_msg(buffer != 0, "no created event");
	m.len = 0;
	if (!data->destroy_early) {
		req(&m, params, &proto_zwp_linux_buffer_params_v1,
		    PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_DESTROY, NULL);
	}
	uint32_t surface = s.attacker->next_id++;
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    (union wayland_value[]){{.u = surface}});
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_ATTACH,
	    (union wayland_value[]){{.u = buffer}, {.i = 0}, {.i = 0}});
	setup(&s, &m);
	mark(&s);
	m.len = 0;
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_DAMAGE_BUFFER,
	    (union wayland_value[]){{.i = 0}, {.i = 0}, {.i = INT32_MAX}, {.i = INT32_MAX}});
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL);
	send_accepted(&s, &m, "damage ended the connection");
	test_assert_int_eq(requests_after_mark(&s, "wl_surface.damage_buffer"), 1);
	check_rect(recorder_last(s.f.rec, "wl_surface.damage_buffer"), 0, 0, 64, 64);
	passed(&s, data->name);
}

#define FLOOD_RECTS 100000

/* Rule 9: past 256 rectangles per commit the rest collapse into their
 * bounding box, sent once before the commit. */
TEST(H_42_damage_flood) {
	test_set_timeout(120);
	struct session s;
	session_start(&s, NULL);
	uint32_t surface = surface_with_buffer(&s);
	mark(&s);
	size_t each = 24, len = each * FLOOD_RECTS + 8;
	uint8_t *buf = malloc(len);
	test_assert(buf != NULL);
	for (size_t i = 0; i < FLOOD_RECTS; i++) {
		uint8_t *p = buf + i * each;
		wayland_msg_set_u32(p, 0, surface);
		wayland_msg_set_u32(p, 4, hdr_word(24, PROTO_WL_SURFACE_REQ_DAMAGE_BUFFER));
		wayland_msg_set_u32(p, 8, (uint32_t)(i % 64));
		wayland_msg_set_u32(p, 12, (uint32_t)(i % 7));
		wayland_msg_set_u32(p, 16, 1);
		wayland_msg_set_u32(p, 20, 1);
	}
	wayland_msg_set_u32(buf + len - 8, 0, surface);
	wayland_msg_set_u32(buf + len - 8, 4, hdr_word(8, PROTO_WL_SURFACE_REQ_COMMIT));
	test_assert(send_bytes(&s.f, s.attacker, buf, len, NULL, 0));
	free(buf);
	test_assert_msg(roundtrip(&s.f, s.attacker), "the flood ended the connection: %s",
			s.attacker->error_text);
	test_assert_int_eq(requests_after_mark(&s, "wl_surface.damage_buffer"),
			   CROSSWAY_DEFAULT_MAX_DAMAGE_RECTS + 1);
	test_assert_int_eq(requests_after_mark(&s, "wl_surface.commit"), 1);
	check_rect(recorder_last(s.f.rec, "wl_surface.damage_buffer"), 0, 0, 64, 7);
	const struct recorder_record *commit = recorder_last(s.f.rec, "wl_surface.commit");
	test_assert(commit->seq > recorder_last(s.f.rec, "wl_surface.damage_buffer")->seq);
	passed(&s, "H-42-damage-flood");
}

/* ---------------------------------------------------------------------- */
/* Object flood                                                           */

/* Objects beyond max-objects end the context; lowered to 1000 here so the
 * test is quick (limits are configurable downward). */
TEST(H_47_object_flood) {
	test_set_timeout(60);
	struct session s;
	session_start(&s, "max-objects = 1000\n");
	uint32_t comp = bind_compositor(&s);
	mark(&s);
	size_t count = 2000, len = 12 * count;
	uint8_t *buf = malloc(len);
	test_assert(buf != NULL);
	uint32_t first = s.attacker->next_id;
	for (size_t i = 0; i < count; i++) {
		wayland_msg_set_u32(buf + 12 * i, 0, comp);
		wayland_msg_set_u32(buf + 12 * i, 4,
				    hdr_word(12, PROTO_WL_COMPOSITOR_REQ_CREATE_REGION));
		wayland_msg_set_u32(buf + 12 * i, 8, first + (uint32_t)i);
	}
	send_bytes(&s.f, s.attacker, buf, len, NULL, 0);
	free(buf);
	test_assert_msg(wait_for(&s.f, attacker_gone, s.attacker, WAIT_MS), "not ended");
	test_assert(s.attacker->got_error);
	test_assert_str_contains(s.attacker->error_text, "object limit (1000) reached");
	test_assert_msg(wait_for(&s.f, log_has, "object limit (1000) reached", WAIT_MS),
			"not in the log");
	size_t forwarded = requests_after_mark(&s, "wl_compositor.create_region");
	test_assert_msg(forwarded < 1000, "%zu regions forwarded", forwarded);
	passed(&s, "H-47-object-flood");
}

/* ---------------------------------------------------------------------- */
/* Window identity                                                        */

/* An xdg_toplevel; returns its id. */
static uint32_t make_toplevel(struct session *s) {
	uint32_t comp = bind_compositor(s);
	struct msg m = {0};
	uint32_t wm = bind_global(&m, s->attacker, "xdg_wm_base", 0);
	uint32_t surface = s->attacker->next_id++;
	uint32_t xdg = s->attacker->next_id++;
	uint32_t toplevel = s->attacker->next_id++;
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    (union wayland_value[]){{.u = surface}});
	req(&m, wm, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE,
	    (union wayland_value[]){{.u = xdg}, {.u = surface}});
	req(&m, xdg, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_GET_TOPLEVEL,
	    (union wayland_value[]){{.u = toplevel}});
	setup(s, &m);
	return toplevel;
}

/* Attaches a new @w x @h buffer to @surface (from a pool of its own). */
static void attach_sized(struct session *s, uint32_t shm, uint32_t surface, int32_t w, int32_t h) {
	uint32_t pool = make_pool(s, shm, w * h * 4, (size_t)w * h * 4);
	struct msg m = {0};
	uint32_t buffer = s->attacker->next_id++;
	req(&m, pool, &proto_wl_shm_pool, PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER,
	    (union wayland_value[]){
		    {.u = buffer}, {.i = 0}, {.i = w}, {.i = h}, {.i = w * 4}, {.u = 0}});
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_ATTACH,
	    (union wayland_value[]){{.u = buffer}, {.i = 0}, {.i = 0}});
	setup(s, &m);
}

static void commit_surface(struct session *s, uint32_t surface) {
	struct msg m = {0};
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL);
	send_accepted(s, &m, "commit ended the connection");
}

/* Gives @toplevel (from make_toplevel) a committed @w x @h buffer: the
 * initial commit, its configure acknowledged, then the buffer. */
static void map_toplevel(struct session *s, uint32_t shm, uint32_t toplevel, int32_t w, int32_t h) {
	uint32_t xdg = toplevel - 1, surface = toplevel - 2;
	s->attacker->xdg_surface = xdg; // to see its configure
	s->attacker->configure_serial = 0;
	commit_surface(s, surface);
	test_assert(roundtrip(&s->f, s->attacker) && s->attacker->configure_serial != 0);
	struct msg m = {0};
	req(&m, xdg, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_ACK_CONFIGURE,
	    (union wayland_value[]){{.u = s->attacker->configure_serial}});
	setup(s, &m);
	attach_sized(s, shm, surface, w, h);
	commit_surface(s, surface);
}

struct text_case {
	const char *in;
	const char *out; // what the compositor must get
	const char *name;
};

static char long_title[4001];
static char long_title_out[sizeof("[" VM_NAME "] ") + 256];

static const struct text_case title_cases[] = {
	{"[host] Password", "[" VM_NAME "] [host] Password", "H-48-title-spoof-host-prefix"},
	{"a\u202eb\u2066c\u2069d\u202a", "[" VM_NAME "] abcd", "H-48-title-spoof-bidi"},
	{"x\x1b[31my\n\tz\xc2\x85", "[" VM_NAME "] x[31myz", "H-48-title-spoof-controls"},
	{"bad \xff\xfe utf8 \xc3", "[" VM_NAME "] bad \xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd",
	 "H-48-title-spoof-invalid-utf8"},
	{long_title, long_title_out, "H-48-title-spoof-long"},
};

/* Rule 8: titles are sanitised, cut to 256 bytes and prefixed "[vm] ". */
TEST_P(H_48_title_spoof, title_cases) {
	memset(long_title, 'A', sizeof(long_title) - 1);
	snprintf(long_title_out, sizeof(long_title_out), "[%s] ", VM_NAME);
	size_t n = strlen(long_title_out);
	memset(long_title_out + n, 'A', 256);
	long_title_out[n + 256] = '\0';
	struct session s;
	session_start(&s, NULL);
	uint32_t toplevel = make_toplevel(&s);
	mark(&s);
	struct msg m = {0};
	req(&m, toplevel, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE,
	    (union wayland_value[]){{.bytes = {data->in, (uint32_t)strlen(data->in) + 1}}});
	send_accepted(&s, &m, "set_title ended the connection");
	test_assert_int_eq(requests_after_mark(&s, "xdg_toplevel.set_title"), 1);
	const struct recorder_record *r = recorder_last(s.f.rec, "xdg_toplevel.set_title");
	if (data->in == long_title) {
		// "[vm] " plus at most 256 bytes of title.
		test_assert_msg(strlen(r->args[0].s) <= strlen(long_title_out), "%zu bytes",
				strlen(r->args[0].s));
		test_assert(strncmp(r->args[0].s, long_title_out, strlen(VM_NAME) + 3) == 0);
		test_assert(strspn(r->args[0].s + strlen(VM_NAME) + 3, "A") ==
			    strlen(r->args[0].s) - strlen(VM_NAME) - 3);
	} else {
		test_assert_str_eq(r->args[0].s, data->out);
	}
	passed(&s, data->name);
}

/* A title that does not fit in one message is a framing error (H-13). */
TEST(H_48_title_spoof_oversize) {
	struct session s;
	session_start(&s, NULL);
	uint32_t toplevel = make_toplevel(&s);
	struct msg m = {0};
	uint32_t len = 1u << 20;
	// Header and length only: the size word already says too much.
	WORDS(&m, toplevel, hdr_word(0xfffc, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE), len);
	attack(&s, "H-48-title-spoof-oversize", &m, NULL, 0, NEEDLES("size 65532 > limit 4096"));
}

static const struct text_case app_id_cases[] = {
	{"org.kde.konsole", "crossway." VM_NAME ".org.kde.konsole", "H-49-appid-spoof-konsole"},
	{"../../x", "crossway." VM_NAME "..._.._x", "H-49-appid-spoof-path"},
	{"", "crossway." VM_NAME ".", "H-49-appid-spoof-empty"},
	{"a b\xc3\xa9/\n", "crossway." VM_NAME ".a_b____", "H-49-appid-spoof-chars"},
};

/* Rule 8: app_ids move into the VM's namespace, [A-Za-z0-9._-] only. */
TEST_P(H_49_appid_spoof, app_id_cases) {
	struct session s;
	session_start(&s, NULL);
	uint32_t toplevel = make_toplevel(&s);
	mark(&s);
	struct msg m = {0};
	req(&m, toplevel, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_APP_ID,
	    (union wayland_value[]){{.bytes = {data->in, (uint32_t)strlen(data->in) + 1}}});
	send_accepted(&s, &m, "set_app_id ended the connection");
	test_assert_int_eq(requests_after_mark(&s, "xdg_toplevel.set_app_id"), 1);
	const struct recorder_record *r = recorder_last(s.f.rec, "xdg_toplevel.set_app_id");
	test_assert_str_eq(r->args[0].s, data->out);
	passed(&s, data->name);
}

/* ---------------------------------------------------------------------- */
/* Buffer scale and subsurfaces (rule 9)                                  */

/* A role-less surface with a @w x @h buffer attached (not committed). */
static uint32_t surface_sized(struct session *s, uint32_t comp, uint32_t shm, int32_t w, int32_t h,
			      uint32_t *buffer_out) {
	uint32_t pool = make_pool(s, shm, w * h * 4, (size_t)w * h * 4);
	struct msg m = {0};
	uint32_t surface = s->attacker->next_id++;
	uint32_t buffer = s->attacker->next_id++;
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    (union wayland_value[]){{.u = surface}});
	req(&m, pool, &proto_wl_shm_pool, PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER,
	    (union wayland_value[]){
		    {.u = buffer}, {.i = 0}, {.i = w}, {.i = h}, {.i = w * 4}, {.u = 0}});
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_ATTACH,
	    (union wayland_value[]){{.u = buffer}, {.i = 0}, {.i = 0}});
	setup(s, &m);
	if (buffer_out != NULL) {
		*buffer_out = buffer;
	}
	return surface;
}

/* A buffer that is not a multiple of the buffer scale: the compositor's
 * invalid_size, refused before it gets there. */
TEST(H_43_scale_indivisible) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	uint32_t surface = surface_sized(&s, comp, bind_shm(&s), 1001, 3, NULL);
	struct msg m = {0};
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_SET_BUFFER_SCALE,
	    (union wayland_value[]){{.i = 3}});
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL);
	attack(&s, "H-43-scale-indivisible", &m, NULL, 0,
	       NEEDLES("wl_surface#", ".commit(opcode 6)",
		       "buffer 1001x3 is not a multiple of buffer scale 3"));
}

/* A divisible size at the same scale passes (the control of H-43). */
TEST(H_43_scale_divisible_passes) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	uint32_t surface = surface_sized(&s, comp, bind_shm(&s), 999, 3, NULL);
	mark(&s);
	struct msg m = {0};
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_SET_BUFFER_SCALE,
	    (union wayland_value[]){{.i = 3}});
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL);
	send_accepted(&s, &m, "ended");
	test_assert_int_eq(requests_after_mark(&s, "wl_surface.commit"), 1);
	passed(&s, NULL);
}

static uint32_t get_subsurface(struct msg *m, struct client *c, uint32_t subcomp, uint32_t surface,
			       uint32_t parent) {
	uint32_t sub = c->next_id++;
	req(m, subcomp, &proto_wl_subcompositor, PROTO_WL_SUBCOMPOSITOR_REQ_GET_SUBSURFACE,
	    (union wayland_value[]){{.u = sub}, {.u = surface}, {.u = parent}});
	return sub;
}

static uint32_t new_surface(struct msg *m, struct client *c, uint32_t comp) {
	uint32_t surface = c->next_id++;
	req(m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    (union wayland_value[]){{.u = surface}});
	return surface;
}

static void set_position(struct session *s, uint32_t sub, int32_t x, int32_t y, int32_t want_x,
			 int32_t want_y) {
	struct msg m = {0};
	req(&m, sub, &proto_wl_subsurface, PROTO_WL_SUBSURFACE_REQ_SET_POSITION,
	    (union wayland_value[]){{.i = x}, {.i = y}});
	send_accepted(s, &m, "set_position ended the connection");
	const struct recorder_record *r = recorder_last(s->f.rec, "wl_subsurface.set_position");
	test_assert(r != NULL && r->arg_count == 2);
	test_assert_msg(r->args[0].i == want_x && r->args[1].i == want_y,
			"set_position(%d, %d) arrived as %s, expected (%d, %d)", x, y, r->text,
			want_x, want_y);
}

/* Rule 9: a subsurface stays within 64 px of its window (here the root's
 * 64x64 buffer), whatever position the guest asks for; clamped, not fatal. */
TEST(H_45_subsurface_escape) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	uint32_t shm = bind_shm(&s);
	uint32_t root = surface_sized(&s, comp, shm, 64, 64, NULL);
	uint32_t child = surface_sized(&s, comp, shm, 32, 32, NULL);
	struct msg m = {0};
	uint32_t subcomp = bind_global(&m, s.attacker, "wl_subcompositor", 0);
	uint32_t bare = new_surface(&m, s.attacker, comp);
	uint32_t sub = get_subsurface(&m, s.attacker, subcomp, child, root);
	uint32_t bare_sub = get_subsurface(&m, s.attacker, subcomp, bare, root);
	setup(&s, &m);
	commit_surface(&s, root); // the window is what a commit made current
	mark(&s);
	// A 32x32 child: x in [-64, 64 + 64 - 32].
	set_position(&s, sub, 1000000, -1000000, 96, -64);
	set_position(&s, sub, INT32_MIN, INT32_MAX, -64, 96);
	set_position(&s, sub, 10, -20, 10, -20); // inside: untouched
	// A child of unknown size may start anywhere up to the margin.
	set_position(&s, bare_sub, 1000000, 1000000, 128, 128);
	test_assert_int_eq(requests_after_mark(&s, "wl_subsurface.set_position"), 4);
	passed(&s, "H-45-subsurface-escape");
}

/* The @name requests (of @nargs int arguments, at most 4) the compositor got
 * after the mark, in order: their objects in @objs (unless NULL) and their
 * arguments in @args. Returns how many there were. */
static size_t int_args_after_mark(struct session *s, const char *name, size_t nargs, uint32_t *objs,
				  int32_t (*args)[4], size_t cap) {
	size_t n = 0;
	for (size_t i = 0; i < recorder_record_count(s->f.rec); i++) {
		const struct recorder_record *r = recorder_record_get(s->f.rec, i);
		if (r->seq <= s->f.mark_seq || strcmp(r->name, name) != 0) {
			continue;
		}
		test_assert(r->arg_count == nargs && nargs <= 4);
		if (n < cap) {
			if (objs != NULL) {
				objs[n] = r->object_id;
			}
			for (size_t k = 0; k < nargs; k++) {
				args[n][k] = r->args[k].i;
			}
		}
		n++;
	}
	return n;
}

/* The sequence number of the @k-th request named @name since the mark, 0 if
 * there are fewer. */
static uint64_t seq_after_mark(struct session *s, const char *name, size_t k) {
	for (size_t i = 0; i < recorder_record_count(s->f.rec); i++) {
		const struct recorder_record *r = recorder_record_get(s->f.rec, i);
		if (r->seq > s->f.mark_seq && strcmp(r->name, name) == 0 && k-- == 0) {
			return r->seq;
		}
	}
	return 0;
}

/* Rule 9 after the fact: a subsurface placed at the edge that then grows,
 * a parent that moves its child along, and a window that shrinks under its
 * subsurfaces. At the parent's commit (when positions and synchronised
 * buffers take effect) crosswayd sends a set_position that brings the
 * subsurface and its subtree back within 64 px of the window. */
TEST(H_45_subsurface_escape_later) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	uint32_t shm = bind_shm(&s);
	uint32_t root = surface_sized(&s, comp, shm, 64, 64, NULL);
	uint32_t a = surface_sized(&s, comp, shm, 32, 32, NULL);
	uint32_t b = surface_sized(&s, comp, shm, 32, 32, NULL);
	struct msg m = {0};
	uint32_t subcomp = bind_global(&m, s.attacker, "wl_subcompositor", 0);
	uint32_t sub_a = get_subsurface(&m, s.attacker, subcomp, a, root);
	uint32_t sub_b = get_subsurface(&m, s.attacker, subcomp, b, a);
	setup(&s, &m);
	commit_surface(&s, root); // the window is what a commit made current
	mark(&s);
	// b at the far edge: its box [96, 128) is the most the margin allows.
	set_position(&s, sub_b, 96, 0, 96, 0);
	// a moving right would carry b past it: a's subtree is 128 wide, so
	// a may not move right at all.
	set_position(&s, sub_a, 50, 0, 0, 0);
	commit_surface(&s, root);
	uint32_t objs[8];
	int32_t pos[8][4];
	test_assert_int_eq(int_args_after_mark(&s, "wl_subsurface.set_position", 2, objs, pos, 8),
			   2); // nothing more
	// b grows to 200x32, more than the window and its margins hold: at
	// a's commit b is put at the left margin, x = -64.
	attach_sized(&s, shm, b, 200, 32);
	commit_surface(&s, b);
	mark(&s);
	commit_surface(&s, a);
	test_assert_int_eq(int_args_after_mark(&s, "wl_subsurface.set_position", 2, objs, pos, 8),
			   1);
	test_assert_msg(pos[0][0] == -64 && pos[0][1] == 0, "b placed at %d,%d", pos[0][0],
			pos[0][1]);
	const struct recorder_record *commit = recorder_last(s.f.rec, "wl_surface.commit");
	const struct recorder_record *place = recorder_last(s.f.rec, "wl_subsurface.set_position");
	test_assert(place->seq < commit->seq && place->object_id == objs[0]);
	// The root grows to 200x200 and its window becomes 16x16 at y = 100
	// (its geometry, inside the surface): at the root's commit a (whose
	// subtree spans x -64..136, y 0..32) keeps x = 0, the leftmost it may
	// be, and moves down into the margin.
	attach_sized(&s, shm, root, 200, 200);
	commit_surface(&s, root);
	mark(&s);
	m = (struct msg){0};
	uint32_t wm = bind_global(&m, s.attacker, "xdg_wm_base", 0);
	uint32_t xdg = s.attacker->next_id++;
	req(&m, wm, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE,
	    (union wayland_value[]){{.u = xdg}, {.u = root}});
	req(&m, xdg, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_SET_WINDOW_GEOMETRY,
	    (union wayland_value[]){{.i = 0}, {.i = 100}, {.i = 16}, {.i = 16}});
	send_accepted(&s, &m, "set_window_geometry ended the connection");
	commit_surface(&s, root);
	// a's box is y [0, 32) at y = 0; the window is y [100, 116): a must
	// start at y >= 100 - 64 = 36 and end by 116 + 64 = 180: y = 36.
	test_assert_int_eq(int_args_after_mark(&s, "wl_subsurface.set_position", 2, objs, pos, 8),
			   1);
	test_assert_msg(pos[0][0] == 0 && pos[0][1] == 36, "a placed at %d,%d", pos[0][0],
			pos[0][1]);
	passed(&s, "H-45-subsurface-escape-later");
}

/* A surface's size is what it covers on screen: a 1x1 buffer stretched by
 * a viewport to 16000x16000 is that large (and clamped at the parent's
 * commit), while a 1.5x buffer drawn into a smaller destination (fractional
 * scaling) is its destination's size and stays where the guest put it. A
 * child pushed in while its window was small goes back to where the guest
 * asked once the window is large again. */
TEST(H_45_subsurface_escape_viewport) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	uint32_t shm = bind_shm(&s);
	uint32_t root = surface_sized(&s, comp, shm, 96, 96, NULL);
	uint32_t big = surface_sized(&s, comp, shm, 1, 1, NULL);
	uint32_t hidpi = surface_sized(&s, comp, shm, 96, 48, NULL);
	struct msg m = {0};
	uint32_t subcomp = bind_global(&m, s.attacker, "wl_subcompositor", 0);
	uint32_t viewporter = bind_global(&m, s.attacker, "wp_viewporter", 0);
	uint32_t sub_big = get_subsurface(&m, s.attacker, subcomp, big, root);
	uint32_t sub_hidpi = get_subsurface(&m, s.attacker, subcomp, hidpi, root);
	uint32_t vp_big = s.attacker->next_id++, vp_hidpi = s.attacker->next_id++;
	req(&m, viewporter, &proto_wp_viewporter, PROTO_WP_VIEWPORTER_REQ_GET_VIEWPORT,
	    (union wayland_value[]){{.u = vp_big}, {.u = big}});
	req(&m, viewporter, &proto_wp_viewporter, PROTO_WP_VIEWPORTER_REQ_GET_VIEWPORT,
	    (union wayland_value[]){{.u = vp_hidpi}, {.u = hidpi}});
	// The root too draws a 1.5x buffer into 64x64.
	uint32_t vp_root = s.attacker->next_id++;
	req(&m, viewporter, &proto_wp_viewporter, PROTO_WP_VIEWPORTER_REQ_GET_VIEWPORT,
	    (union wayland_value[]){{.u = vp_root}, {.u = root}});
	req(&m, vp_root, &proto_wp_viewport, PROTO_WP_VIEWPORT_REQ_SET_DESTINATION,
	    (union wayland_value[]){{.i = 64}, {.i = 64}});
	req(&m, vp_hidpi, &proto_wp_viewport, PROTO_WP_VIEWPORT_REQ_SET_DESTINATION,
	    (union wayland_value[]){{.i = 64}, {.i = 32}});
	setup(&s, &m);
	commit_surface(&s, root); // the window is what a commit made current
	mark(&s);
	// hidpi: 64x32 on screen at (0, 32) is inside the 64x64 window.
	set_position(&s, sub_hidpi, 0, 32, 0, 32);
	// big: 1x1 at (10, 10) is inside too, until the viewport stretches it.
	set_position(&s, sub_big, 10, 10, 10, 10);
	m = (struct msg){0};
	req(&m, vp_big, &proto_wp_viewport, PROTO_WP_VIEWPORT_REQ_SET_DESTINATION,
	    (union wayland_value[]){{.i = 16000}, {.i = 16000}});
	send_accepted(&s, &m, "set_destination ended the connection");
	commit_surface(&s, big);
	mark(&s);
	commit_surface(&s, root);
	uint32_t objs[8];
	int32_t pos[8][4];
	test_assert_int_eq(int_args_after_mark(&s, "wl_subsurface.set_position", 2, objs, pos, 8),
			   1);
	test_assert_msg(pos[0][0] == -64 && pos[0][1] == -64, "big placed at %d,%d", pos[0][0],
			pos[0][1]);
	// The viewport goes, committed: big is 1x1 again and returns to (10,
	// 10). (Uncommitted, big still shows 16000x16000 and stays put.)
	m = (struct msg){0};
	req(&m, vp_big, &proto_wp_viewport, PROTO_WP_VIEWPORT_REQ_SET_DESTINATION,
	    (union wayland_value[]){{.i = -1}, {.i = -1}});
	send_accepted(&s, &m, "set_destination ended the connection");
	mark(&s);
	commit_surface(&s, root);
	test_assert_int_eq(int_args_after_mark(&s, "wl_subsurface.set_position", 2, objs, pos, 8),
			   0);
	commit_surface(&s, big);
	mark(&s);
	commit_surface(&s, root);
	test_assert_int_eq(int_args_after_mark(&s, "wl_subsurface.set_position", 2, objs, pos, 8),
			   1);
	test_assert_msg(pos[0][0] == 10 && pos[0][1] == 10, "big back at %d,%d", pos[0][0],
			pos[0][1]);
	// Nothing moves when nothing changed.
	mark(&s);
	commit_surface(&s, root);
	test_assert_int_eq(int_args_after_mark(&s, "wl_subsurface.set_position", 2, objs, pos, 8),
			   0);
	passed(&s, "H-45-subsurface-escape-viewport");
}

/* Rule 9: nesting deeper than 8 ends the context before the compositor
 * sees the ninth level. */
TEST(H_46_subsurface_deep) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	struct msg m = {0};
	uint32_t subcomp = bind_global(&m, s.attacker, "wl_subcompositor", 0);
	uint32_t parent = new_surface(&m, s.attacker, comp);
	for (int level = 1; level <= 8; level++) {
		uint32_t surface = new_surface(&m, s.attacker, comp);
		get_subsurface(&m, s.attacker, subcomp, surface, parent);
		parent = surface;
	}
	setup(&s, &m);
	m.len = 0;
	uint32_t deepest = new_surface(&m, s.attacker, comp);
	setup(&s, &m);
	m.len = 0;
	// Then a chain of 10^4 behind it: the first step is already refused.
	for (int level = 0; level < 100; level++) {
		get_subsurface(&m, s.attacker, subcomp, deepest, parent);
	}
	attack(&s, "H-46-subsurface-deep", &m, NULL, 0,
	       NEEDLES("wl_subcompositor#", ".get_subsurface(opcode 1)",
		       "subsurface depth limit (8) reached"));
}

/* Depth counts the tree a surface brings along: a window 7 deep plus a
 * two-level tree grafted at its bottom would be 9 deep. */
TEST(H_46_subsurface_deep_graft) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	struct msg m = {0};
	uint32_t subcomp = bind_global(&m, s.attacker, "wl_subcompositor", 0);
	uint32_t parent = new_surface(&m, s.attacker, comp);
	for (int level = 1; level <= 7; level++) {
		uint32_t surface = new_surface(&m, s.attacker, comp);
		get_subsurface(&m, s.attacker, subcomp, surface, parent);
		parent = surface;
	}
	uint32_t graft = new_surface(&m, s.attacker, comp);
	get_subsurface(&m, s.attacker, subcomp, new_surface(&m, s.attacker, comp), graft);
	setup(&s, &m);
	m.len = 0;
	get_subsurface(&m, s.attacker, subcomp, graft, parent);
	attack(&s, "H-46-subsurface-deep-graft", &m, NULL, 0,
	       NEEDLES("wl_subcompositor#", "subsurface depth limit (8) reached"));
}

/* A surface cannot become its own ancestor (the compositor's bad_parent);
 * crossway refuses it itself, as its bookkeeping depends on it. */
TEST(H_46_subsurface_cycle) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	struct msg m = {0};
	uint32_t subcomp = bind_global(&m, s.attacker, "wl_subcompositor", 0);
	uint32_t a = new_surface(&m, s.attacker, comp);
	uint32_t b = new_surface(&m, s.attacker, comp);
	get_subsurface(&m, s.attacker, subcomp, b, a);
	setup(&s, &m);
	m.len = 0;
	get_subsurface(&m, s.attacker, subcomp, a, b);
	attack(&s, "H-46-subsurface-cycle", &m, NULL, 0,
	       NEEDLES("wl_subcompositor#", "would be its own ancestor"));
}

/* Rule 9: more subsurfaces in one window than max-subsurfaces (lowered to
 * 4 here) end the context. */
TEST(H_46_subsurface_count) {
	struct session s;
	session_start(&s, "max-subsurfaces = 4\n");
	uint32_t comp = bind_compositor(&s);
	struct msg m = {0};
	uint32_t subcomp = bind_global(&m, s.attacker, "wl_subcompositor", 0);
	uint32_t root = new_surface(&m, s.attacker, comp);
	uint32_t other = new_surface(&m, s.attacker, comp);
	for (int i = 0; i < 4; i++) {
		get_subsurface(&m, s.attacker, subcomp, new_surface(&m, s.attacker, comp), root);
	}
	// Another window's subsurfaces do not count towards the first's.
	get_subsurface(&m, s.attacker, subcomp, new_surface(&m, s.attacker, comp), other);
	uint32_t fifth = new_surface(&m, s.attacker, comp);
	setup(&s, &m);
	m.len = 0;
	get_subsurface(&m, s.attacker, subcomp, fifth, root);
	attack(&s, "H-46-subsurface-count", &m, NULL, 0,
	       NEEDLES("wl_subcompositor#", "subsurface limit (4) per window reached"));
}

/* The count includes the subsurfaces a grafted tree brings along. */
TEST(H_46_subsurface_count_graft) {
	struct session s;
	session_start(&s, "max-subsurfaces = 4\n");
	uint32_t comp = bind_compositor(&s);
	struct msg m = {0};
	uint32_t subcomp = bind_global(&m, s.attacker, "wl_subcompositor", 0);
	uint32_t root = new_surface(&m, s.attacker, comp);
	for (int i = 0; i < 2; i++) {
		get_subsurface(&m, s.attacker, subcomp, new_surface(&m, s.attacker, comp), root);
	}
	uint32_t graft = new_surface(&m, s.attacker, comp);
	for (int i = 0; i < 2; i++) {
		get_subsurface(&m, s.attacker, subcomp, new_surface(&m, s.attacker, comp), graft);
	}
	setup(&s, &m);
	m.len = 0;
	// 2 in the window, 3 in the graft (itself and its two): 5 > 4.
	get_subsurface(&m, s.attacker, subcomp, graft, root);
	attack(&s, "H-46-subsurface-count-graft", &m, NULL, 0,
	       NEEDLES("wl_subcompositor#", "subsurface limit (4) per window reached"));
}

/* wp_viewport.set_source: fractions of a pixel are valid and pass as they
 * are; negative origins and empty sizes end the context (the protocol's
 * bad_value), as does an empty destination. */
static uint32_t make_viewport(struct session *s) {
	uint32_t comp = bind_compositor(s);
	struct msg m = {0};
	uint32_t viewporter = bind_global(&m, s->attacker, "wp_viewporter", 0);
	uint32_t surface = new_surface(&m, s->attacker, comp);
	uint32_t viewport = s->attacker->next_id++;
	req(&m, viewporter, &proto_wp_viewporter, PROTO_WP_VIEWPORTER_REQ_GET_VIEWPORT,
	    (union wayland_value[]){{.u = viewport}, {.u = surface}});
	setup(s, &m);
	return viewport;
}

TEST(H_44_viewport_fractional_passes) {
	struct session s;
	session_start(&s, NULL);
	uint32_t viewport = make_viewport(&s);
	mark(&s);
	struct msg m = {0};
	req(&m, viewport, &proto_wp_viewport, PROTO_WP_VIEWPORT_REQ_SET_SOURCE,
	    (union wayland_value[]){{.i = 128}, {.i = 64}, {.i = 128}, {.i = 2560}});
	send_accepted(&s, &m, "ended");
	const struct recorder_record *r = recorder_last(s.f.rec, "wp_viewport.set_source");
	test_assert(r != NULL && r->arg_count == 4);
	test_assert(r->args[0].f == 128 && r->args[1].f == 64 && r->args[2].f == 128 &&
		    r->args[3].f == 2560);
	passed(&s, "H-44-viewport-fractional");
}

struct viewport_case {
	uint16_t opcode;
	int32_t v[4];
	const char *name;
	const char *needle;
};

static const struct viewport_case viewport_cases[] = {
	{PROTO_WP_VIEWPORT_REQ_SET_SOURCE,
	 {-128, 0, 256, 256},
	 "H-44-viewport-negative",
	 "source rectangle -0.50,0.00 1.00x1.00 is invalid"},
	{PROTO_WP_VIEWPORT_REQ_SET_SOURCE,
	 {0, 0, 0, 256},
	 "H-44-viewport-zero",
	 "source rectangle 0.00,0.00 0.00x1.00 is invalid"},
	{PROTO_WP_VIEWPORT_REQ_SET_DESTINATION,
	 {0, 10},
	 "H-44-viewport-zero-destination",
	 "destination 0x10 is invalid"},
};

TEST_P(H_44_viewport_invalid, viewport_cases) {
	struct session s;
	session_start(&s, NULL);
	uint32_t viewport = make_viewport(&s);
	struct msg m = {0};
	union wayland_value v[4];
	for (int i = 0; i < 4; i++) {
		v[i].i = data->v[i];
	}
	req(&m, viewport, &proto_wp_viewport, data->opcode, v);
	attack(&s, data->name, &m, NULL, 0, NEEDLES("wp_viewport#", data->needle));
}

/* ---------------------------------------------------------------------- */
/* Popups and fullscreen (rule 10)                                        */

static uint32_t make_positioner(struct session *s) {
	struct msg m = {0};
	uint32_t wm = bind_global(&m, s->attacker, "xdg_wm_base", 0);
	uint32_t positioner = s->attacker->next_id++;
	req(&m, wm, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_CREATE_POSITIONER,
	    (union wayland_value[]){{.u = positioner}});
	setup(s, &m);
	return positioner;
}

static void positioner_size(struct session *s, uint32_t positioner, int32_t w, int32_t h,
			    int32_t want_w, int32_t want_h) {
	struct msg m = {0};
	req(&m, positioner, &proto_xdg_positioner, PROTO_XDG_POSITIONER_REQ_SET_SIZE,
	    (union wayland_value[]){{.i = w}, {.i = h}});
	send_accepted(s, &m, "set_size ended the connection");
	const struct recorder_record *r = recorder_last(s->f.rec, "xdg_positioner.set_size");
	test_assert(r != NULL && r->arg_count == 2);
	test_assert_msg(r->args[0].i == want_w && r->args[1].i == want_h,
			"set_size(%d, %d) arrived as %s, expected (%d, %d)", w, h, r->text, want_w,
			want_h);
}

/* Rule 10: once the guest has seen the 1920x1080 output, a popup is at most
 * as large as the output and covers at most 90 % of it; before, sizes stop
 * at the dimension limit. */
TEST(H_50_popup_cover) {
	struct session s;
	session_start(&s, NULL);
	uint32_t positioner = make_positioner(&s);
	mark(&s);
	positioner_size(&s, positioner, 100000, 100000, 16384, 16384);
	struct msg m = {0};
	bind_global(&m, s.attacker, "wl_output", 0);
	setup(&s, &m); // the mode event comes back through crosswayd
	positioner_size(&s, positioner, 1920, 1080, 1920, 972);
	positioner_size(&s, positioner, 100000, 5, 1920, 5);
	positioner_size(&s, positioner, 300, 200, 300, 200); // a menu: untouched
	passed(&s, "H-50-popup-cover");
}

/* Asks for a popup of @parent_xdg through @positioner: a new surface, its
 * xdg_surface (into *xdg_out unless NULL) and the xdg_popup, whose id it
 * returns. */
static uint32_t popup_request(struct msg *m, struct client *c, uint32_t comp, uint32_t wm,
			      uint32_t parent_xdg, uint32_t positioner, uint32_t *xdg_out) {
	uint32_t surface = c->next_id++, xdg = c->next_id++, popup = c->next_id++;
	req(m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    (union wayland_value[]){{.u = surface}});
	req(m, wm, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE,
	    (union wayland_value[]){{.u = xdg}, {.u = surface}});
	req(m, xdg, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_GET_POPUP,
	    (union wayland_value[]){{.u = popup}, {.u = parent_xdg}, {.u = positioner}});
	if (xdg_out != NULL) {
		*xdg_out = xdg;
	}
	return popup;
}

/* Sets a positioner's size and anchor rectangle. */
static void positioner_anchor(struct msg *m, uint32_t positioner, const int32_t r[4]) {
	req(m, positioner, &proto_xdg_positioner, PROTO_XDG_POSITIONER_REQ_SET_SIZE,
	    (union wayland_value[]){{.i = 100}, {.i = 50}});
	req(m, positioner, &proto_xdg_positioner, PROTO_XDG_POSITIONER_REQ_SET_ANCHOR_RECT,
	    (union wayland_value[]){{.i = r[0]}, {.i = r[1]}, {.i = r[2]}, {.i = r[3]}});
}

/* A 96x96 toplevel that commits a window geometry of 30000 x 30000, then
 * one of (-20000, -20000) 20096 x 20096: its window is the geometry cut to
 * its surface and 64 px around it (room for title bars drawn above it), for
 * its subsurfaces and its popups, and the compositor gets the cut geometry
 * (weston would take it as set and place popups 20000 px away). A NULL
 * attach left pending changes nothing: only what a commit made current
 * counts. */
TEST(H_45_subsurface_escape_geometry) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	uint32_t shm = bind_shm(&s);
	uint32_t toplevel = make_toplevel(&s);
	uint32_t xdg = toplevel - 1, surface = toplevel - 2;
	map_toplevel(&s, shm, toplevel, 96, 96);
	uint32_t child = surface_sized(&s, comp, shm, 1, 1, NULL);
	struct msg m = {0};
	uint32_t subcomp = bind_global(&m, s.attacker, "wl_subcompositor", 0);
	uint32_t sub = get_subsurface(&m, s.attacker, subcomp, child, surface);
	uint32_t wm = bind_global(&m, s.attacker, "xdg_wm_base", 0);
	uint32_t positioner = s.attacker->next_id++;
	req(&m, wm, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_CREATE_POSITIONER,
	    (union wayland_value[]){{.u = positioner}});
	positioner_anchor(&m, positioner, (const int32_t[]){5000, 5000, 10, 10});
	setup(&s, &m);
	static const int32_t geometries[2][4] = {{0, 0, 30000, 30000},
						 {-20000, -20000, 20096, 20096}};
	static const int32_t cut[2][4] = {{0, 0, 160, 160}, {-64, -64, 160, 160}};
	for (int g = 0; g < 2; g++) {
		mark(&s);
		m = (struct msg){0};
		req(&m, xdg, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_SET_WINDOW_GEOMETRY,
		    (union wayland_value[]){{.i = geometries[g][0]},
					    {.i = geometries[g][1]},
					    {.i = geometries[g][2]},
					    {.i = geometries[g][3]}});
		req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL);
		send_accepted(&s, &m, "set_window_geometry ended the connection");
		// The guest's geometry, then the cut one just before the commit.
		int32_t geo[4][4];
		test_assert_int_eq(
			int_args_after_mark(&s, "xdg_surface.set_window_geometry", 4, NULL, geo, 4),
			2);
		test_assert_msg(memcmp(geo[1], cut[g], sizeof(cut[g])) == 0,
				"geometry sent as %d,%d %dx%d", geo[1][0], geo[1][1], geo[1][2],
				geo[1][3]);
		test_assert(seq_after_mark(&s, "xdg_surface.set_window_geometry", 1) <
			    seq_after_mark(&s, "wl_surface.commit", 0));
	}
	// A NULL attach, never committed.
	m = (struct msg){0};
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_ATTACH,
	    (union wayland_value[]){{.u = 0}, {.i = 0}, {.i = 0}});
	send_accepted(&s, &m, "attach ended the connection");
	mark(&s);
	// A 1x1 child of the window (-64, -64) 160x160: x and y in
	// [-64 - 64, -64 + 160 + 64 - 1].
	set_position(&s, sub, 20000, 20000, 159, 159);
	set_position(&s, sub, -20000, -20000, -128, -128);
	// A popup anchored at (5000, 5000): at the window's corner instead.
	m = (struct msg){0};
	uint32_t pxdg;
	uint32_t popup = popup_request(&m, s.attacker, comp, wm, xdg, positioner, &pxdg);
	send_accepted(&s, &m, "get_popup ended the connection");
	int32_t got[4][4];
	test_assert_int_eq(
		int_args_after_mark(&s, "xdg_positioner.set_anchor_rect", 4, NULL, got, 4), 2);
	test_assert_msg(got[0][0] == 160 && got[0][1] == 160 && got[0][2] == 0 && got[0][3] == 0,
			"clamped to %d,%d %dx%d", got[0][0], got[0][1], got[0][2], got[0][3]);
	// Once the xdg_surface is gone, its geometry is too: a commit of the
	// surface sends none (on a destroyed object, the compositor's error).
	m = (struct msg){0};
	req(&m, xdg, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_SET_WINDOW_GEOMETRY,
	    (union wayland_value[]){{.i = 0}, {.i = 0}, {.i = 30000}, {.i = 30000}});
	req(&m, popup, &proto_xdg_popup, PROTO_XDG_POPUP_REQ_DESTROY, NULL);
	req(&m, pxdg, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_DESTROY, NULL);
	req(&m, toplevel, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_DESTROY, NULL);
	req(&m, xdg, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_DESTROY, NULL);
	send_accepted(&s, &m, "destroying the roles ended the connection");
	attach_sized(&s, shm, surface, 96, 96);
	mark(&s);
	commit_surface(&s, surface);
	test_assert_int_eq(requests_after_mark(&s, "xdg_surface.set_window_geometry"), 0);
	test_assert_int_eq(requests_after_mark(&s, "wl_surface.commit"), 1);
	passed(&s, "H-45-subsurface-escape-geometry");
}

/* A popup on a parent that shows nothing yet (no buffer committed, only a
 * pending one and a geometry) is anchored at the parent's origin: once the
 * parent maps, small, nothing would bring a far popup back. */
TEST(H_50_popup_parent_unmapped) {
	struct session s;
	session_start(&s, NULL);
	uint32_t comp = bind_compositor(&s);
	uint32_t shm = bind_shm(&s);
	uint32_t toplevel = make_toplevel(&s);
	uint32_t xdg = toplevel - 1, surface = toplevel - 2;
	attach_sized(&s, shm, surface, 4000, 4000); // pending, never committed
	struct msg m = {0};
	req(&m, xdg, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_SET_WINDOW_GEOMETRY,
	    (union wayland_value[]){{.i = 0}, {.i = 0}, {.i = 4000}, {.i = 4000}});
	uint32_t wm = bind_global(&m, s.attacker, "xdg_wm_base", 0);
	uint32_t positioner = s.attacker->next_id++;
	req(&m, wm, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_CREATE_POSITIONER,
	    (union wayland_value[]){{.u = positioner}});
	positioner_anchor(&m, positioner, (const int32_t[]){3000, 3000, 10, 10});
	req(&m, positioner, &proto_xdg_positioner, PROTO_XDG_POSITIONER_REQ_SET_OFFSET,
	    (union wayland_value[]){{.i = 500}, {.i = -500}});
	setup(&s, &m);
	mark(&s);
	m = (struct msg){0};
	popup_request(&m, s.attacker, comp, wm, xdg, positioner, NULL);
	send_accepted(&s, &m, "get_popup ended the connection");
	int32_t got[4][4];
	test_assert_int_eq(
		int_args_after_mark(&s, "xdg_positioner.set_anchor_rect", 4, NULL, got, 4), 2);
	test_assert_msg(got[0][0] == 0 && got[0][1] == 0 && got[0][2] == 0 && got[0][3] == 0,
			"clamped to %d,%d %dx%d", got[0][0], got[0][1], got[0][2], got[0][3]);
	test_assert_int_eq(int_args_after_mark(&s, "xdg_positioner.set_offset", 2, NULL, got, 4),
			   2);
	test_assert_msg(got[0][0] == 64 && got[0][1] == -64, "offset clamped to %d,%d", got[0][0],
			got[0][1]);
	passed(&s, "H-50-popup-parent-unmapped");
}

/* Rule 10: a popup's anchor rectangle lies inside its parent's window
 * geometry (400x300 here) and its offset moves it at most the parent's size
 * plus 64 px, or the guest could put the popup anywhere on the screen, away
 * from its labelled window. Outside, crosswayd sends the clamped values just
 * before get_popup and reposition and the guest's own just after (the
 * positioner may be reused on a larger parent); inside, nothing. */
TEST(H_50_popup_anchor_outside) {
	struct session s;
	session_start(&s, NULL);
	uint32_t shm = bind_shm(&s);
	uint32_t toplevel = make_toplevel(&s);
	uint32_t parent = toplevel - 1; // make_toplevel: surface, xdg_surface, toplevel
	map_toplevel(&s, shm, toplevel, 400, 300);
	uint32_t comp = bind_compositor(&s);
	struct msg m = {0};
	uint32_t wm = bind_global(&m, s.attacker, "xdg_wm_base", 0);
	req(&m, parent, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_SET_WINDOW_GEOMETRY,
	    (union wayland_value[]){{.i = 20}, {.i = 20}, {.i = 400}, {.i = 300}});
	uint32_t far = s.attacker->next_id++, near = s.attacker->next_id++;
	req(&m, wm, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_CREATE_POSITIONER,
	    (union wayland_value[]){{.u = far}});
	req(&m, wm, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_CREATE_POSITIONER,
	    (union wayland_value[]){{.u = near}});
	positioner_anchor(&m, far, (const int32_t[]){5000, -3000, 200, 10});
	positioner_anchor(&m, near, (const int32_t[]){10, 20, 30, 40});
	setup(&s, &m);
	// The first popup, through the far positioner.
	mark(&s);
	m = (struct msg){0};
	uint32_t popup = popup_request(&m, s.attacker, comp, wm, parent, far, NULL);
	send_accepted(&s, &m, "get_popup ended the connection");
	int32_t got[4][4];
	test_assert_int_eq(
		int_args_after_mark(&s, "xdg_positioner.set_anchor_rect", 4, NULL, got, 4), 2);
	test_assert_msg(got[0][0] == 400 && got[0][1] == 0 && got[0][2] == 0 && got[0][3] == 10,
			"clamped to %d,%d %dx%d", got[0][0], got[0][1], got[0][2], got[0][3]);
	test_assert_msg(got[1][0] == 5000 && got[1][1] == -3000 && got[1][2] == 200 &&
				got[1][3] == 10,
			"restored to %d,%d %dx%d", got[1][0], got[1][1], got[1][2], got[1][3]);
	uint64_t get_popup = seq_after_mark(&s, "xdg_surface.get_popup", 0);
	test_assert(seq_after_mark(&s, "xdg_positioner.set_anchor_rect", 0) < get_popup &&
		    get_popup < seq_after_mark(&s, "xdg_positioner.set_anchor_rect", 1));
	// Repositioned through the near positioner: inside, so untouched.
	mark(&s);
	m = (struct msg){0};
	req(&m, popup, &proto_xdg_popup, PROTO_XDG_POPUP_REQ_REPOSITION,
	    (union wayland_value[]){{.u = near}, {.u = 7}});
	send_accepted(&s, &m, "reposition ended the connection");
	test_assert_int_eq(
		int_args_after_mark(&s, "xdg_positioner.set_anchor_rect", 4, NULL, got, 4), 0);
	test_assert_int_eq(requests_after_mark(&s, "xdg_popup.reposition"), 1);
	// Moved outside and repositioned: clamped again, before the reposition.
	mark(&s);
	m = (struct msg){0};
	req(&m, near, &proto_xdg_positioner, PROTO_XDG_POSITIONER_REQ_SET_ANCHOR_RECT,
	    (union wayland_value[]){{.i = 390}, {.i = 290}, {.i = 100000}, {.i = 100000}});
	req(&m, popup, &proto_xdg_popup, PROTO_XDG_POPUP_REQ_REPOSITION,
	    (union wayland_value[]){{.u = near}, {.u = 8}});
	send_accepted(&s, &m, "reposition ended the connection");
	test_assert_int_eq(
		int_args_after_mark(&s, "xdg_positioner.set_anchor_rect", 4, NULL, got, 4), 3);
	// First the guest's own (cut to 16 bits), then crosswayd's clamp, then
	// the guest's own again, after the reposition.
	test_assert(got[0][0] == 390 && got[0][1] == 290 && got[0][2] == 32767 &&
		    got[0][3] == 32767);
	test_assert_msg(got[1][0] == 390 && got[1][1] == 290 && got[1][2] == 10 && got[1][3] == 10,
			"clamped to %d,%d %dx%d", got[1][0], got[1][1], got[1][2], got[1][3]);
	test_assert(memcmp(got[2], got[0], sizeof(got[0])) == 0);
	test_assert(seq_after_mark(&s, "xdg_positioner.set_anchor_rect", 1) <
			    seq_after_mark(&s, "xdg_popup.reposition", 0) &&
		    seq_after_mark(&s, "xdg_popup.reposition", 0) <
			    seq_after_mark(&s, "xdg_positioner.set_anchor_rect", 2));
	// An anchor inside with an offset far away: the offset may move the
	// popup at most the parent's size plus 64 px (464 x 364 here).
	mark(&s);
	m = (struct msg){0};
	req(&m, near, &proto_xdg_positioner, PROTO_XDG_POSITIONER_REQ_SET_ANCHOR_RECT,
	    (union wayland_value[]){{.i = 10}, {.i = 10}, {.i = 1}, {.i = 1}});
	req(&m, near, &proto_xdg_positioner, PROTO_XDG_POSITIONER_REQ_SET_OFFSET,
	    (union wayland_value[]){{.i = 30000}, {.i = -300}});
	req(&m, popup, &proto_xdg_popup, PROTO_XDG_POPUP_REQ_REPOSITION,
	    (union wayland_value[]){{.u = near}, {.u = 9}});
	send_accepted(&s, &m, "reposition ended the connection");
	test_assert_int_eq(
		int_args_after_mark(&s, "xdg_positioner.set_anchor_rect", 4, NULL, got, 4),
		1); // the guest's own only
	// The guest's offset, crosswayd's clamp, the reposition, the guest's again.
	test_assert_int_eq(int_args_after_mark(&s, "xdg_positioner.set_offset", 2, NULL, got, 4),
			   3);
	test_assert_msg(got[1][0] == 464 && got[1][1] == -300, "offset clamped to %d,%d", got[1][0],
			got[1][1]);
	test_assert(got[0][0] == 30000 && got[0][1] == -300 && got[2][0] == 30000 &&
		    got[2][1] == -300);
	test_assert(seq_after_mark(&s, "xdg_positioner.set_offset", 1) <
			    seq_after_mark(&s, "xdg_popup.reposition", 0) &&
		    seq_after_mark(&s, "xdg_popup.reposition", 0) <
			    seq_after_mark(&s, "xdg_positioner.set_offset", 2));
	// The far positioner, which keeps the guest's far anchor, reused for a
	// popup on a larger parent (1000 x 800): clamped to that parent's box.
	uint32_t big_toplevel = make_toplevel(&s);
	uint32_t big = big_toplevel - 1;
	map_toplevel(&s, shm, big_toplevel, 1000, 800);
	mark(&s);
	m = (struct msg){0};
	req(&m, big, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_SET_WINDOW_GEOMETRY,
	    (union wayland_value[]){{.i = 0}, {.i = 0}, {.i = 1000}, {.i = 800}});
	popup_request(&m, s.attacker, comp, wm, big, far, NULL);
	send_accepted(&s, &m, "a second get_popup ended the connection");
	test_assert_int_eq(
		int_args_after_mark(&s, "xdg_positioner.set_anchor_rect", 4, NULL, got, 4), 2);
	test_assert_msg(got[0][0] == 1000 && got[0][1] == 0 && got[0][2] == 0 && got[0][3] == 10,
			"clamped to %d,%d %dx%d", got[0][0], got[0][1], got[0][2], got[0][3]);
	passed(&s, "H-50-popup-anchor-outside");
}

/* A zero popup size is the protocol's invalid_input: refused here. */
TEST(H_50_popup_size_zero) {
	struct session s;
	session_start(&s, NULL);
	uint32_t positioner = make_positioner(&s);
	struct msg m = {0};
	req(&m, positioner, &proto_xdg_positioner, PROTO_XDG_POSITIONER_REQ_SET_SIZE,
	    (union wayland_value[]){{.i = 0}, {.i = 5}});
	attack(&s, "H-50-popup-size-zero", &m, NULL, 0,
	       NEEDLES("xdg_positioner#", ".set_size(opcode 1)", "popup size 0x5 is invalid"));
}

/* Rule 10 (policy): with fullscreen = maximize, set_fullscreen reaches the
 * compositor as set_maximized, so the window keeps the host's frame. */
TEST(H_51_fullscreen_unasked) {
	struct session s;
	session_start(&s, "fullscreen = maximize\n");
	uint32_t toplevel = make_toplevel(&s);
	mark(&s);
	struct msg m = {0};
	req(&m, toplevel, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_FULLSCREEN,
	    (union wayland_value[]){{.u = 0}});
	send_accepted(&s, &m, "ended");
	test_assert_int_eq(requests_after_mark(&s, "xdg_toplevel.set_fullscreen"), 0);
	test_assert_int_eq(requests_after_mark(&s, "xdg_toplevel.set_maximized"), 1);
	passed(&s, "H-51-fullscreen-unasked");
}

/* The default policy lets fullscreen through (the control of H-51). */
TEST(H_51_fullscreen_allowed_by_default) {
	struct session s;
	session_start(&s, NULL);
	uint32_t toplevel = make_toplevel(&s);
	mark(&s);
	struct msg m = {0};
	req(&m, toplevel, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_FULLSCREEN,
	    (union wayland_value[]){{.u = 0}});
	send_accepted(&s, &m, "ended");
	test_assert_int_eq(requests_after_mark(&s, "xdg_toplevel.set_fullscreen"), 1);
	passed(&s, NULL);
}

/* ---------------------------------------------------------------------- */
/* Selections (rule 11)                                                   */

struct clip_client {
	uint32_t seat, ddm, device, source;
};

/* A data device and a source offering @mime (not set). */
static void clip_client(struct session *s, struct clip_client *cc, const char *mime) {
	struct msg m = {0};
	cc->seat = bind_global(&m, s->attacker, "wl_seat", 0);
	uint32_t ddm = bind_global(&m, s->attacker, "wl_data_device_manager", 0);
	cc->ddm = ddm;
	cc->device = s->attacker->next_id++;
	cc->source = s->attacker->next_id++;
	req(&m, ddm, &proto_wl_data_device_manager,
	    PROTO_WL_DATA_DEVICE_MANAGER_REQ_GET_DATA_DEVICE,
	    (union wayland_value[]){{.u = cc->device}, {.u = cc->seat}});
	req(&m, ddm, &proto_wl_data_device_manager,
	    PROTO_WL_DATA_DEVICE_MANAGER_REQ_CREATE_DATA_SOURCE,
	    (union wayland_value[]){{.u = cc->source}});
	req(&m, cc->source, &proto_wl_data_source, PROTO_WL_DATA_SOURCE_REQ_OFFER,
	    (union wayland_value[]){{.bytes = {mime, (uint32_t)strlen(mime) + 1}}});
	setup(s, &m);
}

/* Maps a 64x64 toplevel with a keyboard on @seat, as a desktop would focus
 * it; returns the wl_keyboard.enter serial. */
static uint32_t take_focus(struct session *s, uint32_t seat) {
	struct client *c = s->attacker;
	uint32_t comp = bind_compositor(s);
	uint32_t buffer;
	uint32_t surface = surface_sized(s, comp, bind_shm(s), 64, 64, &buffer);
	struct msg m = {0};
	uint32_t wm = bind_global(&m, c, "xdg_wm_base", 0);
	c->keyboard = c->next_id++;
	c->xdg_surface = c->next_id++;
	uint32_t toplevel = c->next_id++;
	req(&m, seat, &proto_wl_seat, PROTO_WL_SEAT_REQ_GET_KEYBOARD,
	    (union wayland_value[]){{.u = c->keyboard}});
	req(&m, wm, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE,
	    (union wayland_value[]){{.u = c->xdg_surface}, {.u = surface}});
	req(&m, c->xdg_surface, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_GET_TOPLEVEL,
	    (union wayland_value[]){{.u = toplevel}});
	// The initial commit carries no buffer: attach NULL first.
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_ATTACH,
	    (union wayland_value[]){{.u = 0}, {.i = 0}, {.i = 0}});
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL);
	setup(s, &m);
	test_assert_msg(c->configure_serial != 0, "no xdg_surface.configure");
	m.len = 0;
	req(&m, c->xdg_surface, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_ACK_CONFIGURE,
	    (union wayland_value[]){{.u = c->configure_serial}});
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_ATTACH,
	    (union wayland_value[]){{.u = buffer}, {.i = 0}, {.i = 0}});
	req(&m, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NULL);
	setup(s, &m);
	// The recorder gives focus at the first commit with a buffer.
	test_assert_msg(c->enter_serial != 0, "no wl_keyboard.enter");
	return c->enter_serial;
}

static void set_selection(struct session *s, const struct clip_client *cc, uint32_t serial) {
	struct msg m = {0};
	req(&m, cc->device, &proto_wl_data_device, PROTO_WL_DATA_DEVICE_REQ_SET_SELECTION,
	    (union wayland_value[]){{.u = cc->source}, {.u = serial}});
	send_accepted(s, &m, "set_selection ended the connection");
}

/* Rule 11: a guest without focus, or with a serial it never got from an
 * input event, cannot take the host clipboard; with its focus serial it
 * can. Never fatal: the request is dropped and counted. */
TEST(H_52_selection_no_focus) {
	struct session s;
	session_start(&s, NULL);
	struct clip_client cc;
	clip_client(&s, &cc, "text/plain");
	mark(&s);
	set_selection(&s, &cc, 0);
	set_selection(&s, &cc, 12345);
	test_assert_int_eq(requests_after_mark(&s, "wl_data_device.set_selection"), 0);
	test_assert(recorder_client_selection(s.f.rec) == NULL);
	write_seed(&s.f, "H-52-selection-no-focus");
	// Focus: the serial of wl_keyboard.enter authorises it.
	uint32_t serial = take_focus(&s, cc.seat);
	set_selection(&s, &cc, serial + 1000); // not one it got
	test_assert_int_eq(requests_after_mark(&s, "wl_data_device.set_selection"), 0);
	set_selection(&s, &cc, serial);
	test_assert_int_eq(requests_after_mark(&s, "wl_data_device.set_selection"), 1);
	test_assert(recorder_client_selection(s.f.rec) != NULL);
	passed(&s, NULL);
}

/* Rule 11: a source offers at most 64 mime types, each at most 256 bytes;
 * the rest are dropped and counted. 10^4 types, one 300 bytes long. */
TEST(H_53_mime_flood) {
	test_set_timeout(60);
	struct session s;
	session_start(&s, NULL);
	struct clip_client cc;
	clip_client(&s, &cc, "text/plain");
	mark(&s);
	char long_type[301];
	memset(long_type, 'x', sizeof(long_type) - 1);
	long_type[sizeof(long_type) - 1] = '\0';
	struct msg m = {0};
	req(&m, cc.source, &proto_wl_data_source, PROTO_WL_DATA_SOURCE_REQ_OFFER,
	    (union wayland_value[]){{.bytes = {long_type, sizeof(long_type)}}});
	send_msg(&s.f, s.attacker, &m);
	for (int i = 0; i < 10000; i++) {
		char type[32];
		int n = snprintf(type, sizeof(type), "type/x-%d", i);
		if (m.len + 64 > sizeof(m.b) || i == 0) {
			if (i != 0) {
				send_msg(&s.f, s.attacker, &m);
			}
			m.len = 0;
		}
		req(&m, cc.source, &proto_wl_data_source, PROTO_WL_DATA_SOURCE_REQ_OFFER,
		    (union wayland_value[]){{.bytes = {type, (uint32_t)n + 1}}});
	}
	send_accepted(&s, &m, "the flood ended the connection");
	// text/plain was the first of the 64; 63 more got through.
	test_assert_int_eq(requests_after_mark(&s, "wl_data_source.offer"), 63);
	const struct recorder_record *r = recorder_last(s.f.rec, "wl_data_source.offer");
	test_assert_str_eq(r->args[0].s, "type/x-62");
	passed(&s, "H-53-mime-flood");
}

/* A 64 KiB type name does not fit in a message: a framing error (H-13). */
TEST(H_53_mime_flood_huge_name) {
	struct session s;
	session_start(&s, NULL);
	struct clip_client cc;
	clip_client(&s, &cc, "text/plain");
	struct msg m = {0};
	WORDS(&m, cc.source, hdr_word(0xfffc, PROTO_WL_DATA_SOURCE_REQ_OFFER), 65536);
	attack(&s, "H-53-mime-flood-huge-name", &m, NULL, 0, NEEDLES("size 65532 > limit 4096"));
}

/* Rule 11, clipboard = guest-to-host: a host offer is withheld from its
 * data_offer event on, not only once a selection event names it. Its types
 * never reach the guest, and a receive sent before the selection event (the
 * compositor's events split across reads) is dropped. The offer object
 * itself is forwarded, so ids stay in step, and the guest may destroy it. */
TEST(H_52_host_offer_withheld_from_creation) {
	struct session s;
	session_start(&s, NULL);
	struct clip_client cc;
	clip_client(&s, &cc, "text/plain");
	struct client *a = s.attacker;
	a->data_device = cc.device;
	mark(&s);
	struct wl_resource *device = comp_resource(&s, "wl_data_device");
	struct wl_resource *offer = host_offer(device);
	comp_flush(&s);
	test_assert(roundtrip(&s.f, a));
	test_assert_msg(a->data_offer != 0, "the offer object was not forwarded");
	guest_receive(&s, a->data_offer);
	test_assert_int_eq(requests_after_mark(&s, "wl_data_offer.receive"), 0);
	test_assert_int_eq(a->offer_events, 0);
	a->got_selection = false;
	wl_data_device_send_selection(device, offer);
	comp_flush(&s);
	test_assert(roundtrip(&s.f, a));
	test_assert(a->got_selection);
	test_assert_int_eq(a->selection_offer, 0);
	struct msg m = {0};
	req(&m, a->data_offer, &proto_wl_data_offer, PROTO_WL_DATA_OFFER_REQ_DESTROY, NULL);
	send_accepted(&s, &m, "destroying a withheld offer");
	test_assert_int_eq(requests_after_mark(&s, "wl_data_offer.destroy"), 1);
	passed(&s, "H-52-host-offer-withheld-from-creation");
}

struct drag_case {
	const char *config;
	bool allowed; // the drag's offer reaches the guest
};

static const struct drag_case drag_cases[] = {
	{"clipboard = deny\n", false},
	{"clipboard = guest-to-host\n", false},
	{"clipboard = both\n", true},
};

/* Rule 11 for drag and drop: host data dragged over the guest's window
 * reaches it only in clipboard mode both. Otherwise wl_data_device.enter
 * keeps its offer (toolkits such as Qt expect one), but the offer shows no
 * types or actions and a receive or accept on it is dropped, as for a
 * withheld selection. */
TEST_P(H_52_drag_host_offer, drag_cases) {
	struct session s;
	session_start(&s, data->config);
	struct clip_client cc;
	clip_client(&s, &cc, "text/plain");
	struct client *a = s.attacker;
	a->data_device = cc.device;
	uint32_t comp = bind_compositor(&s);
	struct msg m = {0};
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    (union wayland_value[]){{.u = a->next_id++}});
	setup(&s, &m);
	mark(&s);
	struct wl_resource *device = comp_resource(&s, "wl_data_device");
	struct wl_resource *offer = host_offer(device);
	wl_data_device_send_enter(device, 77, comp_resource(&s, "wl_surface"),
				  wl_fixed_from_int(10), wl_fixed_from_int(10), offer);
	comp_flush(&s);
	test_assert(roundtrip(&s.f, a));
	test_assert(a->got_drag_enter && a->data_offer != 0);
	test_assert_int_eq(a->drag_offer, a->data_offer);
	test_assert_int_eq(a->offer_events, data->allowed ? 2 : 0);
	m.len = 0;
	req(&m, a->data_offer, &proto_wl_data_offer, PROTO_WL_DATA_OFFER_REQ_ACCEPT,
	    (union wayland_value[]){{.u = 77}, STR("text/plain")});
	send_accepted(&s, &m, "accept ended the connection");
	guest_receive(&s, a->data_offer);
	test_assert_int_eq(requests_after_mark(&s, "wl_data_offer.accept"), data->allowed);
	test_assert_int_eq(requests_after_mark(&s, "wl_data_offer.receive"), data->allowed);
	m.len = 0;
	req(&m, a->data_offer, &proto_wl_data_offer, PROTO_WL_DATA_OFFER_REQ_DESTROY, NULL);
	send_accepted(&s, &m, "destroying the drag's offer");
	test_assert_int_eq(requests_after_mark(&s, "wl_data_offer.destroy"), 1);
	passed(&s, data->allowed ? NULL : "H-52-drag-host-offer");
}

/* Rule 11 and the guest's own drags: in clipboard mode guest-to-host, while
 * a drag the guest started (with its focus serial) is under way, the
 * offers it is shown are its own data, so they pass. Another source's
 * cancelled (its selection replaced) does not end the drag; the drag's own
 * source being cancelled does, and a host drag's offer is withheld again;
 * so does pointer input (a compositor may ignore start_drag). */
TEST(H_52_guest_own_drag_offer_shown) {
	struct session s;
	session_start(&s, "clipboard = guest-to-host\n");
	struct clip_client cc;
	clip_client(&s, &cc, "text/plain");
	struct client *a = s.attacker;
	a->data_device = cc.device;
	uint32_t serial = take_focus(&s, cc.seat);
	uint32_t comp = bind_compositor(&s);
	uint32_t origin = a->next_id++;
	uint32_t pointer = a->next_id++;
	struct msg m = {0};
	req(&m, comp, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    (union wayland_value[]){{.u = origin}});
	req(&m, cc.seat, &proto_wl_seat, PROTO_WL_SEAT_REQ_GET_POINTER,
	    (union wayland_value[]){{.u = pointer}});
	req(&m, cc.device, &proto_wl_data_device, PROTO_WL_DATA_DEVICE_REQ_START_DRAG,
	    (union wayland_value[]){{.u = cc.source}, {.u = origin}, {.u = 0}, {.u = serial}});
	setup(&s, &m);
	mark(&s);
	struct wl_resource *device = comp_resource(&s, "wl_data_device");
	struct wl_resource *surface = comp_resource(&s, "wl_surface");
	struct wl_resource *offer = host_offer(device);
	wl_data_device_send_enter(device, 78, surface, wl_fixed_from_int(5), wl_fixed_from_int(5),
				  offer);
	comp_flush(&s);
	test_assert(roundtrip(&s.f, a));
	test_assert(a->got_drag_enter && a->data_offer != 0);
	test_assert_int_eq(a->drag_offer, a->data_offer);
	test_assert_int_eq(a->offer_events, 2);
	guest_receive(&s, a->data_offer);
	test_assert_int_eq(requests_after_mark(&s, "wl_data_offer.receive"), 1);
	// Another source of the guest's is cancelled: the drag goes on.
	uint32_t other = a->next_id++;
	m.len = 0;
	req(&m, cc.ddm, &proto_wl_data_device_manager,
	    PROTO_WL_DATA_DEVICE_MANAGER_REQ_CREATE_DATA_SOURCE,
	    (union wayland_value[]){{.u = other}});
	setup(&s, &m);
	struct wl_resource *drag_source = NULL, *other_source = NULL;
	comp_sources(&s, &drag_source, &other_source);
	wl_data_source_send_cancelled(other_source);
	struct wl_resource *again = host_offer(device);
	wl_data_device_send_enter(device, 79, surface, wl_fixed_from_int(5), wl_fixed_from_int(5),
				  again);
	a->offer_events = 0;
	comp_flush(&s);
	test_assert(roundtrip(&s.f, a));
	test_assert_int_eq(a->offer_events, 2);
	// The compositor ends the drag; the next drag is the host's.
	wl_data_device_send_leave(device);
	wl_data_source_send_cancelled(drag_source);
	a->got_drag_enter = false;
	a->offer_events = 0;
	struct wl_resource *host = host_offer(device);
	wl_data_device_send_enter(device, 80, surface, wl_fixed_from_int(5), wl_fixed_from_int(5),
				  host);
	comp_flush(&s);
	test_assert(roundtrip(&s.f, a));
	test_assert(a->got_drag_enter);
	test_assert_int_eq(a->drag_offer, a->data_offer);
	test_assert_int_eq(a->offer_events, 0);
	mark(&s);
	guest_receive(&s, a->data_offer);
	test_assert_int_eq(requests_after_mark(&s, "wl_data_offer.receive"), 0);
	// A drag the compositor ignored ends with the next pointer button.
	m.len = 0;
	req(&m, cc.device, &proto_wl_data_device, PROTO_WL_DATA_DEVICE_REQ_START_DRAG,
	    (union wayland_value[]){{.u = cc.source}, {.u = origin}, {.u = 0}, {.u = serial}});
	setup(&s, &m);
	wl_pointer_send_button(comp_resource(&s, "wl_pointer"), 90, 1, 0x110, 0);
	a->offer_events = 0;
	host_offer(device);
	comp_flush(&s);
	test_assert(roundtrip(&s.f, a));
	test_assert_int_eq(a->offer_events, 0);
	passed(&s, NULL);
}

/* ---------------------------------------------------------------------- */
/* Zombie objects                                                         */

/* The compositor sends wl_keyboard.keymap (with an fd) to a keyboard the
 * guest already released: the event is dropped and its fd closed, never
 * passed on or shifted onto a later message. */
TEST(H_56_zombie_fd_event) {
	struct session s;
	session_start(&s, NULL);
	struct msg m = {0};
	uint32_t seat = bind_global(&m, s.attacker, "wl_seat", 0);
	setup(&s, &m);
	size_t fds_before = s.attacker->fds_in;
	mark(&s);
	m.len = 0;
	uint32_t keyboard = s.attacker->next_id++;
	s.attacker->keyboard = keyboard;
	req(&m, seat, &proto_wl_seat, PROTO_WL_SEAT_REQ_GET_KEYBOARD,
	    (union wayland_value[]){{.u = keyboard}});
	req(&m, keyboard, &proto_wl_keyboard, PROTO_WL_KEYBOARD_REQ_RELEASE, NULL);
	send_accepted(&s, &m, "ended");
	test_assert_int_eq(requests_after_mark(&s, "wl_keyboard.release"), 1);
	test_assert_msg(recorder_last(s.f.rec, "wl_keyboard.keymap") != NULL,
			"the recorder sent no keymap (test assumption)");
	// crosswayd may drop the zombie's keymap (closing its fd) or pass it on
	// with its fd, as a compositor would; either way exactly one fd per
	// keymap event reaches the guest, none shifted onto other messages.
	test_assert_msg(s.attacker->fds_in - fds_before == s.attacker->keymaps,
			"%zu fds for %zu keymap events", s.attacker->fds_in - fds_before,
			s.attacker->keymaps);
	test_assert(s.attacker->keymaps <= 1);
	size_t fds_after = s.attacker->fds_in;
	test_assert(roundtrip(&s.f, s.attacker));
	test_assert_int_eq(s.attacker->fds_in, fds_after);
	passed(&s, "H-56-zombie-fd-event");
}
