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

struct policy_config {
	char vm_name[POLICY_NAME_MAX];
	struct policy_global_rule globals[POLICY_MAX_RULES];
	size_t global_count;
	bool tag_titles;                     // prefix titles with "[vm] "
	char app_id_prefix[POLICY_NAME_MAX]; // "" = no app_id rewriting
	uint32_t max_title_bytes;
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
