/*
 * Writes the seed corpora of the fuzz targets, using the wire encoders for
 * the well-formed parts and patching bytes for the malformed ones.
 *
 *   gen_seeds CORPUS_DIR    writes CORPUS_DIR/<target>/<seed> for the three
 *                           targets (`ninja gen-fuzz-seeds` runs it on
 *                           tests/fuzz/corpus); other files there stay
 *   gen_seeds --dict FILE   writes a libFuzzer dictionary of the interface
 *                           names compiled in (run-fuzz.sh uses it)
 *
 * Seeds named H-NN-... are the hostile cases of security.md section 7.5
 * that belong to a target; ok-* are well-formed; bad-* are other malformed
 * inputs. Input formats are described at the top of each fuzz_*.c.
 * The output is deterministic, and the Wayland seeds use only core and
 * xdg-shell messages, so they do not change with the installed protocols.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "proto_tables.h"
#include "wire/backend_link.h"
#include "wire/cross_domain.h"
#include "wire/wayland_msg.h"

static const char *corpus_dir;

__attribute__((noreturn, format(printf, 1, 2))) static void die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void write_seed(const char *target, const char *name, const void *data, size_t len) {
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", corpus_dir, target);
	if (mkdir(path, 0755) != 0 && errno != EEXIST) {
		die("%s: %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/%s/%s", corpus_dir, target, name);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
		die("%s: cannot write", path);
	}
}

/* A growing byte buffer (seeds are small; 192 KiB is plenty). */
struct buf {
	uint8_t data[192 * 1024];
	size_t len;
};

static void put(struct buf *b, const void *p, size_t n) {
	if (b->len + n > sizeof(b->data)) {
		die("seed buffer full");
	}
	if (n > 0) {
		memcpy(b->data + b->len, p, n);
	}
	b->len += n;
}

static void put8(struct buf *b, uint8_t v) {
	put(b, &v, 1);
}

static void put16(struct buf *b, uint16_t v) {
	put(b, &v, 2);
}

static void put32(struct buf *b, uint32_t v) {
	put(b, &v, 4);
}

static struct buf out; // the seed being built

/* ---- Wayland (fuzz_wayland_msg.c) ---------------------------------- */

#define U(x)                                                                                       \
	{ .u = (uint32_t)(x) }
#define S(str)                                                                                     \
	{                                                                                          \
		.bytes = {.data = (str), .len = sizeof(str) }                                      \
	}
#define NIL                                                                                        \
	{                                                                                          \
		.bytes = {.data = NULL, .len = 0 }                                                 \
	}
#define ARR(p, n)                                                                                  \
	{                                                                                          \
		.bytes = {.data = (p), .len = (n) }                                                \
	}
#define FD                                                                                         \
	{ .u = 0 }
#define V(...) ((const union wayland_value[]){__VA_ARGS__})
#define NOARGS NULL

enum dir { GUEST = 0, COMPOSITOR = 1, INTERNAL = 2 };

/* One SEND (guest) or recvmsg (compositor): the messages' bytes, where each
 * message ends and how many fds it takes. INTERNAL groups hold the payload
 * of an internal-object action instead. */
struct group {
	enum dir dir;
	uint8_t bytes[8192];
	size_t len;
	size_t ends[128];
	unsigned fds[128];
	size_t count;
	unsigned extra_fds; // fds sent with no message (hostile seeds)
};

static struct group groups[64];
static size_t group_count;
static bool group_open;

static void wl_begin(void) {
	group_count = 0;
	group_open = false;
}

/* Ends the current group: the next message starts a new SEND/recvmsg. */
static void cut(void) {
	group_open = false;
}

static struct group *group_for(enum dir dir) {
	if (!group_open || groups[group_count - 1].dir != dir) {
		if (group_count == sizeof(groups) / sizeof(groups[0])) {
			die("too many groups");
		}
		groups[group_count] = (struct group){.dir = dir};
		group_count++;
		group_open = true;
	}
	return &groups[group_count - 1];
}

static void raw(enum dir dir, const void *bytes, size_t len, unsigned fds) {
	struct group *g = group_for(dir);
	if (g->len + len > sizeof(g->bytes) || g->count == sizeof(g->ends) / sizeof(g->ends[0])) {
		die("group full");
	}
	memcpy(g->bytes + g->len, bytes, len);
	g->len += len;
	g->ends[g->count] = g->len;
	g->fds[g->count] = fds;
	g->count++;
}

static size_t encode(uint8_t *dst, size_t cap, uint32_t id, const struct proto_interface *iface,
		     bool event, uint16_t op, const union wayland_value *v) {
	const struct proto_message *m = event ? &iface->events[op] : &iface->requests[op];
	size_t n = wayland_msg_encode(dst, cap, id, op, m, v);
	if (n == 0) {
		die("%s.%s does not encode", iface->name, m->name);
	}
	return n;
}

static void msg(enum dir dir, uint32_t id, const struct proto_interface *iface, uint16_t op,
		const union wayland_value *v) {
	uint8_t b[4096];
	size_t n = encode(b, sizeof(b), id, iface, dir == COMPOSITOR, op, v);
	const struct proto_message *m = dir == COMPOSITOR ? &iface->events[op]
							  : &iface->requests[op];
	raw(dir, b, n, m->fd_count);
}

static void req(uint32_t id, const struct proto_interface *iface, uint16_t op,
		const union wayland_value *v) {
	msg(GUEST, id, iface, op, v);
}

static void evt(uint32_t id, const struct proto_interface *iface, uint16_t op,
		const union wayland_value *v) {
	msg(COMPOSITOR, id, iface, op, v);
}

/* The proxy creates an internal object of @iface. */
static void internal(const struct proto_interface *iface, uint8_t version) {
	cut();
	struct group *g = group_for(INTERNAL);
	uint16_t index = iface->index;
	memcpy(g->bytes, &index, 2);
	g->bytes[2] = (uint8_t)(version - 1);
	g->len = 3;
	cut();
}

static void chunk(uint8_t action, unsigned fds, const uint8_t *bytes, size_t len) {
	put8(&out, (uint8_t)(action | fds << 2));
	put16(&out, (uint16_t)len);
	put(&out, bytes, len);
}

/* Writes the session as a stream-mode script. @split == 0: one chunk per
 * group. Otherwise each group's bytes are cut into pieces of varying sizes,
 * across message boundaries; a message's fds come with the piece that
 * completes it. */
static void wl_write(const char *name, size_t split) {
	static const size_t sizes[] = {1, 7, 3, 29, 11, 2, 64};
	out.len = 0;
	put8(&out, 0); // stream mode
	size_t turn = 0;
	for (size_t i = 0; i < group_count; i++) {
		const struct group *g = &groups[i];
		unsigned total = g->extra_fds;
		for (size_t k = 0; k < g->count; k++) {
			total += g->fds[k];
		}
		if (g->dir == INTERNAL || split == 0) {
			chunk((uint8_t)g->dir, total, g->bytes, g->len);
			continue;
		}
		size_t pos = 0, k = 0;
		unsigned extra = g->extra_fds;
		while (pos < g->len) {
			size_t n = sizes[turn++ % (sizeof(sizes) / sizeof(sizes[0]))] * split;
			if (n > g->len - pos) {
				n = g->len - pos;
			}
			unsigned fds = extra;
			extra = 0;
			while (k < g->count && g->ends[k] <= pos + n) {
				fds += g->fds[k++];
			}
			chunk((uint8_t)g->dir, fds, g->bytes + pos, n);
			pos += n;
		}
	}
	write_seed("wayland_msg", name, out.data, out.len);
}

/* Guest objects of the full session (ids are handed out in order). */
enum {
	ID_REGISTRY = 2,
	ID_CALLBACK = 3, // freed again by done + delete_id
	ID_COMPOSITOR = 3,
	ID_SHM,
	ID_WM_BASE,
	ID_SEAT,
	ID_DDM,
	ID_SURFACE,
	ID_XDG_SURFACE,
	ID_TOPLEVEL,
	ID_POOL,
	ID_BUFFER,
	ID_FRAME,
	ID_KEYBOARD,
	ID_POINTER,
	ID_DATA_DEVICE,
	ID_REGION,
};
#define ID_OFFER 0xff000000u

/* Registry, globals and binds. */
static void session_globals(void) {
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, V(U(ID_REGISTRY)));
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, V(U(ID_CALLBACK)));
	evt(ID_REGISTRY, &proto_wl_registry, PROTO_WL_REGISTRY_EVT_GLOBAL,
	    V(U(1), S("wl_compositor"), U(4)));
	evt(ID_REGISTRY, &proto_wl_registry, PROTO_WL_REGISTRY_EVT_GLOBAL,
	    V(U(2), S("wl_shm"), U(1)));
	evt(ID_REGISTRY, &proto_wl_registry, PROTO_WL_REGISTRY_EVT_GLOBAL,
	    V(U(3), S("xdg_wm_base"), U(2)));
	evt(ID_REGISTRY, &proto_wl_registry, PROTO_WL_REGISTRY_EVT_GLOBAL,
	    V(U(4), S("wl_seat"), U(5)));
	evt(ID_REGISTRY, &proto_wl_registry, PROTO_WL_REGISTRY_EVT_GLOBAL,
	    V(U(5), S("wl_data_device_manager"), U(3)));
	evt(ID_REGISTRY, &proto_wl_registry, PROTO_WL_REGISTRY_EVT_GLOBAL,
	    V(U(6), S("wl_subcompositor"), U(1)));
	evt(ID_CALLBACK, &proto_wl_callback, PROTO_WL_CALLBACK_EVT_DONE, V(U(1)));
	evt(1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_DELETE_ID, V(U(ID_CALLBACK)));
	const uint32_t bind = PROTO_WL_REGISTRY_REQ_BIND;
	req(ID_REGISTRY, &proto_wl_registry, bind, V(U(1), S("wl_compositor"), U(4), U(3)));
	req(ID_REGISTRY, &proto_wl_registry, bind, V(U(2), S("wl_shm"), U(1), U(ID_SHM)));
	req(ID_REGISTRY, &proto_wl_registry, bind, V(U(3), S("xdg_wm_base"), U(2), U(ID_WM_BASE)));
	req(ID_REGISTRY, &proto_wl_registry, bind, V(U(4), S("wl_seat"), U(5), U(ID_SEAT)));
	req(ID_REGISTRY, &proto_wl_registry, bind,
	    V(U(5), S("wl_data_device_manager"), U(3), U(ID_DDM)));
}

/* A toplevel with an shm buffer; assumes session_globals. */
static void session_window(void) {
	req(ID_COMPOSITOR, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    V(U(ID_SURFACE)));
	req(ID_WM_BASE, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE,
	    V(U(ID_XDG_SURFACE), U(ID_SURFACE)));
	req(ID_XDG_SURFACE, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_GET_TOPLEVEL,
	    V(U(ID_TOPLEVEL)));
	req(ID_TOPLEVEL, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE,
	    V(S("crossway \"seed\"\twindow")));
	req(ID_TOPLEVEL, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_SET_APP_ID,
	    V(S("org.example.seed")));
	req(ID_SURFACE, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NOARGS);
	static const uint32_t states[] = {1, 4};
	evt(ID_SHM, &proto_wl_shm, PROTO_WL_SHM_EVT_FORMAT, V(U(0)));
	evt(ID_SHM, &proto_wl_shm, PROTO_WL_SHM_EVT_FORMAT, V(U(1)));
	evt(ID_SEAT, &proto_wl_seat, PROTO_WL_SEAT_EVT_CAPABILITIES, V(U(3)));
	evt(ID_SEAT, &proto_wl_seat, PROTO_WL_SEAT_EVT_NAME, V(S("seat0")));
	evt(ID_TOPLEVEL, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_EVT_CONFIGURE,
	    V(U(800), U(600), ARR(states, sizeof(states))));
	evt(ID_XDG_SURFACE, &proto_xdg_surface, PROTO_XDG_SURFACE_EVT_CONFIGURE, V(U(77)));
	evt(ID_WM_BASE, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_EVT_PING, V(U(5)));
	req(ID_WM_BASE, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_PONG, V(U(5)));
	req(ID_XDG_SURFACE, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_ACK_CONFIGURE, V(U(77)));
	req(ID_SHM, &proto_wl_shm, PROTO_WL_SHM_REQ_CREATE_POOL, V(U(ID_POOL), FD, U(16384)));
	req(ID_POOL, &proto_wl_shm_pool, PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER,
	    V(U(ID_BUFFER), U(0), U(64), U(64), U(256), U(0)));
	req(ID_SURFACE, &proto_wl_surface, PROTO_WL_SURFACE_REQ_ATTACH,
	    V(U(ID_BUFFER), U(0), U(0)));
	req(ID_SURFACE, &proto_wl_surface, PROTO_WL_SURFACE_REQ_DAMAGE_BUFFER,
	    V(U(0), U(0), U(64), U(64)));
	req(ID_SURFACE, &proto_wl_surface, PROTO_WL_SURFACE_REQ_FRAME, V(U(ID_FRAME)));
	req(ID_SURFACE, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NOARGS);
}

/* Input devices, a clipboard offer, destruction and id reuse. */
static void session_input(void) {
	req(ID_SEAT, &proto_wl_seat, PROTO_WL_SEAT_REQ_GET_KEYBOARD, V(U(ID_KEYBOARD)));
	req(ID_SEAT, &proto_wl_seat, PROTO_WL_SEAT_REQ_GET_POINTER, V(U(ID_POINTER)));
	req(ID_DDM, &proto_wl_data_device_manager, PROTO_WL_DATA_DEVICE_MANAGER_REQ_GET_DATA_DEVICE,
	    V(U(ID_DATA_DEVICE), U(ID_SEAT)));
	static const uint32_t keys[] = {30, 31, 32};
	evt(ID_BUFFER, &proto_wl_buffer, PROTO_WL_BUFFER_EVT_RELEASE, NOARGS);
	evt(ID_FRAME, &proto_wl_callback, PROTO_WL_CALLBACK_EVT_DONE, V(U(1234)));
	evt(1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_DELETE_ID, V(U(ID_FRAME)));
	evt(ID_KEYBOARD, &proto_wl_keyboard, PROTO_WL_KEYBOARD_EVT_KEYMAP, V(U(1), FD, U(4096)));
	evt(ID_KEYBOARD, &proto_wl_keyboard, PROTO_WL_KEYBOARD_EVT_REPEAT_INFO, V(U(25), U(600)));
	evt(ID_KEYBOARD, &proto_wl_keyboard, PROTO_WL_KEYBOARD_EVT_ENTER,
	    V(U(10), U(ID_SURFACE), ARR(keys, sizeof(keys))));
	evt(ID_KEYBOARD, &proto_wl_keyboard, PROTO_WL_KEYBOARD_EVT_KEY,
	    V(U(11), U(99), U(30), U(1)));
	evt(ID_KEYBOARD, &proto_wl_keyboard, PROTO_WL_KEYBOARD_EVT_MODIFIERS,
	    V(U(12), U(1), U(0), U(0), U(0)));
	evt(ID_POINTER, &proto_wl_pointer, PROTO_WL_POINTER_EVT_ENTER,
	    V(U(13), U(ID_SURFACE), U(10 * 256), U((uint32_t)(-3 * 256))));
	evt(ID_POINTER, &proto_wl_pointer, PROTO_WL_POINTER_EVT_BUTTON,
	    V(U(14), U(100), U(0x110), U(1)));
	evt(ID_POINTER, &proto_wl_pointer, PROTO_WL_POINTER_EVT_FRAME, NOARGS);
	evt(ID_DATA_DEVICE, &proto_wl_data_device, PROTO_WL_DATA_DEVICE_EVT_DATA_OFFER,
	    V(U(ID_OFFER)));
	evt(ID_OFFER, &proto_wl_data_offer, PROTO_WL_DATA_OFFER_EVT_OFFER,
	    V(S("text/plain;charset=utf-8")));
	evt(ID_OFFER, &proto_wl_data_offer, PROTO_WL_DATA_OFFER_EVT_OFFER, V(S("text/plain")));
	evt(ID_DATA_DEVICE, &proto_wl_data_device, PROTO_WL_DATA_DEVICE_EVT_SELECTION,
	    V(U(ID_OFFER)));
	evt(ID_KEYBOARD, &proto_wl_keyboard, PROTO_WL_KEYBOARD_EVT_LEAVE, V(U(15), U(ID_SURFACE)));
	req(ID_OFFER, &proto_wl_data_offer, PROTO_WL_DATA_OFFER_REQ_RECEIVE,
	    V(S("text/plain"), FD));
	req(ID_OFFER, &proto_wl_data_offer, PROTO_WL_DATA_OFFER_REQ_DESTROY, NOARGS);
	// The compositor reuses the zombie's id for the next offer.
	evt(ID_DATA_DEVICE, &proto_wl_data_device, PROTO_WL_DATA_DEVICE_EVT_DATA_OFFER,
	    V(U(ID_OFFER)));
	evt(ID_DATA_DEVICE, &proto_wl_data_device, PROTO_WL_DATA_DEVICE_EVT_SELECTION, V(U(0)));
}

static void session_teardown(void) {
	req(ID_TOPLEVEL, &proto_xdg_toplevel, PROTO_XDG_TOPLEVEL_REQ_DESTROY, NOARGS);
	req(ID_XDG_SURFACE, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_DESTROY, NOARGS);
	req(ID_BUFFER, &proto_wl_buffer, PROTO_WL_BUFFER_REQ_DESTROY, NOARGS);
	req(ID_SURFACE, &proto_wl_surface, PROTO_WL_SURFACE_REQ_DESTROY, NOARGS);
	// A request to a destroyed object: dropped, like libwayland-server does.
	req(ID_SURFACE, &proto_wl_surface, PROTO_WL_SURFACE_REQ_COMMIT, NOARGS);
	evt(1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_DELETE_ID, V(U(ID_TOPLEVEL)));
	evt(1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_DELETE_ID, V(U(ID_XDG_SURFACE)));
	evt(1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_DELETE_ID, V(U(ID_BUFFER)));
	evt(1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_DELETE_ID, V(U(ID_SURFACE)));
	// delete_id of a live object: the guest keeps the id until it reuses it.
	evt(1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_DELETE_ID, V(U(ID_POOL)));
	req(ID_COMPOSITOR, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    V(U(ID_SURFACE)));
	req(ID_POOL, &proto_wl_shm_pool, PROTO_WL_SHM_POOL_REQ_RESIZE, V(U(32768)));
	req(ID_COMPOSITOR, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_REGION,
	    V(U(ID_REGION)));
	req(ID_REGION, &proto_wl_region, PROTO_WL_REGION_REQ_ADD, V(U(0), U(0), U(10), U(10)));
	req(ID_SURFACE, &proto_wl_surface, PROTO_WL_SURFACE_REQ_SET_INPUT_REGION, V(U(ID_REGION)));
	req(ID_SURFACE, &proto_wl_surface, PROTO_WL_SURFACE_REQ_SET_OPAQUE_REGION, V(U(0)));
	evt(1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_ERROR,
	    V(U(ID_SURFACE), U(2), S("wl_surface@8: a made-up protocol error")));
}

/* Minimal guest state for the hostile cases: registry 2, compositor 3,
 * xdg_wm_base 4, surface 5, xdg_surface 6, toplevel 7. */
enum {
	H_REGISTRY = 2,
	H_COMPOSITOR,
	H_WM_BASE,
	H_SURFACE,
	H_XDG_SURFACE,
	H_TOPLEVEL,
	H_NEXT,
};

static void hostile_setup(void) {
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, V(U(H_REGISTRY)));
	req(H_REGISTRY, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    V(U(1), S("wl_compositor"), U(4), U(H_COMPOSITOR)));
	req(H_REGISTRY, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    V(U(2), S("xdg_wm_base"), U(2), U(H_WM_BASE)));
	req(H_COMPOSITOR, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE,
	    V(U(H_SURFACE)));
	req(H_WM_BASE, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE,
	    V(U(H_XDG_SURFACE), U(H_SURFACE)));
	req(H_XDG_SURFACE, &proto_xdg_surface, PROTO_XDG_SURFACE_REQ_GET_TOPLEVEL,
	    V(U(H_TOPLEVEL)));
	cut();
}

/* A message from raw words: header (id, size computed, opcode), then @n
 * words, then @tail raw bytes. */
static void raw_msg(enum dir dir, uint32_t id, uint16_t op, const uint32_t *words, size_t n,
		    const void *tail, size_t tail_len, unsigned fds) {
	uint8_t b[8192];
	size_t len = 8 + 4 * n + tail_len;
	uint32_t hdr[2] = {id, (uint32_t)len << 16 | op};
	memcpy(b, hdr, 8);
	memcpy(b + 8, words, 4 * n);
	memcpy(b + 8 + 4 * n, tail, tail_len);
	raw(dir, b, len, fds);
}

/* Only a header, with any size word. */
static void raw_header(enum dir dir, uint32_t id, uint32_t size, uint16_t op) {
	uint32_t hdr[2] = {id, size << 16 | op};
	raw(dir, hdr, 8, 0);
}

#define WORDS(...) ((const uint32_t[]){__VA_ARGS__})
#define NWORDS(...) (sizeof((const uint32_t[]){__VA_ARGS__}) / 4)

static void seed_title_words(const char *name, const uint32_t *words, size_t n, const void *tail,
			     size_t tail_len) {
	wl_begin();
	hostile_setup();
	raw_msg(GUEST, H_TOPLEVEL, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE, words, n, tail, tail_len, 0);
	wl_write(name, 0);
}

/* Guest with a seat, keyboard 5 and surface 6, for event cases. */
static void keyboard_setup(void) {
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, V(U(2)));
	req(2, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    V(U(1), S("wl_compositor"), U(4), U(3)));
	req(2, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND, V(U(2), S("wl_seat"), U(5), U(4)));
	req(4, &proto_wl_seat, PROTO_WL_SEAT_REQ_GET_KEYBOARD, V(U(5)));
	req(3, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE, V(U(6)));
	cut();
}

static void wayland_seeds(void) {
	// Well-formed sessions, whole and cut into pieces.
	wl_begin();
	session_globals();
	cut();
	session_window();
	cut();
	session_input();
	cut();
	session_teardown();
	wl_write("ok-session", 0);
	wl_write("ok-session-split", 1);
	wl_write("ok-session-split-wide", 5);

	wl_begin();
	session_globals();
	wl_write("ok-registry", 0);

	// Internal objects: their events are dropped, their delete_id too.
	wl_begin();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, V(U(2)));
	internal(&proto_wl_callback, 1);                               // upstream id 3
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, V(U(3))); // upstream id 4
	evt(3, &proto_wl_callback, PROTO_WL_CALLBACK_EVT_DONE, V(U(1)));
	evt(1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_DELETE_ID, V(U(3)));
	evt(4, &proto_wl_callback, PROTO_WL_CALLBACK_EVT_DONE, V(U(2)));
	evt(1, &proto_wl_display, PROTO_WL_DISPLAY_EVT_DELETE_ID, V(U(4)));
	cut();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, V(U(3)));
	internal(&proto_wl_data_offer, 3);
	wl_write("ok-internal-objects", 0);

	// H-11..H-13: header sizes, rejected as soon as the header is in.
	static const struct {
		const char *name;
		uint32_t size;
	} sizes[] = {
		{"H-11-wl-size-lt-8-0", 0},       {"H-11-wl-size-lt-8-4", 4},
		{"H-12-wl-size-unaligned-9", 9},  {"H-12-wl-size-unaligned-4095", 4095},
		{"H-13-wl-size-huge-4100", 4100}, {"H-13-wl-size-huge-65532", 65532},
	};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		wl_begin();
		req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, V(U(2)));
		raw_header(GUEST, 1, sizes[i].size, PROTO_WL_DISPLAY_REQ_SYNC);
		raw(GUEST, "\3\0\0\0", 4, 0);
		wl_write(sizes[i].name, 0);
	}
	wl_begin();
	raw_header(COMPOSITOR, 1, 4100, PROTO_WL_DISPLAY_EVT_DELETE_ID);
	wl_write("H-13-wl-size-huge-event", 0);

	// H-14: unknown objects.
	wl_begin();
	raw_header(GUEST, 99, 8, 0);
	wl_write("H-14-wl-unknown-object", 0);
	wl_begin();
	raw_header(COMPOSITOR, 55, 8, 0);
	wl_write("H-14-wl-unknown-object-event", 0);
	wl_begin();
	hostile_setup();
	req(H_SURFACE, &proto_wl_surface, PROTO_WL_SURFACE_REQ_ATTACH, V(U(77), U(0), U(0)));
	wl_write("H-14-wl-unknown-object-argument", 0);

	// H-15: opcodes past the interface.
	wl_begin();
	hostile_setup();
	raw_header(GUEST, H_SURFACE, 8, 40);
	wl_write("H-15-wl-opcode-out-of-range", 0);
	wl_begin();
	hostile_setup();
	raw_header(COMPOSITOR, H_TOPLEVEL, 8, 9);
	wl_write("H-15-wl-opcode-out-of-range-event", 0);

	// H-16: wl_surface.set_buffer_scale (since 3) on a version 1 surface.
	wl_begin();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, V(U(2)));
	req(2, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    V(U(1), S("wl_compositor"), U(1), U(3)));
	req(3, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE, V(U(4)));
	req(4, &proto_wl_surface, PROTO_WL_SURFACE_REQ_SET_BUFFER_SCALE, V(U(2)));
	wl_write("H-16-wl-request-newer-than-bound-version", 0);

	// H-17..H-19: strings and null ids.
	seed_title_words("H-17-wl-string-len-overflow-ffffffff", WORDS(0xffffffffu), 1, "abcd", 4);
	seed_title_words("H-17-wl-string-len-overflow-fffffffd", WORDS(0xfffffffdu), 1, NULL, 0);
	seed_title_words("H-18-wl-string-no-nul", WORDS(4), 1, "abcd", 4);
	seed_title_words("H-18-wl-string-interior-nul", WORDS(6), 1, "ab\0de\0\0\0", 8);
	seed_title_words("H-19-wl-null-nonnullable-string", WORDS(0), 1, NULL, 0);
	seed_title_words("bad-wl-string-len-past-end", WORDS(9), 1, "abcdefgh", 8);
	wl_begin();
	hostile_setup();
	req(H_WM_BASE, &proto_xdg_wm_base, PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE,
	    V(U(H_NEXT), U(0)));
	wl_write("H-19-wl-null-nonnullable-object", 0);
	wl_begin();
	raw_msg(GUEST, 1, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, WORDS(0), 1, NULL, 0, 0);
	wl_write("H-19-wl-null-nonnullable-new-id", 0);

	// H-20: keyboard.enter with arrays running past the message.
	static const struct {
		const char *name;
		uint32_t len;
	} arrays[] = {{"H-20-wl-array-overflow", 12},
		      {"H-20-wl-array-overflow-fffffffc", 0xfffffffcu}};
	for (size_t i = 0; i < 2; i++) {
		wl_begin();
		keyboard_setup();
		raw_msg(COMPOSITOR, 5, PROTO_WL_KEYBOARD_EVT_ENTER, WORDS(1, 6, arrays[i].len, 30),
			NWORDS(1, 6, arrays[i].len, 30), NULL, 0, 0);
		wl_write(arrays[i].name, 0);
	}

	// H-21..H-23: fd accounting.
	wl_begin();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, V(U(2)));
	req(2, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND, V(U(1), S("wl_shm"), U(1), U(3)));
	cut();
	raw_msg(GUEST, 3, PROTO_WL_SHM_REQ_CREATE_POOL, WORDS(4, 4096), 2, NULL, 0, 0);
	wl_write("H-21-wl-fd-missing", 0);
	wl_begin();
	keyboard_setup();
	raw_msg(COMPOSITOR, 5, PROTO_WL_KEYBOARD_EVT_KEYMAP, WORDS(1, 4096), 2, NULL, 0, 0);
	wl_write("H-21-wl-fd-missing-event", 0);
	wl_begin();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, V(U(2)));
	groups[group_count - 1].extra_fds = 1;
	cut();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, V(U(3)));
	wl_write("H-22-wl-fd-surplus", 0);
	wl_begin();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, V(U(2)));
	groups[group_count - 1].extra_fds = 29;
	wl_write("H-23-wl-fd-29", 0);

	// H-24..H-27: new ids.
	wl_begin();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, V(U(3)));
	wl_write("H-24-wl-newid-skip", 0);
	wl_begin();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, V(U(2)));
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, V(U(2)));
	wl_write("H-25-wl-newid-reuse-live", 0);
	wl_begin();
	hostile_setup();
	req(H_COMPOSITOR, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_REGION,
	    V(U(H_NEXT)));
	req(H_NEXT, &proto_wl_region, PROTO_WL_REGION_REQ_DESTROY, NOARGS);
	req(H_COMPOSITOR, &proto_wl_compositor, PROTO_WL_COMPOSITOR_REQ_CREATE_REGION,
	    V(U(H_NEXT)));
	wl_write("H-26-wl-newid-reuse-pending-delete", 0);
	wl_begin();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, V(U(2)));
	evt(2, &proto_wl_callback, PROTO_WL_CALLBACK_EVT_DONE, V(U(1)));
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_SYNC, V(U(2)));
	wl_write("H-26-wl-newid-reuse-pending-delete-callback", 0);
	wl_begin();
	req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, V(U(0xff000001u)));
	wl_write("H-27-wl-newid-server-range", 0);

	// H-29..H-31 as far as the maps check them (the policy does the rest).
	static const struct {
		const char *name;
		const char *iface;
		uint32_t version;
	} binds[] = {
		{"H-29-wl-bind-wrong-iface", "zwlr_screencopy_manager_v1", 1},
		{"H-30-wl-bind-version-too-high", "wl_compositor", 1000},
		{"H-31-wl-bind-version-0", "wl_compositor", 0},
	};
	for (size_t i = 0; i < 3; i++) {
		wl_begin();
		req(1, &proto_wl_display, PROTO_WL_DISPLAY_REQ_GET_REGISTRY, V(U(2)));
		union wayland_value v[4] = {
			U(1),
			{.bytes = {.data = binds[i].iface, .len = strlen(binds[i].iface) + 1}},
			U(binds[i].version),
			U(3),
		};
		req(2, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND, v);
		wl_write(binds[i].name, 0);
	}

	// H-32: there is no wl_display destructor; opcode 2 does not exist.
	wl_begin();
	raw_header(GUEST, 1, 8, 2);
	wl_write("H-32-wl-destroy-display", 0);

	// Other hostile events.
	wl_begin();
	keyboard_setup();
	evt(2, &proto_wl_registry, PROTO_WL_REGISTRY_EVT_GLOBAL, V(U(1), S("wl_output"), U(4)));
	raw_msg(COMPOSITOR, 1, PROTO_WL_DISPLAY_EVT_DELETE_ID, WORDS(0xff000000u), 1, NULL, 0, 0);
	raw_msg(COMPOSITOR, 1, PROTO_WL_DISPLAY_EVT_DELETE_ID, WORDS(1), 1, NULL, 0, 0);
	raw_msg(COMPOSITOR, 1, PROTO_WL_DISPLAY_EVT_DELETE_ID, WORDS(900), 1, NULL, 0, 0);
	raw_msg(COMPOSITOR, 5, PROTO_WL_KEYBOARD_EVT_ENTER, WORDS(1, 0, 0), 3, NULL, 0, 0);
	wl_write("bad-evt-null-surface", 0);
	wl_begin();
	keyboard_setup();
	req(2, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    V(U(3), S("wl_data_device_manager"), U(3), U(7)));
	req(7, &proto_wl_data_device_manager, PROTO_WL_DATA_DEVICE_MANAGER_REQ_GET_DATA_DEVICE,
	    V(U(8), U(4)));
	evt(8, &proto_wl_data_device, PROTO_WL_DATA_DEVICE_EVT_DATA_OFFER, V(U(9)));
	wl_write("bad-evt-server-new-id-in-client-range", 0);
	wl_begin();
	keyboard_setup();
	req(2, &proto_wl_registry, PROTO_WL_REGISTRY_REQ_BIND,
	    V(U(3), S("wl_data_device_manager"), U(3), U(7)));
	req(7, &proto_wl_data_device_manager, PROTO_WL_DATA_DEVICE_MANAGER_REQ_GET_DATA_DEVICE,
	    V(U(8), U(4)));
	evt(8, &proto_wl_data_device, PROTO_WL_DATA_DEVICE_EVT_DATA_OFFER, V(U(ID_OFFER)));
	evt(8, &proto_wl_data_device, PROTO_WL_DATA_DEVICE_EVT_DATA_OFFER, V(U(ID_OFFER)));
	wl_write("bad-evt-server-new-id-live", 0);
	wl_begin();
	keyboard_setup();
	internal(&proto_wl_surface, 4); // upstream id 7
	evt(5, &proto_wl_keyboard, PROTO_WL_KEYBOARD_EVT_LEAVE, V(U(1), U(7)));
	wl_write("bad-evt-names-internal-object", 0);
	wl_begin();
	keyboard_setup();
	evt(5, &proto_wl_keyboard, PROTO_WL_KEYBOARD_EVT_LEAVE, V(U(1), U(4)));
	wl_write("bad-evt-wrong-interface", 0);
}

/* Table mode: one message against a named interface. */
static void table_seed(const char *name, const struct proto_interface *iface, bool event,
		       uint16_t op, const union wayland_value *v) {
	uint8_t b[4096];
	size_t n = encode(b, sizeof(b), 7, iface, event, op, v);
	out.len = 0;
	put8(&out, 1);
	put8(&out, (uint8_t)(2 | (event ? 1 : 0)));
	put(&out, iface->name, strlen(iface->name) + 1);
	put8(&out, (uint8_t)op);
	put(&out, b + 8, n - 8);
	write_seed("wayland_msg", name, out.data, out.len);
}

static void table_seeds(void) {
	static const uint32_t keys[] = {1, 2};
	table_seed("ok-table-bind", &proto_wl_registry, false, PROTO_WL_REGISTRY_REQ_BIND,
		   V(U(1), S("wl_compositor"), U(4), U(3)));
	table_seed("ok-table-set-title", &proto_xdg_toplevel, false,
		   PROTO_XDG_TOPLEVEL_REQ_SET_TITLE, V(S("title")));
	table_seed("ok-table-keyboard-enter", &proto_wl_keyboard, true, PROTO_WL_KEYBOARD_EVT_ENTER,
		   V(U(1), U(2), ARR(keys, sizeof(keys))));
	table_seed("ok-table-create-pool", &proto_wl_shm, false, PROTO_WL_SHM_REQ_CREATE_POOL,
		   V(U(3), FD, U(4096)));
	table_seed("ok-table-accept-null", &proto_wl_data_offer, false,
		   PROTO_WL_DATA_OFFER_REQ_ACCEPT, V(U(1), NIL));
	table_seed("ok-table-display-error", &proto_wl_display, true, PROTO_WL_DISPLAY_EVT_ERROR,
		   V(U(3), U(1), S("bad")));
	table_seed("ok-table-pointer-motion", &proto_wl_pointer, true, PROTO_WL_POINTER_EVT_MOTION,
		   V(U(1), U(256), U((uint32_t)-256)));
	table_seed("ok-table-positioner", &proto_xdg_positioner, false,
		   PROTO_XDG_POSITIONER_REQ_SET_ANCHOR_RECT, V(U(0), U(0), U(10), U(10)));
	// Index selection (sel bit 1 clear): the first interface, request 0.
	out.len = 0;
	put8(&out, 1);
	put8(&out, 0);
	put16(&out, 0);
	put8(&out, 0);
	write_seed("wayland_msg", "ok-table-index-0", out.data, out.len);
	// H-17/H-20 in table mode: lengths near 2^32.
	out.len = 0;
	put8(&out, 1);
	put8(&out, 2);
	put(&out, "xdg_toplevel", 13);
	put8(&out, PROTO_XDG_TOPLEVEL_REQ_SET_TITLE);
	put32(&out, 0xfffffffdu);
	write_seed("wayland_msg", "H-17-wl-string-len-overflow-table", out.data, out.len);
	out.len = 0;
	put8(&out, 1);
	put8(&out, 3);
	put(&out, "wl_keyboard", 12);
	put8(&out, PROTO_WL_KEYBOARD_EVT_ENTER);
	put32(&out, 1);
	put32(&out, 2);
	put32(&out, 0xfffffffcu);
	write_seed("wayland_msg", "H-20-wl-array-overflow-table", out.data, out.len);
}

/* ---- Cross-domain (fuzz_cross_domain.c) ----------------------------- */

static uint8_t xd[70 * 1024];

static void xd_seed(const char *name, const void *data, size_t len) {
	write_seed("cross_domain", name, data, len);
}

static size_t xd_header(uint8_t *p, uint8_t cmd, uint16_t size) {
	memset(p, 0, 8);
	p[0] = cmd;
	memcpy(p + 2, &size, 2);
	return 8;
}

static size_t xd_send(uint8_t *p, size_t cap, uint32_t layout) {
	static const uint32_t ids[] = {0x10, 0x80000001u, 0x12};
	static const uint32_t types[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB,
					 CROSS_DOMAIN_ID_TYPE_READ_PIPE,
					 CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB};
	static const uint32_t sizes[] = {4096, 0, 65536};
	uint8_t wl[64];
	uint32_t hdr[3] = {1, 12u << 16 | PROTO_WL_DISPLAY_REQ_SYNC, 3};
	memcpy(wl, hdr, sizeof(hdr));
	size_t n = cross_domain_encode_send(p, cap, layout, layout == 4 ? 2 : 3, ids, types, sizes,
					    wl, sizeof(hdr));
	if (n == 0) {
		die("SEND does not encode");
	}
	return n;
}

static void cross_domain_seeds(void) {
	size_t n;
	static const uint32_t forms[] = {16, 20, 24, 36};
	for (size_t i = 0; i < 4; i++) {
		char name[32];
		snprintf(name, sizeof(name), "ok-init%u", (unsigned)forms[i]);
		n = cross_domain_encode_init(xd, sizeof(xd), forms[i], 7, 8,
					     CROSS_DOMAIN_CHANNEL_TYPE_WAYLAND);
		xd_seed(name, xd, n);
	}
	n = cross_domain_encode_get_image_requirements(xd, sizeof(xd), 640, 480, 0x34325258u,
						       CROSS_DOMAIN_GBM_BO_USE_SCANOUT |
							       CROSS_DOMAIN_GBM_BO_USE_LINEAR);
	xd_seed("ok-get-image-requirements", xd, n);
	n = cross_domain_encode_poll(xd, sizeof(xd));
	xd_seed("ok-poll", xd, n);
	n = xd_send(xd, sizeof(xd), 28);
	xd_seed("ok-send28", xd, n);
	n = xd_send(xd, sizeof(xd), 4);
	xd_seed("ok-send4", xd, n);
	n = cross_domain_encode_write(xd, sizeof(xd), 0x80000001u, 0, "clipboard text", 14);
	xd_seed("ok-write", xd, n);
	n = cross_domain_encode_write(xd, sizeof(xd), 0x80000001u, 1, NULL, 0);
	xd_seed("ok-write-hang-up", xd, n);

	// What a guest proxy submits in its first buffers, back to back.
	n = cross_domain_encode_init(xd, sizeof(xd), 20, 7, 8, CROSS_DOMAIN_CHANNEL_TYPE_WAYLAND);
	n += cross_domain_encode_poll(xd + n, sizeof(xd) - n);
	n += cross_domain_encode_get_image_requirements(xd + n, sizeof(xd) - n, 64, 64, 0x34325258u,
							0x11);
	n += xd_send(xd + n, sizeof(xd) - n, 28);
	n += cross_domain_encode_write(xd + n, sizeof(xd) - n, 0x80000001u, 0, "abc", 3);
	n += cross_domain_encode_poll(xd + n, sizeof(xd) - n);
	xd_seed("ok-sequence", xd, n);

	// Ring records the host writes, and a query-ring reply.
	static const uint32_t rids[] = {0x20, 0x21};
	static const uint32_t rtypes[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB,
					  CROSS_DOMAIN_ID_TYPE_WRITE_PIPE};
	static const uint32_t rsizes[] = {4096, 0};
	uint32_t keymap[4] = {5, 16u << 16 | PROTO_WL_KEYBOARD_EVT_KEYMAP, 1, 4096};
	n = cross_domain_encode_receive(xd, sizeof(xd), 28, 2, rids, rtypes, rsizes, keymap,
					sizeof(keymap));
	xd_seed("ok-ring-receive28", xd, n);
	memset(xd + n, 0xa5, CROSS_DOMAIN_RING_BUFFER_SIZE - n); // the rest of the page
	xd_seed("ok-ring-receive28-page", xd, CROSS_DOMAIN_RING_BUFFER_SIZE);
	n = cross_domain_encode_receive(xd, sizeof(xd), 4, 2, rids, rtypes, rsizes, keymap,
					sizeof(keymap));
	xd_seed("ok-ring-receive4", xd, n);
	n = cross_domain_encode_read(xd, sizeof(xd), 0x21, 0, "pasted", 6);
	xd_seed("ok-ring-read", xd, n);
	n = cross_domain_encode_read(xd, sizeof(xd), 0x21, 1, NULL, 0);
	xd_seed("ok-ring-read-hang-up", xd, n);
	struct cross_domain_image_requirements ir = {
		.strides = {256, 0, 0, 0},
		.offsets = {0, 0, 0, 0},
		.modifier = 0,
		.size = 16384,
		.blob_id = 3,
		.map_info = 1,
		.memory_idx = -1,
		.physical_device_idx = -1,
	};
	n = cross_domain_encode_image_requirements(xd, sizeof(xd), &ir);
	xd_seed("ok-image-requirements", xd, n);

	// H-01: 1 to 7 bytes.
	xd_header(xd, CROSS_DOMAIN_CMD_POLL, 16);
	xd_seed("H-01-xd-short-header-1", xd, 1);
	xd_seed("H-01-xd-short-header-5", xd, 5);
	xd_seed("H-01-xd-short-header-7", xd, 7);

	// H-02: unknown commands (and host-to-guest ones from the guest).
	static const struct {
		const char *name;
		uint8_t cmd;
	} unknown[] = {
		{"H-02-xd-unknown-cmd-0", 0},
		{"H-02-xd-unknown-cmd-14", 14},
		{"H-02-xd-unknown-cmd-255", 255},
		{"bad-xd-receive-from-guest", CROSS_DOMAIN_CMD_RECEIVE},
		{"bad-xd-read-from-guest", CROSS_DOMAIN_CMD_READ},
	};
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		memset(xd, 0, 16);
		xd_header(xd, unknown[i].cmd, 16);
		xd_seed(unknown[i].name, xd, 16);
	}

	// H-03: cmd_size 0 must end the buffer, not loop.
	memset(xd, 0, 16);
	xd_header(xd, CROSS_DOMAIN_CMD_POLL, 0);
	xd_seed("H-03-xd-cmdsize-zero-poll", xd, 16);
	n = xd_send(xd, sizeof(xd), 28);
	xd_header(xd, CROSS_DOMAIN_CMD_SEND, 0);
	xd_seed("H-03-xd-cmdsize-zero-send", xd, n);
	n = cross_domain_encode_poll(xd, sizeof(xd));
	xd_header(xd + n, CROSS_DOMAIN_CMD_POLL, 0);
	xd_seed("H-03-xd-cmdsize-zero-after-poll", xd, n + 8);

	// H-04: cmd_size past the buffer; smaller than the fixed part.
	n = cross_domain_encode_poll(xd, sizeof(xd));
	xd_header(xd, CROSS_DOMAIN_CMD_POLL, 24);
	xd_seed("H-04-xd-cmdsize-overrun", xd, n);
	n = xd_send(xd, sizeof(xd), 28);
	xd_header(xd, CROSS_DOMAIN_CMD_SEND, (uint16_t)(n + 4));
	xd_seed("H-04-xd-cmdsize-overrun-send", xd, n);
	xd_header(xd, CROSS_DOMAIN_CMD_POLL, 8);
	xd_seed("H-04-xd-cmdsize-lt-fixed-poll", xd, 8);
	n = xd_send(xd, sizeof(xd), 28);
	xd_header(xd, CROSS_DOMAIN_CMD_SEND, 12);
	xd_seed("H-04-xd-cmdsize-lt-fixed-send", xd, n);
	n = cross_domain_encode_write(xd, sizeof(xd), 1, 0, "abcd", 4);
	xd_header(xd, CROSS_DOMAIN_CMD_WRITE, 20);
	xd_seed("H-04-xd-cmdsize-lt-fixed-write", xd, n);

	// H-05: INIT twice, INIT sizes, SEND before INIT (the decoder accepts
	// all of these but 28; the daemon's state machine rejects them).
	n = cross_domain_encode_init(xd, sizeof(xd), 20, 7, 8, 1);
	n += cross_domain_encode_init(xd + n, sizeof(xd) - n, 20, 9, 10, 1);
	xd_seed("H-05-xd-init-twice", xd, n);
	n = cross_domain_encode_init(xd, sizeof(xd), 24, 7, 8, 1);
	xd_seed("H-05-xd-init-bad-size-24-libkrun", xd, n);
	memset(xd, 0, 28);
	n = cross_domain_encode_init(xd, sizeof(xd), 24, 7, 8, 1);
	xd_header(xd, CROSS_DOMAIN_CMD_INIT, 28);
	xd_seed("H-05-xd-init-bad-size-28", xd, 28);
	n = xd_send(xd, sizeof(xd), 28);
	n += cross_domain_encode_init(xd + n, sizeof(xd) - n, 20, 7, 8, 1);
	xd_seed("H-05-xd-send-before-init", xd, n);

	// H-06: identifier counts.
	n = xd_send(xd, sizeof(xd), 28);
	memcpy(xd + 8, &(uint32_t){29}, 4);
	xd_seed("H-06-xd-too-many-ids-29", xd, n);
	memcpy(xd + 8, &(uint32_t){0xffffffffu}, 4);
	xd_seed("H-06-xd-too-many-ids-ffffffff", xd, n);
	n = xd_send(xd, sizeof(xd), 4);
	memcpy(xd + 8, &(uint32_t){5}, 4);
	xd_seed("H-06-xd-too-many-ids-legacy-5", xd, n);

	// H-07: opaque_data_size past cmd_size.
	n = xd_send(xd, sizeof(xd), 28);
	memcpy(xd + 12, &(uint32_t){(uint32_t)n}, 4);
	xd_seed("H-07-xd-opaque-overrun", xd, n);
	memcpy(xd + 12, &(uint32_t){0xffffffffu}, 4);
	xd_seed("H-07-xd-opaque-overrun-ffffffff", xd, n);
	n = xd_send(xd, sizeof(xd), 28);
	memcpy(xd + 12, &(uint32_t){8}, 4); // fits neither layout
	xd_seed("bad-xd-send-no-layout", xd, n);
	n = cross_domain_encode_write(xd, sizeof(xd), 1, 0, "abcd", 4);
	memcpy(xd + 16, &(uint32_t){0xffffffffu}, 4);
	xd_seed("H-07-xd-opaque-overrun-write", xd, n);

	// H-08: identifiers the daemon must refuse (unknown id, wrong type,
	// read-pipe id out of sequence); well-formed for the decoder.
	static const uint32_t bad_ids[] = {0xdead, 0x10, 0x80000005u};
	static const uint32_t bad_types[] = {CROSS_DOMAIN_ID_TYPE_VIRTGPU_BLOB,
					     CROSS_DOMAIN_ID_TYPE_VIRTGPU_SYNC, 9};
	n = cross_domain_encode_send(xd, sizeof(xd), 28, 3, bad_ids, bad_types, NULL, "x\0\0\0", 4);
	xd_seed("H-08-xd-bad-identifier", xd, n);

	// H-09: WRITE to a hung-up pipe; WRITE of 0 and of the largest size.
	n = cross_domain_encode_write(xd, sizeof(xd), 0x80000001u, 1, "a", 1);
	n += cross_domain_encode_write(xd + n, sizeof(xd) - n, 0x80000001u, 0, "b", 1);
	xd_seed("H-09-xd-write-closed-pipe", xd, n);
	n = cross_domain_encode_write(xd, sizeof(xd), 0x80000001u, 0, NULL, 0);
	xd_seed("H-09-xd-write-0", xd, n);
	static uint8_t big[65536];
	memset(big, 'w', sizeof(big));
	n = cross_domain_encode_write(xd, sizeof(xd), 0x80000001u, 0, big, 65535 - 24);
	xd_seed("H-09-xd-write-max", xd, n);
	// 64 KiB does not fit the 16-bit cmd_size: as a guest would write it.
	n = cross_domain_encode_write(xd, sizeof(xd), 0x80000001u, 0, big, 100);
	memcpy(xd + 16, &(uint32_t){65536}, 4);
	xd_header(xd, CROSS_DOMAIN_CMD_WRITE, (uint16_t)(65536 + 24));
	xd_seed("H-09-xd-write-64k", xd, n);

	// Malformed ring records.
	n = cross_domain_encode_read(xd, sizeof(xd), 0x21, 0, "pasted", 6);
	xd[12] = 2; // hang_up 2
	xd_seed("bad-ring-read-hang-up-2", xd, n);
	n = cross_domain_encode_receive(xd, sizeof(xd), 28, 2, rids, rtypes, rsizes, keymap,
					sizeof(keymap));
	xd[3] = 1; // header bytes must be zero
	xd_seed("bad-ring-receive-dirty-header", xd, n);
	n = cross_domain_encode_receive(xd, sizeof(xd), 4, 2, rids, rtypes, rsizes, keymap,
					sizeof(keymap));
	memcpy(xd + 12, &(uint32_t){0xfffffff0u}, 4);
	xd_seed("bad-ring-receive-data-past-ring", xd, n);
}

/* ---- Backend link (fuzz_backend_link.c) ----------------------------- */

static uint8_t pkt[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE + 64];

/* ctl: bit 0 direction, bits 1-2 fds, bit 3 the 4096-byte limit. */
static void link_seed(const char *name, bool to_backend, unsigned fds, const void *p, size_t len) {
	out.len = 0;
	put8(&out, (uint8_t)((to_backend ? 1 : 0) | fds << 1));
	put(&out, p, len);
	write_seed("backend_link", name, out.data, out.len);
}

static void link_set32(size_t off, uint32_t v) {
	memcpy(pkt + off, &v, 4);
}

static void backend_link_seeds(void) {
	size_t n;
	uint8_t submit[64];
	size_t sn = cross_domain_encode_init(submit, sizeof(submit), 20, 10, 11, 1);
	sn += cross_domain_encode_poll(submit + sn, sizeof(submit) - sn);

	n = backend_link_encode_hello(pkt, sizeof(pkt), 1, 7, 0, "work", "sommelier");
	link_seed("ok-hello", false, 0, pkt, n);
	n = backend_link_encode_hello(pkt, sizeof(pkt), 1, 0, CROSSWAY_BACKEND_HELLO_PROBE, "work",
				      "");
	link_seed("ok-hello-probe", false, 0, pkt, n);
	n = backend_link_encode_attach(pkt, sizeof(pkt), 2, 10,
				       CROSSWAY_BACKEND_ATTACH_GUEST_MEMORY, 4096,
				       CROSSWAY_BACKEND_BLOB_MEM_GUEST, 0, 0);
	link_seed("ok-attach-guest-memory", false, 0, pkt, n);
	n = backend_link_encode_attach(pkt, sizeof(pkt), 3, 12, CROSSWAY_BACKEND_ATTACH_HOST_FD,
				       65536, CROSSWAY_BACKEND_BLOB_MEM_HOST3D,
				       CROSSWAY_BACKEND_HANDLE_DMABUF,
				       CROSSWAY_BACKEND_MAP_CACHE_WC);
	link_seed("ok-attach-host-fd", false, 1, pkt, n);
	n = backend_link_encode_attach(pkt, sizeof(pkt), 4, 13,
				       CROSSWAY_BACKEND_ATTACH_CROSSWAY_BLOB, 16384,
				       CROSSWAY_BACKEND_BLOB_MEM_HOST3D, 0, 0);
	link_seed("ok-attach-crossway-blob", false, 0, pkt, n);
	n = backend_link_encode_resource(pkt, sizeof(pkt), CROSSWAY_BACKEND_DETACH, 5, 12);
	link_seed("ok-detach", false, 0, pkt, n);
	n = backend_link_encode_resource(pkt, sizeof(pkt), CROSSWAY_BACKEND_UNREF, 6, 12);
	link_seed("ok-unref", false, 0, pkt, n);
	n = backend_link_encode_submit(pkt, sizeof(pkt), 7, submit, (uint32_t)sn);
	link_seed("ok-submit", false, 0, pkt, n);
	n = backend_link_encode_submit(pkt, sizeof(pkt), 7, "abcde", 5);
	link_seed("ok-submit-padded", false, 0, pkt, n);
	n = backend_link_encode_submit(pkt, sizeof(pkt), 7, NULL, 0);
	link_seed("ok-submit-empty", false, 0, pkt, n);
	static uint8_t cmds[CROSSWAY_BACKEND_MAX_MESSAGE_SIZE];
	n = backend_link_encode_submit(pkt, sizeof(pkt), 8, cmds,
				       CROSSWAY_BACKEND_MAX_MESSAGE_SIZE - 24);
	link_seed("ok-submit-max", false, 0, pkt, n);
	n = backend_link_encode_fence(pkt, sizeof(pkt), 9, 0x100000001ull,
				      CROSSWAY_BACKEND_RING_CHANNEL);
	link_seed("ok-fence", false, 0, pkt, n);
	n = backend_link_encode_create_blob(
		pkt, sizeof(pkt), 10, 14, CROSSWAY_BACKEND_BLOB_MEM_HOST3D,
		CROSSWAY_BACKEND_BLOB_FLAG_MAPPABLE | CROSSWAY_BACKEND_BLOB_FLAG_SHAREABLE, 3,
		16384);
	link_seed("ok-create-blob", false, 0, pkt, n);
	n = backend_link_encode_shutdown(pkt, sizeof(pkt), 11);
	link_seed("ok-shutdown", false, 0, pkt, n);

	struct crossway_backend_cross_domain_caps caps = {1, 2, 1, 0};
	n = backend_link_encode_hello_reply(pkt, sizeof(pkt), 1, 65536, &caps, 28);
	link_seed("ok-hello-reply", true, 0, pkt, n);
	n = backend_link_encode_ring_write(pkt, sizeof(pkt), 11, 0, "\5\0\0\0\0\0\0\0", 8);
	link_seed("ok-ring-write", true, 0, pkt, n);
	n = backend_link_encode_ring_write(pkt, sizeof(pkt), 11, 100, "abc", 3);
	link_seed("ok-ring-write-padded", true, 0, pkt, n);
	n = backend_link_encode_fence_done(pkt, sizeof(pkt), 0x100000001ull, 1);
	link_seed("ok-fence-done", true, 0, pkt, n);
	struct crossway_backend_blob_reply br = {
		.status = 0,
		.resource_id = 14,
		.handle_type = CROSSWAY_BACKEND_HANDLE_SHM,
		.map_info = CROSSWAY_BACKEND_MAP_CACHE_CACHED,
		.size = 16384,
		.width = 64,
		.height = 64,
		.drm_fourcc = 0x34325258u,
		.strides = {256},
	};
	n = backend_link_encode_blob_reply(pkt, sizeof(pkt), 10, &br);
	link_seed("ok-blob-reply", true, 1, pkt, n);
	br.status = -12;
	n = backend_link_encode_blob_reply(pkt, sizeof(pkt), 10, &br);
	link_seed("ok-blob-reply-error", true, 0, pkt, n);
	n = backend_link_encode_error(pkt, sizeof(pkt), 0, -71,
				      "SEND: 5 identifiers > max 4 \xe2\x80\x94 context ended");
	link_seed("ok-error", true, 0, pkt, n);

	// H-10: garbage, truncation, wrong fd counts, broken framing.
	uint32_t state = 0x12345678u;
	for (size_t i = 0; i < 256; i++) {
		state = state * 1664525u + 1013904223u; // a fixed LCG: deterministic bytes
		pkt[i] = (uint8_t)(state >> 24);
	}
	link_seed("H-10-link-garbage", false, 0, pkt, 256);
	link_seed("H-10-link-garbage-to-backend", true, 2, pkt, 256);
	n = backend_link_encode_hello(pkt, sizeof(pkt), 1, 7, 0, "work", "sommelier");
	link_seed("H-10-link-truncated", false, 0, pkt, 100);
	link_seed("H-10-link-short-header", false, 0, pkt, 12);
	link_seed("H-10-link-empty", false, 0, pkt, 0);
	n = backend_link_encode_submit(pkt, sizeof(pkt), 7, submit, (uint32_t)sn);
	link_seed("H-10-link-fd-on-submit", false, 1, pkt, n);
	n = backend_link_encode_attach(pkt, sizeof(pkt), 3, 12, CROSSWAY_BACKEND_ATTACH_HOST_FD,
				       65536, 2, CROSSWAY_BACKEND_HANDLE_DMABUF, 3);
	link_seed("H-10-link-host-fd-missing", false, 0, pkt, n);
	link_seed("H-10-link-two-fds", false, 2, pkt, n);
	br.status = 0;
	n = backend_link_encode_blob_reply(pkt, sizeof(pkt), 10, &br);
	link_seed("H-10-link-blob-reply-no-fd", true, 0, pkt, n);
	br.status = 5;
	n = backend_link_encode_blob_reply(pkt, sizeof(pkt), 10, &br);
	link_seed("H-10-link-blob-reply-positive-status", true, 0, pkt, n);
	n = backend_link_encode_hello_reply(pkt, sizeof(pkt), 1, 65536, &caps, 28);
	link_seed("H-10-link-wrong-direction", false, 0, pkt, n);
	n = backend_link_encode_hello(pkt, sizeof(pkt), 1, 7, 0, "work", "sommelier");
	link_seed("H-10-link-wrong-direction-hello", true, 0, pkt, n);
	link_set32(4, 160);
	link_seed("H-10-link-size-mismatch", false, 0, pkt, n);
	n = backend_link_encode_resource(pkt, sizeof(pkt), CROSSWAY_BACKEND_DETACH, 1, 5);
	link_set32(4, 20);
	link_seed("H-10-link-unaligned", false, 0, pkt, 20);
	n = backend_link_encode_submit(pkt, sizeof(pkt), 8, cmds,
				       CROSSWAY_BACKEND_MAX_MESSAGE_SIZE - 16);
	link_seed("H-10-link-oversize", false, 0, pkt, n);
	out.len = 0;
	put8(&out, 8); // 4096-byte limit, but a SUBMIT of 4104 bytes
	n = backend_link_encode_submit(pkt, sizeof(pkt), 7, cmds, 4080);
	put(&out, pkt, n);
	write_seed("backend_link", "H-10-link-over-negotiated-limit", out.data, out.len);
	n = backend_link_encode_fence(pkt, sizeof(pkt), 9, 1, 1);
	link_set32(12, 1);
	link_seed("H-10-link-header-flags", false, 0, pkt, n);
	n = backend_link_encode_fence(pkt, sizeof(pkt), 9, 1, 1);
	link_set32(28, 1);
	link_seed("H-10-link-fence-flags", false, 0, pkt, n);
	n = backend_link_encode_resource(pkt, sizeof(pkt), CROSSWAY_BACKEND_UNREF, 6, 12);
	link_set32(20, 1);
	link_seed("H-10-link-reserved-nonzero", false, 0, pkt, n);
	n = backend_link_encode_submit(pkt, sizeof(pkt), 7, "abcde", 5);
	pkt[n - 1] = 1;
	link_seed("H-10-link-dirty-padding", false, 0, pkt, n);
	n = backend_link_encode_submit(pkt, sizeof(pkt), 7, "abcde", 5);
	link_set32(16, 9);
	link_seed("H-10-link-length-lies", false, 0, pkt, n);
	n = backend_link_encode_error(pkt, sizeof(pkt), 0, -71, "two\xff strings");
	pkt[24 + 3] = 0; // an embedded NUL
	link_seed("H-10-link-error-embedded-nul", true, 0, pkt, n);
	n = backend_link_encode_resource(pkt, sizeof(pkt), 0x0042, 1, 5);
	link_seed("H-10-link-unknown-type", false, 0, pkt, n);
	n = backend_link_encode_hello(pkt, sizeof(pkt), 1, 7, 0, "vm a/..", "ctx");
	link_seed("H-10-link-bad-vm-name", false, 0, pkt, n);
	n = backend_link_encode_hello(pkt, sizeof(pkt), 1, 7, 0, "work", "ctx");
	memset(pkt + 104, 'x', 64);
	link_seed("H-10-link-ctx-name-unterminated", false, 0, pkt, n);
	n = backend_link_encode_attach(pkt, sizeof(pkt), 2, 5, 9, 4096, 1, 0, 0);
	link_seed("H-10-link-attach-kind-9", false, 0, pkt, n);
}

static void write_dict(const char *path) {
	FILE *f = fopen(path, "w");
	if (f == NULL) {
		die("%s: %s", path, strerror(errno));
	}
	fprintf(f, "# Interface names compiled into crossway (gen_seeds --dict)\n");
	for (size_t i = 0; i < proto_interface_count; i++) {
		fprintf(f, "\"%s\\x00\"\n", proto_interfaces[i]->name);
	}
	if (fclose(f) != 0) {
		die("%s: cannot write", path);
	}
}

int main(int argc, char *argv[]) {
	if (argc == 3 && strcmp(argv[1], "--dict") == 0) {
		write_dict(argv[2]);
		return 0;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR | --dict FILE\n", argv[0]);
		return 2;
	}
	corpus_dir = argv[1];
	if (mkdir(corpus_dir, 0755) != 0 && errno != EEXIST) {
		die("%s: %s", corpus_dir, strerror(errno));
	}
	wayland_seeds();
	table_seeds();
	cross_domain_seeds();
	backend_link_seeds();
	return 0;
}
