/*
 * What one VM may see and do: the registry filter (only allowlisted globals
 * whose interface crossway can parse, at capped versions), checks on binds,
 * and the rewrites that keep windows labelled by their VM.
 *
 * policy_config is the static per-VM configuration (daemon/config.c fills it
 * from crossway.conf(5)); struct policy is the state of one connection.
 */
#ifndef CROSSWAY_DAEMON_POLICY_H
#define CROSSWAY_DAEMON_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "protocol/tables.h"
#include "wire/objects.h"
#include "wire/wayland_msg.h"
#include "wire/wire_error.h"

#define POLICY_NAME_MAX 64
#define POLICY_MAX_RULES 128

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
	uint32_t max_items; // guest-visible identifiers
	uint32_t max_pipes;
	uint32_t max_dimension;        // buffer width and height
	uint32_t max_damage_rects;     // per commit; more collapse to their bounding box
	uint64_t max_buffer_bytes;     // one allocation
	uint64_t max_total_bytes;      // all allocations
	uint64_t guest_queue_bytes;    // towards the compositor
	uint64_t host_queue_bytes;     // towards the guest
	uint64_t clipboard_text_bytes; // one transfer of a text/ type
	uint64_t clipboard_bytes;      // one transfer of any other type
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
	enum policy_secctx secctx;
	char secctx_app_id[POLICY_NAME_MAX]; // may hold {vm}
	struct policy_limits limits;
};

/** Fills @cfg with the built-in default policy for VM @vm_name. */
void policy_config_defaults(struct policy_config *cfg, const char *vm_name);

/** Finds the rule for an interface name, or NULL (= hidden). */
const struct policy_global_rule *policy_config_find(const struct policy_config *cfg,
						    const char *interface);

/** A global the guest was shown. */
struct policy_global {
	uint32_t name;
	const struct proto_interface *interface;
	uint32_t version; // the capped version advertised
};

struct policy {
	const struct policy_config *config; // borrowed
	struct policy_global *globals;      // owned
	size_t global_count, global_cap;
	uint64_t hidden_globals; // counters, for logs and tests
	uint64_t sanitised_total;
};

void policy_init(struct policy *p, const struct policy_config *config);
void policy_finish(struct policy *p);

/** A message passing through the pipeline, already translated. */
struct policy_msg {
	uint8_t *bytes; // the message, in place (may be patched if the size stays)
	struct wayland_msg_header hdr;
	struct object *sender;
	const struct proto_message *message;
	struct wayland_args *args;
	uint8_t *rewrite; // room for a replacement message
	size_t rewrite_cap;
	size_t rewrite_size; // set on POLICY_REWRITE
};

enum policy_verdict {
	POLICY_PASS = 0, // forward (possibly patched in place)
	POLICY_DROP,     // do not forward; not an error
	POLICY_REWRITE,  // forward msg->rewrite instead
	POLICY_FAIL,     // protocol violation: end the context
};

/** Judges a guest request. @sender_down_id names it in errors. */
enum policy_verdict policy_request(struct policy *p, struct policy_msg *msg,
				   uint32_t sender_down_id, struct wire_error *err);

/** Judges a compositor event (registry filtering, version caps). */
enum policy_verdict policy_event(struct policy *p, struct policy_msg *msg, struct wire_error *err);

#endif
