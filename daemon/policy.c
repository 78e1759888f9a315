#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "crossway-config.h"
#include "daemon/drm_format.h"
#include "daemon/fdtype.h"
#include "daemon/hash.h"
#include "daemon/policy.h"
#include "proto_tables.h"
#include "wire/limits.h"

/* Object roles the policy tracks (struct object.tag). */
enum policy_tag {
	TAG_NONE = 0,
	TAG_POOL,             // aux: fd size << 32 | pool size
	TAG_BUFFER,           // aux: height << 32 | width (0 when unknown)
	TAG_SURFACE,          // data: struct policy_surface
	TAG_TOPLEVEL,         // counts towards max_toplevels
	TAG_OFFER_WITHHELD,   // a host offer (selection or drag) the guest may not read
	TAG_XDG_SURFACE,      // aux: its wl_surface's upstream id
	TAG_GUEST_DECORATION, // a zxdg_toplevel_decoration_v1 of the guest's
	TAG_DMABUF_PARAMS,    // data: struct policy_params, NULL once destroyed; aux: create's size
	TAG_SUBSURFACE,       // aux: its wl_surface's upstream id (0 once that is gone)
	TAG_DATA_SOURCE,      // aux: mime types offered so far
	TAG_POSITIONER,       // aux: anchor_pack(rectangle); data: offset_pack(offset)
	TAG_POPUP,            // aux: its parent's wl_surface upstream id (0: none)
	TAG_VIEWPORT,         // aux: its wl_surface's upstream id
};

#define DMABUF_MAX_PLANES 4
#define DRM_FORMAT_MOD_INVALID 0x00ffffffffffffffull
#define DRM_FORMAT_MOD_LINEAR 0ull
/* A format table entry is 16 bytes; compositors list a few thousand at most. */
#define FORMAT_TABLE_MAX_ENTRIES 8192

/* A plane of a zwp_linux_buffer_params_v1. */
struct policy_plane {
	bool set;
	uint64_t fd_size;
	uint32_t offset, stride;
	uint64_t modifier;
};

/* A zwp_linux_buffer_params_v1 being filled in. */
struct policy_params {
	struct wl_list link; // policy.dmabuf_params
	struct policy_plane planes[DMABUF_MAX_PLANES];
};

struct policy_surface {
	struct wl_list link;                  // policy.surfaces
	uint32_t buffer_width, buffer_height; // of the attached buffer; 0 unknown
	uint32_t damage_rects;                // since the last commit
	bool excess_buffer;                   // damage_buffer rects folded into a box
	bool excess_surface;                  // damage rects folded into a box
	uint32_t toplevel_up;                 // the xdg_toplevel of this surface, or 0
	uint32_t decoration_up;               // crossway's own decoration for it, or 0
	bool initial_commit;                  // the toplevel's first commit went out
	uint32_t up_id;                       // the wl_surface's upstream id
	int32_t scale;                        // the last buffer scale set (1 at first)
	// Subsurface role: the parent (NULL for none, or once the parent is
	// gone), the position last forwarded and the wl_subsurface's id.
	struct policy_surface *parent;
	struct wl_list children; // their child_link: the subsurfaces on this one
	struct wl_list child_link;
	int32_t x, y;           // the position last sent to the compositor
	int32_t want_x, want_y; // the position the guest asked for
	uint32_t subsurface_up;
	// What decides its size besides the buffer: wl_surface.set_buffer_transform
	// and wp_viewport's destination, else its source (0: not set).
	int32_t transform;
	int32_t dest_w, dest_h;
	int32_t src_w, src_h;
	// xdg_surface.set_window_geometry, when the guest set one (x, y, width,
	// height), and what the compositor holds for the next commit (the
	// guest's, or crossway's cut of it).
	bool has_geometry;
	int32_t geometry[4];
	int32_t comp_geometry[4];
	uint32_t xdg_surface_up; // its xdg_surface, or 0
	// What the last commit made current, which is what the compositor shows
	// and places popups against: the size (0: nothing shown) and the window
	// geometry, cut to that size.
	uint32_t cur_w, cur_h;
	bool has_cur_geometry;
	int32_t cur_geometry[4];
	// Damage past max-damage-rects, folded into one box per kind until the
	// commit: x1, y1, x2, y2 (empty while x2 <= x1). A box, not a region:
	// only its extents go out, and a region of a guest's rectangles can
	// grow to millions of boxes (a grid of thin strips) at a cost per union.
	int64_t box_buffer[4], box_surface[4];
};

static struct policy_surface *surface_by_up(struct policy *p, uint32_t up);
static bool append(struct policy *p, struct policy_msg *msg, size_t *at, uint32_t object_up,
		   const struct proto_interface *iface, uint16_t opcode,
		   const union wayland_value *args);
static bool append_original(struct policy_msg *msg, size_t *at);
static bool place_children(struct policy *p, struct policy_msg *msg, struct policy_surface *s,
			   size_t *at);
static bool commit_window(struct policy *p, struct policy_msg *msg, struct policy_surface *s,
			  size_t *at);
static bool format_was_shown(const struct policy *p, uint32_t format, uint64_t modifier);
static bool drop_own_decoration(struct policy *p, struct policy_msg *msg, struct policy_surface *s,
				size_t *at);
static enum policy_verdict decorate(struct policy *p, struct policy_msg *msg,
				    struct policy_surface *s, struct wire_error *err);

/* Ordinary application protocols (deny by default, allow these). */
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
	cfg->allow_fullscreen = true;
	cfg->secctx = POLICY_SECCTX_OPTIONAL;
	snprintf(cfg->secctx_app_id, sizeof(cfg->secctx_app_id), "crossway.{vm}");
	cfg->limits = (struct policy_limits){
		.max_message = WAYLAND_MSG_DEFAULT_MAX_SIZE,
		.max_objects = WAYLAND_DEFAULT_MAX_OBJECTS,
		.max_toplevels = CROSSWAY_DEFAULT_MAX_TOPLEVELS,
		.max_items = CROSSWAY_DEFAULT_MAX_ITEMS,
		.max_image_requirements = CROSSWAY_DEFAULT_MAX_IMAGE_REQUIREMENTS,
		.max_pipes = CROSSWAY_DEFAULT_MAX_PIPES,
		.max_dimension = CROSSWAY_DEFAULT_MAX_BUFFER_DIMENSION,
		.max_damage_rects = CROSSWAY_DEFAULT_MAX_DAMAGE_RECTS,
		.max_buffer_bytes = CROSSWAY_DEFAULT_MAX_BUFFER_BYTES,
		.max_total_bytes = CROSSWAY_DEFAULT_MAX_TOTAL_BYTES,
		.guest_queue_bytes = CROSSWAY_DEFAULT_GUEST_QUEUE_BYTES,
		.host_queue_bytes = CROSSWAY_DEFAULT_HOST_QUEUE_BYTES,
		.clipboard_text_bytes = CROSSWAY_DEFAULT_CLIPBOARD_TEXT_BYTES,
		.clipboard_bytes = CROSSWAY_DEFAULT_CLIPBOARD_BYTES,
		.max_subsurfaces = CROSSWAY_DEFAULT_MAX_SUBSURFACES,
		.max_subsurface_depth = CROSSWAY_DEFAULT_MAX_SUBSURFACE_DEPTH,
		.max_mime_types = CROSSWAY_DEFAULT_MAX_MIME_TYPES,
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

void policy_init(struct policy *p, const struct policy_config *config, struct objects *objs) {
	*p = (struct policy){.config = config, .objs = objs};
	if (getrandom(&p->formats_key, sizeof(p->formats_key), GRND_NONBLOCK) !=
	    (ssize_t)sizeof(p->formats_key)) {
		p->formats_key = (uint64_t)(uintptr_t)p ^ (uint64_t)getpid()
								  << 20; // no entropy yet
	}
	wl_list_init(&p->surfaces);
	wl_list_init(&p->dmabuf_params);
}

/* Makes @parent (NULL: none) @child's parent, in both directions. */
static void set_parent(struct policy_surface *child, struct policy_surface *parent) {
	wl_list_remove(&child->child_link);
	wl_list_init(&child->child_link);
	child->parent = parent;
	if (parent != NULL) {
		wl_list_insert(parent->children.prev, &child->child_link); // in order
	}
}

static void surface_free(struct policy_surface *s) {
	wl_list_remove(&s->link);
	free(s);
}

/* A guest wl_surface.destroy: its children lose their parent and its
 * wl_subsurface (now inert) forgets it. */
static void surface_destroy(struct policy *p, struct policy_surface *s) {
	struct policy_surface *t, *tmp;
	wl_list_for_each_safe(t, tmp, &s->children, child_link) {
		set_parent(t, NULL);
	}
	set_parent(s, NULL);
	struct object *sub = s->subsurface_up ? objects_lookup_up(p->objs, s->subsurface_up) : NULL;
	if (sub != NULL && sub->tag == TAG_SUBSURFACE && sub->aux == s->up_id) {
		sub->aux = 0;
	}
	surface_free(s);
}

/* An xdg_surface ends (destroyed, or released by the compositor): its
 * window geometry goes with it, and nothing may be sent on it any more. */
static void xdg_surface_gone(struct policy *p, struct object *xdg) {
	struct policy_surface *s = xdg->tag == TAG_XDG_SURFACE
					   ? surface_by_up(p, (uint32_t)xdg->aux)
					   : NULL;
	if (s != NULL && s->xdg_surface_up == xdg->up_id) {
		s->xdg_surface_up = 0;
		s->has_geometry = s->has_cur_geometry = false;
	}
}

void policy_forget(struct policy *p, struct object *obj) {
	if (obj->tag == TAG_XDG_SURFACE) {
		xdg_surface_gone(p, obj);
	}
	if (obj->tag == TAG_SURFACE && obj->data != NULL) {
		surface_destroy(p, obj->data);
	} else if (obj->tag == TAG_DMABUF_PARAMS && obj->data != NULL) {
		struct policy_params *pp = obj->data;
		wl_list_remove(&pp->link);
		free(pp);
	}
	obj->data = NULL;
	obj->tag = TAG_NONE;
}

void policy_finish(struct policy *p) {
	if (p->config != NULL) {
		struct policy_surface *s, *tmp;
		wl_list_for_each_safe(s, tmp, &p->surfaces, link) {
			surface_free(s);
		}
		struct policy_params *pp, *pp_tmp;
		wl_list_for_each_safe(pp, pp_tmp, &p->dmabuf_params, link) {
			wl_list_remove(&pp->link);
			free(pp);
		}
	}
	free(p->format_table);
	free(p->formats_shown);
	free(p->globals);
	*p = (struct policy){0};
}

__attribute__((format(printf, 3, 4))) static enum policy_verdict fail(struct policy_msg *msg,
								      struct wire_error *err,
								      const char *fmt, ...) {
	char reason[WIRE_ERROR_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	wire_error_set(err, "%s#%" PRIu32 ".%s(opcode %u): %s", msg->sender->interface->name,
		       msg->sender_down_id, msg->message->name, msg->message->opcode, reason);
	return POLICY_FAIL;
}

static uint32_t arg(const struct policy_msg *msg, unsigned i) {
	return msg->args->value[i];
}

static void set_arg(struct policy_msg *msg, unsigned i, uint32_t v) {
	wayland_msg_set_u32(msg->bytes, msg->args->offset[i], v);
	msg->args->value[i] = v;
}

/* ---------------------------------------------------------------------- */
/* Registry                                                               */

static struct policy_global *find_global(struct policy *p, uint32_t name) {
	for (size_t i = 0; i < p->global_count; i++) {
		if (p->globals[i].name == name) {
			return &p->globals[i];
		}
	}
	return NULL;
}

static struct policy_global *find_removed_global(struct policy *p, uint32_t name) {
	for (size_t i = 0; i < POLICY_REMOVED_GLOBALS; i++) {
		struct policy_global *g = &p->removed_globals[i];
		if (g->interface != NULL && g->name == name) {
			return g;
		}
	}
	return NULL;
}

/* Compositors offer tens of globals; more than this is not a compositor. */
#define MAX_GLOBALS 1024

static bool hidden_by_policy(const struct policy *p, const struct proto_interface *iface) {
	if (!p->config->primary_selection &&
	    strcmp(iface->name, "zwp_primary_selection_device_manager_v1") == 0) {
		return true;
	}
	return false;
}

static enum policy_verdict registry_global(struct policy *p, struct policy_msg *msg,
					   struct wire_error *err) {
	uint32_t name = arg(msg, 0);
	const char *iface_name = wayland_args_string(msg->bytes, msg->args, 1);
	uint32_t version = arg(msg, 2);
	const struct proto_interface *iface = proto_find_interface(iface_name);
	const struct policy_global_rule *rule = policy_config_find(p->config, iface_name);
	struct policy_global *gone = find_removed_global(p, name);
	if (gone != NULL) {
		*gone = (struct policy_global){0}; // the name is this global's now
	}
	if (iface == &proto_zxdg_decoration_manager_v1 && p->deco_global == 0 && version > 0) {
		// crossway asks for server-side decorations with it, whether
		// the guest may see it or not.
		p->deco_global = name;
		p->deco_version = version < iface->version ? version : iface->version;
		p->deco_registry_up = msg->sender->up_id;
	}
	// Never advertise what crossway cannot parse, nor what policy hides.
	if (iface == NULL || rule == NULL || version == 0 || hidden_by_policy(p, iface)) {
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
	// Every registry object hears of every global: count them.
	struct policy_global *known = find_global(p, name);
	if (known != NULL) {
		if (known->interface != iface) {
			wire_error_set(err,
				       "compositor advertised global %" PRIu32 " as %s and as %s",
				       name, known->interface->name, iface->name);
			return POLICY_FAIL;
		}
		known->refs++;
		if (cap != version) {
			set_arg(msg, 2, cap);
		}
		return POLICY_PASS;
	}
	if (p->global_count == p->global_cap) {
		if (p->global_cap >= MAX_GLOBALS) {
			wire_error_set(err, "compositor advertised more than %d globals",
				       MAX_GLOBALS);
			return POLICY_FAIL;
		}
		size_t n = p->global_cap ? p->global_cap * 2 : 32;
		struct policy_global *g = realloc(p->globals, n * sizeof(*g));
		if (g == NULL) {
			wire_error_set(err, "out of memory for globals");
			return POLICY_FAIL;
		}
		p->globals = g;
		p->global_cap = n;
	}
	p->globals[p->global_count++] = (struct policy_global){
		.name = name, .interface = iface, .version = cap, .refs = 1};
	if (cap != version) {
		set_arg(msg, 2, cap);
	}
	return POLICY_PASS;
}

static enum policy_verdict registry_global_remove(struct policy *p, struct policy_msg *msg) {
	if (arg(msg, 0) == p->deco_global) {
		// Gone (the guest may never have seen it): crossway binds it no
		// more; a manager it already bound keeps working.
		p->deco_global = 0;
	}
	struct policy_global *g = find_global(p, arg(msg, 0));
	if (g == NULL) {
		return POLICY_DROP; // a global the guest never saw
	}
	if (--g->refs == 0) {
		p->removed_globals[p->removed_next] = *g;
		p->removed_next = (p->removed_next + 1) % POLICY_REMOVED_GLOBALS;
		*g = p->globals[--p->global_count];
	}
	return POLICY_PASS;
}

static enum policy_verdict registry_bind(struct policy *p, struct policy_msg *msg,
					 struct wire_error *err) {
	uint32_t name = arg(msg, 0);
	const char *iface_name = wayland_args_string(msg->bytes, msg->args, 1);
	uint32_t version = arg(msg, 2);
	struct policy_global *g = find_global(p, name);
	if (g == NULL) {
		// A bind that crossed global_remove (an output unplugged):
		// the compositor handles it as for a direct client.
		g = find_removed_global(p, name);
	}
	if (g == NULL) {
		return fail(msg, err, "global %" PRIu32 " (%s) was not advertised", name,
			    iface_name);
	}
	if (strcmp(g->interface->name, iface_name) != 0) {
		return fail(msg, err, "global %" PRIu32 " is a %s, not a %s", name,
			    g->interface->name, iface_name);
	}
	if (version == 0 || version > g->version) {
		return fail(msg, err, "%s version %" PRIu32 " is above the advertised %" PRIu32,
			    iface_name, version, g->version);
	}
	return POLICY_PASS;
}

/* ---------------------------------------------------------------------- */
/* Window identity                                                        */

static bool removed_code_point(uint32_t cp) {
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) ||      // C0, DEL, C1
	       (cp >= 0x202a && cp <= 0x202e) ||               // embeddings and overrides
	       (cp >= 0x2066 && cp <= 0x2069) ||               // isolates
	       cp == 0x200e || cp == 0x200f || cp == 0x061c || // directional marks
	       cp == 0x2028 || cp == 0x2029 ||                 // line and paragraph separators
	       cp == 0xfeff;                                   // zero-width no-break space
}

/* Decodes one UTF-8 sequence strictly; returns its length or 0 if invalid. */
static size_t utf8_decode(const unsigned char *s, size_t len, uint32_t *cp) {
	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	size_t n;
	uint32_t min;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		min = 0x80;
		*cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		min = 0x800;
		*cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		min = 0x10000;
		*cp = s[0] & 0x07;
	} else {
		return 0;
	}
	if (n > len) {
		return 0;
	}
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			return 0;
		}
		*cp = *cp << 6 | (s[i] & 0x3f);
	}
	// Overlong forms, surrogates and values past U+10FFFF are invalid.
	if (*cp < min || *cp > 0x10ffff || (*cp >= 0xd800 && *cp <= 0xdfff)) {
		return 0;
	}
	return n;
}

bool policy_sanitise_title(const char *in, size_t len, char *out, size_t cap, size_t max) {
	if (max + 1 > cap) {
		max = cap - 1;
	}
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;
	bool changed = false;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		size_t n = utf8_decode(s + i, len - i, &cp);
		const char *bytes = (const char *)s + i;
		size_t blen = n;
		if (n == 0) {
			bytes = "\xef\xbf\xbd"; // U+FFFD
			blen = 3;
			n = 1;
			changed = true;
		} else if (removed_code_point(cp)) {
			i += n;
			changed = true;
			continue;
		}
		if (o + blen > max) {
			changed = true;
			break;
		}
		memcpy(out + o, bytes, blen);
		o += blen;
		i += n;
	}
	out[o] = '\0';
	return changed;
}

bool policy_sanitise_app_id(const char *in, char *out, size_t cap) {
	bool changed = false;
	size_t o = 0;
	for (const char *s = in; *s && o + 1 < cap; s++) {
		char c = *s;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			  (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
		out[o++] = ok ? c : '_';
		changed |= !ok;
	}
	out[o] = '\0';
	return changed;
}

/* Replaces string argument @i with @text and re-encodes the message. */
static enum policy_verdict rewrite_string(struct policy_msg *msg, unsigned i, const char *text,
					  struct wire_error *err) {
	union wayland_value values[PROTO_MAX_ARGS];
	wayland_args_to_values(msg->bytes, msg->message, msg->args, values);
	values[i].bytes.data = text;
	values[i].bytes.len = (uint32_t)strlen(text) + 1;
	size_t n = wayland_msg_encode(msg->rewrite, msg->rewrite_cap, msg->sender->up_id,
				      msg->message->opcode, msg->message, values);
	if (n == 0) {
		return fail(msg, err, "rewritten message does not fit");
	}
	msg->rewrite_size = n;
	return POLICY_REWRITE;
}

#define APP_ID_MAX 255

static enum policy_verdict toplevel_request(struct policy *p, struct policy_msg *msg,
					    struct wire_error *err) {
	const struct policy_config *c = p->config;
	switch (msg->message->opcode) {
	case PROTO_XDG_TOPLEVEL_REQ_DESTROY: {
		if (msg->sender->tag == TAG_TOPLEVEL && p->toplevels > 0) {
			p->toplevels--;
		}
		struct policy_surface *s = surface_by_up(p, (uint32_t)msg->sender->aux);
		if (s == NULL) {
			return POLICY_PASS;
		}
		s->toplevel_up = 0;
		if (s->decoration_up == 0) {
			return POLICY_PASS;
		}
		// The decoration must go before its toplevel.
		size_t at = 0;
		if (!drop_own_decoration(p, msg, s, &at) || !append_original(msg, &at)) {
			return fail(msg, err, "cannot encode a decoration request");
		}
		msg->rewrite_size = at;
		return POLICY_REWRITE;
	}
	case PROTO_XDG_TOPLEVEL_REQ_SET_TITLE: {
		const char *title = wayland_args_string(msg->bytes, msg->args, 0);
		char clean[4096 + 1];
		bool changed = policy_sanitise_title(title, strlen(title), clean, sizeof(clean),
						     c->max_title_bytes);
		if (changed) {
			p->sanitised_total++;
		}
		char full[sizeof(clean) + POLICY_NAME_MAX + 4];
		if (c->tag_titles) {
			snprintf(full, sizeof(full), "[%s] %s", c->vm_name, clean);
		} else {
			snprintf(full, sizeof(full), "%s", clean);
		}
		return rewrite_string(msg, 0, full, err);
	}
	case PROTO_XDG_TOPLEVEL_REQ_SET_APP_ID: {
		if (c->app_id_prefix[0] == '\0') {
			return POLICY_PASS;
		}
		const char *app_id = wayland_args_string(msg->bytes, msg->args, 0);
		char full[APP_ID_MAX + 1];
		int n = snprintf(full, sizeof(full), "%s.", c->app_id_prefix);
		if (n < 0 || (size_t)n >= sizeof(full)) {
			n = 0;
		}
		if (policy_sanitise_app_id(app_id, full + n, sizeof(full) - (size_t)n) ||
		    strlen(app_id) > sizeof(full) - 1 - (size_t)n) {
			p->sanitised_total++;
		}
		return rewrite_string(msg, 0, full, err);
	}
	}
	return POLICY_PASS;
}

/* ---------------------------------------------------------------------- */
/* Buffers and surfaces                                                   */

static enum policy_verdict shm_pool_request(struct policy *p, struct policy_msg *msg,
					    struct wire_error *err) {
	const struct policy_limits *l = &p->config->limits;
	uint64_t pool_size = msg->sender->aux & 0xffffffffu;
	uint64_t fd_size = msg->sender->aux >> 32;
	switch (msg->message->opcode) {
	case PROTO_WL_SHM_POOL_REQ_CREATE_BUFFER: {
		int32_t offset = (int32_t)arg(msg, 1), width = (int32_t)arg(msg, 2);
		int32_t height = (int32_t)arg(msg, 3), stride = (int32_t)arg(msg, 4);
		if (width <= 0 || height <= 0 || (uint32_t)width > l->max_dimension ||
		    (uint32_t)height > l->max_dimension) {
			return fail(msg, err, "buffer %" PRId32 "x%" PRId32 " outside 1..%" PRIu32,
				    width, height, l->max_dimension);
		}
		if (offset < 0 || stride < width) {
			return fail(msg, err, "offset %" PRId32 " or stride %" PRId32 " is invalid",
				    offset, stride);
		}
		uint64_t end = (uint64_t)offset + (uint64_t)stride * (uint64_t)height;
		if (end > pool_size) {
			return fail(msg, err,
				    "buffer ends at byte %" PRIu64 ", past the pool's %" PRIu64,
				    end, pool_size);
		}
		if (msg->created != NULL) {
			msg->created->tag = TAG_BUFFER;
			msg->created->aux = (uint64_t)(uint32_t)height << 32 | (uint32_t)width;
		}
		return POLICY_PASS;
	}
	case PROTO_WL_SHM_POOL_REQ_RESIZE: {
		int32_t size = (int32_t)arg(msg, 0);
		if (size <= 0 || (uint64_t)size < pool_size) {
			return fail(msg, err, "pool size %" PRId32 " is smaller than %" PRIu64,
				    size, pool_size);
		}
		if ((uint64_t)size > fd_size) {
			return fail(msg, err,
				    "pool size %" PRId32 " is past the fd's %" PRIu64 " bytes",
				    size, fd_size);
		}
		msg->sender->aux = fd_size << 32 | (uint32_t)size;
		return POLICY_PASS;
	}
	}
	return POLICY_PASS;
}

static struct policy_surface *surface_of(struct object *obj) {
	return obj->tag == TAG_SURFACE ? obj->data : NULL;
}

static void box_reset(struct policy_surface *s) {
	s->excess_buffer = s->excess_surface = false;
	memset(s->box_buffer, 0, sizeof(s->box_buffer));
	memset(s->box_surface, 0, sizeof(s->box_surface));
}

static void box_add(int64_t *box, int32_t x, int32_t y, int32_t w, int32_t h) {
	if (box[2] <= box[0] || box[3] <= box[1]) {
		box[0] = x;
		box[1] = y;
		box[2] = (int64_t)x + w;
		box[3] = (int64_t)y + h;
		return;
	}
	box[0] = x < box[0] ? x : box[0];
	box[1] = y < box[1] ? y : box[1];
	box[2] = (int64_t)x + w > box[2] ? (int64_t)x + w : box[2];
	box[3] = (int64_t)y + h > box[3] ? (int64_t)y + h : box[3];
}

static void box_get(int64_t *box, int32_t out[4]) {
	out[0] = (int32_t)box[0];
	out[1] = (int32_t)box[1];
	out[2] = (int32_t)(box[2] - box[0]);
	out[3] = (int32_t)(box[3] - box[1]);
}

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) {
	return v < lo ? lo : v > hi ? hi : v;
}

/* Clamps x, y, w, h to [0, lim_w] x [0, lim_h]. Returns false for an empty rect. */
static bool clamp_rect(int32_t r[4], uint32_t lim_w, uint32_t lim_h, bool *changed) {
	int64_t x1 = r[0], y1 = r[1];
	int64_t x2 = x1 + r[2], y2 = y1 + r[3];
	int64_t cx1 = x1 < 0 ? 0 : x1, cy1 = y1 < 0 ? 0 : y1;
	int64_t cx2 = x2 > lim_w ? lim_w : x2, cy2 = y2 > lim_h ? lim_h : y2;
	*changed = cx1 != x1 || cy1 != y1 || cx2 != x2 || cy2 != y2;
	if (cx2 <= cx1 || cy2 <= cy1) {
		return false;
	}
	r[0] = (int32_t)cx1;
	r[1] = (int32_t)cy1;
	r[2] = (int32_t)(cx2 - cx1);
	r[3] = (int32_t)(cy2 - cy1);
	return true;
}

static enum policy_verdict damage(struct policy *p, struct policy_msg *msg, bool buffer_coords) {
	struct policy_surface *s = surface_of(msg->sender);
	if (s == NULL) {
		return POLICY_PASS;
	}
	const struct policy_limits *l = &p->config->limits;
	int32_t r[4] = {(int32_t)arg(msg, 0), (int32_t)arg(msg, 1), (int32_t)arg(msg, 2),
			(int32_t)arg(msg, 3)};
	// Buffer damage is clamped to the buffer when its size is known;
	// surface damage (scaled) and unknown buffers to the dimension limit.
	uint32_t lim_w = l->max_dimension, lim_h = l->max_dimension;
	if (buffer_coords && s->buffer_width != 0) {
		lim_w = s->buffer_width;
		lim_h = s->buffer_height;
	}
	bool changed;
	if (!clamp_rect(r, lim_w, lim_h, &changed)) {
		p->sanitised_total++;
		return POLICY_DROP; // nothing left to damage
	}
	if (changed) {
		p->sanitised_total++;
	}
	if (s->damage_rects >= l->max_damage_rects) {
		p->damage_collapsed++;
		if (buffer_coords) {
			box_add(s->box_buffer, r[0], r[1], r[2], r[3]);
			s->excess_buffer = true;
		} else {
			box_add(s->box_surface, r[0], r[1], r[2], r[3]);
			s->excess_surface = true;
		}
		return POLICY_DROP;
	}
	s->damage_rects++;
	for (int i = 0; i < 4; i++) {
		set_arg(msg, (unsigned)i, (uint32_t)r[i]);
	}
	return POLICY_PASS;
}

/* At commit, the folded damage goes out as one rectangle before the commit. */
static enum policy_verdict commit(struct policy *p, struct policy_msg *msg,
				  struct wire_error *err) {
	struct policy_surface *s = surface_of(msg->sender);
	if (s == NULL) {
		return POLICY_PASS;
	}
	if (s->buffer_width != 0 && s->scale > 1 &&
	    (s->buffer_width % (uint32_t)s->scale != 0 ||
	     s->buffer_height % (uint32_t)s->scale != 0)) {
		// What weston and wlroots raise as wl_surface.invalid_size.
		return fail(msg, err,
			    "buffer %" PRIu32 "x%" PRIu32
			    " is not a multiple of buffer scale %" PRId32,
			    s->buffer_width, s->buffer_height, s->scale);
	}
	if (s->toplevel_up != 0 && !s->initial_commit) {
		// The initial commit carries no buffer, hence no damage.
		s->damage_rects = 0;
		return decorate(p, msg, s, err);
	}
	s->damage_rects = 0;
	size_t n = 0;
	if (!commit_window(p, msg, s, &n)) {
		return fail(msg, err, "cannot encode the window geometry");
	}
	if (!place_children(p, msg, s, &n)) {
		return fail(msg, err, "cannot encode the subsurface positions");
	}
	if (!s->excess_buffer && !s->excess_surface) {
		if (n == 0) {
			return POLICY_PASS;
		}
		if (!append_original(msg, &n)) {
			return fail(msg, err, "cannot encode the subsurface positions");
		}
		msg->rewrite_size = n;
		return POLICY_REWRITE;
	}
	const struct proto_interface *iface = &proto_wl_surface;
	for (int which = 0; which < 2; which++) {
		bool buffer_coords = which == 0;
		if (!(buffer_coords ? s->excess_buffer : s->excess_surface)) {
			continue;
		}
		int32_t r[4];
		box_get(buffer_coords ? s->box_buffer : s->box_surface, r);
		uint16_t opcode = buffer_coords ? PROTO_WL_SURFACE_REQ_DAMAGE_BUFFER
						: PROTO_WL_SURFACE_REQ_DAMAGE;
		union wayland_value v[4];
		for (int i = 0; i < 4; i++) {
			v[i].i = r[i];
		}
		size_t k = wayland_msg_encode(msg->rewrite + n, msg->rewrite_cap - n,
					      msg->sender->up_id, opcode, &iface->requests[opcode],
					      v);
		if (k == 0) {
			return fail(msg, err, "cannot encode the collapsed damage");
		}
		n += k;
	}
	box_reset(s);
	if (n + msg->hdr.size > msg->rewrite_cap) {
		return fail(msg, err, "cannot encode the collapsed damage");
	}
	memcpy(msg->rewrite + n, msg->bytes, msg->hdr.size);
	msg->rewrite_size = n + msg->hdr.size;
	return POLICY_REWRITE;
}

/* An object argument of a translated message (upstream id). */
static struct object *object_arg(struct policy *p, struct policy_msg *msg, unsigned i) {
	uint32_t id = arg(msg, i);
	return id != 0 ? objects_lookup_up(p->objs, id) : NULL;
}

static enum policy_verdict surface_request(struct policy *p, struct policy_msg *msg,
					   struct wire_error *err) {
	struct policy_surface *s = surface_of(msg->sender);
	switch (msg->message->opcode) {
	case PROTO_WL_SURFACE_REQ_DESTROY:
		if (s != NULL) {
			surface_destroy(p, s);
			msg->sender->data = NULL;
			msg->sender->tag = TAG_NONE;
		}
		return POLICY_PASS;
	case PROTO_WL_SURFACE_REQ_ATTACH:
		if (s != NULL) {
			struct object *buf = object_arg(p, msg, 0);
			uint64_t dims = buf && buf->tag == TAG_BUFFER ? buf->aux : 0;
			s->buffer_width = (uint32_t)dims;
			s->buffer_height = (uint32_t)(dims >> 32);
		}
		return POLICY_PASS;
	case PROTO_WL_SURFACE_REQ_DAMAGE:
		return damage(p, msg, false);
	case PROTO_WL_SURFACE_REQ_DAMAGE_BUFFER:
		return damage(p, msg, true);
	case PROTO_WL_SURFACE_REQ_COMMIT:
		return commit(p, msg, err);
	case PROTO_WL_SURFACE_REQ_SET_BUFFER_TRANSFORM:
		if (s != NULL) {
			s->transform = (int32_t)arg(msg, 0);
		}
		return POLICY_PASS;
	case PROTO_WL_SURFACE_REQ_SET_BUFFER_SCALE: {
		int32_t scale = (int32_t)arg(msg, 0);
		if (scale < 1 || scale > 8) {
			return fail(msg, err, "buffer scale %" PRId32 " outside 1..8", scale);
		}
		if (s != NULL) {
			s->scale = scale;
		}
		return POLICY_PASS;
	}
	}
	return POLICY_PASS;
}

static enum policy_verdict viewport_request(struct policy *p, struct policy_msg *msg,
					    struct wire_error *err) {
	struct policy_surface *s = msg->sender->tag == TAG_VIEWPORT
					   ? surface_by_up(p, (uint32_t)msg->sender->aux)
					   : NULL;
	if (msg->message->opcode == PROTO_WP_VIEWPORT_REQ_SET_SOURCE) {
		int32_t v[4];
		bool unset = true;
		for (int i = 0; i < 4; i++) {
			v[i] = (int32_t)arg(msg, (unsigned)i);
			unset &= v[i] == -256; // -1.0 in wl_fixed
		}
		if (!unset && (v[0] < 0 || v[1] < 0 || v[2] <= 0 || v[3] <= 0)) {
			return fail(msg, err, "source rectangle %.2f,%.2f %.2fx%.2f is invalid",
				    v[0] / 256.0, v[1] / 256.0, v[2] / 256.0, v[3] / 256.0);
		}
		if (s != NULL) {
			// Whole pixels, rounded up: the surface is at least this big.
			s->src_w = unset ? 0 : (int32_t)(((int64_t)v[2] + 255) / 256);
			s->src_h = unset ? 0 : (int32_t)(((int64_t)v[3] + 255) / 256);
		}
	} else if (msg->message->opcode == PROTO_WP_VIEWPORT_REQ_SET_DESTINATION) {
		int32_t w = (int32_t)arg(msg, 0), h = (int32_t)arg(msg, 1);
		bool unset = w == -1 && h == -1;
		if (!unset && (w <= 0 || h <= 0)) {
			return fail(msg, err, "destination %" PRId32 "x%" PRId32 " is invalid", w,
				    h);
		}
		if (s != NULL) {
			s->dest_w = unset ? 0 : w;
			s->dest_h = unset ? 0 : h;
		}
	} else if (msg->message->opcode == PROTO_WP_VIEWPORT_REQ_DESTROY && s != NULL) {
		s->src_w = s->src_h = s->dest_w = s->dest_h = 0;
	}
	return POLICY_PASS;
}

/* ---------------------------------------------------------------------- */
/* Subsurfaces and window geometry (rule 9)                               */

/* How far (surface pixels) a subsurface may reach past its window's
 * geometry: client-side shadows and resize borders live there. */
#define SUBSURFACE_MARGIN 64
/* Bounds every walk up a parent chain, whatever the guest did. */
#define PARENT_WALK_MAX 64

/* The surface's size in surface coordinates, 0 when unknown: a viewport's
 * destination, else its source, else the buffer by scale and transform
 * (fractional scaling draws a larger buffer into a smaller destination;
 * a single-pixel buffer is stretched over its destination). */
static void surface_size(const struct policy_surface *s, uint32_t *w, uint32_t *h) {
	if (s->dest_w > 0 && s->dest_h > 0) {
		*w = (uint32_t)s->dest_w;
		*h = (uint32_t)s->dest_h;
		return;
	}
	if (s->src_w > 0 && s->src_h > 0) {
		*w = (uint32_t)s->src_w;
		*h = (uint32_t)s->src_h;
		return;
	}
	uint32_t scale = s->scale > 0 ? (uint32_t)s->scale : 1;
	bool rotated = (s->transform & 1) != 0; // 90 and 270 degrees, flipped or not
	*w = (rotated ? s->buffer_height : s->buffer_width) / scale;
	*h = (rotated ? s->buffer_width : s->buffer_height) / scale;
}

/* The size @s may show: the larger of what its last commit made current
 * and what is pending (a subsurface's next state may take effect at its
 * parent's commit, or at once when desynchronised). */
static void shown_size(const struct policy_surface *s, uint32_t *w, uint32_t *h) {
	surface_size(s, w, h);
	*w = s->cur_w > *w ? s->cur_w : *w;
	*h = s->cur_h > *h ? s->cur_h : *h;
}

/* @g (x, y, width, height) cut to a @w x @h surface and SUBSURFACE_MARGIN
 * around it: wlroots and mutter cut a window geometry to the surface with
 * its subsurfaces (where libdecor draws title bars, above the surface),
 * weston takes it as set, so crossway sends the cut one (commit_window()).
 * Entirely outside: the surface. */
static void cut_geometry(const int32_t g[4], uint32_t w, uint32_t h, int32_t out[4]) {
	const int64_t m = SUBSURFACE_MARGIN;
	int64_t x1 = clamp64(g[0], -m, w + m), y1 = clamp64(g[1], -m, h + m);
	int64_t x2 = clamp64((int64_t)g[0] + g[2], -m, w + m);
	int64_t y2 = clamp64((int64_t)g[1] + g[3], -m, h + m);
	if (x2 <= x1 || y2 <= y1) {
		x1 = y1 = 0;
		x2 = w;
		y2 = h;
	}
	out[0] = (int32_t)x1;
	out[1] = (int32_t)y1;
	out[2] = (int32_t)(x2 - x1);
	out[3] = (int32_t)(y2 - y1);
}

/* The window @s shows (x, y, width, height): as its last commit left it, its
 * window geometry cut to its surface, else its surface; 0 x 0 while nothing
 * is shown. Only committed state counts: the compositor places popups
 * against it, and a pending buffer or geometry (a NULL attach, a geometry of
 * 30000 x 30000) may never be committed. */
static void window_box(const struct policy_surface *s, int64_t box[4]) {
	box[0] = box[1] = box[2] = box[3] = 0;
	if (s->cur_w == 0 || s->cur_h == 0) {
		return;
	}
	if (s->has_cur_geometry) {
		for (int i = 0; i < 4; i++) {
			box[i] = s->cur_geometry[i];
		}
		return;
	}
	box[2] = s->cur_w;
	box[3] = s->cur_h;
}

/* At a commit of @s, its size and window geometry become current. A
 * geometry that reaches past the surface goes out cut (set_window_geometry,
 * written at *at, just before the commit), so the compositor places popups
 * in the frame crossway checks them in. False if the rewrite is full. */
static bool commit_window(struct policy *p, struct policy_msg *msg, struct policy_surface *s,
			  size_t *at) {
	surface_size(s, &s->cur_w, &s->cur_h);
	s->has_cur_geometry = false;
	if (s->cur_w == 0 || s->cur_h == 0 || !s->has_geometry || s->xdg_surface_up == 0) {
		return true;
	}
	cut_geometry(s->geometry, s->cur_w, s->cur_h, s->cur_geometry);
	s->has_cur_geometry = true;
	if (memcmp(s->cur_geometry, s->comp_geometry, sizeof(s->comp_geometry)) == 0) {
		return true;
	}
	union wayland_value v[4];
	for (int i = 0; i < 4; i++) {
		v[i].i = s->cur_geometry[i];
	}
	if (!append(p, msg, at, s->xdg_surface_up, &proto_xdg_surface,
		    PROTO_XDG_SURFACE_REQ_SET_WINDOW_GEOMETRY, v)) {
		return false;
	}
	memcpy(s->comp_geometry, s->cur_geometry, sizeof(s->comp_geometry));
	p->sanitised_total++;
	p->subsurfaces_clamped++;
	return true;
}

/* Depth below the root (0 for a surface without a parent) and the root.
 * Returns false when the chain is longer than any valid one (a cycle). */
static bool surface_root(struct policy_surface *s, struct policy_surface **root, uint32_t *depth,
			 int64_t *x, int64_t *y) {
	uint32_t d = 0;
	int64_t ax = 0, ay = 0;
	while (s->parent != NULL) {
		if (++d > PARENT_WALK_MAX) {
			return false;
		}
		ax += s->x;
		ay += s->y;
		s = s->parent;
	}
	*root = s;
	*depth = d;
	if (x != NULL) {
		*x = ax;
		*y = ay;
	}
	return true;
}

/* Steps from @s up to @ancestor (0 when they are the same), or -1 when
 * @ancestor is not on @s's chain. */
static int steps_to(const struct policy_surface *s, const struct policy_surface *ancestor) {
	for (int d = 0; s != NULL && d <= PARENT_WALK_MAX; d++, s = s->parent) {
		if (s == ancestor) {
			return d;
		}
	}
	return -1;
}

/* Adds the surfaces below @u (not @u itself), except @skip and what is below
 * it, to *count, and raises *height to the deepest of them (@u's children
 * are at depth + 1). Walks @u's own tree only. */
static void count_below(const struct policy_surface *u, const struct policy_surface *skip,
			uint32_t *count, uint32_t *height, uint32_t depth) {
	if (depth >= PARENT_WALK_MAX) {
		return; // deeper than any tree get_subsurface lets grow
	}
	const struct policy_surface *c;
	wl_list_for_each(c, &u->children, child_link) {
		if (c == skip) {
			continue;
		}
		(*count)++;
		*height = depth + 1 > *height ? depth + 1 : *height;
		count_below(c, skip, count, height, depth + 1);
	}
}

/*
 * wl_subcompositor.get_subsurface: the child (with whatever tree it already
 * carries) joins the parent's window. The window's depth and subsurface
 * count are checked with the child's tree included, so a deep or large tree
 * cannot be grafted on in one step.
 */
static enum policy_verdict get_subsurface(struct policy *p, struct policy_msg *msg,
					  struct wire_error *err) {
	const struct policy_limits *l = &p->config->limits;
	struct object *child_obj = object_arg(p, msg, 1);
	struct policy_surface *child = child_obj ? surface_of(child_obj) : NULL;
	struct object *parent_obj = object_arg(p, msg, 2);
	struct policy_surface *parent = parent_obj ? surface_of(parent_obj) : NULL;
	if (child == NULL || parent == NULL || msg->created == NULL) {
		return POLICY_PASS; // the compositor judges what the policy does not track
	}
	struct policy_surface *root;
	uint32_t depth;
	if (!surface_root(parent, &root, &depth, NULL, NULL)) {
		return fail(msg, err, "subsurface chain of wl_surface#%" PRIu32 " is too long",
			    parent_obj->down_id);
	}
	if (steps_to(parent, child) >= 0) {
		return fail(msg, err, "wl_surface#%" PRIu32 " would be its own ancestor",
			    child_obj->down_id);
	}
	// The window's subsurfaces now, and the child's tree (child included).
	uint32_t window = 0, tree = 1, tree_height = 0, window_height = 0;
	count_below(root, child, &window, &window_height, 0);
	count_below(child, NULL, &tree, &tree_height, 0);
	if (depth + 1 + tree_height > l->max_subsurface_depth) {
		return fail(msg, err, "subsurface depth limit (%" PRIu32 ") reached",
			    l->max_subsurface_depth);
	}
	if (window + tree > l->max_subsurfaces) {
		return fail(msg, err, "subsurface limit (%" PRIu32 ") per window reached",
			    l->max_subsurfaces);
	}
	set_parent(child, parent);
	child->x = child->y = 0;
	child->want_x = child->want_y = 0;
	child->subsurface_up = msg->created->up_id;
	msg->created->tag = TAG_SUBSURFACE;
	msg->created->aux = child->up_id;
	return POLICY_PASS;
}

/* Clamps one coordinate of a subsurface's position in its root surface: the
 * box [v + b0, v + b1) it and its subtree cover must stay within
 * SUBSURFACE_MARGIN of [lo, lo + extent). */
static int64_t clamp_axis(int64_t v, int64_t lo, int64_t extent, int64_t b0, int64_t b1) {
	int64_t min = lo - SUBSURFACE_MARGIN - b0;
	int64_t max = lo + extent + SUBSURFACE_MARGIN - b1;
	return clamp64(v, min, max < min ? min : max);
}

/* Widens @box by the surfaces below @u, which sits at (ox, oy) in it. */
static void widen_by_children(const struct policy_surface *u, int64_t ox, int64_t oy,
			      int64_t box[4], int depth) {
	if (depth >= PARENT_WALK_MAX) {
		return; // deeper than any tree get_subsurface lets grow
	}
	const struct policy_surface *c;
	wl_list_for_each(c, &u->children, child_link) {
		int64_t cx = ox + c->x, cy = oy + c->y;
		uint32_t w, h;
		shown_size(c, &w, &h);
		box[0] = cx < box[0] ? cx : box[0];
		box[1] = cy < box[1] ? cy : box[1];
		box[2] = cx + w > box[2] ? cx + (int64_t)w : box[2];
		box[3] = cy + h > box[3] ? cy + (int64_t)h : box[3];
		widen_by_children(c, cx, cy, box, depth + 1);
	}
}

/* The box (x1, y1, x2, y2 relative to @t's origin) that @t and every
 * surface below it cover, at their current positions and sizes (0 when not
 * known yet). Walks @t's own tree only (at most max-subsurfaces surfaces),
 * never the context's other surfaces. */
static void subtree_box(const struct policy_surface *t, int64_t box[4]) {
	uint32_t w, h;
	shown_size(t, &w, &h);
	box[0] = box[1] = 0;
	box[2] = w;
	box[3] = h;
	widen_by_children(t, 0, 0, box, 0);
}

/*
 * Where subsurface @child may be placed when asked for (x, y) relative to
 * its parent: it and everything below it stay within SUBSURFACE_MARGIN of
 * its window (the root's window geometry, else the root's buffer, else the
 * dimension limit). Returns false when the position had to change.
 */
static bool subsurface_place(struct policy *p, struct policy_surface *child, int32_t x, int32_t y,
			     int32_t *nx, int32_t *ny) {
	*nx = x;
	*ny = y;
	struct policy_surface *root;
	uint32_t depth;
	int64_t px, py;
	if (child->parent == NULL || !surface_root(child->parent, &root, &depth, &px, &py)) {
		return true; // cannot happen: get_subsurface refused cycles
	}
	int64_t bounds[4];
	window_box(root, bounds);
	if (bounds[2] == 0) { // no geometry, no size yet: the dimension limit
		bounds[2] = bounds[3] = p->config->limits.max_dimension;
	}
	int64_t box[4];
	subtree_box(child, box);
	int64_t ax = clamp_axis(px + x, bounds[0], bounds[2], box[0], box[2]);
	int64_t ay = clamp_axis(py + y, bounds[1], bounds[3], box[1], box[3]);
	*nx = (int32_t)(ax - px);
	*ny = (int32_t)(ay - py);
	return *nx == x && *ny == y;
}

/*
 * wl_subsurface.set_position: the subsurface, with the surfaces below it,
 * must stay within SUBSURFACE_MARGIN of its window, or a guest could draw
 * outside the frame the host labels with its name. Clamped and counted.
 * Sizes and parents change later; commit() places the children again.
 */
static enum policy_verdict subsurface_request(struct policy *p, struct policy_msg *msg) {
	if (msg->sender->tag != TAG_SUBSURFACE) {
		return POLICY_PASS;
	}
	struct policy_surface *child = surface_by_up(p, (uint32_t)msg->sender->aux);
	if (msg->message->opcode == PROTO_WL_SUBSURFACE_REQ_DESTROY) {
		if (child != NULL) {
			set_parent(child, NULL);
			child->subsurface_up = 0;
		}
		return POLICY_PASS;
	}
	if (msg->message->opcode != PROTO_WL_SUBSURFACE_REQ_SET_POSITION || child == NULL ||
	    child->parent == NULL) {
		return POLICY_PASS;
	}
	int32_t x = (int32_t)arg(msg, 0), y = (int32_t)arg(msg, 1), nx, ny;
	child->want_x = x;
	child->want_y = y;
	if (!subsurface_place(p, child, x, y, &nx, &ny)) {
		set_arg(msg, 0, (uint32_t)nx);
		set_arg(msg, 1, (uint32_t)ny);
		p->sanitised_total++;
		p->subsurfaces_clamped++;
	}
	child->x = nx;
	child->y = ny;
	return POLICY_PASS;
}

/*
 * At a commit of @s, the positions of its subsurfaces take effect (and, for
 * synchronised ones, their new buffers): each child is placed again with
 * its subtree at today's sizes and bounds, so a subsurface that grew, a
 * parent that moved its children along, or a window that shrank cannot
 * leave a subsurface outside the frame. Each is placed from the position
 * the guest asked for, so one pushed in while its window was small goes
 * back once it fits. A child whose place changes gets a set_position just
 * before the commit (written at *at); clamps are counted. (A
 * desynchronised child shows a larger buffer at once: until its parent's
 * next commit it may reach further.)
 */
static bool place_children(struct policy *p, struct policy_msg *msg, struct policy_surface *s,
			   size_t *at) {
	struct policy_surface *c;
	wl_list_for_each(c, &s->children, child_link) {
		if (c->subsurface_up == 0) {
			continue;
		}
		int32_t nx, ny;
		subsurface_place(p, c, c->want_x, c->want_y, &nx, &ny);
		if (nx == c->x && ny == c->y) {
			continue;
		}
		union wayland_value v[2] = {{.i = nx}, {.i = ny}};
		if (!append(p, msg, at, c->subsurface_up, &proto_wl_subsurface,
			    PROTO_WL_SUBSURFACE_REQ_SET_POSITION, v)) {
			return false;
		}
		c->x = nx;
		c->y = ny;
		if (nx != c->want_x || ny != c->want_y) {
			p->sanitised_total++;
			p->subsurfaces_clamped++;
		}
	}
	return true;
}

static enum policy_verdict window_geometry(struct policy *p, struct policy_msg *msg,
					   struct wire_error *err) {
	int32_t g[4] = {(int32_t)arg(msg, 0), (int32_t)arg(msg, 1), (int32_t)arg(msg, 2),
			(int32_t)arg(msg, 3)};
	if (g[2] <= 0 || g[3] <= 0) {
		// xdg_surface.invalid_size in the protocol.
		return fail(msg, err, "window geometry %" PRId32 "x%" PRId32 " is invalid", g[2],
			    g[3]);
	}
	struct policy_surface *s = msg->sender->tag == TAG_XDG_SURFACE
					   ? surface_by_up(p, (uint32_t)msg->sender->aux)
					   : NULL;
	if (s != NULL) {
		s->has_geometry = true;
		memcpy(s->geometry, g, sizeof(g));
		memcpy(s->comp_geometry, g, sizeof(g)); // forwarded as it is
	}
	return POLICY_PASS;
}

/* ---------------------------------------------------------------------- */
/* Popups and fullscreen (rule 10)                                        */

/* An anchor rectangle (x, y, width, height, each within 16 bits) in an
 * object's aux. */
static uint64_t anchor_pack(const int32_t r[4]) {
	uint64_t v = 0;
	for (unsigned i = 0; i < 4; i++) {
		v |= (uint64_t)(uint16_t)r[i] << (16 * i);
	}
	return v;
}

/* A positioner's offset (each within 16 bits) in its object's data field,
 * as a number: 32 bits fit any pointer, and nothing is allocated. */
static void *offset_pack(int32_t x, int32_t y) {
	return (void *)(uintptr_t)((uint32_t)(uint16_t)x | (uint32_t)(uint16_t)y << 16);
}

static void offset_unpack(const void *data, int32_t *x, int32_t *y) {
	uint32_t v = (uint32_t)(uintptr_t)data;
	*x = (int16_t)(uint16_t)v;
	*y = (int16_t)(uint16_t)(v >> 16);
}

static void anchor_unpack(uint64_t v, int32_t r[4]) {
	for (unsigned i = 0; i < 4; i++) {
		uint16_t u = (uint16_t)(v >> (16 * i));
		r[i] = i < 2 ? (int16_t)u : (int32_t)u;
	}
}

/* Appends set_anchor_rect(@rect) and set_offset(@offset) for @positioner_up,
 * each only if given. False if the rewrite buffer is full. */
static bool positioner_set(struct policy *p, struct policy_msg *msg, size_t *at,
			   uint32_t positioner_up, const int32_t *rect, const int32_t *offset) {
	union wayland_value v[4];
	if (rect != NULL) {
		for (unsigned i = 0; i < 4; i++) {
			v[i].i = rect[i];
		}
		if (!append(p, msg, at, positioner_up, &proto_xdg_positioner,
			    PROTO_XDG_POSITIONER_REQ_SET_ANCHOR_RECT, v)) {
			return false;
		}
	}
	if (offset != NULL) {
		v[0].i = offset[0];
		v[1].i = offset[1];
		if (!append(p, msg, at, positioner_up, &proto_xdg_positioner,
			    PROTO_XDG_POSITIONER_REQ_SET_OFFSET, v)) {
			return false;
		}
	}
	return true;
}

/*
 * xdg_surface.get_popup and xdg_popup.reposition: the positioner's anchor
 * rectangle must lie inside the parent's window (window_box()), and its
 * offset may move the popup at most the parent's size plus
 * SUBSURFACE_MARGIN away, or a guest could place a popup anywhere on the
 * screen, away from the window the host labels with its name. Outside, the
 * rectangle and offset are clamped: set_anchor_rect and set_offset with the
 * clamped values go out just before the request, and with the guest's own
 * values just after it, so the positioner stays what the guest made it.
 * Counted. A parent that shows nothing yet is a 0 x 0 window: its popups
 * are anchored at its origin and offset at most SUBSURFACE_MARGIN (nothing
 * would correct them once it maps, small, far from them).
 */
static enum policy_verdict popup_anchor(struct policy *p, struct policy_msg *msg,
					struct object *positioner, uint32_t parent_surface_up,
					struct wire_error *err) {
	if (positioner == NULL || positioner->tag != TAG_POSITIONER) {
		return POLICY_PASS;
	}
	struct policy_surface *parent = surface_by_up(p, parent_surface_up);
	if (parent == NULL) {
		return POLICY_PASS;
	}
	int64_t window[4];
	window_box(parent, window);
	int64_t gw = window[2], gh = window[3];
	int32_t r[4];
	anchor_unpack(positioner->aux, r);
	int64_t x = clamp64(r[0], 0, gw), y = clamp64(r[1], 0, gh);
	int64_t w = r[2] > gw - x ? gw - x : r[2];
	int64_t h = r[3] > gh - y ? gh - y : r[3];
	int32_t ox, oy;
	offset_unpack(positioner->data, &ox, &oy);
	int64_t mx = gw + SUBSURFACE_MARGIN, my = gh + SUBSURFACE_MARGIN;
	int64_t nox = clamp64(ox, -mx, mx), noy = clamp64(oy, -my, my);
	bool anchor_ok = x == r[0] && y == r[1] && w == r[2] && h == r[3];
	bool offset_ok = nox == ox && noy == oy;
	if (anchor_ok && offset_ok) {
		return POLICY_PASS;
	}
	// The clamped values go out before the request, the guest's own again
	// after it: the compositor copies the positioner at the request, and
	// the guest may reuse it for a popup on a larger parent.
	int32_t clamped[4] = {(int32_t)x, (int32_t)y, (int32_t)w, (int32_t)h};
	size_t at = 0;
	if (!positioner_set(p, msg, &at, positioner->up_id, anchor_ok ? NULL : clamped,
			    offset_ok ? NULL : (const int32_t[]){(int32_t)nox, (int32_t)noy}) ||
	    !append_original(msg, &at) ||
	    !positioner_set(p, msg, &at, positioner->up_id, anchor_ok ? NULL : r,
			    offset_ok ? NULL : (const int32_t[]){ox, oy})) {
		return fail(msg, err, "cannot encode the clamped %s", msg->message->name);
	}
	msg->rewrite_size = at;
	p->sanitised_total++;
	p->popups_clamped++;
	return POLICY_REWRITE;
}

/* Cuts the first @n arguments of a positioner request to [lo[i], INT16_MAX]
 * (what its object keeps), into @out; counts the request if one changed. */
static void cut_to_16_bits(struct policy *p, struct policy_msg *msg, unsigned n, const int32_t *lo,
			   int32_t *out) {
	bool changed = false;
	for (unsigned i = 0; i < n; i++) {
		int32_t v = (int32_t)arg(msg, i);
		out[i] = (int32_t)clamp64(v, lo[i], INT16_MAX);
		if (out[i] != v) {
			set_arg(msg, i, (uint32_t)out[i]);
			changed = true;
		}
	}
	if (changed) {
		p->sanitised_total++;
		p->popups_clamped++;
	}
}

/*
 * xdg_positioner.set_size: 1 .. max-buffer-dimension, and (once the
 * compositor has named an output mode) no larger than the largest output
 * and at most 90 % of its area, so a popup cannot cover the whole screen
 * the way an override-redirect window once could. Too large is clamped and
 * counted; zero or negative is the protocol's invalid_input.
 */
static enum policy_verdict positioner_request(struct policy *p, struct policy_msg *msg,
					      struct wire_error *err) {
	uint16_t op = msg->message->opcode;
	if (op == PROTO_XDG_POSITIONER_REQ_SET_ANCHOR_RECT) {
		int32_t w = (int32_t)arg(msg, 2), h = (int32_t)arg(msg, 3);
		if (w < 0 || h < 0) {
			return fail(msg, err, "anchor rectangle %" PRId32 "x%" PRId32 " is invalid",
				    w, h);
		}
		// Kept for get_popup and reposition, which check it against the
		// parent; beyond 16 bits it is outside every parent anyway.
		int32_t r[4];
		cut_to_16_bits(p, msg, 4, (const int32_t[]){INT16_MIN, INT16_MIN, 0, 0}, r);
		if (msg->sender->tag == TAG_POSITIONER) {
			msg->sender->aux = anchor_pack(r);
		}
		return POLICY_PASS;
	}
	if (op == PROTO_XDG_POSITIONER_REQ_SET_OFFSET) {
		// Kept for get_popup and reposition; beyond 16 bits it is
		// further than any parent allows anyway.
		int32_t o[2];
		cut_to_16_bits(p, msg, 2, (const int32_t[]){INT16_MIN, INT16_MIN}, o);
		if (msg->sender->tag == TAG_POSITIONER) {
			msg->sender->data = offset_pack(o[0], o[1]);
		}
		return POLICY_PASS;
	}
	if (op != PROTO_XDG_POSITIONER_REQ_SET_SIZE) {
		return POLICY_PASS;
	}
	int32_t w = (int32_t)arg(msg, 0), h = (int32_t)arg(msg, 1);
	if (w < 1 || h < 1) {
		return fail(msg, err, "popup size %" PRId32 "x%" PRId32 " is invalid", w, h);
	}
	int64_t max_w = p->config->limits.max_dimension, max_h = max_w;
	if (p->output_width > 0 && p->output_height > 0) {
		max_w = p->output_width;
		max_h = p->output_height;
	}
	int64_t nw = w > max_w ? max_w : w, nh = h > max_h ? max_h : h;
	if (p->output_width > 0 && nw * nh * 10 > max_w * max_h * 9) {
		nh = max_w * max_h * 9 / (10 * nw); // >= 1: nw <= max_w
	}
	if (nw != w || nh != h) {
		set_arg(msg, 0, (uint32_t)nw);
		set_arg(msg, 1, (uint32_t)nh);
		p->sanitised_total++;
		p->popups_clamped++;
	}
	return POLICY_PASS;
}

/* The largest current mode among the compositor's outputs. */
static void output_mode(struct policy *p, struct policy_msg *msg) {
	uint32_t flags = arg(msg, 0);
	int32_t w = (int32_t)arg(msg, 1), h = (int32_t)arg(msg, 2);
	if ((flags & 1) != 0 && w > 0 && h > 0 && w <= 65536 && h <= 65536 &&
	    (int64_t)w * h > (int64_t)p->output_width * p->output_height) {
		p->output_width = w;
		p->output_height = h;
	}
}

/* set_fullscreen when the policy forbids it becomes set_maximized: the
 * window stays inside the host's labelled frame. */
static enum policy_verdict fullscreen(struct policy *p, struct policy_msg *msg,
				      struct wire_error *err) {
	if (p->config->allow_fullscreen) {
		return POLICY_PASS;
	}
	size_t at = 0;
	if (!append(p, msg, &at, msg->sender->up_id, &proto_xdg_toplevel,
		    PROTO_XDG_TOPLEVEL_REQ_SET_MAXIMIZED, NULL)) {
		return fail(msg, err, "cannot encode set_maximized");
	}
	msg->rewrite_size = at;
	p->sanitised_total++;
	p->fullscreen_refused++;
	return POLICY_REWRITE;
}

/* ---------------------------------------------------------------------- */
/* Selections (rule 11)                                                   */

/* Input events whose serial may authorise a selection or a drag; keyboard
 * focus leaving the guest forgets them all. */
static void input_event(struct policy *p, struct policy_msg *msg) {
	const struct proto_interface *iface = msg->sender->interface;
	uint16_t op = msg->message->opcode;
	if (iface == &proto_wl_pointer &&
	    (op == PROTO_WL_POINTER_EVT_ENTER || op == PROTO_WL_POINTER_EVT_BUTTON)) {
		// No drag grab holds the pointer (any more; a compositor may
		// also have ignored the guest's start_drag). Not motion: motion
		// sent before the grab began may still be on its way.
		p->guest_drag_source = 0;
	}
	if (iface == &proto_wl_keyboard && op == PROTO_WL_KEYBOARD_EVT_LEAVE) {
		p->input_serial_count = 0;
		return;
	}
	bool authorises = (iface == &proto_wl_keyboard && (op == PROTO_WL_KEYBOARD_EVT_ENTER ||
							   op == PROTO_WL_KEYBOARD_EVT_KEY)) ||
			  (iface == &proto_wl_pointer && op == PROTO_WL_POINTER_EVT_BUTTON) ||
			  (iface == &proto_wl_touch && op == PROTO_WL_TOUCH_EVT_DOWN);
	if (!authorises) {
		return;
	}
	p->input_serials[p->input_serial_next] = arg(msg, 0);
	p->input_serial_next = (p->input_serial_next + 1) % POLICY_INPUT_SERIALS;
	if (p->input_serial_count < POLICY_INPUT_SERIALS) {
		p->input_serial_count++;
	}
}

static bool serial_recent(const struct policy *p, uint32_t serial) {
	for (uint32_t i = 0; i < p->input_serial_count; i++) {
		if (p->input_serials[i] == serial) {
			return true;
		}
	}
	return false;
}

/* set_selection and start_drag: only in the clipboard modes that allow it
 * and with the serial of a recent input event on one of the guest's own
 * surfaces (a guest without focus cannot take over the host clipboard). */
static enum policy_verdict selection_request(struct policy *p, struct policy_msg *msg,
					     unsigned serial_arg) {
	if (p->config->clipboard == POLICY_CLIPBOARD_DENY ||
	    !serial_recent(p, arg(msg, serial_arg))) {
		p->selections_refused++;
		return POLICY_DROP;
	}
	return POLICY_PASS;
}

#define MIME_TYPE_MAX 256

/* wl_data_source.offer: at most max-mime-types per source, each at most
 * 256 bytes; the rest are dropped and counted. */
static enum policy_verdict source_offer(struct policy *p, struct policy_msg *msg) {
	const char *mime = wayland_args_string(msg->bytes, msg->args, 0);
	if (msg->sender->tag != TAG_DATA_SOURCE) {
		msg->sender->tag = TAG_DATA_SOURCE;
		msg->sender->aux = 0;
	}
	if (mime == NULL || strlen(mime) > MIME_TYPE_MAX ||
	    msg->sender->aux >= p->config->limits.max_mime_types) {
		p->sanitised_total++;
		p->mime_types_dropped++;
		return POLICY_DROP;
	}
	msg->sender->aux++;
	return POLICY_PASS;
}

/* ---------------------------------------------------------------------- */
/* Server-side decorations                                                */

#define TOPLEVEL_GUEST_DECORATED (1ull << 32) // in a toplevel's aux

#define DECORATION_MODE_SERVER_SIDE 2

/* Appends one request to msg->rewrite at *at. False when it does not fit. */
static bool append(struct policy *p, struct policy_msg *msg, size_t *at, uint32_t object_up,
		   const struct proto_interface *iface, uint16_t opcode,
		   const union wayland_value *values) {
	// A request crossway adds on its own for an object the compositor has
	// already released (delete_id while the guest still holds it) would be
	// a protocol error there: leave it out.
	struct object *target = objects_lookup_up(p->objs, object_up);
	if (target == NULL || target->state != OBJECT_LIVE) {
		return true;
	}
	size_t n = wayland_msg_encode(msg->rewrite + *at, msg->rewrite_cap - *at, object_up, opcode,
				      &iface->requests[opcode], values);
	*at += n;
	return n > 0;
}

static bool append_original(struct policy_msg *msg, size_t *at) {
	if (*at + msg->hdr.size > msg->rewrite_cap) {
		return false;
	}
	memcpy(msg->rewrite + *at, msg->bytes, msg->hdr.size);
	*at += msg->hdr.size;
	return true;
}

static struct policy_surface *surface_by_up(struct policy *p, uint32_t up) {
	struct object *o = up ? objects_lookup_up(p->objs, up) : NULL;
	return o != NULL ? surface_of(o) : NULL;
}

/* Destroys crossway's decoration of a surface's toplevel, in the rewrite. */
static bool drop_own_decoration(struct policy *p, struct policy_msg *msg, struct policy_surface *s,
				size_t *at) {
	if (s == NULL || s->decoration_up == 0) {
		return true;
	}
	uint32_t deco = s->decoration_up;
	s->decoration_up = 0;
	struct object *o = objects_lookup_up(p->objs, deco);
	if (o == NULL || !o->internal || o->interface != &proto_zxdg_toplevel_decoration_v1 ||
	    o->state != OBJECT_LIVE) {
		// The compositor already deleted it (and the id may now be
		// another object's): nothing to destroy.
		return true;
	}
	objects_mark_destroyed(p->objs, o);
	return append(p, msg, at, deco, &proto_zxdg_toplevel_decoration_v1,
		      PROTO_ZXDG_TOPLEVEL_DECORATION_V1_REQ_DESTROY, NULL);
}

/*
 * Before a toplevel's first commit, asks the compositor to draw its frame:
 * [bind the manager] get_toplevel_decoration, set_mode(server_side), commit.
 * Returns PASS when there is nothing to add.
 */
static enum policy_verdict decorate(struct policy *p, struct policy_msg *msg,
				    struct policy_surface *s, struct wire_error *err) {
	s->initial_commit = true;
	struct object *toplevel = objects_lookup_up(p->objs, s->toplevel_up);
	if (!p->config->server_side_decorations || p->deco_global == 0 || toplevel == NULL ||
	    toplevel->state != OBJECT_LIVE || (toplevel->aux & TOPLEVEL_GUEST_DECORATED)) {
		return POLICY_PASS;
	}
	struct object *manager = p->deco_manager_up != 0
					 ? objects_lookup_up(p->objs, p->deco_manager_up)
					 : NULL;
	if (p->deco_manager_up != 0 && (manager == NULL || manager->state != OBJECT_LIVE)) {
		// The compositor released crosswayd's manager with delete_id (it
		// must not; it is not trusted): no more frames through it.
		return POLICY_PASS;
	}
	if (p->deco_manager_up == 0) {
		// A compositor may have sent delete_id for the registry (it must
		// not, but it is not trusted): then there is nothing to bind with.
		struct object *reg = objects_lookup_up(p->objs, p->deco_registry_up);
		if (reg == NULL || reg->state != OBJECT_LIVE) {
			return POLICY_PASS;
		}
	}
	uint32_t toplevel_up = s->toplevel_up;
	size_t at = 0;
	// New objects may move the maps: from here on, ids only.
	if (p->deco_manager_up == 0) {
		struct object *m = objects_add_internal(p->objs, &proto_zxdg_decoration_manager_v1,
							p->deco_version, err);
		if (m == NULL) {
			return fail(msg, err, "cannot add a decoration manager: %s", err->text);
		}
		p->deco_manager_up = m->up_id;
		static const char name[] = "zxdg_decoration_manager_v1";
		union wayland_value bind[4] = {{.u = p->deco_global},
					       {.bytes = {name, sizeof(name)}},
					       {.u = p->deco_version},
					       {.u = p->deco_manager_up}};
		if (!append(p, msg, &at, p->deco_registry_up, &proto_wl_registry,
			    PROTO_WL_REGISTRY_REQ_BIND, bind)) {
			return fail(msg, err, "cannot encode a decoration request");
		}
	}
	struct object *d = objects_add_internal(p->objs, &proto_zxdg_toplevel_decoration_v1,
						p->deco_version, err);
	if (d == NULL) {
		return fail(msg, err, "cannot add a decoration: %s", err->text);
	}
	s->decoration_up = d->up_id;
	union wayland_value get[2] = {{.u = s->decoration_up}, {.u = toplevel_up}};
	union wayland_value mode[1] = {{.u = DECORATION_MODE_SERVER_SIDE}};
	if (!append(p, msg, &at, p->deco_manager_up, &proto_zxdg_decoration_manager_v1,
		    PROTO_ZXDG_DECORATION_MANAGER_V1_REQ_GET_TOPLEVEL_DECORATION, get) ||
	    !append(p, msg, &at, s->decoration_up, &proto_zxdg_toplevel_decoration_v1,
		    PROTO_ZXDG_TOPLEVEL_DECORATION_V1_REQ_SET_MODE, mode) ||
	    !append_original(msg, &at)) {
		return fail(msg, err, "cannot encode a decoration request");
	}
	p->decorations_requested++;
	msg->rewrite_size = at;
	return POLICY_REWRITE;
}

/* The guest's own decoration objects: always server-side. */
static enum policy_verdict guest_decoration(struct policy *p, struct policy_msg *msg,
					    struct wire_error *err) {
	const struct proto_interface *iface = msg->sender->interface;
	uint16_t op = msg->message->opcode;
	if (iface == &proto_zxdg_decoration_manager_v1 &&
	    op == PROTO_ZXDG_DECORATION_MANAGER_V1_REQ_GET_TOPLEVEL_DECORATION) {
		struct object *toplevel = objects_lookup_up(p->objs, arg(msg, 1));
		if (msg->created != NULL) {
			msg->created->tag = TAG_GUEST_DECORATION;
		}
		if (toplevel == NULL) {
			return POLICY_PASS;
		}
		toplevel->aux |= TOPLEVEL_GUEST_DECORATED;
		struct policy_surface *s = surface_by_up(p, (uint32_t)toplevel->aux);
		if (s == NULL || s->decoration_up == 0) {
			return POLICY_PASS;
		}
		// A toplevel may have one decoration: crossway's goes first.
		size_t at = 0;
		if (!drop_own_decoration(p, msg, s, &at) || !append_original(msg, &at)) {
			return fail(msg, err, "cannot encode a decoration request");
		}
		msg->rewrite_size = at;
		return POLICY_REWRITE;
	}
	if (!p->config->server_side_decorations || msg->sender->tag != TAG_GUEST_DECORATION) {
		return POLICY_PASS;
	}
	if (op == PROTO_ZXDG_TOPLEVEL_DECORATION_V1_REQ_SET_MODE &&
	    arg(msg, 0) != DECORATION_MODE_SERVER_SIDE) {
		set_arg(msg, 0, DECORATION_MODE_SERVER_SIDE);
		p->sanitised_total++;
	} else if (op == PROTO_ZXDG_TOPLEVEL_DECORATION_V1_REQ_UNSET_MODE) {
		union wayland_value mode[1] = {{.u = DECORATION_MODE_SERVER_SIDE}};
		size_t at = 0;
		if (!append(p, msg, &at, msg->sender->up_id, &proto_zxdg_toplevel_decoration_v1,
			    PROTO_ZXDG_TOPLEVEL_DECORATION_V1_REQ_SET_MODE, mode)) {
			return fail(msg, err, "cannot encode a decoration request");
		}
		msg->rewrite_size = at;
		return POLICY_REWRITE;
	}
	return POLICY_PASS;
}

/* ---------------------------------------------------------------------- */
/* linux-dmabuf                                                           */

static enum policy_verdict params_add(struct policy *p, struct policy_msg *msg,
				      struct wire_error *err) {
	struct policy_params *pp = msg->sender->tag == TAG_DMABUF_PARAMS ? msg->sender->data : NULL;
	uint32_t plane = arg(msg, 1);
	if (pp == NULL) {
		return POLICY_PASS;
	}
	if (plane >= DMABUF_MAX_PLANES) {
		return fail(msg, err, "plane index %" PRIu32 " is out of range (0..3)", plane);
	}
	if (pp->planes[plane].set) {
		return fail(msg, err, "plane %" PRIu32 " was already added", plane);
	}
	struct fdtype t;
	if (msg->fds == NULL || !fdtype_classify(msg->fds[0], &t) || t.kind != FDTYPE_MEMORY) {
		return fail(msg, err, "plane %" PRIu32 ": the fd is not a buffer", plane);
	}
	uint64_t modifier = (uint64_t)arg(msg, 4) << 32 | arg(msg, 5);
	for (int i = 0; i < DMABUF_MAX_PLANES; i++) {
		if (pp->planes[i].set && pp->planes[i].modifier != modifier) {
			return fail(msg, err,
				    "plane %" PRIu32 " has modifier 0x%" PRIx64
				    ", plane %d 0x%" PRIx64,
				    plane, modifier, i, pp->planes[i].modifier);
		}
	}
	pp->planes[plane].set = true;
	pp->planes[plane].fd_size = t.size;
	pp->planes[plane].offset = arg(msg, 2);
	pp->planes[plane].stride = arg(msg, 3);
	pp->planes[plane].modifier = modifier;
	return POLICY_PASS;
}

/*
 * A plane must lie inside its buffer: a format's own planes are as many rows
 * as the format gives them (the chroma planes of NV12 half the height) times
 * their stride. A plane the format does not have is a modifier's auxiliary
 * plane (compression metadata, far smaller than stride x height; its layout
 * is the vendor's): it must start inside its buffer, and the compositor's
 * import checks the rest. Without an explicit modifier (LINEAR, or the
 * implicit INVALID) there are no auxiliary planes, so such a plane is
 * checked at full height.
 */
static bool plane_fits(struct policy_msg *msg, const struct policy_plane *plane, int index,
		       uint32_t format, uint32_t height, struct wire_error *err) {
	uint32_t rows = height;
	bool own = drm_format_plane_rows(format, (unsigned)index, height, &rows);
	// Implicit modifiers (INVALID) show clients no auxiliary planes either.
	bool explicit_layout = plane->modifier != DRM_FORMAT_MOD_LINEAR &&
			       plane->modifier != DRM_FORMAT_MOD_INVALID;
	if (!own && explicit_layout) {
		if (plane->offset >= plane->fd_size) {
			fail(msg, err,
			     "plane %d (a modifier's auxiliary plane) starts at byte %" PRIu32
			     ", past its buffer's %" PRIu64,
			     index, plane->offset, plane->fd_size);
			return false;
		}
		return true;
	}
	uint64_t end = (uint64_t)plane->offset + (uint64_t)plane->stride * rows;
	if (end > plane->fd_size) {
		fail(msg, err, "plane %d ends at byte %" PRIu64 ", past its buffer's %" PRIu64,
		     index, end, plane->fd_size);
		return false;
	}
	return true;
}

static enum policy_verdict params_create(struct policy *p, struct policy_msg *msg, bool immed,
					 struct wire_error *err) {
	struct policy_params *pp = msg->sender->tag == TAG_DMABUF_PARAMS ? msg->sender->data : NULL;
	unsigned base = immed ? 1 : 0;
	int32_t width = (int32_t)arg(msg, base), height = (int32_t)arg(msg, base + 1);
	uint32_t max = p->config->limits.max_dimension;
	if (width <= 0 || height <= 0 || (uint32_t)width > max || (uint32_t)height > max) {
		return fail(msg, err, "buffer %" PRId32 "x%" PRId32 " outside 1..%" PRIu32, width,
			    height, max);
	}
	uint32_t format = arg(msg, base + 2);
	if (pp != NULL) {
		if (!pp->planes[0].set) {
			return fail(msg, err, "no plane 0");
		}
		bool gap = false;
		for (int i = 0; i < DMABUF_MAX_PLANES; i++) {
			if (!pp->planes[i].set) {
				gap = true;
				continue;
			}
			if (gap) {
				return fail(msg, err, "plane %d follows a missing plane", i);
			}
			if (!plane_fits(msg, &pp->planes[i], i, format, (uint32_t)height, err)) {
				return POLICY_FAIL;
			}
		}
	}
	if (pp != NULL && p->formats_shown_count > 0 &&
	    !format_was_shown(p, format, pp->planes[0].modifier)) {
		// Filtered out for the guest, or never offered by the compositor.
		return fail(msg, err,
			    "format 0x%08" PRIx32 " with modifier 0x%" PRIx64 " was not offered",
			    format, pp->planes[0].modifier);
	}
	uint64_t dims = (uint64_t)(uint32_t)height << 32 | (uint32_t)width;
	if (immed && msg->created != NULL) {
		msg->created->tag = TAG_BUFFER;
		msg->created->aux = dims;
	} else if (!immed && msg->sender->tag == TAG_DMABUF_PARAMS) {
		msg->sender->aux = dims; // for the buffer the created event brings
	}
	return POLICY_PASS;
}

/* create's answer: the wl_buffer of created gets its size as create_immed's
 * does (the guest may have destroyed the params since). */
static enum policy_verdict params_event(struct policy_msg *msg) {
	struct object *params = msg->sender;
	if (params->tag != TAG_DMABUF_PARAMS) {
		return POLICY_PASS;
	}
	if (msg->message->opcode == PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_EVT_CREATED &&
	    msg->created != NULL && params->aux != 0) {
		msg->created->tag = TAG_BUFFER;
		msg->created->aux = params->aux;
	}
	params->aux = 0;
	if (params->data == NULL) {
		params->tag = TAG_NONE;
	}
	return POLICY_PASS;
}

static enum policy_verdict dmabuf_request(struct policy *p, struct policy_msg *msg,
					  struct wire_error *err) {
	const struct proto_interface *iface = msg->sender->interface;
	uint16_t op = msg->message->opcode;
	if (iface == &proto_zwp_linux_dmabuf_v1) {
		if (op == PROTO_ZWP_LINUX_DMABUF_V1_REQ_CREATE_PARAMS && msg->created != NULL) {
			struct policy_params *pp = calloc(1, sizeof(*pp));
			if (pp == NULL) {
				return fail(msg, err, "out of memory");
			}
			wl_list_insert(&p->dmabuf_params, &pp->link);
			msg->created->tag = TAG_DMABUF_PARAMS;
			msg->created->data = pp;
		}
		return POLICY_PASS;
	}
	switch (op) {
	case PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_DESTROY:
		if (msg->sender->tag == TAG_DMABUF_PARAMS && msg->sender->data != NULL) {
			struct policy_params *pp = msg->sender->data;
			wl_list_remove(&pp->link);
			free(pp);
			msg->sender->data = NULL;
			if (msg->sender->aux == 0) { // else created may still come
				msg->sender->tag = TAG_NONE;
			}
		}
		return POLICY_PASS;
	case PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_ADD:
		return params_add(p, msg, err);
	case PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_CREATE:
		return params_create(p, msg, false, err);
	case PROTO_ZWP_LINUX_BUFFER_PARAMS_V1_REQ_CREATE_IMMED:
		return params_create(p, msg, true, err);
	}
	return POLICY_PASS;
}

/* Keeps a copy of the compositor's format table to read tranches with. */
static enum policy_verdict format_table(struct policy *p, struct policy_msg *msg,
					struct wire_error *err) {
	uint32_t size = arg(msg, 1);
	free(p->format_table);
	p->format_table = NULL;
	p->format_table_len = 0;
	if (msg->fds == NULL) {
		return POLICY_PASS;
	}
	struct fdtype t;
	if (size % 16 != 0 || size / 16 > FORMAT_TABLE_MAX_ENTRIES ||
	    !fdtype_classify(msg->fds[0], &t) || t.kind != FDTYPE_MEMORY || t.size < size) {
		wire_error_set(err, "dmabuf feedback format table of %" PRIu32 " bytes is invalid",
			       size);
		return POLICY_FAIL;
	}
	uint32_t n = size / 16;
	p->format_table = calloc(n ? n : 1, 2 * sizeof(uint64_t));
	if (p->format_table == NULL) {
		wire_error_set(err, "out of memory for the format table");
		return POLICY_FAIL;
	}
	// Straight into the table, in one pread for a memfd (a guest asks for
	// feedback as often as it likes; each answer brings the table again).
	for (uint32_t done = 0; done < size;) {
		ssize_t got = pread(msg->fds[0], (uint8_t *)p->format_table + done, size - done,
				    done);
		if (got <= 0) {
			wire_error_set(err, "cannot read the dmabuf format table");
			return POLICY_FAIL;
		}
		done += (uint32_t)got;
	}
	p->format_table_len = n;
	return POLICY_PASS;
}

/* A set entry's modifier for "this format was shown with an explicit
 * modifier" (no real modifier: vendor 0xff is reserved). */
#define FORMAT_LISTED_MARKER 0xfffffffffffffffeull

/* Keyed: the compositor picks the pairs, and pairs chosen to share a slot
 * would make every lookup walk the set. */
static uint32_t format_slot(const struct policy *p, uint32_t format, uint64_t modifier) {
	uint64_t h = hash_mix64(hash_mix64(p->formats_key ^ format) ^ modifier);
	return (uint32_t)h & (p->formats_shown_slots - 1);
}

/* The slot holding (@format, @modifier), or the empty one where it belongs. */
static struct policy_format *format_find(const struct policy *p, uint32_t format,
					 uint64_t modifier) {
	uint32_t mask = p->formats_shown_slots - 1;
	for (uint32_t i = format_slot(p, format, modifier);; i = (i + 1) & mask) {
		struct policy_format *f = &p->formats_shown[i];
		if (!f->used || (f->format == format && f->modifier == modifier)) {
			return f;
		}
	}
}

/* Shown (a pair) or set (a marker). */
static bool format_set_has(const struct policy *p, uint32_t format, uint64_t modifier) {
	if (p->formats_shown_slots == 0) {
		return false;
	}
	const struct policy_format *f = format_find(p, format, modifier);
	return f->used && f->shown;
}

/* Adds to the set; false when out of memory. Keeps it at most half full. */
static bool format_set_add(struct policy *p, uint32_t format, uint64_t modifier, bool shown) {
	if (2 * (p->formats_shown_held + 1) > p->formats_shown_slots) {
		uint32_t slots = p->formats_shown_slots ? 2 * p->formats_shown_slots : 64;
		struct policy_format *old = p->formats_shown;
		uint32_t old_slots = p->formats_shown_slots;
		p->formats_shown = calloc(slots, sizeof(*p->formats_shown));
		if (p->formats_shown == NULL) {
			p->formats_shown = old;
			return false;
		}
		p->formats_shown_slots = slots;
		for (uint32_t i = 0; i < old_slots; i++) {
			if (old[i].used) {
				*format_find(p, old[i].format, old[i].modifier) = old[i];
			}
		}
		free(old);
	}
	*format_find(p, format, modifier) = (struct policy_format){
		.format = format, .used = true, .shown = shown, .modifier = modifier};
	p->formats_shown_held++;
	return true;
}

/*
 * Whether a format/modifier pair (modifier INVALID: any, as the format events
 * of linux-dmabuf v1 and v2 say) may be shown to the guest: the allocator can
 * make it (the can_allocate hook, a question to the GPU driver) and the set
 * has room. Pairs come again with every feedback object and bind, so every
 * answer is kept, in a set (refused pairs up to FORMAT_TABLE_MAX_ENTRIES): a
 * guest asking for feedback again and again costs a lookup per pair and asks
 * the driver nothing new. False when the set is full: the caller must not
 * show the pair then, so everything shown stays checkable.
 */
static bool offer_format(struct policy *p, uint32_t format, uint64_t modifier) {
	if (modifier == FORMAT_LISTED_MARKER) {
		return false; // not a modifier anyone can use
	}
	if (p->formats_shown_slots > 0) {
		const struct policy_format *f = format_find(p, format, modifier);
		if (f->used) {
			return f->shown;
		}
	}
	if (p->can_allocate != NULL && !p->can_allocate(p->hook_data, format, modifier)) {
		if (p->formats_refused < FORMAT_TABLE_MAX_ENTRIES &&
		    format_set_add(p, format, modifier, false)) {
			p->formats_refused++;
		}
		return false;
	}
	if (p->formats_shown_count == FORMAT_TABLE_MAX_ENTRIES) {
		return false;
	}
	bool listed = modifier != DRM_FORMAT_MOD_INVALID;
	if (listed && !format_set_has(p, format, FORMAT_LISTED_MARKER) &&
	    !format_set_add(p, format, FORMAT_LISTED_MARKER, true)) {
		return false;
	}
	if (!format_set_add(p, format, modifier, true)) {
		return false;
	}
	p->formats_shown_count++;
	return true;
}

/* Shown as such, or the format was shown with modifier INVALID ("any") and
 * never with an explicit one. */
static bool format_was_shown(const struct policy *p, uint32_t format, uint64_t modifier) {
	if (modifier == FORMAT_LISTED_MARKER) {
		return false;
	}
	if (format_set_has(p, format, modifier)) {
		return true;
	}
	return format_set_has(p, format, DRM_FORMAT_MOD_INVALID) &&
	       !format_set_has(p, format, FORMAT_LISTED_MARKER);
}

/* Drops the table indices of pairs the allocator cannot make; remembers the
 * rest as shown. */
static enum policy_verdict tranche_formats(struct policy *p, struct policy_msg *msg,
					   struct wire_error *err) {
	if (p->format_table == NULL) {
		return POLICY_PASS;
	}
	uint32_t len = arg(msg, 0);
	const uint8_t *data = msg->bytes + msg->args->offset[0] + 4;
	uint16_t kept[FORMAT_TABLE_MAX_ENTRIES];
	uint32_t n = 0;
	for (uint32_t i = 0; i + 2 <= len && n < FORMAT_TABLE_MAX_ENTRIES; i += 2) {
		uint16_t index;
		memcpy(&index, data + i, 2);
		if (index >= p->format_table_len) {
			continue; // an index past the table: nothing a guest can use
		}
		uint32_t format = (uint32_t)p->format_table[2 * index];
		uint64_t modifier = p->format_table[2 * index + 1];
		if (offer_format(p, format, modifier)) {
			kept[n++] = index;
		} else {
			p->formats_filtered++;
		}
	}
	if (2 * n == len) {
		return POLICY_PASS;
	}
	union wayland_value v[1] = {{.bytes = {kept, 2 * n}}};
	size_t size = wayland_msg_encode(msg->rewrite, msg->rewrite_cap, msg->sender_down_id,
					 msg->message->opcode, msg->message, v);
	if (size == 0) {
		wire_error_set(err, "cannot encode the filtered tranche");
		return POLICY_FAIL;
	}
	msg->rewrite_size = size;
	return POLICY_REWRITE;
}

static enum policy_verdict dmabuf_event(struct policy *p, struct policy_msg *msg,
					struct wire_error *err) {
	const struct proto_interface *iface = msg->sender->interface;
	uint16_t op = msg->message->opcode;
	if (iface == &proto_zwp_linux_dmabuf_v1) {
		uint64_t modifier = op == PROTO_ZWP_LINUX_DMABUF_V1_EVT_MODIFIER
					    ? (uint64_t)arg(msg, 1) << 32 | arg(msg, 2)
					    : DRM_FORMAT_MOD_INVALID;
		if (!offer_format(p, arg(msg, 0), modifier)) {
			p->formats_filtered++;
			return POLICY_DROP;
		}
		return POLICY_PASS;
	}
	if (iface == &proto_zwp_linux_dmabuf_feedback_v1) {
		if (op == PROTO_ZWP_LINUX_DMABUF_FEEDBACK_V1_EVT_FORMAT_TABLE) {
			return format_table(p, msg, err);
		}
		if (op == PROTO_ZWP_LINUX_DMABUF_FEEDBACK_V1_EVT_TRANCHE_FORMATS) {
			return tranche_formats(p, msg, err);
		}
	}
	return POLICY_PASS;
}

/* ---------------------------------------------------------------------- */
/* Clipboard                                                              */

static uint64_t transfer_cap(const struct policy *p, const char *mime) {
	bool text = mime != NULL &&
		    (strncmp(mime, "text/", 5) == 0 || strcmp(mime, "TEXT") == 0 ||
		     strcmp(mime, "STRING") == 0 || strcmp(mime, "UTF8_STRING") == 0);
	return text ? p->config->limits.clipboard_text_bytes : p->config->limits.clipboard_bytes;
}

/* Whether host selections and drags may reach the guest: the offers of
 * every other mode are withheld from their creation on, before a selection
 * or enter event could say what they are for. During a drag of the guest's
 * own, the offers are its own data. (A host selection made during that drag
 * is still withheld by its selection event.) */
static bool host_offers_allowed(const struct policy *p) {
	return p->config->clipboard == POLICY_CLIPBOARD_BOTH || p->guest_drag_source != 0;
}

static enum policy_verdict offer_receive(struct policy *p, struct policy_msg *msg) {
	if (msg->sender->tag == TAG_OFFER_WITHHELD) {
		// Not the guest's to read: the pipe's other end sees EOF.
		return POLICY_DROP;
	}
	if (p->on_read_transfer != NULL && msg->fds != NULL) {
		const char *mime = wayland_args_string(msg->bytes, msg->args, 0);
		p->on_read_transfer(p->hook_data, msg->fds[0], transfer_cap(p, mime));
	}
	return POLICY_PASS;
}

/* ---------------------------------------------------------------------- */

enum policy_verdict policy_request(struct policy *p, struct policy_msg *msg,
				   struct wire_error *err) {
	const struct proto_interface *iface = msg->sender->interface;
	uint16_t op = msg->message->opcode;
	if (iface == &proto_wl_registry) {
		return registry_bind(p, msg, err);
	}
	if (iface == &proto_wl_surface) {
		return surface_request(p, msg, err);
	}
	if (iface == &proto_wl_compositor && op == PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE &&
	    msg->created != NULL) {
		struct policy_surface *s = calloc(1, sizeof(*s));
		if (s == NULL) {
			return fail(msg, err, "out of memory");
		}
		s->up_id = msg->created->up_id;
		s->scale = 1;
		wl_list_init(&s->children);
		wl_list_init(&s->child_link);
		wl_list_insert(&p->surfaces, &s->link);
		msg->created->tag = TAG_SURFACE;
		msg->created->data = s;
		return POLICY_PASS;
	}
	if (iface == &proto_xdg_toplevel) {
		if (op == PROTO_XDG_TOPLEVEL_REQ_SET_FULLSCREEN) {
			return fullscreen(p, msg, err);
		}
		return toplevel_request(p, msg, err);
	}
	if (iface == &proto_xdg_wm_base && op == PROTO_XDG_WM_BASE_REQ_GET_XDG_SURFACE &&
	    msg->created != NULL) {
		msg->created->tag = TAG_XDG_SURFACE;
		msg->created->aux = arg(msg, 1);
		struct policy_surface *s = surface_by_up(p, arg(msg, 1));
		if (s != NULL) {
			s->xdg_surface_up = msg->created->up_id;
		}
		return POLICY_PASS;
	}
	if (iface == &proto_xdg_surface && op == PROTO_XDG_SURFACE_REQ_DESTROY) {
		xdg_surface_gone(p, msg->sender);
		return POLICY_PASS;
	}
	if (iface == &proto_xdg_surface && op == PROTO_XDG_SURFACE_REQ_GET_TOPLEVEL &&
	    msg->created != NULL) {
		if (p->toplevels >= p->config->limits.max_toplevels) {
			return fail(msg, err, "toplevel limit (%" PRIu32 ") reached",
				    p->config->limits.max_toplevels);
		}
		p->toplevels++;
		msg->created->tag = TAG_TOPLEVEL;
		uint32_t surface_up = msg->sender->tag == TAG_XDG_SURFACE
					      ? (uint32_t)msg->sender->aux
					      : 0;
		msg->created->aux = surface_up;
		struct policy_surface *s = surface_by_up(p, surface_up);
		if (s != NULL) {
			s->toplevel_up = msg->created->up_id;
			s->initial_commit = false;
		}
		return POLICY_PASS;
	}
	if (iface == &proto_zxdg_decoration_manager_v1 ||
	    iface == &proto_zxdg_toplevel_decoration_v1) {
		return guest_decoration(p, msg, err);
	}
	if (iface == &proto_wl_shm && op == PROTO_WL_SHM_REQ_CREATE_POOL && msg->created != NULL) {
		// The pipeline checked size <= the fd's size; remember both.
		struct fdtype t;
		uint64_t fd_size = msg->fds && fdtype_classify(msg->fds[0], &t) ? t.size : 0;
		if (fd_size > INT32_MAX) {
			fd_size = INT32_MAX; // a pool can never be larger
		}
		msg->created->tag = TAG_POOL;
		msg->created->aux = fd_size << 32 | arg(msg, 2);
		return POLICY_PASS;
	}
	if (iface == &proto_wl_shm_pool) {
		return shm_pool_request(p, msg, err);
	}
	if (iface == &proto_wl_subcompositor && op == PROTO_WL_SUBCOMPOSITOR_REQ_GET_SUBSURFACE) {
		return get_subsurface(p, msg, err);
	}
	if (iface == &proto_wl_subsurface) {
		return subsurface_request(p, msg);
	}
	if (iface == &proto_xdg_surface && op == PROTO_XDG_SURFACE_REQ_SET_WINDOW_GEOMETRY) {
		return window_geometry(p, msg, err);
	}
	if (iface == &proto_xdg_positioner) {
		return positioner_request(p, msg, err);
	}
	if (iface == &proto_xdg_wm_base && op == PROTO_XDG_WM_BASE_REQ_CREATE_POSITIONER &&
	    msg->created != NULL) {
		msg->created->tag = TAG_POSITIONER;
		return POLICY_PASS;
	}
	if (iface == &proto_xdg_surface && op == PROTO_XDG_SURFACE_REQ_GET_POPUP) {
		struct object *parent = object_arg(p, msg, 1);
		uint32_t parent_surface = parent != NULL && parent->tag == TAG_XDG_SURFACE
						  ? (uint32_t)parent->aux
						  : 0;
		if (msg->created != NULL) {
			msg->created->tag = TAG_POPUP;
			msg->created->aux = parent_surface;
		}
		return popup_anchor(p, msg, object_arg(p, msg, 2), parent_surface, err);
	}
	if (iface == &proto_xdg_popup && op == PROTO_XDG_POPUP_REQ_REPOSITION &&
	    msg->sender->tag == TAG_POPUP) {
		return popup_anchor(p, msg, object_arg(p, msg, 0), (uint32_t)msg->sender->aux, err);
	}
	if ((iface == &proto_wl_data_source && op == PROTO_WL_DATA_SOURCE_REQ_OFFER) ||
	    (iface == &proto_zwp_primary_selection_source_v1 &&
	     op == PROTO_ZWP_PRIMARY_SELECTION_SOURCE_V1_REQ_OFFER)) {
		return source_offer(p, msg);
	}
	if (iface == &proto_wl_data_device && op == PROTO_WL_DATA_DEVICE_REQ_START_DRAG) {
		enum policy_verdict v = selection_request(p, msg, 3);
		if (v == POLICY_PASS && arg(msg, 0) != 0) {
			p->guest_drag_source = arg(msg, 0);
		}
		return v;
	}
	if (iface == &proto_wl_data_source && op == PROTO_WL_DATA_SOURCE_REQ_DESTROY &&
	    msg->sender->up_id == p->guest_drag_source) {
		p->guest_drag_source = 0; // a source destroyed mid-drag cancels it
	}
	if (iface == &proto_wp_viewport) {
		return viewport_request(p, msg, err);
	}
	if (iface == &proto_wp_viewporter && op == PROTO_WP_VIEWPORTER_REQ_GET_VIEWPORT &&
	    msg->created != NULL) {
		msg->created->tag = TAG_VIEWPORT;
		msg->created->aux = arg(msg, 1);
		return POLICY_PASS;
	}
	if (iface == &proto_wp_single_pixel_buffer_manager_v1 &&
	    op == PROTO_WP_SINGLE_PIXEL_BUFFER_MANAGER_V1_REQ_CREATE_U32_RGBA_BUFFER &&
	    msg->created != NULL) {
		msg->created->tag = TAG_BUFFER; // one pixel, stretched by a viewport
		msg->created->aux = (uint64_t)1 << 32 | 1;
		return POLICY_PASS;
	}
	if (iface == &proto_zwp_linux_dmabuf_v1 || iface == &proto_zwp_linux_buffer_params_v1) {
		return dmabuf_request(p, msg, err);
	}
	if (iface == &proto_wl_data_offer && op == PROTO_WL_DATA_OFFER_REQ_RECEIVE) {
		return offer_receive(p, msg);
	}
	if (iface == &proto_wl_data_offer && op != PROTO_WL_DATA_OFFER_REQ_DESTROY &&
	    msg->sender->tag == TAG_OFFER_WITHHELD) {
		return POLICY_DROP; // accept, finish, set_actions: not the guest's offer
	}
	if (iface == &proto_zwp_primary_selection_offer_v1 &&
	    op == PROTO_ZWP_PRIMARY_SELECTION_OFFER_V1_REQ_RECEIVE) {
		return offer_receive(p, msg);
	}
	if ((iface == &proto_wl_data_device && op == PROTO_WL_DATA_DEVICE_REQ_SET_SELECTION) ||
	    (iface == &proto_zwp_primary_selection_device_v1 &&
	     op == PROTO_ZWP_PRIMARY_SELECTION_DEVICE_V1_REQ_SET_SELECTION)) {
		return selection_request(p, msg, 1);
	}
	return POLICY_PASS;
}

enum policy_verdict policy_event(struct policy *p, struct policy_msg *msg, struct wire_error *err) {
	const struct proto_interface *iface = msg->sender->interface;
	uint16_t op = msg->message->opcode;
	if (iface == &proto_wl_registry) {
		if (op == PROTO_WL_REGISTRY_EVT_GLOBAL) {
			return registry_global(p, msg, err);
		}
		return registry_global_remove(p, msg);
	}
	if (iface == &proto_wl_keyboard || iface == &proto_wl_pointer || iface == &proto_wl_touch) {
		input_event(p, msg);
		return POLICY_PASS;
	}
	if (iface == &proto_wl_output && op == PROTO_WL_OUTPUT_EVT_MODE) {
		output_mode(p, msg);
		return POLICY_PASS;
	}
	if (((iface == &proto_wl_data_device && op == PROTO_WL_DATA_DEVICE_EVT_DATA_OFFER) ||
	     (iface == &proto_zwp_primary_selection_device_v1 &&
	      op == PROTO_ZWP_PRIMARY_SELECTION_DEVICE_V1_EVT_DATA_OFFER)) &&
	    msg->created != NULL && !host_offers_allowed(p)) {
		// Forwarded (the guest's ids stay in step) but inert.
		msg->created->tag = TAG_OFFER_WITHHELD;
		return POLICY_PASS;
	}
	if ((iface == &proto_wl_data_offer || iface == &proto_zwp_primary_selection_offer_v1) &&
	    msg->sender->tag == TAG_OFFER_WITHHELD) {
		return POLICY_DROP; // its mime types and actions
	}
	if (iface == &proto_wl_data_device && op == PROTO_WL_DATA_DEVICE_EVT_ENTER &&
	    !host_offers_allowed(p) && arg(msg, 4) != 0) {
		// A host drag over the guest's window: it sees one without data.
		// The offer stays in the event (toolkits expect one there; Qt
		// dereferences it), inert: withheld since its creation.
		struct object *offer = object_arg(p, msg, 4);
		if (offer != NULL) {
			offer->tag = TAG_OFFER_WITHHELD;
		}
		p->offers_withheld++;
		return POLICY_PASS;
	}
	if (iface == &proto_wl_data_device && op == PROTO_WL_DATA_DEVICE_EVT_DROP) {
		p->guest_drag_source = 0; // a drop ends the drag
		return POLICY_PASS;
	}
	if ((iface == &proto_wl_data_device && op == PROTO_WL_DATA_DEVICE_EVT_SELECTION) ||
	    (iface == &proto_zwp_primary_selection_device_v1 &&
	     op == PROTO_ZWP_PRIMARY_SELECTION_DEVICE_V1_EVT_SELECTION)) {
		if (p->config->clipboard != POLICY_CLIPBOARD_BOTH && arg(msg, 0) != 0) {
			// The guest learns there is no selection; the offer it
			// was sent stays unreadable.
			// Server ids are the same on both sides.
			struct object *offer = object_arg(p, msg, 0);
			if (offer != NULL) {
				offer->tag = TAG_OFFER_WITHHELD;
			}
			set_arg(msg, 0, 0);
			p->offers_withheld++;
		}
		return POLICY_PASS;
	}
	if (iface == &proto_zwp_linux_dmabuf_v1 || iface == &proto_zwp_linux_dmabuf_feedback_v1) {
		return dmabuf_event(p, msg, err);
	}
	if (iface == &proto_zwp_linux_buffer_params_v1) {
		return params_event(msg);
	}
	if (iface == &proto_wl_data_source && msg->sender->up_id == p->guest_drag_source &&
	    (op == PROTO_WL_DATA_SOURCE_EVT_CANCELLED ||
	     op == PROTO_WL_DATA_SOURCE_EVT_DND_DROP_PERFORMED ||
	     op == PROTO_WL_DATA_SOURCE_EVT_DND_FINISHED)) {
		p->guest_drag_source = 0;
		return POLICY_PASS;
	}
	if ((iface == &proto_wl_data_source && op == PROTO_WL_DATA_SOURCE_EVT_SEND) ||
	    (iface == &proto_zwp_primary_selection_source_v1 &&
	     op == PROTO_ZWP_PRIMARY_SELECTION_SOURCE_V1_EVT_SEND)) {
		if (msg->fd_meta != NULL) {
			msg->fd_meta[0] = transfer_cap(
				p, wayland_args_string(msg->bytes, msg->args, 0));
		}
		return POLICY_PASS;
	}
	return POLICY_PASS;
}
