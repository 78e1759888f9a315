#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/policy.h"
#include "proto_tables.h"
#include "wire/limits.h"

/* Ordinary application protocols (issue: deny by default, allow these). */
static const char *const default_allowed[] = {
	"wl_compositor",
	"wl_subcompositor",
	"wl_shm",
	"wl_seat",
	"wl_output",
	"wl_data_device_manager",
	"xdg_wm_base",
	"zxdg_decoration_manager_v1",
	"wp_viewporter",
	"wp_fractional_scale_manager_v1",
	"wp_presentation",
	"zwp_linux_dmabuf_v1",
	"wp_single_pixel_buffer_manager_v1",
	"zwp_relative_pointer_manager_v1",
	"zwp_pointer_constraints_v1",
	"zwp_text_input_manager_v3",
	"zwp_primary_selection_device_manager_v1",
	"xdg_activation_v1",
	"wp_cursor_shape_manager_v1",
	"zwp_idle_inhibit_manager_v1",
	"wp_content_type_manager_v1",
	"wp_tearing_control_manager_v1",
};

void policy_config_defaults(struct policy_config *cfg, const char *vm_name) {
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->vm_name, sizeof(cfg->vm_name), "%s", vm_name ? vm_name : "vm");
	for (size_t i = 0; i < sizeof(default_allowed) / sizeof(default_allowed[0]); i++) {
		struct policy_global_rule *r = &cfg->globals[cfg->global_count++];
		snprintf(r->interface, sizeof(r->interface), "%s", default_allowed[i]);
		r->max_version = 0;
	}
	cfg->tag_titles = true;
	snprintf(cfg->app_id_prefix, sizeof(cfg->app_id_prefix), "crossway.{vm}");
	cfg->max_title_bytes = 256;
	cfg->clipboard = POLICY_CLIPBOARD_GUEST_TO_HOST;
	cfg->primary_selection = false;
	cfg->server_side_decorations = true;
	cfg->secctx = POLICY_SECCTX_OPTIONAL;
	snprintf(cfg->secctx_app_id, sizeof(cfg->secctx_app_id), "crossway.{vm}");
	cfg->limits = (struct policy_limits){
		.max_message = WAYLAND_MSG_DEFAULT_MAX_SIZE,
		.max_objects = WAYLAND_DEFAULT_MAX_OBJECTS,
		.max_toplevels = CROSSWAY_DEFAULT_MAX_TOPLEVELS,
		.max_items = CROSSWAY_DEFAULT_MAX_ITEMS,
		.max_pipes = CROSSWAY_DEFAULT_MAX_PIPES,
		.max_dimension = CROSSWAY_DEFAULT_MAX_BUFFER_DIMENSION,
		.max_damage_rects = CROSSWAY_DEFAULT_MAX_DAMAGE_RECTS,
		.max_buffer_bytes = CROSSWAY_DEFAULT_MAX_BUFFER_BYTES,
		.max_total_bytes = CROSSWAY_DEFAULT_MAX_TOTAL_BYTES,
		.guest_queue_bytes = CROSSWAY_DEFAULT_GUEST_QUEUE_BYTES,
		.host_queue_bytes = CROSSWAY_DEFAULT_HOST_QUEUE_BYTES,
		.clipboard_text_bytes = CROSSWAY_DEFAULT_CLIPBOARD_TEXT_BYTES,
		.clipboard_bytes = CROSSWAY_DEFAULT_CLIPBOARD_BYTES,
	};
}

const struct policy_global_rule *policy_config_find(const struct policy_config *cfg,
						    const char *interface) {
	for (size_t i = 0; i < cfg->global_count; i++) {
		if (strcmp(cfg->globals[i].interface, interface) == 0) {
			return &cfg->globals[i];
		}
	}
	return NULL;
}

void policy_init(struct policy *p, const struct policy_config *config) {
	*p = (struct policy){.config = config};
}

void policy_finish(struct policy *p) {
	free(p->globals);
	*p = (struct policy){0};
}

static struct policy_global *find_global(struct policy *p, uint32_t name) {
	for (size_t i = 0; i < p->global_count; i++) {
		if (p->globals[i].name == name) {
			return &p->globals[i];
		}
	}
	return NULL;
}

/* Compositors offer tens of globals; more than this is not a compositor. */
#define MAX_GLOBALS 1024

static enum policy_verdict registry_global(struct policy *p, struct policy_msg *msg,
					   struct wire_error *err) {
	uint32_t name = msg->args->value[0];
	const char *iface_name = wayland_args_string(msg->bytes, msg->args, 1);
	uint32_t version = msg->args->value[2];
	const struct proto_interface *iface = proto_find_interface(iface_name);
	const struct policy_global_rule *rule = policy_config_find(p->config, iface_name);
	// Never advertise what crossway cannot parse, nor what policy hides.
	if (iface == NULL || rule == NULL || version == 0) {
		p->hidden_globals++;
		return POLICY_DROP;
	}
	uint32_t cap = version;
	if (cap > iface->version) {
		cap = iface->version;
	}
	if (rule->max_version != 0 && cap > rule->max_version) {
		cap = rule->max_version;
	}
	if (find_global(p, name) != NULL) {
		wire_error_set(err, "compositor advertised global name %" PRIu32 " twice", name);
		return POLICY_FAIL;
	}
	if (p->global_count == p->global_cap) {
		if (p->global_cap >= MAX_GLOBALS) {
			wire_error_set(err, "compositor advertised more than %d globals",
				       MAX_GLOBALS);
			return POLICY_FAIL;
		}
		size_t cap_n = p->global_cap ? p->global_cap * 2 : 32;
		struct policy_global *g = realloc(p->globals, cap_n * sizeof(*g));
		if (g == NULL) {
			wire_error_set(err, "out of memory for globals");
			return POLICY_FAIL;
		}
		p->globals = g;
		p->global_cap = cap_n;
	}
	p->globals[p->global_count++] = (struct policy_global){
		.name = name, .interface = iface, .version = cap};
	if (cap != version) {
		wayland_msg_set_u32(msg->bytes, msg->args->offset[2], cap);
	}
	return POLICY_PASS;
}

static enum policy_verdict registry_global_remove(struct policy *p, struct policy_msg *msg) {
	uint32_t name = msg->args->value[0];
	struct policy_global *g = find_global(p, name);
	if (g == NULL) {
		return POLICY_DROP; // a global the guest never saw
	}
	*g = p->globals[--p->global_count];
	return POLICY_PASS;
}

enum policy_verdict policy_event(struct policy *p, struct policy_msg *msg, struct wire_error *err) {
	const struct proto_interface *iface = msg->sender->interface;
	if (iface == &proto_wl_registry) {
		if (msg->message->opcode == PROTO_WL_REGISTRY_EVT_GLOBAL) {
			return registry_global(p, msg, err);
		}
		return registry_global_remove(p, msg);
	}
	return POLICY_PASS;
}

static enum policy_verdict registry_bind(struct policy *p, struct policy_msg *msg,
					 uint32_t sender_down_id, struct wire_error *err) {
	uint32_t name = msg->args->value[0];
	const char *iface_name = wayland_args_string(msg->bytes, msg->args, 1);
	uint32_t version = msg->args->value[2];
	struct policy_global *g = find_global(p, name);
	if (g == NULL) {
		wire_error_set(err,
			       "wl_registry#%" PRIu32 ".bind(opcode 0): global %" PRIu32
			       " (%s) was not advertised",
			       sender_down_id, name, iface_name);
		return POLICY_FAIL;
	}
	if (strcmp(g->interface->name, iface_name) != 0) {
		wire_error_set(err,
			       "wl_registry#%" PRIu32 ".bind(opcode 0): global %" PRIu32
			       " is a %s, not a %s",
			       sender_down_id, name, g->interface->name, iface_name);
		return POLICY_FAIL;
	}
	if (version == 0 || version > g->version) {
		wire_error_set(err,
			       "wl_registry#%" PRIu32 ".bind(opcode 0): %s version %" PRIu32
			       " is above the advertised %" PRIu32,
			       sender_down_id, iface_name, version, g->version);
		return POLICY_FAIL;
	}
	return POLICY_PASS;
}

enum policy_verdict policy_request(struct policy *p, struct policy_msg *msg,
				   uint32_t sender_down_id, struct wire_error *err) {
	const struct proto_interface *iface = msg->sender->interface;
	if (iface == &proto_wl_registry) {
		return registry_bind(p, msg, sender_down_id, err);
	}
	return POLICY_PASS;
}
