/*
 * The recording compositor: a small Wayland compositor on libwayland-server
 * that records every request it receives and every event it sends (with a
 * copy of every fd), so tests can assert exactly what reached the host.
 *
 * It offers wl_compositor v5 (wl_surface, wl_region), wl_subcompositor v1,
 * wl_shm (libwayland's), xdg_wm_base v5 and one 1920x1080 wl_output v4, plus
 * what struct recorder_options switches on: wl_seat v7 with keyboard and
 * pointer, wl_data_device_manager v3, zwp_linux_dmabuf_v1 v3 or v4, wp_viewporter
 * (recorded only), and fake
 * privileged globals (zwlr_layer_shell_v1, zwlr_screencopy_manager_v1,
 * zwp_virtual_keyboard_manager_v1) that a filtering proxy must hide.
 *
 * Keyboard focus: a toplevel's first buffer commit gives it the keyboard
 * (wl_keyboard.enter with no keys held, then modifiers all 0), as a desktop
 * does; clipboard tools such as wl-copy wait for it. No input is ever sent.
 *
 * Threading: single-threaded, no threads of its own. Nothing happens behind
 * the caller's back: clients are served, records are made and clipboard data
 * is written only inside recorder_dispatch() (or recorder_wait()), and in the
 * calls documented as sending events. Tests drive the loop by polling
 * recorder_get_fd() together with their own fds.
 *
 * Pointers: every `const` pointer returned here is owned by the recorder.
 * Each function says how long it stays valid. Nothing returned outlives
 * recorder_destroy().
 *
 * fds: every fd the recorder hands out says whether the caller closes it or
 * only borrows it. fd copies kept in records belong to the recorder and are
 * closed by recorder_clear(), when their record is dropped, or by
 * recorder_destroy().
 *
 * Process state: recorder_create() sets SIGPIPE to SIG_IGN if it is at its
 * default, so a clipboard reader that goes away cannot kill the process.
 */
#ifndef CROSSWAY_TESTS_RECORDER_RECORDER_H
#define CROSSWAY_TESTS_RECORDER_RECORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct recorder;
struct recorder_record;
struct wl_display;

/** Records kept when recorder_options.max_records is 0. */
#define RECORDER_DEFAULT_MAX_RECORDS 65536
/** fd copies kept when recorder_options.max_fd_copies is 0 (well under RLIMIT_NOFILE's 1024). */
#define RECORDER_DEFAULT_MAX_FD_COPIES 256
/** The one output's mode, in pixels, at 60 Hz. */
#define RECORDER_OUTPUT_WIDTH 1920
#define RECORDER_OUTPUT_HEIGHT 1080
/** Frame callback period without recorder_options.fast, in milliseconds. */
#define RECORDER_FRAME_INTERVAL_MS 16
/** The dmabuf v4 main device (and only tranche target): /dev/dri/renderD128's dev_t. */
#define RECORDER_DMABUF_MAIN_DEVICE_MAJOR 226
#define RECORDER_DMABUF_MAIN_DEVICE_MINOR 128
/** Most planes a zwp_linux_buffer_params_v1 may have (the protocol's plane_idx limit). */
#define RECORDER_DMABUF_MAX_PLANES 4

/**
 * Called for every new record, right after it is stored, from inside
 * recorder_dispatch() or a call that sends events. @record is borrowed, as
 * from recorder_find(). It must not call recorder_destroy().
 */
typedef void (*recorder_record_func_t)(void *data, const struct recorder_record *record);
/** A condition for recorder_wait(); true ends the wait. */
typedef bool (*recorder_cond_func_t)(void *data);

/** Creation options. All zero gives a plain compositor with no seat, no dmabuf. */
struct recorder_options {
	const char *socket_name; // in $XDG_RUNTIME_DIR; NULL: a free "crossway-recorder-<pid>-<n>"
	bool seat;               // wl_seat v7 with keyboard and pointer capabilities
	const char *keymap_text; // xkb keymap text for wl_keyboard.keymap; NULL: a built-in one
	bool keymap_unsealed;    // send the keymap memfd read-write instead of sealed read-only
	bool data_device;        // wl_data_device_manager v3; implies seat
	bool hold_drags;         // start_drag is left running (a test ends it by sending the
				 // source cancelled); else it is cancelled at once
	bool fast;               // release buffers and fire frame callbacks at each commit
	uint32_t dmabuf_version; // zwp_linux_dmabuf_v1 version 1..4; 0: not offered
	bool extra_globals;      // fake privileged globals a filtering proxy must hide
	bool viewporter;         // wp_viewporter v1 (requests recorded, no effect)
	bool skip_pixel_copy;    // do not copy shm contents at commit (recorder_surface_pixels
				 // then reports sizes with data NULL)
	size_t max_records;      // oldest records are dropped beyond this; 0: the default
	size_t max_fd_copies;    // oldest fd copies are closed beyond this; 0: the default
	recorder_record_func_t record_func; // may be NULL
	void *record_data;                  // passed to record_func
};

/** Which way a message went. */
enum recorder_direction {
	RECORDER_DIRECTION_REQUEST, // client -> recorder
	RECORDER_DIRECTION_EVENT,   // recorder -> client (recorded when queued for sending)
};

/** One message argument, decoded. Owned by its record. */
struct recorder_arg {
	char type;             // wl_message signature letter: i u f s o n a h
	const char *interface; // 'o' and 'n': the object's interface name; NULL if null or unknown
	uint32_t fd_mode;      // 'h': st_mode & S_IFMT (S_IFREG, S_IFIFO...; 0: anonymous inode)
	union {
		int32_t i;     // 'i'
		uint32_t u;    // 'u'
		int32_t f;     // 'f': wl_fixed_t
		const char *s; // 's': NULL for a null string
		uint32_t id;   // 'o', 'n': object id; 0 for null
		struct {
			const void *data;
			size_t size;
		} a;    // 'a'
		int fd; // 'h': the record's copy (same as record->fds[k]) or -1, see fds
	};
};

/** One request or event. */
struct recorder_record {
	uint64_t seq; // 0 for the first record; never reused, not reset by clear
	enum recorder_direction direction;
	unsigned client;       // connection order: 0 for the first client ever connected
	const char *interface; // "wl_surface" (static storage)
	uint32_t object_id;    // the object the message is on
	uint32_t version;      // that object's version
	uint32_t opcode;
	const char *message; // "attach" (static storage)
	const char *name;    // "wl_surface.attach"
	const char *text;    // "wl_surface#12.attach(wl_buffer#14, 0, 0)"
	size_t arg_count;
	const struct recorder_arg *args;
	size_t fd_count; // fd arguments, in order
	const int *fds;  // recorder-owned copies, or -1: none is kept of pipes and
			 // sockets (it would hold back the peer's EOF and EPIPE),
			 // released beyond max_fd_copies, or the copy failed
};

/** The contents of a surface's last committed buffer. */
struct recorder_pixels {
	unsigned client;       // connection order of the surface's client
	uint32_t surface_id;   // wl_surface object id
	uint32_t buffer_id;    // wl_buffer object id at that commit
	bool dmabuf;           // a zwp_linux_dmabuf_v1 buffer: data is NULL
	int32_t width, height; // pixels
	int32_t stride;        // bytes per row (plane 0's for dmabuf)
	uint32_t format;       // wl_shm format for shm buffers, DRM fourcc for dmabuf
	const void *data;      // stride * height bytes; NULL for dmabuf or skip_pixel_copy
	uint64_t commits;      // commits of that surface so far (with or without a buffer)
};

/** One plane of a dmabuf wl_buffer. */
struct recorder_dmabuf_plane {
	int fd; // recorder-owned copy of the fd the client added
	uint32_t offset, stride;
	uint64_t modifier;
};

/** The parameters of a dmabuf wl_buffer the recorder created. */
struct recorder_dmabuf {
	unsigned client;
	uint32_t buffer_id; // the wl_buffer: server-allocated for create, the client's for immed
	bool immed;         // made by create_immed
	int32_t width, height;
	uint32_t format; // DRM fourcc
	uint32_t flags;  // zwp_linux_buffer_params_v1 flags
	uint32_t plane_count;
	struct recorder_dmabuf_plane planes[RECORDER_DMABUF_MAX_PLANES]; // [0, plane_count)
};

/** One entry of the dmabuf format table (and of the v3 modifier events). */
struct recorder_dmabuf_format {
	uint32_t format;   // DRM fourcc
	uint64_t modifier; // DRM format modifier; DRM_FORMAT_MOD_INVALID means implicit
};

/*
 * Lifecycle
 */

/**
 * Creates a recorder listening on a socket in $XDG_RUNTIME_DIR.
 *
 * @options may be NULL (all defaults). Its strings are copied; the struct
 * need not outlive the call. Returns NULL and prints a reason on stderr when
 * the socket cannot be made ($XDG_RUNTIME_DIR unset, name taken), an option
 * is out of range (dmabuf_version > 4) or memory runs out.
 */
struct recorder *recorder_create(const struct recorder_options *options);

/**
 * Disconnects every client, stops pending clipboard transfers, closes every fd
 * the recorder owns (fd copies, keymaps, format table, the socket) and frees
 * everything. Pointers obtained from the recorder become invalid. NULL is
 * fine.
 */
void recorder_destroy(struct recorder *rec);

/** The socket name within $XDG_RUNTIME_DIR (for WAYLAND_DISPLAY). Lives as long as @rec. */
const char *recorder_socket_name(const struct recorder *rec);

/** The socket's absolute path. Lives as long as @rec. */
const char *recorder_socket_path(const struct recorder *rec);

/**
 * The event loop's fd: readable when recorder_dispatch() has work. Borrowed:
 * do not close it. Valid until recorder_destroy().
 */
int recorder_get_fd(const struct recorder *rec);

/**
 * Flushes queued events, waits up to @timeout_ms (0: no wait, -1: forever)
 * for work, runs it once (requests, timers, clipboard writes) and flushes the
 * events that produced. Returns 0, or -1 with errno from epoll_wait (EINTR
 * included).
 */
int recorder_dispatch(struct recorder *rec, int timeout_ms);

/**
 * Dispatches until @cond(@data) is true or @timeout_ms (>= 0) have passed.
 * Only for clients in other processes or threads: an in-process client must
 * be driven by the caller's own loop. Returns the last value of @cond.
 */
bool recorder_wait(struct recorder *rec, recorder_cond_func_t cond, void *data, int timeout_ms);

/**
 * Serves a client on @fd, one end of a connected AF_UNIX stream socket (for
 * WAYLAND_SOCKET-style tests). Takes ownership of @fd, also on failure.
 * Returns false if libwayland cannot make the client.
 */
bool recorder_add_client(struct recorder *rec, int fd);

/** Clients connected now. */
size_t recorder_client_count(const struct recorder *rec);

/**
 * The libwayland display, borrowed, for tests that add globals of their own.
 * Valid until recorder_destroy().
 */
struct wl_display *recorder_display(struct recorder *rec);

/*
 * Records
 *
 * A record is made for every request as libwayland hands it to a handler,
 * and for every event as it is queued, through wl_display_add_protocol_logger.
 * Record pointers stay valid until recorder_clear(), recorder_destroy() or
 * until the record is dropped as the oldest beyond max_records. @name below
 * is "interface.message" ("wl_surface.commit") and matches records of both
 * directions; NULL matches every record.
 */

/** Records kept now (at most max_records). */
size_t recorder_record_count(const struct recorder *rec);

/** The @index-th kept record, oldest first; NULL if @index is out of range. */
const struct recorder_record *recorder_record_get(const struct recorder *rec, size_t index);

/** Records dropped because max_records was reached, since creation. */
uint64_t recorder_dropped(const struct recorder *rec);

/** How many kept records match @name. */
size_t recorder_count(const struct recorder *rec, const char *name);

/** The @nth (0 = oldest) kept record matching @name, or NULL. */
const struct recorder_record *recorder_find(const struct recorder *rec, const char *name,
					    size_t nth);

/** The newest kept record matching @name, or NULL. */
const struct recorder_record *recorder_last(const struct recorder *rec, const char *name);

/**
 * Forgets every kept record and closes its fd copies. Sequence numbers go on
 * from where they were; the dropped count stays.
 */
void recorder_clear(struct recorder *rec);

/*
 * Surfaces
 */

/**
 * Reads back the last buffer committed to a surface. @client is a connection
 * index, or -1 for any client; @surface_id is a wl_surface id, or 0 for the
 * surface whose buffer commit was the most recent. A destroyed surface's
 * contents stay readable until another surface with contents is destroyed.
 *
 * Fills @out and returns true; returns false when no matching surface has had
 * a buffer committed. out->data is the recorder's copy made at commit time,
 * valid until the next recorder_dispatch() or recorder_destroy(). A commit
 * that attaches NULL counts as no content.
 */
bool recorder_surface_pixels(struct recorder *rec, int client, uint32_t surface_id,
			     struct recorder_pixels *out);

/*
 * Clipboard (needs options.seat and options.data_device)
 */

/**
 * Host -> client: makes a selection of one @mime type holding @len bytes of
 * @data (copied). Every wl_data_device gets a new wl_data_offer at once:
 * data_offer(offer), offer.offer(@mime), selection(offer), whether or not
 * its client has keyboard focus (a test convenience). Afterwards, as on a
 * desktop, a client is sent the selection when it gets keyboard focus (its
 * first xdg_toplevel buffer commit) or creates a data device while focused.
 * A client selection in place is cancelled. When a client calls wl_data_offer.receive(@mime, fd),
 * @data is written into fd from the event loop, without blocking and at the reader's pace, then fd
 * is closed; another mime closes fd at once. Events are flushed before returning. Returns false on
 * allocation failure or if the data device is not enabled.
 */
bool recorder_offer_selection(struct recorder *rec, const char *mime, const void *data, size_t len);

/** Host -> client transfers still being written. */
size_t recorder_transfer_count(const struct recorder *rec);

/**
 * Client -> host: the mime types the client selection (the source given to
 * wl_data_device.set_selection) offers, as a NULL-terminated array, or NULL
 * when there is none. Like a real compositor, the recorder also offers a
 * client selection to the client with keyboard focus (if it is not the
 * owner) and forwards its receive requests to the source as
 * wl_data_source.send; any set_selection replaces a host selection. Owned by the recorder, valid
 * until the next recorder_dispatch() or recorder_offer_selection().
 */
const char *const *recorder_client_selection(struct recorder *rec);

/**
 * Client -> host: asks the client selection for @mime. Sends
 * wl_data_source.send(@mime, write end of a new pipe), closes the recorder's
 * write end and flushes. Returns the read end (blocking, close-on-exec); the
 * caller owns it and closes it. The client writes only while the caller
 * keeps the client running, so read in the same loop. Returns -1 with errno
 * ENOENT when there is no client selection, EINVAL when it does not offer
 * @mime, or pipe's errno.
 */
int recorder_receive_selection(struct recorder *rec, const char *mime);

/*
 * dmabuf (needs options.dmabuf_version)
 */

/**
 * The format table the recorder advertises (v4 feedback, in this order) and
 * whose pairs it sends as v3 modifier events. Static storage; sets *count.
 */
const struct recorder_dmabuf_format *recorder_dmabuf_formats(size_t *count);

/**
 * The most recent dmabuf wl_buffer made by create or create_immed, or NULL.
 * Its plane fds are copies owned by the recorder. Valid until the next such
 * buffer is made (in recorder_dispatch()) or recorder_destroy(); the
 * client destroying the wl_buffer does not end it.
 */
const struct recorder_dmabuf *recorder_last_dmabuf(const struct recorder *rec);

#endif
