/*
 * What the recorder's modules share: the recorder itself, and each module's
 * init/finish pair. Not for tests; they use recorder.h.
 *
 *   recorder.c          lifecycle, socket, clients, dispatch
 *   recorder_log.c      protocol logger, record store, record queries
 *   recorder_surface.c  wl_compositor, wl_surface, wl_region, wl_subcompositor,
 *                       frame callbacks, buffer release, pixel copies
 *   recorder_xdg.c      xdg_wm_base and its objects
 *   recorder_output.c   wl_output
 *   recorder_seat.c     wl_seat, wl_pointer, wl_keyboard, its keymap, keyboard focus
 *   recorder_data.c     wl_data_device_manager and the clipboard helpers
 *   recorder_dmabuf.c   zwp_linux_dmabuf_v1 and its params and feedback
 *   recorder_extra.c    fake privileged globals with hand-written interfaces
 *
 * Each *_init returns false on failure and leaves nothing that its *_finish
 * would not undo; each *_finish tolerates a failed or skipped init.
 */
#ifndef CROSSWAY_TESTS_RECORDER_RECORDER_INTERNAL_H
#define CROSSWAY_TESTS_RECORDER_RECORDER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wayland-server-core.h>

#include "tests/recorder/recorder.h"

struct recorder_surface;
struct recorder_selection;
struct recorder_source;

/** A role's commit hook: returns false after posting a protocol error (commit abandoned). */
typedef bool (*recorder_role_commit_func_t)(void *role_data, bool attaching_buffer);

/** A connected client. */
struct recorder_client {
	struct recorder *rec;
	struct wl_client *client;
	unsigned index;             // connection order
	struct wl_listener destroy; // client destroy signal
	struct wl_list link;        // recorder.clients
};

/** The record store: a bounded FIFO of records. */
struct recorder_log {
	struct recorder_log_entry **entries; // [head, head + len) in use, owned
	size_t head, len, cap;
	size_t max_records, max_fd_copies;
	size_t fd_copies;        // open fd copies in kept records
	uint64_t fd_release_seq; // records before this seq hold no fd copies
	uint64_t next_seq;
	uint64_t dropped;
	struct wl_protocol_logger *logger;
};

/** A surface's last committed contents. */
struct recorder_content {
	bool valid;
	struct recorder_pixels pixels; // .data points into copy (or NULL)
	void *copy;                    // owned
	size_t copy_cap;
	uint64_t commit_seq; // recorder.commit_seq at that commit
};

struct recorder {
	struct recorder_options options; // strings point at the copies below
	char *keymap_text;               // owned copy, or NULL for the built-in keymap
	struct wl_display *display;
	struct wl_event_loop *loop; // the display's
	char *socket_name;          // owned
	char *socket_path;          // owned
	struct wl_listener client_created;
	struct wl_list clients; // recorder_client.link
	unsigned next_client_index;
	size_t client_count;

	struct recorder_log log;

	// recorder_surface.c
	struct wl_list surfaces; // recorder_surface.link
	uint64_t commit_seq;
	struct wl_event_source *frame_timer;
	bool frame_timer_armed;
	struct recorder_content retired; // contents of the last destroyed surface that had some

	// recorder_seat.c
	struct wl_list keyboards;  // wl_resource links of wl_keyboard resources
	struct wl_resource *focus; // wl_surface with keyboard focus; may be NULL
	struct wl_listener focus_destroy;

	// recorder_data.c
	struct wl_list data_devices;           // wl_resource links of wl_data_device resources
	struct recorder_selection *selection;  // host selection, a reference; may be NULL
	struct recorder_source *client_source; // client selection; may be NULL
	struct wl_list transfers;              // recorder_transfer.link

	// recorder_dmabuf.c
	int format_table_fd; // sealed memfd, owned; -1 without v4
	size_t format_table_size;
	bool has_last_dmabuf;
	struct recorder_dmabuf last_dmabuf; // plane fds owned
};

/** The connection index of @client (UINT_MAX if unknown). */
unsigned recorder_client_index(struct recorder *rec, struct wl_client *client);

bool recorder_log_init(struct recorder *rec);
void recorder_log_finish(struct recorder *rec);

bool recorder_surface_init(struct recorder *rec);
void recorder_surface_finish(struct recorder *rec);
/** The surface behind a wl_surface resource. */
struct recorder_surface *recorder_surface_from_resource(struct wl_resource *resource);
/** The wl_surface resource of @surface. */
struct wl_resource *recorder_surface_resource(struct recorder_surface *surface);
/**
 * Gives @surface the role @role (static string) played by @role_resource,
 * with a commit hook (may be NULL) called with @role_data at each commit.
 * Returns false if the surface has another role, or this role with a live
 * role object. When @role_resource is destroyed the hook goes; the role
 * stays, so a new object of the same role may take it.
 */
bool recorder_surface_set_role(struct recorder_surface *surface, const char *role,
			       struct wl_resource *role_resource,
			       recorder_role_commit_func_t commit, void *role_data);

bool recorder_xdg_init(struct recorder *rec);
bool recorder_output_init(struct recorder *rec);
bool recorder_seat_init(struct recorder *rec);
/**
 * Gives keyboard focus to @surface (a wl_surface resource; NULL: nobody), as
 * a compositor does when a toplevel maps: leave to the old focus, enter and
 * modifiers to the new one's keyboards. Clipboard tools wait for this.
 */
void recorder_seat_focus(struct recorder *rec, struct wl_resource *surface);

bool recorder_data_init(struct recorder *rec);
/** Sends the current selection (or its absence) to @client's data devices. */
void recorder_data_announce(struct recorder *rec, struct wl_client *client);
void recorder_data_finish(struct recorder *rec);

bool recorder_dmabuf_init(struct recorder *rec);
void recorder_dmabuf_finish(struct recorder *rec);
/** The dmabuf parameters of @buffer if it is one of ours, else NULL. */
const struct recorder_dmabuf *recorder_dmabuf_from_buffer(struct wl_resource *buffer);

bool recorder_extra_init(struct recorder *rec);
/* A global of @iface (at its highest version) whose requests are only
 * recorded: new objects get the same treatment, fds are closed, "destroy"
 * destroys. */
bool recorder_noop_global(struct recorder *rec, const struct wl_interface *iface);

/**
 * Makes a memfd holding @size bytes of @data. With @seal, adds
 * F_SEAL_WRITE|F_SEAL_SHRINK|F_SEAL_GROW so receivers can only map it
 * privately. Returns the fd (caller closes it) or -1 with errno.
 */
int recorder_memfd_create(const char *name, const void *data, size_t size, bool seal);

#endif
