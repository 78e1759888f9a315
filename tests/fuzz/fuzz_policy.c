/*
 * Fuzz target for the stateful pipeline core: daemon/forward with
 * daemon/policy, both directions, in process (an action script in the spirit
 * of waypipe's protocol fuzzer). tests/fuzz/fuzz_compositor.c builds the
 * same harness in its compositor-direction mode (FUZZ_COMPOSITOR_MODE).
 *
 * One input drives one connection. The compositor is this harness: the
 * pipeline's compositor queues are in-memory (no socket), and every step the
 * harness drains what forward queued both ways and checks it.
 *
 * Input: [config] then actions. config bits:
 *     0-1  clipboard mode (3 = both)   2  primary selection allowed
 *     3    server-side decorations    4  refuse unsealed shm
 *     5    a can_allocate hook        6  delete_id only on action 7
 *     7    start after the fixed valid session (always in compositor mode)
 * Policy mode: action byte a; a & 7 picks:
 *     0, 1  guest request: [sender] [opcode] [args...]; bit 7: send now
 *     2     raw guest bytes: [len/4] [len bytes]
 *     3     compositor event: [sender] [opcode] [args...]
 *     4     an extra guest fd: [kind]
 *     5     send the guest's pending bytes and fds: [split]
 *     6     raw compositor bytes: [len/4] [bytes] [nfds] [kind...]
 *     7     the compositor sends its pending delete_ids
 * Compositor mode (after the session): a & 3: 0, 2 event; 1 raw
 * compositor bytes; 3 a guest request, sent at once.
 *
 * Selectors. [sender] / object arguments: a byte s names the live object
 * with id s (s < 0x80) or server id 0xff000000 + s - 0x80 if it can be
 * used, else the (s % n)-th candidate. Integers: [b] b < 0x80 is the value
 * b, 0x80..0xef an entry of `interesting`, 0xf0.. a u32 from the input.
 * Strings: [b] 0xff null, >= 0xc0 an entry of `strings`, else b raw bytes
 * (NULs become '?'). Arrays: [len] [bytes]. fds: [kind], see make_fd.
 * new_ids are allocated as libwayland does (guest: lowest free id;
 * compositor: lowest free server id). wl_registry.bind takes [global]
 * [version] (the guest's known global named so, or the (g % n)-th;
 * version 0: the advertised one); wl_registry.global takes [name]
 * [interface index into global_names] [version]; wl_display.delete_id takes
 * [sel] among the ids waiting for one.
 *
 * The harness keeps two shadow object maps with libwayland's rules: the
 * guest's (its own requests as sent, the events as received) and the
 * compositor's (its events as sent, the requests as received). The checks,
 * after every action:
 *  - everything queued to the compositor re-parses against the compositor's
 *    map: live sender, known opcode within the version, valid arguments,
 *    live objects of the right interface, new ids fresh and dense, the fds
 *    the message needs queued no later than it and no spare ones, of kind
 *    memory or pipe; binds only to advertised, allowlisted globals at
 *    advertised versions; titles "[vm] " + valid UTF-8 without controls;
 *    app_ids "crossway.vm." + [A-Za-z0-9._-]; damage inside the buffer
 *    limits; shm buffers inside their pool and pools inside their fd;
 *  - everything queued to the guest re-parses against the guest's map:
 *    known sender and objects, fresh server new ids, delete_id for ids the
 *    guest holds, only allowlisted globals advertised, fds that are memory
 *    or pipe write ends, and exactly the ones each message needs;
 *  - after a reported error (which must have a reason) the harness stops
 *    feeding, as a front end ends the context;
 *  - at the end the open-fd count is what it was before the input.
 * Raw bytes either side may leave a shadow map unsure (a message it cannot
 * parse); checks that need that map are then relaxed to framing.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/compositor.h"
#include "daemon/forward.h"
#include "daemon/log.h"
#include "proto_tables.h"
#include "tests/fuzz/fuzz.h"
#include "tests/fuzz/fuzz_args.h"
#include "tests/fuzz/fuzz_fds.h"
#include "wire/limits.h"

#define CAP 512u /* ids 1..CAP-1 and 0xff000000.. in the shadow maps */
#define MAX_OBJECTS 400u
#define VM "vm"
#define TITLE_MAX 64u
#define MAX_ACTIONS 512

enum mstate { M_FREE = 0, M_LIVE, M_ZOMBIE, M_DELETED };

struct mobj {
	const struct proto_interface *iface;
	uint32_t version;
	uint8_t state;
	uint64_t aux; // compositor map: a pool's size
};

struct global {
	uint32_t name, version;
	const struct proto_interface *iface;
};

struct model {
	struct mobj client[CAP], server[CAP];
	uint32_t next_client;      // one past the highest client id used
	uint32_t server_end;       // one past the highest server index ever used
	struct global globals[64]; // guest: as received; compositor: as sent
	unsigned global_count;
	// Globals removed lately: a bind racing the removal is still valid
	// (policy keeps POLICY_REMOVED_GLOBALS of them; more here only makes
	// the check looser, never wrong).
	struct global removed[4 * POLICY_REMOVED_GLOBALS];
	unsigned removed_next;
	bool desync; // a message this side sent could not be parsed
	uint8_t stream[2 * WAYLAND_MSG_DEFAULT_MAX_SIZE];
	size_t stream_len; // sent bytes after the last whole message
};

struct harness {
	struct policy_config cfg;
	struct compositor comp;
	struct forward fw;
	struct model guest, host;
	uint8_t gbuf[8 * WAYLAND_MSG_DEFAULT_MAX_SIZE]; // guest bytes not sent yet
	size_t gbuf_len;
	int gfds[64]; // guest fds not sent yet
	size_t gfd_count;
	uint32_t pending_delete[CAP]; // client ids the compositor must delete_id
	size_t pending_count;
	bool lazy_delete;
	bool failed;
	uint64_t transfers;
	uint64_t pool_aux; // the pool a create_pool being checked creates
};

static const char *const global_names[] = {
	"wl_compositor",
	"wl_shm",
	"wl_seat",
	"xdg_wm_base",
	"wl_data_device_manager",
	"zxdg_decoration_manager_v1",
	"wl_output",
	"zwp_linux_dmabuf_v1",
	"wl_subcompositor",
	"wp_viewporter",
	"zwp_primary_selection_device_manager_v1",
	"zwlr_layer_shell_v1",
	"zwlr_screencopy_manager_v1",
	"ext_session_lock_manager_v1",
	"zwp_virtual_keyboard_manager_v1",
	"wp_security_context_manager_v1",
	"zwlr_data_control_manager_v1",
	"xdg_activation_v1",
	"wp_fractional_scale_manager_v1",
	"wl_display",
	"wl_callback",
	"no_such_interface_v1",
};
#define GLOBAL_NAMES (sizeof(global_names) / sizeof(global_names[0]))

/* ---------------------------------------------------------------------- */
/* Shadow maps                                                            */

static struct mobj *mget(struct model *m, uint32_t id) {
	if (id > 0 && id < CAP) {
		return &m->client[id];
	}
	if (id >= WAYLAND_SERVER_ID_START && id - WAYLAND_SERVER_ID_START < CAP) {
		return &m->server[id - WAYLAND_SERVER_ID_START];
	}
	return NULL;
}

static bool is_client(uint32_t id) {
	return id < WAYLAND_SERVER_ID_START;
}

static void model_init(struct model *m) {
	memset(m->client, 0, sizeof(m->client));
	memset(m->server, 0, sizeof(m->server));
	m->client[1] = (struct mobj){.iface = &proto_wl_display, .version = 1, .state = M_LIVE};
	m->next_client = 2;
	m->server_end = 0;
	m->global_count = 0;
	memset(m->removed, 0, sizeof(m->removed));
	m->removed_next = 0;
	m->desync = false;
	m->stream_len = 0;
}

static void model_add_global(struct model *m, uint32_t name, const struct proto_interface *iface,
			     uint32_t version) {
	for (unsigned i = 0; i < m->global_count; i++) {
		if (m->globals[i].name == name) {
			return; // a name announced again: the first announcement holds
		}
	}
	if (m->global_count < sizeof(m->globals) / sizeof(m->globals[0])) {
		m->globals[m->global_count++] = (struct global){name, version, iface};
	}
}

static const struct global *model_find_global(struct model *m, uint32_t name) {
	for (unsigned i = 0; i < m->global_count; i++) {
		if (m->globals[i].name == name) {
			return &m->globals[i];
		}
	}
	return NULL;
}

static void model_remove_global(struct model *m, uint32_t name) {
	for (unsigned i = 0; i < m->global_count; i++) {
		if (m->globals[i].name == name) {
			m->removed[m->removed_next] = m->globals[i];
			m->removed_next = (m->removed_next + 1) %
					  (sizeof(m->removed) / sizeof(m->removed[0]));
			m->globals[i] = m->globals[--m->global_count];
			return;
		}
	}
}

/* A global named @name for @iface_name advertised now, or removed lately
 * (see struct model); NULL if none. (A name announced again for another
 * interface keeps its first announcement in the list, so a removed entry
 * that matches counts too.) */
static const struct global *model_find_bindable(struct model *m, uint32_t name,
						const char *iface_name) {
	const struct global *g = model_find_global(m, name);
	if (g != NULL && g->iface != NULL && strcmp(g->iface->name, iface_name) == 0) {
		return g;
	}
	for (unsigned i = 0; i < sizeof(m->removed) / sizeof(m->removed[0]); i++) {
		const struct global *r = &m->removed[i];
		if (r->iface != NULL && r->name == name &&
		    strcmp(r->iface->name, iface_name) == 0) {
			return r;
		}
	}
	return g;
}

/* Object states a selector may pick (a mask of 1 << enum mstate). */
#define OK_LIVE (1u << M_LIVE)
#define OK_REQUEST_SENDER (1u << M_LIVE | 1u << M_DELETED)
#define OK_ZOMBIE (1u << M_ZOMBIE)

/* Makes @id (a client id < CAP or a server id) hold @o. */
static void model_set(struct model *m, uint32_t id, struct mobj o) {
	*mget(m, id) = o;
	if (!is_client(id) && id - WAYLAND_SERVER_ID_START >= m->server_end) {
		m->server_end = id - WAYLAND_SERVER_ID_START + 1;
	}
}

/*
 * Picks an object by selector among those whose state is in @ok; 0 when
 * none. Candidates are client ids, then server ids, in order. Only the
 * used ranges are scanned: client ids from next_client on and server
 * indices from server_end on were never used, so they are M_FREE, which no
 * mask accepts (the hot loop of this harness: it runs for every object
 * argument).
 */
static uint32_t model_pick(struct model *m, uint32_t sel, const struct proto_interface *iface,
			   unsigned ok) {
	uint32_t direct = sel < 0x80 ? sel : WAYLAND_SERVER_ID_START + sel - 0x80;
	struct mobj *o = mget(m, direct);
	if (o != NULL && (ok >> o->state & 1) && (iface == NULL || o->iface == iface)) {
		return direct;
	}
	uint32_t ids[2 * CAP];
	unsigned n = 0;
	uint32_t client_end = m->next_client < CAP ? m->next_client : CAP;
	for (uint32_t i = 1; i < client_end; i++) {
		const struct mobj *c = &m->client[i];
		if ((ok >> c->state & 1) && (iface == NULL || c->iface == iface)) {
			ids[n++] = i;
		}
	}
	for (uint32_t i = 0; i < m->server_end; i++) {
		const struct mobj *c = &m->server[i];
		if ((ok >> c->state & 1) && (iface == NULL || c->iface == iface)) {
			ids[n++] = WAYLAND_SERVER_ID_START + i;
		}
	}
	return n ? ids[sel % n] : 0;
}

/* ---------------------------------------------------------------------- */
/* fds                                                                    */

/* Kinds: bits 0-2: 0-5 memfds of 0, 192, 4096, 10000, 65536, 1 MiB
 * (sealed against shrinking when bit 3 is set), 6 a pipe's read end, 7 its
 * write end; bits 4-5, when not 0, instead: 1 a socket, 2 /dev/null, 3 a
 * directory. */
static int make_fd(uint32_t kind) {
	static const uint32_t sizes[] = {0, 192, 4096, 10000, 65536, 1u << 20};
	int fd = -1;
	uint32_t base = kind & 7;
	switch ((kind >> 4) & 3) {
	case 1: {
		int s[2];
		fuzz_check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) == 0,
			   "socketpair");
		close(s[1]);
		return s[0];
	}
	case 2:
	case 3:
		fd = open(kind & 32 && kind & 16 ? "/" : "/dev/null", O_RDONLY | O_CLOEXEC);
		fuzz_check(fd >= 0, "open");
		return fd;
	}
	if (base >= 6) {
		int p[2];
		fuzz_check(pipe2(p, O_CLOEXEC) == 0, "pipe");
		close(p[base == 6 ? 1 : 0]);
		return p[base == 6 ? 0 : 1];
	}
	bool seal = kind & 8;
	fd = memfd_create("fuzz", MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));
	fuzz_check(fd >= 0, "memfd_create");
	fuzz_check(ftruncate(fd, sizes[base]) == 0, "ftruncate");
	if (seal) {
		fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK);
	}
	return fd;
}

enum fd_kind { K_OTHER, K_MEMORY, K_PIPE_READ, K_PIPE_WRITE };

/* Our own classification, independent of daemon/fdtype.c. */
static enum fd_kind classify(int fd, uint64_t *size) {
	struct stat st;
	fuzz_check(fstat(fd, &st) == 0, "fstat of a queued fd failed: a closed fd was queued");
	*size = (uint64_t)st.st_size;
	if (S_ISREG(st.st_mode)) {
		return K_MEMORY;
	}
	if (S_ISFIFO(st.st_mode)) {
		int fl = fcntl(fd, F_GETFL);
		return (fl & O_ACCMODE) == O_WRONLY ? K_PIPE_WRITE : K_PIPE_READ;
	}
	return K_OTHER;
}

/* ---------------------------------------------------------------------- */
/* The sending sides: parse what was sent into the sender's map           */

/* Parses whole messages of @m's stream (after appending @p) as the sender
 * sees them: @requests says which direction. */
static void model_sent(struct model *m, const uint8_t *p, size_t len, bool requests) {
	if (m->desync) {
		return;
	}
	if (m->stream_len + len > sizeof(m->stream)) {
		m->desync = true;
		return;
	}
	memcpy(m->stream + m->stream_len, p, len);
	m->stream_len += len;
	size_t pos = 0;
	while (!m->desync) {
		struct wayland_msg_header hdr;
		struct wire_error err = {{0}};
		enum wayland_msg_result r = wayland_msg_header_parse(
			m->stream + pos, m->stream_len - pos, WAYLAND_MSG_DEFAULT_MAX_SIZE, &hdr,
			&err);
		if (r == WAYLAND_MSG_INCOMPLETE ||
		    (r == WAYLAND_MSG_OK && hdr.size > m->stream_len - pos)) {
			break;
		}
		const uint8_t *msg = m->stream + pos;
		struct mobj *s = mget(m, hdr.object_id);
		const struct proto_message *pm = NULL;
		struct wayland_args args;
		if (r != WAYLAND_MSG_OK || s == NULL || s->state == M_FREE ||
		    (requests && s->state == M_ZOMBIE)) {
			m->desync = true;
			break;
		}
		uint16_t count = requests ? s->iface->request_count : s->iface->event_count;
		if (hdr.opcode >= count) {
			m->desync = true;
			break;
		}
		pm = requests ? &s->iface->requests[hdr.opcode] : &s->iface->events[hdr.opcode];
		if (pm->since > s->version ||
		    !wayland_msg_decode(msg, &hdr, s->iface, pm, &args, &err)) {
			m->desync = true;
			break;
		}
		pos += hdr.size;
		for (unsigned i = 0; i < pm->arg_count; i++) {
			const struct proto_arg *a = &pm->args[i];
			if (a->type != PROTO_ARG_NEW_ID) {
				continue;
			}
			uint32_t id = args.value[i];
			struct mobj *o = mget(m, id);
			const struct proto_interface *iface = a->interface;
			uint32_t version = s->version;
			if (a->dynamic) {
				const char *name = wayland_args_string(msg, &args, i - 2);
				iface = name ? proto_find_interface(name) : NULL;
				version = args.value[i - 1];
			}
			bool fresh = o != NULL && (requests ? is_client(id) && o->state == M_FREE &&
								      id <= m->next_client
							    : !is_client(id) && o->state != M_LIVE);
			if (!fresh || iface == NULL) {
				m->desync = true;
				break;
			}
			model_set(
				m, id,
				(struct mobj){.iface = iface, .version = version, .state = M_LIVE});
			if (requests && id == m->next_client) {
				m->next_client++;
			}
		}
		if (m->desync) {
			break;
		}
		if (!requests && s->iface == &proto_wl_registry) {
			if (hdr.opcode == PROTO_WL_REGISTRY_EVT_GLOBAL) {
				const char *name = wayland_args_string(msg, &args, 1);
				model_add_global(m, args.value[0], proto_find_interface(name),
						 args.value[2]);
			} else {
				model_remove_global(m, args.value[0]);
			}
		}
		if (!requests && s->iface == &proto_wl_display &&
		    hdr.opcode == PROTO_WL_DISPLAY_EVT_DELETE_ID) {
			struct mobj *o = mget(m, args.value[0]);
			// (A delete_id for wl_display itself changes nothing.)
			if (o != NULL && is_client(args.value[0]) && args.value[0] != 1) {
				o->state = M_FREE;
			}
		}
		if (pm->destructor) {
			if (requests) {
				// A client id waits for delete_id, unless the server
				// released it already; a server id may be reused.
				s->state = is_client(hdr.object_id) && s->state == M_DELETED
						   ? M_FREE
						   : M_ZOMBIE;
			} else {
				s->state = is_client(hdr.object_id) ? M_ZOMBIE : M_FREE;
			}
		}
	}
	memmove(m->stream, m->stream + pos, m->stream_len - pos);
	m->stream_len -= pos;
}

/* ---------------------------------------------------------------------- */
/* Checks of what forward queued                                          */

static bool utf8_clean(const unsigned char *s, size_t len) {
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n;
		if (s[i] < 0x80) {
			cp = s[i];
			n = 1;
		} else if ((s[i] & 0xe0) == 0xc0) {
			cp = s[i] & 0x1f;
			n = 2;
		} else if ((s[i] & 0xf0) == 0xe0) {
			cp = s[i] & 0x0f;
			n = 3;
		} else if ((s[i] & 0xf8) == 0xf0) {
			cp = s[i] & 0x07;
			n = 4;
		} else {
			return false;
		}
		if (i + n > len) {
			return false;
		}
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				return false;
			}
			cp = cp << 6 | (s[i + k] & 0x3f);
		}
		static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
		if (cp < min[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			return false;
		}
		if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069)) {
			return false;
		}
		i += n;
	}
	return true;
}

static void check_content(struct harness *h, const uint8_t *msg, struct mobj *s,
			  const struct proto_message *pm, const struct wayland_args *args,
			  const int *fds) {
	const struct proto_interface *iface = s->iface;
	uint16_t op = pm->opcode;
	if (iface == &proto_xdg_toplevel && op == PROTO_XDG_TOPLEVEL_REQ_SET_TITLE) {
		const char *t = wayland_args_string(msg, args, 0);
		size_t len = strlen(t);
		fuzz_check(strncmp(t, "[" VM "] ", strlen("[" VM "] ")) == 0, "title '%s' untagged",
			   t);
		fuzz_check(len <= TITLE_MAX + strlen("[" VM "] "), "title of %zu bytes", len);
		fuzz_check(utf8_clean((const unsigned char *)t, len),
			   "title is not clean UTF-8 without controls");
	} else if (iface == &proto_xdg_toplevel && op == PROTO_XDG_TOPLEVEL_REQ_SET_APP_ID) {
		const char *t = wayland_args_string(msg, args, 0);
		const char *pre = "crossway." VM ".";
		fuzz_check(strncmp(t, pre, strlen(pre)) == 0, "app_id '%s' outside the namespace",
			   t);
		fuzz_check(strlen(t) <= 255, "app_id too long");
		for (const char *c = t; *c; c++) {
			fuzz_check((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
					   (*c >= '0' && *c <= '9') || *c == '.' || *c == '_' ||
					   *c == '-',
				   "app_id '%s' has a bad character", t);
		}
	} else if (iface == &proto_wl_surface && (op == PROTO_WL_SURFACE_REQ_DAMAGE ||
						  op == PROTO_WL_SURFACE_REQ_DAMAGE_BUFFER)) {
		int64_t x = (int32_t)args->value[0], y = (int32_t)args->value[1];
		int64_t w = (int32_t)args->value[2], hh = (int32_t)args->value[3];
		uint32_t lim = h->cfg.limits.max_dimension;
		fuzz_check(x >= 0 && y >= 0 && w > 0 && hh > 0 && x + w <= lim && y + hh <= lim,
			   "damage %" PRId64 ",%" PRId64 " %" PRId64 "x%" PRId64 " not clamped", x,
			   y, w, hh);
	} else if (iface == &proto_wl_surface && op == PROTO_WL_SURFACE_REQ_SET_BUFFER_SCALE) {
		int32_t v = (int32_t)args->value[0];
		fuzz_check(v >= 1 && v <= 8, "buffer scale %d", v);
	} else if (iface == &proto_wl_shm && op == PROTO_WL_SHM_REQ_CREATE_POOL) {
		uint64_t size;
		fuzz_check(classify(fds[0], &size) == K_MEMORY, "pool fd is not memory");
		int32_t pool = (int32_t)args->value[2];
		fuzz_check(pool > 0 && (uint64_t)pool <= size,
			   "pool of %d on a %" PRIu64 " byte fd", pool, size);
		h->pool_aux = (uint64_t)pool << 32 | size; // for the new pool, below
	} else if (iface == &proto_wl_shm_pool && op == PROTO_WL_SHM_POOL_REQ_RESIZE) {
		int32_t size = (int32_t)args->value[0];
		uint64_t pool = s->aux >> 32, fd_size = s->aux & 0xffffffffu;
		fuzz_check(size > 0 && (uint64_t)size >= pool && (uint64_t)size <= fd_size,
			   "pool resized to %d (was %" PRIu64 ", fd %" PRIu64 ")", size, pool,
			   fd_size);
		s->aux = (uint64_t)size << 32 | fd_size;
	} else if (iface == &proto_wl_shm_pool && op == PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER) {
		int64_t off = (int32_t)args->value[1], w = (int32_t)args->value[2];
		int64_t hh = (int32_t)args->value[3], stride = (int32_t)args->value[4];
		uint64_t pool = s->aux >> 32;
		fuzz_check(off >= 0 && w > 0 && hh > 0 && stride >= w &&
				   (uint64_t)off + (uint64_t)stride * (uint64_t)hh <= pool,
			   "buffer at %" PRId64 " %" PRId64 "x%" PRId64 " stride %" PRId64
			   " outside a pool of %" PRIu64,
			   off, w, hh, stride, pool);
	} else if (iface == &proto_wl_registry && op == PROTO_WL_REGISTRY_REQ_BIND) {
		const char *name = wayland_args_string(msg, args, 1);
		const struct global *g = model_find_bindable(&h->host, args->value[0], name);
		fuzz_check(g != NULL, "bind to global %u, never advertised", args->value[0]);
		fuzz_check(g->iface != NULL && strcmp(g->iface->name, name) == 0,
			   "bind of %s to global %u", name, args->value[0]);
		fuzz_check(args->value[2] >= 1 && args->value[2] <= g->version,
			   "bind of %s version %u, advertised %u", name, args->value[2],
			   g->version);
		fuzz_check(policy_config_find(&h->cfg, name) != NULL, "bind to hidden %s", name);
	}
}

/* Checks every whole message queued to the compositor, takes it and its fds
 * out of the queue, and updates the compositor's map. */
static void check_to_compositor(struct harness *h) {
	struct byte_queue *q = &h->comp.out;
	struct fd_queue *fq = &h->comp.out_fds;
	struct model *m = &h->host;
	size_t pos = 0;
	while (pos < q->len) {
		const uint8_t *msg = byte_queue_data(q) + pos;
		uint64_t spos = q->start + pos;
		struct wayland_msg_header hdr;
		struct wire_error err = {{0}};
		fuzz_check(wayland_msg_header_parse(msg, q->len - pos, WAYLAND_MSG_DEFAULT_MAX_SIZE,
						    &hdr, &err) == WAYLAND_MSG_OK &&
				   hdr.size <= q->len - pos,
			   "queued to the compositor: not a whole message: %s", err.text);
		pos += hdr.size;
		struct mobj *s = mget(m, hdr.object_id);
		if (m->desync) {
			// Framing and fd kinds only.
			while (fq->len > 0 && fd_queue_peek(fq, 0)->pos <= spos) {
				uint64_t size;
				fuzz_check(classify(fd_queue_peek(fq, 0)->fd, &size) != K_OTHER,
					   "a socket or device fd queued to the compositor");
				fd_queue_drop(fq);
			}
			continue;
		}
		fuzz_check(s != NULL && s->state == M_LIVE,
			   "request to object %u, which the compositor does not hold (state %d)",
			   hdr.object_id, s ? s->state : -1);
		fuzz_check(hdr.opcode < s->iface->request_count, "%s#%u: opcode %u", s->iface->name,
			   hdr.object_id, hdr.opcode);
		const struct proto_message *pm = &s->iface->requests[hdr.opcode];
		fuzz_check(pm->since <= s->version, "%s.%s needs version %u, object has %u",
			   s->iface->name, pm->name, pm->since, s->version);
		struct wayland_args args;
		fuzz_check(wayland_msg_decode(msg, &hdr, s->iface, pm, &args, &err),
			   "queued to the compositor: %s", err.text);
		int fds[PROTO_MAX_ARGS];
		for (unsigned i = 0; i < pm->fd_count; i++) {
			fuzz_check(fq->len > 0 && fd_queue_peek(fq, 0)->pos <= spos,
				   "%s.%s: fd %u missing", s->iface->name, pm->name, i);
			fds[i] = fd_queue_pop(fq);
			uint64_t size;
			fuzz_check(classify(fds[i], &size) != K_OTHER,
				   "%s.%s: a socket or device fd reaches the compositor",
				   s->iface->name, pm->name);
		}
		fuzz_check(fq->len == 0 || fd_queue_peek(fq, 0)->pos > spos,
			   "%s.%s: spare fds queued with it", s->iface->name, pm->name);
		for (unsigned i = 0; i < pm->arg_count; i++) {
			const struct proto_arg *a = &pm->args[i];
			uint32_t v = args.value[i];
			if (a->type == PROTO_ARG_OBJECT && v != 0) {
				struct mobj *o = mget(m, v);
				fuzz_check(o != NULL && o->state == M_LIVE,
					   "%s.%s: object argument %u is not live", s->iface->name,
					   pm->name, v);
				fuzz_check(a->interface == NULL || o->iface == a->interface,
					   "%s.%s: object %u is a %s", s->iface->name, pm->name, v,
					   o->iface->name);
			}
		}
		if (fuzz_verbose()) {
			char text[512];
			wayland_msg_format(text, sizeof(text), msg, hdr.object_id, s->iface, pm,
					   &args);
			fuzz_note(" -> %s", text);
		}
		check_content(h, msg, s, pm, &args, fds);
		for (unsigned i = 0; i < pm->fd_count; i++) {
			close(fds[i]);
		}
		for (unsigned i = 0; i < pm->arg_count; i++) {
			const struct proto_arg *a = &pm->args[i];
			if (a->type != PROTO_ARG_NEW_ID) {
				continue;
			}
			uint32_t id = args.value[i];
			struct mobj *o = mget(m, id);
			fuzz_check(is_client(id) && o != NULL && o->state == M_FREE &&
					   id <= m->next_client,
				   "%s.%s: new id %u is not fresh (next %u)", s->iface->name,
				   pm->name, id, m->next_client);
			const struct proto_interface *iface = a->interface;
			uint32_t version = s->version;
			if (a->dynamic) {
				iface = proto_find_interface(
					wayland_args_string(msg, &args, i - 2));
				version = args.value[i - 1];
			}
			fuzz_check(iface != NULL, "new id of an unknown interface");
			*o = (struct mobj){.iface = iface, .version = version, .state = M_LIVE};
			if (iface == &proto_wl_shm_pool) {
				o->aux = h->pool_aux;
			}
			if (id == m->next_client) {
				m->next_client++;
			}
		}
		if (pm->destructor) {
			if (is_client(hdr.object_id)) {
				// libwayland-server answers with delete_id.
				s->state = M_ZOMBIE;
				fuzz_check(h->pending_count < CAP, "pending delete_ids");
				h->pending_delete[h->pending_count++] = hdr.object_id;
			} else {
				s->state = M_FREE;
			}
		}
	}
	byte_queue_consume(q, pos);
	fuzz_check(fq->len == 0, "fds queued to the compositor past the last message");
}

/* Checks every whole message queued to the guest (the front end would now
 * deliver them), then takes them out and closes their fds. */
static void check_to_guest(struct harness *h) {
	struct byte_queue *q = &h->fw.guest_out;
	struct fd_queue *fq = &h->fw.guest_out_fds;
	struct model *m = &h->guest;
	size_t pos = 0;
	while (pos < q->len) {
		const uint8_t *msg = byte_queue_data(q) + pos;
		uint64_t spos = q->start + pos;
		struct wayland_msg_header hdr;
		struct wire_error err = {{0}};
		fuzz_check(wayland_msg_header_parse(msg, q->len - pos, WAYLAND_MSG_DEFAULT_MAX_SIZE,
						    &hdr, &err) == WAYLAND_MSG_OK &&
				   hdr.size <= q->len - pos,
			   "queued to the guest: not a whole message: %s", err.text);
		pos += hdr.size;
		unsigned need = 0;
		struct mobj *s = mget(m, hdr.object_id);
		const struct proto_message *pm = NULL;
		struct wayland_args args;
		if (!m->desync) {
			fuzz_check(s != NULL && s->state != M_FREE,
				   "event from object %u, which the guest does not hold",
				   hdr.object_id);
			fuzz_check(hdr.opcode < s->iface->event_count, "%s#%u: event opcode %u",
				   s->iface->name, hdr.object_id, hdr.opcode);
			pm = &s->iface->events[hdr.opcode];
			fuzz_check(pm->since <= s->version, "%s.%s needs version %u, object has %u",
				   s->iface->name, pm->name, pm->since, s->version);
			fuzz_check(wayland_msg_decode(msg, &hdr, s->iface, pm, &args, &err),
				   "queued to the guest: %s", err.text);
			need = pm->fd_count;
			if (fuzz_verbose()) {
				char text[512];
				wayland_msg_format(text, sizeof(text), msg, hdr.object_id, s->iface,
						   pm, &args);
				fuzz_note(" <- %s", text);
			}
		}
		unsigned got = 0;
		while (fq->len > 0 && fd_queue_peek(fq, 0)->pos <= spos) {
			int fd = fd_queue_pop(fq);
			uint64_t size;
			enum fd_kind k = classify(fd, &size);
			fuzz_check(k == K_MEMORY || k == K_PIPE_WRITE,
				   "an fd of kind %d reaches the guest", (int)k);
			close(fd);
			got++;
		}
		if (m->desync) {
			continue;
		}
		fuzz_check(got == need, "%s.%s: %u fds queued, needs %u", s->iface->name, pm->name,
			   got, need);
		for (unsigned i = 0; i < pm->arg_count; i++) {
			const struct proto_arg *a = &pm->args[i];
			uint32_t v = args.value[i];
			if (a->type == PROTO_ARG_OBJECT && v != 0) {
				struct mobj *o = mget(m, v);
				fuzz_check(o != NULL && o->state != M_FREE,
					   "%s.%s: object %u unknown to the guest", s->iface->name,
					   pm->name, v);
			} else if (a->type == PROTO_ARG_NEW_ID) {
				struct mobj *o = mget(m, v);
				fuzz_check(!is_client(v) && o != NULL && o->state != M_LIVE,
					   "%s.%s: new id %u is not fresh", s->iface->name,
					   pm->name, v);
				model_set(m, v,
					  (struct mobj){.iface = a->interface,
							.version = s->version,
							.state = M_LIVE});
			}
		}
		if (s->iface == &proto_wl_registry && hdr.opcode == PROTO_WL_REGISTRY_EVT_GLOBAL) {
			const char *name = wayland_args_string(msg, &args, 1);
			const struct proto_interface *iface = proto_find_interface(name);
			fuzz_check(iface != NULL && policy_config_find(&h->cfg, name) != NULL,
				   "the guest is shown global %s", name);
			fuzz_check(h->cfg.primary_selection ||
					   iface != &proto_zwp_primary_selection_device_manager_v1,
				   "primary selection shown against policy");
			fuzz_check(args.value[2] >= 1 && args.value[2] <= iface->version,
				   "%s advertised at version %u", name, args.value[2]);
			model_add_global(m, args.value[0], iface, args.value[2]);
		} else if (s->iface == &proto_wl_registry) {
			model_remove_global(m, args.value[0]);
		} else if (s->iface == &proto_wl_display &&
			   hdr.opcode == PROTO_WL_DISPLAY_EVT_DELETE_ID) {
			uint32_t id = args.value[0];
			struct mobj *o = mget(m, id);
			fuzz_check(is_client(id) && o != NULL && o->state != M_FREE &&
					   o->state != M_DELETED,
				   "delete_id %u for an id the guest does not hold (state %d)", id,
				   o ? o->state : -1);
			o->state = o->state == M_ZOMBIE ? M_FREE : M_DELETED;
		} else if ((s->iface == &proto_wl_data_device &&
			    hdr.opcode == PROTO_WL_DATA_DEVICE_EVT_SELECTION) &&
			   h->cfg.clipboard != POLICY_CLIPBOARD_BOTH) {
			fuzz_check(args.value[0] == 0, "a host selection shown against policy");
		}
		if (pm->destructor) {
			s->state = M_ZOMBIE;
		}
	}
	byte_queue_consume(q, pos);
	fuzz_check(fq->len == 0, "fds queued to the guest past the last message");
}

static void check_all(struct harness *h) {
	check_to_compositor(h);
	check_to_guest(h);
}

/* ---------------------------------------------------------------------- */
/* Feeding                                                                */

static bool step_ok(struct harness *h, bool ok, const struct wire_error *err) {
	if (!ok) {
		fuzz_check(err->text[0] != '\0', "error without a reason");
		fuzz_note("stop: %s", err->text);
		h->failed = true;
	}
	check_all(h);
	return ok;
}

static void guest_append(struct harness *h, const uint8_t *p, size_t len) {
	if (h->gbuf_len + len > sizeof(h->gbuf)) {
		return;
	}
	memcpy(h->gbuf + h->gbuf_len, p, len);
	h->gbuf_len += len;
	model_sent(&h->guest, p, len, true);
}

static void guest_add_fd(struct harness *h, int fd) {
	if (h->gfd_count == sizeof(h->gfds) / sizeof(h->gfds[0])) {
		close(fd);
		return;
	}
	h->gfds[h->gfd_count++] = fd;
}

/* One unit of guest input, as a front end delivers it. */
static void guest_flush(struct harness *h, uint32_t split) {
	struct wire_error err = {{0}};
	bool ok = true;
	for (size_t i = 0; i < h->gfd_count; i++) {
		if (ok) {
			ok = forward_guest_fd(&h->fw, h->gfds[i], &err);
		} else {
			close(h->gfds[i]);
		}
	}
	h->gfd_count = 0;
	size_t cut = split ? (split * 4) % (h->gbuf_len + 1) : h->gbuf_len;
	ok = ok && (cut == 0 || forward_guest_bytes(&h->fw, h->gbuf, cut, &err)) &&
	     (cut == h->gbuf_len ||
	      forward_guest_bytes(&h->fw, h->gbuf + cut, h->gbuf_len - cut, &err)) &&
	     forward_guest_end(&h->fw, &err);
	h->gbuf_len = 0;
	step_ok(h, ok, &err);
}

static void comp_feed(struct harness *h, const uint8_t *p, size_t len, const int *fds,
		      unsigned nfds) {
	// (An empty append to a queue that never held anything does pointer
	// arithmetic on NULL in byte_queue_reserve; no daemon caller does it.)
	bool room = len == 0 || byte_queue_append(&h->comp.in, p, len);
	for (unsigned i = 0; i < nfds; i++) {
		if (!fd_queue_push(&h->comp.in_fds, fds[i], 0)) {
			close(fds[i]);
		}
	}
	if (!room) {
		return;
	}
	model_sent(&h->host, p, len, false);
	struct wire_error err = {{0}};
	step_ok(h, forward_host_input(&h->fw, &err), &err);
}

static void comp_send_deletes(struct harness *h) {
	static uint8_t buf[CAP * 12];
	size_t n = 0;
	for (size_t i = 0; i < h->pending_count; i++) {
		union wayland_value v = {.u = h->pending_delete[i]};
		n += wayland_msg_encode(buf + n, sizeof(buf) - n, 1, PROTO_WL_DISPLAY_EVT_DELETE_ID,
					&proto_wl_display.events[PROTO_WL_DISPLAY_EVT_DELETE_ID],
					&v);
	}
	h->pending_count = 0;
	if (n > 0) {
		comp_feed(h, buf, n, NULL, 0);
	}
}

/* ---------------------------------------------------------------------- */
/* Structured messages                                                    */

static uint32_t guest_new_id(struct harness *h) {
	for (uint32_t i = 2; i < h->guest.next_client && i < CAP; i++) {
		if (h->guest.client[i].state == M_FREE) {
			return i;
		}
	}
	return h->guest.next_client;
}

static uint32_t comp_new_id(struct harness *h) {
	for (uint32_t i = 0; i < CAP; i++) {
		if (h->host.server[i].state != M_LIVE) {
			return WAYLAND_SERVER_ID_START + i;
		}
	}
	return WAYLAND_SERVER_ID_START + CAP;
}

/* Builds the values of @pm from the input; @guest: a request. */
static unsigned build_args(struct harness *h, struct fuzz_input *in, bool guest,
			   const struct proto_message *pm, union wayland_value *v,
			   char store[][256], int *fds) {
	struct model *m = guest ? &h->guest : &h->host;
	unsigned nfds = 0;
	for (unsigned i = 0; i < pm->arg_count; i++) {
		const struct proto_arg *a = &pm->args[i];
		switch (a->type) {
		case PROTO_ARG_STRING:
		case PROTO_ARG_ARRAY:
			take_bytes(in, a->type == PROTO_ARG_STRING, store[i], &v[i]);
			break;
		case PROTO_ARG_OBJECT: {
			uint32_t sel = take8(in);
			v[i].u = a->nullable && sel == 0
					 ? 0
					 : model_pick(m, sel, a->interface, OK_LIVE);
			break;
		}
		case PROTO_ARG_NEW_ID:
			v[i].u = guest ? guest_new_id(h) : comp_new_id(h);
			break;
		case PROTO_ARG_FD:
			fds[nfds++] = make_fd(take8(in));
			break;
		default:
			v[i].u = take_int(in);
			break;
		}
	}
	return nfds;
}

static void guest_request(struct harness *h, struct fuzz_input *in) {
	uint32_t id = model_pick(&h->guest, take8(in), NULL, OK_REQUEST_SENDER);
	uint32_t op = take8(in);
	struct mobj *s = mget(&h->guest, id);
	if (s == NULL || s->iface->request_count == 0) {
		return;
	}
	const struct proto_message *pm = &s->iface->requests[op % s->iface->request_count];
	if (pm->since > s->version && !(op & 0x80)) {
		return;
	}
	union wayland_value v[PROTO_MAX_ARGS] = {{0}};
	char store[PROTO_MAX_ARGS][256];
	int fds[PROTO_MAX_ARGS];
	unsigned nfds;
	if (s->iface == &proto_wl_registry && pm->opcode == PROTO_WL_REGISTRY_REQ_BIND) {
		uint32_t gsel = take8(in), vsel = take8(in);
		const struct global *g = model_find_global(&h->guest, gsel);
		if (g == NULL && h->guest.global_count > 0) {
			g = &h->guest.globals[gsel % h->guest.global_count];
		}
		const char *name = g ? g->iface->name : global_names[gsel % GLOBAL_NAMES];
		v[0].u = g ? g->name : gsel;
		v[1].bytes.data = name;
		v[1].bytes.len = (uint32_t)strlen(name) + 1;
		v[2].u = vsel == 0 && g ? g->version : vsel;
		v[3].u = guest_new_id(h);
		nfds = 0;
	} else {
		nfds = build_args(h, in, true, pm, v, store, fds);
	}
	uint8_t buf[WAYLAND_MSG_DEFAULT_MAX_SIZE];
	size_t n = wayland_msg_encode(buf, sizeof(buf), id, pm->opcode, pm, v);
	fuzz_note("guest %s#%u.%s (%zu bytes, %u fds)", s->iface->name, id, pm->name, n, nfds);
	for (unsigned i = 0; i < nfds; i++) {
		guest_add_fd(h, fds[i]);
	}
	if (n > 0) {
		guest_append(h, buf, n);
	}
}

static void comp_event(struct harness *h, struct fuzz_input *in) {
	uint32_t id = model_pick(&h->host, take8(in), NULL, OK_LIVE);
	uint32_t op = take8(in);
	struct mobj *s = mget(&h->host, id);
	if (s == NULL || s->iface->event_count == 0) {
		return;
	}
	const struct proto_message *pm = &s->iface->events[op % s->iface->event_count];
	if (pm->since > s->version && !(op & 0x80)) {
		return;
	}
	union wayland_value v[PROTO_MAX_ARGS] = {{0}};
	char store[PROTO_MAX_ARGS][256];
	int fds[PROTO_MAX_ARGS];
	unsigned nfds = 0;
	if (s->iface == &proto_wl_registry && pm->opcode == PROTO_WL_REGISTRY_EVT_GLOBAL) {
		v[0].u = take8(in);
		if (model_find_global(&h->host, v[0].u) != NULL) {
			// libwayland-server's names are unique while the global lives.
			return;
		}
		const char *name = global_names[take8(in) % GLOBAL_NAMES];
		v[1].bytes.data = name;
		v[1].bytes.len = (uint32_t)strlen(name) + 1;
		uint32_t ver = take8(in);
		const struct proto_interface *iface = proto_find_interface(name);
		v[2].u = ver == 0 && iface ? iface->version : ver;
	} else if (s->iface == &proto_wl_display && pm->opcode == PROTO_WL_DISPLAY_EVT_DELETE_ID) {
		uint32_t sel = take8(in);
		uint32_t z = model_pick(&h->host, sel, NULL, OK_ZOMBIE);
		v[0].u = z && is_client(z) ? z : sel;
		for (size_t i = 0; i < h->pending_count; i++) {
			if (h->pending_delete[i] == v[0].u) {
				h->pending_delete[i] = h->pending_delete[--h->pending_count];
				break;
			}
		}
	} else {
		nfds = build_args(h, in, false, pm, v, store, fds);
	}
	uint8_t buf[WAYLAND_MSG_DEFAULT_MAX_SIZE + 16];
	size_t n = wayland_msg_encode(buf, WAYLAND_MSG_DEFAULT_MAX_SIZE, id, pm->opcode, pm, v);
	fuzz_note("compositor %s#%u.%s (%zu bytes, %u fds)", s->iface->name, id, pm->name, n, nfds);
	if (n > 0 && pm->destructor && is_client(id)) {
		// libwayland-server follows a destructor event with delete_id.
		union wayland_value d = {.u = id};
		n += wayland_msg_encode(buf + n, sizeof(buf) - n, 1, PROTO_WL_DISPLAY_EVT_DELETE_ID,
					&proto_wl_display.events[PROTO_WL_DISPLAY_EVT_DELETE_ID],
					&d);
	}
	if (n == 0) {
		for (unsigned i = 0; i < nfds; i++) {
			close(fds[i]);
		}
		return;
	}
	comp_feed(h, buf, n, fds, nfds);
}

static void comp_raw(struct harness *h, struct fuzz_input *in) {
	const uint8_t *p;
	size_t n = fuzz_take_bytes(in, take8(in) * 4, &p);
	uint32_t nfds = take8(in) % 4;
	int fds[4];
	for (uint32_t i = 0; i < nfds; i++) {
		fds[i] = make_fd(take8(in));
	}
	fuzz_note("compositor raw %zu bytes, %u fds", n, nfds);
	comp_feed(h, p, n, fds, nfds);
}

/* ---------------------------------------------------------------------- */
/* The fixed session: a valid client's start                              */

/* Session events, sent to the pipeline in one piece (as libwayland-server
 * flushes a registry's globals and the sync's done together). */
struct batch {
	uint8_t buf[2048];
	size_t len;
};

static void ev(struct batch *b, uint32_t id, const struct proto_interface *iface, uint16_t op,
	       const union wayland_value *v) {
	size_t n = wayland_msg_encode(b->buf + b->len, sizeof(b->buf) - b->len, id, op,
				      &iface->events[op], v);
	fuzz_check(n > 0, "session event");
	b->len += n;
}

static uint32_t rq(struct harness *h, uint32_t id, const struct proto_interface *iface, uint16_t op,
		   union wayland_value *v) {
	const struct proto_message *pm = &iface->requests[op];
	uint32_t created = 0;
	for (unsigned i = 0; i < pm->arg_count; i++) {
		if (pm->args[i].type == PROTO_ARG_NEW_ID) {
			created = v[i].u = guest_new_id(h);
		}
	}
	uint8_t buf[512];
	size_t n = wayland_msg_encode(buf, sizeof(buf), id, op, pm, v);
	fuzz_check(n > 0, "session request");
	guest_append(h, buf, n);
	return created;
}

static uint32_t host_find(struct harness *h, const struct proto_interface *iface) {
	// Ids from next_client on were never used.
	uint32_t end = h->host.next_client < CAP ? h->host.next_client : CAP;
	for (uint32_t i = end - 1; i > 0; i--) {
		if (h->host.client[i].state == M_LIVE && h->host.client[i].iface == iface) {
			return i;
		}
	}
	return 0;
}

static uint32_t guest_bind(struct harness *h, uint32_t registry, const char *name) {
	for (unsigned i = 0; i < h->guest.global_count; i++) {
		const struct global *g = &h->guest.globals[i];
		if (strcmp(g->iface->name, name) == 0) {
			union wayland_value v[4] = {{.u = g->name},
						    {.bytes = {name, (uint32_t)strlen(name) + 1}},
						    {.u = g->version}};
			return rq(h, registry, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND, v);
		}
	}
	return 0;
}

#define S(text)                                                                                    \
	{                                                                                          \
		.bytes = { text, sizeof(text) }                                                    \
	}

static void session(struct harness *h) {
	union wayland_value none[2] = {{0}};
	uint32_t registry = rq(h, 1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, none);
	uint32_t cb = rq(h, 1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, none);
	guest_flush(h, 0);
	uint32_t reg_up = host_find(h, &proto_wl_registry);
	uint32_t cb_up = host_find(h, &proto_wl_callback);
	static const struct {
		const char *name;
		uint32_t version;
	} globals[] = {
		{"wl_compositor", 6},
		{"wl_shm", 1},
		{"wl_seat", 9},
		{"xdg_wm_base", 6},
		{"wl_data_device_manager", 3},
		{"zxdg_decoration_manager_v1", 1},
		{"wl_output", 4},
		{"zwp_linux_dmabuf_v1", 4},
		{"zwlr_layer_shell_v1", 4},
		{"zwp_primary_selection_device_manager_v1", 1},
	};
	struct batch b = {.len = 0};
	for (unsigned i = 0; i < sizeof(globals) / sizeof(globals[0]); i++) {
		if (proto_find_interface(globals[i].name) == NULL) {
			continue;
		}
		union wayland_value v[3] = {
			{.u = i + 1},
			{.bytes = {globals[i].name, (uint32_t)strlen(globals[i].name) + 1}},
			{.u = globals[i].version}};
		ev(&b, reg_up, &proto_wl_registry, PROTO_WL_REGISTRY_EVT_GLOBAL, v);
	}
	union wayland_value serial[1] = {{.u = 1}};
	ev(&b, cb_up, &proto_wl_callback, PROTO_WL_CALLBACK_EVT_DONE, serial);
	union wayland_value del[1] = {{.u = cb_up}};
	ev(&b, 1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_DELETE_ID, del);
	(void)cb;
	if (!h->failed) {
		comp_feed(h, b.buf, b.len, NULL, 0);
	}
	if (h->failed) {
		return;
	}
	uint32_t compositor = guest_bind(h, registry, "wl_compositor");
	uint32_t shm = guest_bind(h, registry, "wl_shm");
	uint32_t seat = guest_bind(h, registry, "wl_seat");
	uint32_t wm = guest_bind(h, registry, "xdg_wm_base");
	uint32_t ddm = guest_bind(h, registry, "wl_data_device_manager");
	uint32_t dmabuf = guest_bind(h, registry, "zwp_linux_dmabuf_v1");
	guest_bind(h, registry, "wl_output");
	(void)shm;
	union wayland_value v[6] = {{0}};
	uint32_t surface = rq(h, compositor, &proto_wl_compositor,
			      PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE, v);
	union wayland_value xs[2] = {{0}, {.u = surface}};
	uint32_t xdg = rq(h, wm, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE, xs);
	uint32_t top = rq(h, xdg, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_GET_TOPLEVEL, v);
	union wayland_value title[1] = {S("Terminal")};
	rq(h, top, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE, title);
	union wayland_value app[1] = {S("org.example.term")};
	rq(h, top, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_APP_ID, app);
	rq(h, surface, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, v);
	rq(h, seat, &proto_wl_seat, PROTO_WL_SEAT_REQ_GET_KEYBOARD, v);
	rq(h, seat, &proto_wl_seat, PROTO_WL_SEAT_REQ_GET_POINTER, v);
	union wayland_value dd[2] = {{0}, {.u = seat}};
	rq(h, ddm, &proto_wl_data_device_manager, PROTO_WL_DATA_DEVICE_MANAGER_REQ_GET_DATA_DEVICE,
	   dd);
	uint32_t source = rq(h, ddm, &proto_wl_data_device_manager,
			     PROTO_WL_DATA_DEVICE_MANAGER_REQ_CREATE_DATA_SOURCE, v);
	union wayland_value mime[1] = {S("text/plain")};
	rq(h, source, &proto_wl_data_source, PROTO_WL_DATA_SOURCE_REQ_OFFER, mime);
	if (dmabuf != 0) {
		rq(h, dmabuf, &proto_zwp_linux_dmabuf_v1,
		   PROTO_ZWP_LINUX_DMABUF_V1_REQ_GET_DEFAULT_FEEDBACK, v);
	}
	guest_flush(h, 0);
}

/* ---------------------------------------------------------------------- */

static bool can_allocate(void *data, uint32_t format, uint64_t modifier) {
	(void)data;
	return ((format ^ (uint32_t)modifier) & 1) == 0;
}

static void on_transfer(void *data, int fd, uint64_t cap) {
	struct harness *h = data;
	uint64_t size;
	fuzz_check(classify(fd, &size) != K_OTHER, "transfer fd of a bad kind");
	fuzz_check(cap == h->cfg.limits.clipboard_text_bytes ||
			   cap == h->cfg.limits.clipboard_bytes,
		   "transfer cap %" PRIu64, cap);
	h->transfers++;
}

static struct harness harness;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	static bool once;
	if (!once) {
		once = true;
		cw_log_set_level(fuzz_verbose() ? CW_LOG_DEBUG : CW_LOG_SILENT);
	}
	int fds_before = fuzz_fds_baseline();
	struct fuzz_input in = {.data = data, .size = size};
	struct harness *h = &harness;
	uint32_t config = take8(&in);
	static struct policy_config defaults;
	static bool have_defaults;
	if (!have_defaults) {
		policy_config_defaults(&defaults, VM);
		have_defaults = true;
	}
	h->cfg = defaults;
	snprintf(h->cfg.app_id_prefix, sizeof(h->cfg.app_id_prefix), "crossway.%s", VM);
	h->cfg.clipboard = (enum policy_clipboard)((config & 3) == 3 ? POLICY_CLIPBOARD_BOTH
								     : config & 3);
	h->cfg.primary_selection = config & 4;
	h->cfg.server_side_decorations = config & 8;
	h->cfg.refuse_unsealed_shm = config & 16;
	h->cfg.max_title_bytes = TITLE_MAX;
	h->cfg.limits.max_objects = MAX_OBJECTS;
	h->cfg.limits.max_toplevels = 4;
	h->cfg.limits.max_damage_rects = 4;
	h->lazy_delete = config & 64;
	h->failed = false;
	h->gbuf_len = 0;
	h->gfd_count = 0;
	h->pending_count = 0;
	h->transfers = 0;
	model_init(&h->guest);
	model_init(&h->host);
	h->comp = (struct compositor){.fd = -1};
	byte_queue_init(&h->comp.in, 1u << 20);
	byte_queue_init(&h->comp.out, 1u << 20);
	fuzz_check(fd_queue_init(&h->comp.in_fds, 64) && fd_queue_init(&h->comp.out_fds, 256),
		   "out of memory");
	struct forward_limits fl = {
		.max_message = WAYLAND_MSG_DEFAULT_MAX_SIZE,
		.max_objects = MAX_OBJECTS,
		.guest_fds = 64,
		.guest_out = 1u << 20,
		.guest_out_fds = 256,
	};
	fuzz_check(forward_init(&h->fw, &h->comp, &h->cfg, &fl), "forward_init");
	h->fw.trace = fuzz_verbose(); // every message, WAYLAND_DEBUG style
	h->fw.policy.on_read_transfer = on_transfer;
	h->fw.policy.hook_data = h;
	if (config & 32) {
		h->fw.policy.can_allocate = can_allocate;
	}
#ifdef FUZZ_COMPOSITOR_MODE
	bool compositor_mode = true;
#else
	bool compositor_mode = false;
#endif
	if (compositor_mode || (config & 128)) {
		session(h);
	}
	for (int n = 0; n < MAX_ACTIONS && !h->failed && in.pos < in.size; n++) {
		uint32_t a = take8(&in);
		if (compositor_mode) {
			switch (a & 3) {
			case 1:
				comp_raw(h, &in);
				break;
			case 3:
				guest_request(h, &in);
				guest_flush(h, 0);
				break;
			default:
				comp_event(h, &in);
				break;
			}
		} else {
			switch (a & 7) {
			case 0:
			case 1:
				guest_request(h, &in);
				if (a & 0x80) {
					guest_flush(h, 0);
				}
				break;
			case 2: {
				const uint8_t *p;
				size_t len = fuzz_take_bytes(&in, take8(&in) * 4, &p);
				fuzz_note("guest raw %zu bytes", len);
				guest_append(h, p, len);
				break;
			}
			case 3:
				comp_event(h, &in);
				break;
			case 4:
				guest_add_fd(h, make_fd(take8(&in)));
				break;
			case 5:
				guest_flush(h, take8(&in));
				break;
			case 6:
				comp_raw(h, &in);
				break;
			case 7:
				comp_send_deletes(h);
				break;
			}
		}
		if (!h->failed && !h->lazy_delete && h->pending_count > 0) {
			comp_send_deletes(h);
		}
	}
	if (!h->failed && (h->gbuf_len > 0 || h->gfd_count > 0)) {
		guest_flush(h, 0);
	}
	for (size_t i = 0; i < h->gfd_count; i++) {
		close(h->gfds[i]);
	}
	forward_finish(&h->fw);
	byte_queue_finish(&h->comp.in);
	byte_queue_finish(&h->comp.out);
	fd_queue_finish(&h->comp.in_fds);
	fd_queue_finish(&h->comp.out_fds);
	fuzz_fds_check(fds_before, "after");
	return 0;
}
