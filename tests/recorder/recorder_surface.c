/* _GNU_SOURCE: none needed; POSIX only. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wayland-server-core.h>
#include <wayland-server-protocol.h>

#include "tests/recorder/recorder_internal.h"

#define COMPOSITOR_VERSION 5
#define SUBCOMPOSITOR_VERSION 1

struct recorder_surface {
	struct recorder *rec;
	struct wl_resource *resource;
	struct wl_list link; // recorder.surfaces
	unsigned client;

	bool pending_attached;              // attach since the last commit
	struct wl_resource *pending_buffer; // may be NULL
	struct wl_listener pending_buffer_destroy;
	struct wl_list pending_frames; // wl_callback resource links

	struct wl_resource *current_buffer; // held until replaced (not in fast mode)
	struct wl_listener current_buffer_destroy;
	struct wl_list frames; // committed, waiting for the frame timer

	const char *role;                  // static string; NULL: none yet
	struct wl_resource *role_resource; // may be NULL
	struct wl_listener role_resource_destroy;
	recorder_role_commit_func_t role_commit; // may be NULL
	void *role_data;

	uint64_t commits;
	struct recorder_content content;
};

static uint32_t time_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

static void content_finish(struct recorder_content *c) {
	free(c->copy);
	*c = (struct recorder_content){0};
}

/* Listeners double as "is the slot set" markers: an unset one has an empty link. */
static void buffer_slot_set(struct wl_resource **slot, struct wl_listener *l,
			    struct wl_resource *buffer) {
	if (*slot != NULL) {
		wl_list_remove(&l->link);
		wl_list_init(&l->link);
	}
	*slot = buffer;
	if (buffer != NULL) {
		wl_resource_add_destroy_listener(buffer, l);
	}
}

static void pending_buffer_destroy_notify(struct wl_listener *l, void *data) {
	struct recorder_surface *s = wl_container_of(l, s, pending_buffer_destroy);
	buffer_slot_set(&s->pending_buffer, l, NULL);
}

static void current_buffer_destroy_notify(struct wl_listener *l, void *data) {
	struct recorder_surface *s = wl_container_of(l, s, current_buffer_destroy);
	buffer_slot_set(&s->current_buffer, l, NULL);
}

static void role_resource_destroy_notify(struct wl_listener *l, void *data) {
	struct recorder_surface *s = wl_container_of(l, s, role_resource_destroy);
	wl_list_remove(&l->link);
	wl_list_init(&l->link);
	s->role_resource = NULL;
	s->role_commit = NULL;
	s->role_data = NULL;
}

static void fire_frames(struct wl_list *frames, uint32_t time) {
	struct wl_resource *cb, *tmp;
	wl_resource_for_each_safe(cb, tmp, frames) {
		wl_callback_send_done(cb, time);
		wl_resource_destroy(cb); // the destructor unlinks it
	}
}

/* Callbacks outlive a destroyed surface as plain client objects. */
static void detach_frames(struct wl_list *frames) {
	struct wl_resource *cb, *tmp;
	wl_resource_for_each_safe(cb, tmp, frames) {
		wl_list_remove(wl_resource_get_link(cb));
		wl_list_init(wl_resource_get_link(cb));
	}
}

static int frame_timer_fired(void *data) {
	struct recorder *rec = data;
	rec->frame_timer_armed = false;
	uint32_t now = time_ms();
	struct recorder_surface *s;
	wl_list_for_each(s, &rec->surfaces, link) {
		fire_frames(&s->frames, now);
	}
	return 0;
}

static void capture(struct recorder_surface *s, struct wl_resource *buffer) {
	struct recorder_content *c = &s->content;
	c->valid = buffer != NULL;
	if (buffer == NULL) {
		return;
	}
	c->commit_seq = ++s->rec->commit_seq;
	c->pixels = (struct recorder_pixels){
		.client = s->client,
		.surface_id = wl_resource_get_id(s->resource),
		.buffer_id = wl_resource_get_id(buffer),
		.commits = s->commits,
	};
	struct wl_shm_buffer *shm = wl_shm_buffer_get(buffer);
	if (shm != NULL) {
		c->pixels.width = wl_shm_buffer_get_width(shm);
		c->pixels.height = wl_shm_buffer_get_height(shm);
		c->pixels.stride = wl_shm_buffer_get_stride(shm);
		c->pixels.format = wl_shm_buffer_get_format(shm);
		size_t size = (size_t)c->pixels.stride * (size_t)c->pixels.height;
		if (s->rec->options.skip_pixel_copy) {
			return;
		}
		if (size > c->copy_cap) {
			void *copy = realloc(c->copy, size);
			if (copy == NULL) {
				return; // data stays NULL: sizes without pixels
			}
			c->copy = copy;
			c->copy_cap = size;
		}
		// begin/end_access turn a client truncating the pool into a
		// protocol error instead of SIGBUS.
		wl_shm_buffer_begin_access(shm);
		memcpy(c->copy, wl_shm_buffer_get_data(shm), size);
		wl_shm_buffer_end_access(shm);
		c->pixels.data = c->copy;
		return;
	}
	const struct recorder_dmabuf *d = recorder_dmabuf_from_buffer(buffer);
	if (d != NULL) {
		c->pixels.dmabuf = true;
		c->pixels.width = d->width;
		c->pixels.height = d->height;
		c->pixels.stride = (int32_t)d->planes[0].stride;
		c->pixels.format = d->format;
	}
}

static void surface_destroy_request(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static void surface_attach(struct wl_client *client, struct wl_resource *resource,
			   struct wl_resource *buffer, int32_t x, int32_t y) {
	struct recorder_surface *s = wl_resource_get_user_data(resource);
	if (wl_resource_get_version(resource) >= WL_SURFACE_OFFSET_SINCE_VERSION &&
	    (x != 0 || y != 0)) {
		wl_resource_post_error(resource, WL_SURFACE_ERROR_INVALID_OFFSET,
				       "attach offset (%d, %d) on wl_surface v5+", x, y);
		return;
	}
	s->pending_attached = true;
	buffer_slot_set(&s->pending_buffer, &s->pending_buffer_destroy, buffer);
}

static void surface_damage(struct wl_client *client, struct wl_resource *resource, int32_t x,
			   int32_t y, int32_t width, int32_t height) {
}

/* Unlinks from whichever list holds it, or from itself once detached. */
static void callback_resource_destroy(struct wl_resource *resource) {
	wl_list_remove(wl_resource_get_link(resource));
}

static void surface_frame(struct wl_client *client, struct wl_resource *resource,
			  uint32_t callback) {
	struct recorder_surface *s = wl_resource_get_user_data(resource);
	struct wl_resource *cb = wl_resource_create(client, &wl_callback_interface, 1, callback);
	if (cb == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(cb, NULL, NULL, callback_resource_destroy);
	wl_list_insert(s->pending_frames.prev, wl_resource_get_link(cb));
}

static void surface_set_region(struct wl_client *client, struct wl_resource *resource,
			       struct wl_resource *region) {
}

static void surface_commit(struct wl_client *client, struct wl_resource *resource) {
	struct recorder_surface *s = wl_resource_get_user_data(resource);
	struct recorder *rec = s->rec;
	bool attaching = s->pending_attached;
	if (s->role_commit != NULL &&
	    !s->role_commit(s->role_data, attaching && s->pending_buffer != NULL)) {
		return;
	}
	s->commits++;
	s->content.pixels.commits = s->commits;
	if (attaching) {
		struct wl_resource *buffer = s->pending_buffer;
		buffer_slot_set(&s->pending_buffer, &s->pending_buffer_destroy, NULL);
		s->pending_attached = false;
		capture(s, buffer);
		if (s->current_buffer != NULL && s->current_buffer != buffer) {
			wl_buffer_send_release(s->current_buffer);
		}
		if (rec->options.fast && buffer != NULL) {
			// Contents are copied: the client may have the buffer back now.
			wl_buffer_send_release(buffer);
			buffer = NULL;
		}
		buffer_slot_set(&s->current_buffer, &s->current_buffer_destroy, buffer);
	}
	wl_list_insert_list(s->frames.prev, &s->pending_frames);
	wl_list_init(&s->pending_frames);
	if (rec->options.fast) {
		fire_frames(&s->frames, time_ms());
	} else if (!wl_list_empty(&s->frames) && !rec->frame_timer_armed) {
		wl_event_source_timer_update(rec->frame_timer, RECORDER_FRAME_INTERVAL_MS);
		rec->frame_timer_armed = true;
	}
}

static void surface_set_buffer_transform(struct wl_client *client, struct wl_resource *resource,
					 int32_t transform) {
	if (transform < WL_OUTPUT_TRANSFORM_NORMAL || transform > WL_OUTPUT_TRANSFORM_FLIPPED_270) {
		wl_resource_post_error(resource, WL_SURFACE_ERROR_INVALID_TRANSFORM,
				       "buffer transform %d", transform);
	}
}

static void surface_set_buffer_scale(struct wl_client *client, struct wl_resource *resource,
				     int32_t scale) {
	if (scale < 1) {
		wl_resource_post_error(resource, WL_SURFACE_ERROR_INVALID_SCALE, "buffer scale %d",
				       scale);
	}
}

static void surface_offset(struct wl_client *client, struct wl_resource *resource, int32_t x,
			   int32_t y) {
}

static const struct wl_surface_interface surface_impl = {
	.destroy = surface_destroy_request,
	.attach = surface_attach,
	.damage = surface_damage,
	.frame = surface_frame,
	.set_opaque_region = surface_set_region,
	.set_input_region = surface_set_region,
	.commit = surface_commit,
	.set_buffer_transform = surface_set_buffer_transform,
	.set_buffer_scale = surface_set_buffer_scale,
	.damage_buffer = surface_damage,
	.offset = surface_offset,
};

static void surface_resource_destroy(struct wl_resource *resource) {
	struct recorder_surface *s = wl_resource_get_user_data(resource);
	struct recorder *rec = s->rec;
	if (s->content.valid) {
		// Keep what the surface showed, so tests can look after it is gone.
		content_finish(&rec->retired);
		rec->retired = s->content;
		s->content = (struct recorder_content){0};
	}
	content_finish(&s->content);
	buffer_slot_set(&s->pending_buffer, &s->pending_buffer_destroy, NULL);
	buffer_slot_set(&s->current_buffer, &s->current_buffer_destroy, NULL);
	detach_frames(&s->pending_frames);
	detach_frames(&s->frames);
	wl_list_remove(&s->role_resource_destroy.link);
	wl_list_remove(&s->link);
	free(s);
}

struct recorder_surface *recorder_surface_from_resource(struct wl_resource *resource) {
	return wl_resource_get_user_data(resource);
}

struct wl_resource *recorder_surface_resource(struct recorder_surface *surface) {
	return surface->resource;
}

bool recorder_surface_set_role(struct recorder_surface *s, const char *role,
			       struct wl_resource *role_resource,
			       recorder_role_commit_func_t commit, void *role_data) {
	if (s->role != NULL && (strcmp(s->role, role) != 0 || s->role_resource != NULL)) {
		return false;
	}
	s->role = role;
	s->role_resource = role_resource;
	s->role_commit = commit;
	s->role_data = role_data;
	wl_resource_add_destroy_listener(role_resource, &s->role_resource_destroy);
	return true;
}

static void compositor_create_surface(struct wl_client *client, struct wl_resource *resource,
				      uint32_t id) {
	struct recorder *rec = wl_resource_get_user_data(resource);
	struct recorder_surface *s = calloc(1, sizeof(*s));
	if (s == NULL) {
		goto error_no_memory;
	}
	s->resource = wl_resource_create(client, &wl_surface_interface,
					 wl_resource_get_version(resource), id);
	if (s->resource == NULL) {
		goto error_surface;
	}
	s->rec = rec;
	s->client = recorder_client_index(rec, client);
	wl_list_init(&s->pending_frames);
	wl_list_init(&s->frames);
	wl_list_init(&s->pending_buffer_destroy.link);
	wl_list_init(&s->current_buffer_destroy.link);
	wl_list_init(&s->role_resource_destroy.link);
	s->pending_buffer_destroy.notify = pending_buffer_destroy_notify;
	s->current_buffer_destroy.notify = current_buffer_destroy_notify;
	s->role_resource_destroy.notify = role_resource_destroy_notify;
	wl_list_insert(rec->surfaces.prev, &s->link);
	wl_resource_set_implementation(s->resource, &surface_impl, s, surface_resource_destroy);
	return;

error_surface:
	free(s);
error_no_memory:
	wl_client_post_no_memory(client);
}

static void region_destroy_request(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static void region_rect(struct wl_client *client, struct wl_resource *resource, int32_t x,
			int32_t y, int32_t width, int32_t height) {
}

static const struct wl_region_interface region_impl = {
	.destroy = region_destroy_request,
	.add = region_rect,
	.subtract = region_rect,
};

static void compositor_create_region(struct wl_client *client, struct wl_resource *resource,
				     uint32_t id) {
	struct wl_resource *region = wl_resource_create(client, &wl_region_interface, 1, id);
	if (region == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(region, &region_impl, NULL, NULL);
}

static const struct wl_compositor_interface compositor_impl = {
	.create_surface = compositor_create_surface,
	.create_region = compositor_create_region,
};

static void compositor_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
	struct wl_resource *resource = wl_resource_create(client, &wl_compositor_interface,
							  (int)version, id);
	if (resource == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(resource, &compositor_impl, data, NULL);
}

static void subsurface_destroy_request(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static void subsurface_set_position(struct wl_client *client, struct wl_resource *resource,
				    int32_t x, int32_t y) {
}

static void subsurface_place(struct wl_client *client, struct wl_resource *resource,
			     struct wl_resource *sibling) {
}

static void subsurface_set_mode(struct wl_client *client, struct wl_resource *resource) {
}

static const struct wl_subsurface_interface subsurface_impl = {
	.destroy = subsurface_destroy_request,
	.set_position = subsurface_set_position,
	.place_above = subsurface_place,
	.place_below = subsurface_place,
	.set_sync = subsurface_set_mode,
	.set_desync = subsurface_set_mode,
};

static void subcompositor_destroy_request(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static void subcompositor_get_subsurface(struct wl_client *client, struct wl_resource *resource,
					 uint32_t id, struct wl_resource *surface,
					 struct wl_resource *parent) {
	struct recorder_surface *s = wl_resource_get_user_data(surface);
	if (surface == parent) {
		wl_resource_post_error(resource, WL_SUBCOMPOSITOR_ERROR_BAD_SURFACE,
				       "wl_surface#%u cannot be its own parent",
				       wl_resource_get_id(surface));
		return;
	}
	struct wl_resource *sub = wl_resource_create(client, &wl_subsurface_interface, 1, id);
	if (sub == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(sub, &subsurface_impl, NULL, NULL);
	if (!recorder_surface_set_role(s, "wl_subsurface", sub, NULL, NULL)) {
		wl_resource_post_error(resource, WL_SUBCOMPOSITOR_ERROR_BAD_SURFACE,
				       "wl_surface#%u already has a role",
				       wl_resource_get_id(surface));
	}
}

static const struct wl_subcompositor_interface subcompositor_impl = {
	.destroy = subcompositor_destroy_request,
	.get_subsurface = subcompositor_get_subsurface,
};

static void subcompositor_bind(struct wl_client *client, void *data, uint32_t version,
			       uint32_t id) {
	struct wl_resource *resource = wl_resource_create(client, &wl_subcompositor_interface,
							  (int)version, id);
	if (resource == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(resource, &subcompositor_impl, data, NULL);
}

bool recorder_surface_init(struct recorder *rec) {
	rec->frame_timer = wl_event_loop_add_timer(rec->loop, frame_timer_fired, rec);
	if (rec->frame_timer == NULL) {
		return false;
	}
	if (wl_global_create(rec->display, &wl_compositor_interface, COMPOSITOR_VERSION, rec,
			     compositor_bind) == NULL) {
		return false;
	}
	return wl_global_create(rec->display, &wl_subcompositor_interface, SUBCOMPOSITOR_VERSION,
				rec, subcompositor_bind) != NULL;
}

void recorder_surface_finish(struct recorder *rec) {
	// Surfaces went with their clients, before this.
	if (rec->frame_timer != NULL) {
		wl_event_source_remove(rec->frame_timer);
		rec->frame_timer = NULL;
	}
	content_finish(&rec->retired);
}

static bool content_matches(const struct recorder_content *c, int client, uint32_t surface_id) {
	return c->valid && (client < 0 || c->pixels.client == (unsigned)client) &&
	       (surface_id == 0 || c->pixels.surface_id == surface_id);
}

bool recorder_surface_pixels(struct recorder *rec, int client, uint32_t surface_id,
			     struct recorder_pixels *out) {
	const struct recorder_content *best = NULL;
	struct recorder_surface *s;
	wl_list_for_each(s, &rec->surfaces, link) {
		if (content_matches(&s->content, client, surface_id) &&
		    (best == NULL || s->content.commit_seq > best->commit_seq)) {
			best = &s->content;
		}
	}
	if (content_matches(&rec->retired, client, surface_id) &&
	    (best == NULL || rec->retired.commit_seq > best->commit_seq)) {
		best = &rec->retired;
	}
	if (best == NULL) {
		return false;
	}
	*out = best->pixels;
	return true;
}
