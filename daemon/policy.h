/*
 * What one VM may see and do, applied to every message after validation:
 *  - registry: only allowlisted globals whose interface crossway can parse,
 *    at versions capped by the compositor, crossway's tables and policy;
 *    binds to anything else end the context (a bind racing a recent
 *    global_remove passes);
 *  - window identity: titles sanitised and prefixed "[vm] ", app_ids moved
 *    into the VM's namespace, a toplevel limit;
 *  - clipboard: host selection and drag offers withheld or passed per the
 *    clipboard mode, per-transfer byte caps handed to the pipe relays;
 *  - buffers and surfaces: shm pool and buffer bounds, damage clamped to the
 *    buffer and collapsed to a bounding box past the per-commit limit,
 *    buffer scale and viewport values checked.
 * Violations of rules that protect the compositor end the context (FAIL);
 * values with an obviously safe clamp are rewritten and counted.
 *
 * policy_config is the static per-VM configuration (daemon/config.c fills it
 * from crossway.conf(5)); struct policy is the state of one connection.
 */
#ifndef CROSSWAY_DAEMON_POLICY_H
#define CROSSWAY_DAEMON_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <wayland-util.h>

#include "protocol/tables.h"
#include "wire/objects.h"
#include "wire/wayland_msg.h"
#include "wire/wire_error.h"

#define POLICY_NAME_MAX 64
#define POLICY_MAX_RULES 128
#define POLICY_INPUT_SERIALS 32
#define POLICY_REMOVED_GLOBALS 16

struct policy_global_rule {
	char interface[POLICY_NAME_MAX];
	uint32_t max_version; // 0: no cap beyond crossway's tables
};

enum policy_clipboard {
	POLICY_CLIPBOARD_DENY = 0,      // no selection either way
	POLICY_CLIPBOARD_GUEST_TO_HOST, // the host may paste what the guest copied
	POLICY_CLIPBOARD_BOTH,
};

enum policy_secctx {
	POLICY_SECCTX_OFF = 0,  // plain compositor connection
	POLICY_SECCTX_OPTIONAL, // use wp_security_context_v1 when offered
	POLICY_SECCTX_REQUIRED, // refuse to run without it
};

/* Limits; each may only be lowered from its default (wire/limits.h). */
struct policy_limits {
	uint32_t max_message; // Wayland message bytes
	uint32_t max_objects; // live protocol objects
	uint32_t max_toplevels;
	uint32_t max_items;              // guest-visible identifiers
	uint32_t max_image_requirements; // distinct shapes asked about
	uint32_t max_pipes;
	uint32_t max_dimension;        // buffer width and height
	uint32_t max_damage_rects;     // per commit; more collapse to their bounding box
	uint64_t max_buffer_bytes;     // one allocation
	uint64_t max_total_bytes;      // all allocations
	uint64_t guest_queue_bytes;    // towards the compositor
	uint64_t host_queue_bytes;     // towards the guest
	uint64_t clipboard_text_bytes; // one transfer of a text/ type
	uint64_t clipboard_bytes;      // one transfer of any other type
	uint32_t max_subsurfaces;      // per window (surface tree)
	uint32_t max_subsurface_depth;
	uint32_t max_mime_types; // per data source; more are dropped
};

struct policy_config {
	char vm_name[POLICY_NAME_MAX];
	struct policy_global_rule globals[POLICY_MAX_RULES];
	size_t global_count;
	bool tag_titles;                     // prefix titles with "[vm] "
	char app_id_prefix[POLICY_NAME_MAX]; // "" = keep app_ids (not advised); may hold {vm}
	uint32_t max_title_bytes;
	enum policy_clipboard clipboard;
	bool primary_selection;
	bool server_side_decorations; // ask for them whenever the compositor can
	bool allow_fullscreen;        // false: set_fullscreen becomes set_maximized
	bool refuse_unsealed_shm;     // refuse shm pools whose fd cannot be sealed
	enum policy_secctx secctx;
	char secctx_app_id[POLICY_NAME_MAX]; // may hold {vm}
	struct policy_limits limits;
};

/** Fills @cfg with the built-in default policy; prefixes keep "{vm}". */
void policy_config_defaults(struct policy_config *cfg, const char *vm_name);

/** Finds the rule for an interface name, or NULL (= hidden). */
const struct policy_global_rule *policy_config_find(const struct policy_config *cfg,
						    const char *interface);

/** A dmabuf format and modifier the guest was shown. */
struct policy_format {
	uint32_t format;
	bool used;  // a slot of the formats_shown set holds this pair
	bool shown; // ... shown to the guest (else: the allocator cannot make it)
	uint64_t modifier;
};

/** A global the guest was shown. */
struct policy_global {
	uint32_t name;
	const struct proto_interface *interface;
	uint32_t version; // the capped version advertised
	uint32_t refs;    // registries that were told about it and not told it went
};

/**
 * Tells the front end the byte cap of a transfer the guest asked to read
 * (wl_data_offer.receive and the primary-selection equivalent). @fd is the
 * pipe end going to the compositor (borrowed).
 */
typedef void (*policy_transfer_func_t)(void *data, int fd, uint64_t cap);

struct policy {
	const struct policy_config *config; // borrowed
	struct objects *objs;               // the connection's maps; borrowed
	struct policy_global *globals;      // owned
	size_t global_count, global_cap;
	// The last globals the compositor removed (ring): a guest bind that
	// crossed the global_remove event still passes, as it does in
	// libwayland, and the compositor answers it.
	struct policy_global removed_globals[POLICY_REMOVED_GLOBALS];
	uint32_t removed_next;
	// The upstream id of the source of a drag of the guest's own that is
	// under way, or 0: start_drag with a source passed, and neither that
	// source ended (cancelled, dropped, finished, destroyed) nor pointer
	// input came back (which a drag grab holds). The offers the guest gets
	// meanwhile are its own data, shown in every clipboard mode.
	uint32_t guest_drag_source;
	uint32_t toplevels;
	struct wl_list surfaces; // struct policy_surface.link, owned
	// Server-side decorations crossway asks for on the guest's behalf.
	uint32_t deco_global; // the compositor's zxdg_decoration_manager_v1 name, or 0
	uint32_t deco_version;
	uint32_t deco_registry_up; // a registry that announced it
	uint32_t deco_manager_up;  // crossway's own binding, once made
	uint64_t decorations_requested;
	policy_transfer_func_t on_read_transfer;
	// Whether the front end's allocator can make a buffer of this format and
	// modifier; NULL: the guest brings its own buffers (no filtering).
	bool (*can_allocate)(void *data, uint32_t format, uint64_t modifier);
	void *hook_data;
	struct wl_list dmabuf_params; // struct policy_params.link, owned
	uint64_t *format_table;       // the compositor's dmabuf format table, copied
	uint32_t format_table_len;    // entries
	uint64_t formats_filtered;    // format/modifier pairs hidden from the guest
	// What the guest was shown; params it creates must use one of these.
	// The format/modifier pairs the guest was shown: a set (open addressing,
	// formats_shown_slots, a power of two at least twice what it holds) of
	// at most FORMAT_TABLE_MAX_ENTRIES pairs, plus one marker per format
	// that was shown with an explicit modifier (see policy.c).
	struct policy_format *formats_shown; // owned
	uint32_t formats_shown_slots, formats_shown_held;
	uint32_t formats_shown_count; // pairs, markers not counted
	uint32_t formats_refused;     // pairs kept as "cannot make"
	uint64_t formats_key;         // random, for the set's hash
	// Serials of recent input events on the guest's surfaces (ring).
	uint32_t input_serials[POLICY_INPUT_SERIALS];
	uint32_t input_serial_count, input_serial_next;
	int32_t output_width, output_height; // the largest current output mode seen
	// Counters, for logs and tests.
	uint64_t hidden_globals;
	uint64_t sanitised_total;     // titles, app_ids, clamped values rewritten
	uint64_t damage_collapsed;    // damage rectangles folded into a bounding box
	uint64_t offers_withheld;     // host selections and drags the guest was not shown
	uint64_t selections_refused;  // set_selection/start_drag without a recent input serial
	uint64_t mime_types_dropped;  // past max-mime-types, or longer than 256 bytes
	uint64_t subsurfaces_clamped; // set_position moved back near the window
	uint64_t popups_clamped;      // positioner sizes cut to the output
	uint64_t fullscreen_refused;  // set_fullscreen turned into set_maximized
};

void policy_init(struct policy *p, const struct policy_config *config, struct objects *objs);
/**
 * Frees what the policy keeps for @obj (a surface's or dmabuf params' state)
 * when its destructor will not reach policy_request: the compositor deleted
 * the object first, so the guest's destroy is dropped.
 */
void policy_forget(struct policy *p, struct object *obj);

/** Frees the policy's state. Object tags and data it set become stale. */
void policy_finish(struct policy *p);

/** A message passing through the pipeline, already translated. */
struct policy_msg {
	uint8_t *bytes; // the message, in place (may be patched if the size stays)
	struct wayland_msg_header hdr;
	struct object *sender;
	uint32_t sender_down_id; // for error texts
	const struct proto_message *message;
	struct wayland_args *args;
	struct object *created; // the object the message created, or NULL
	const int *fds;         // the message's fds, in order (borrowed)
	uint64_t *fd_meta;      // events: a note per fd for the front end (caps)
	uint8_t *rewrite;       // room for a replacement (one or more messages)
	size_t rewrite_cap;
	size_t rewrite_size; // set on POLICY_REWRITE
};

enum policy_verdict {
	POLICY_PASS = 0, // forward (possibly patched in place)
	POLICY_DROP,     // do not forward (never for a message that creates an object)
	POLICY_REWRITE,  // forward msg->rewrite instead
	POLICY_FAIL,     // protocol violation: end the context
};

/** Judges a guest request. */
enum policy_verdict policy_request(struct policy *p, struct policy_msg *msg,
				   struct wire_error *err);

/** Judges a compositor event (registry filtering, version caps, offers). */
enum policy_verdict policy_event(struct policy *p, struct policy_msg *msg, struct wire_error *err);

/**
 * Sanitises a window title: invalid UTF-8 becomes U+FFFD, C0/C1 controls,
 * bidi embeddings, overrides and isolates and line separators are removed,
 * and the result is cut to @max bytes at a character boundary. Writes a
 * NUL-terminated string to @out (@cap >= @max + 1). Returns true if the text
 * changed.
 */
bool policy_sanitise_title(const char *in, size_t len, char *out, size_t cap, size_t max);

/** Sanitises an app_id: characters outside [A-Za-z0-9._-] become '_'. */
bool policy_sanitise_app_id(const char *in, char *out, size_t cap);

#endif
