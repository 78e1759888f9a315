/* _GNU_SOURCE: makedev. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <wayland-server-core.h>
#include <wayland-server-protocol.h>

#include "daemon/fd.h"
#include "linux-dmabuf-unstable-v1-server-protocol.h"
#include "tests/recorder/recorder_internal.h"

/* drm_fourcc.h values, spelled out so the recorder needs no libdrm. */
#define FOURCC(a, b, c, d)                                                                         \
	((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define FORMAT_XRGB8888 FOURCC('X', 'R', '2', '4')
#define FORMAT_ARGB8888 FOURCC('A', 'R', '2', '4')
#define MOD_LINEAR 0ULL
#define MOD_I915_X_TILED ((1ULL << 56) | 1) // fourcc_mod_code(INTEL, 1)
#define MOD_INVALID 0x00ffffffffffffffULL

/* Format table entry: u32 format, u32 padding, u64 modifier (linux-dmabuf v4). */
#define FORMAT_TABLE_ENTRY_SIZE 16

/* A tiled modifier, so a proxy that only allocates linear has something to filter. */
static const struct recorder_dmabuf_format formats[] = {
	{FORMAT_XRGB8888, MOD_LINEAR},       {FORMAT_ARGB8888, MOD_LINEAR},
	{FORMAT_XRGB8888, MOD_I915_X_TILED}, {FORMAT_ARGB8888, MOD_I915_X_TILED},
	{FORMAT_XRGB8888, MOD_INVALID},      {FORMAT_ARGB8888, MOD_INVALID},
};
#define FORMAT_COUNT (sizeof(formats) / sizeof(formats[0]))

struct params {
	struct recorder *rec;
	bool used;
	bool plane_set[RECORDER_DMABUF_MAX_PLANES];
	struct recorder_dmabuf attrs; // plane fds owned until moved to a buffer
};

struct dmabuf_buffer {
	struct recorder_dmabuf attrs; // plane fds owned (the protocol keeps them for the
				      // buffer's lifetime)
};

static void close_planes(struct recorder_dmabuf *d) {
	for (size_t i = 0; i < RECORDER_DMABUF_MAX_PLANES; i++) {
		fd_close(&d->planes[i].fd);
	}
}

static void clear_planes(struct recorder_dmabuf *d) {
	for (size_t i = 0; i < RECORDER_DMABUF_MAX_PLANES; i++) {
		d->planes[i].fd = -1;
	}
}

static void destroy_request(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static const struct wl_buffer_interface buffer_impl = {
	.destroy = destroy_request,
};

static void buffer_resource_destroy(struct wl_resource *resource) {
	struct dmabuf_buffer *b = wl_resource_get_user_data(resource);
	close_planes(&b->attrs);
	free(b);
}

const struct recorder_dmabuf *recorder_dmabuf_from_buffer(struct wl_resource *buffer) {
	if (!wl_resource_instance_of(buffer, &wl_buffer_interface, &buffer_impl)) {
		return NULL;
	}
	struct dmabuf_buffer *b = wl_resource_get_user_data(buffer);
	return &b->attrs;
}

static void params_add(struct wl_client *client, struct wl_resource *resource, int32_t fd,
		       uint32_t plane_idx, uint32_t offset, uint32_t stride, uint32_t modifier_hi,
		       uint32_t modifier_lo) {
	struct params *p = wl_resource_get_user_data(resource);
	if (p->used) {
		wl_resource_post_error(resource, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED,
				       "params already used");
		goto error_fd;
	}
	if (plane_idx >= RECORDER_DMABUF_MAX_PLANES) {
		wl_resource_post_error(resource, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_IDX,
				       "plane index %u >= %u", plane_idx,
				       RECORDER_DMABUF_MAX_PLANES);
		goto error_fd;
	}
	if (p->plane_set[plane_idx]) {
		wl_resource_post_error(resource, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_PLANE_SET,
				       "plane %u already set", plane_idx);
		goto error_fd;
	}
	// Any fd is accepted: there is no GPU here to import it into.
	p->plane_set[plane_idx] = true;
	p->attrs.planes[plane_idx] = (struct recorder_dmabuf_plane){
		.fd = fd,
		.offset = offset,
		.stride = stride,
		.modifier = ((uint64_t)modifier_hi << 32) | modifier_lo,
	};
	return;

error_fd:
	fd_close(&fd);
}

static void remember(struct recorder *rec, const struct recorder_dmabuf *attrs) {
	close_planes(&rec->last_dmabuf);
	rec->last_dmabuf = *attrs;
	clear_planes(&rec->last_dmabuf);
	for (uint32_t i = 0; i < attrs->plane_count; i++) {
		rec->last_dmabuf.planes[i].fd = fd_dup(attrs->planes[i].fd);
	}
	rec->has_last_dmabuf = true;
}

static void create_buffer(struct wl_client *client, struct wl_resource *resource,
			  uint32_t buffer_id, int32_t width, int32_t height, uint32_t format,
			  uint32_t flags, bool immed) {
	struct params *p = wl_resource_get_user_data(resource);
	if (p->used) {
		wl_resource_post_error(resource, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_ALREADY_USED,
				       "params already used");
		return;
	}
	p->used = true;
	if (width < 1 || height < 1) {
		wl_resource_post_error(resource,
				       ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INVALID_DIMENSIONS,
				       "size %dx%d", width, height);
		return;
	}
	uint32_t count = 0;
	while (count < RECORDER_DMABUF_MAX_PLANES && p->plane_set[count]) {
		count++;
	}
	if (count == 0) {
		wl_resource_post_error(resource, ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE,
				       "no plane 0");
		return;
	}
	for (uint32_t i = count; i < RECORDER_DMABUF_MAX_PLANES; i++) {
		if (p->plane_set[i]) {
			wl_resource_post_error(resource,
					       ZWP_LINUX_BUFFER_PARAMS_V1_ERROR_INCOMPLETE,
					       "plane %u set but plane %u missing", i, count);
			return;
		}
	}

	struct dmabuf_buffer *b = calloc(1, sizeof(*b));
	if (b == NULL) {
		goto error_no_memory;
	}
	struct wl_resource *buffer = wl_resource_create(client, &wl_buffer_interface, 1, buffer_id);
	if (buffer == NULL) {
		goto error_buffer;
	}
	b->attrs = p->attrs;
	b->attrs.client = recorder_client_index(p->rec, client);
	b->attrs.buffer_id = wl_resource_get_id(buffer);
	b->attrs.immed = immed;
	b->attrs.width = width;
	b->attrs.height = height;
	b->attrs.format = format;
	b->attrs.flags = flags;
	b->attrs.plane_count = count;
	clear_planes(&p->attrs); // the buffer owns them now
	wl_resource_set_implementation(buffer, &buffer_impl, b, buffer_resource_destroy);
	remember(p->rec, &b->attrs);
	if (!immed) {
		zwp_linux_buffer_params_v1_send_created(resource, buffer);
	}
	return;

error_buffer:
	free(b);
error_no_memory:
	wl_client_post_no_memory(client);
}

static void params_create(struct wl_client *client, struct wl_resource *resource, int32_t width,
			  int32_t height, uint32_t format, uint32_t flags) {
	// buffer id 0: libwayland picks a server-side id for the created() event.
	create_buffer(client, resource, 0, width, height, format, flags, false);
}

static void params_create_immed(struct wl_client *client, struct wl_resource *resource,
				uint32_t buffer_id, int32_t width, int32_t height, uint32_t format,
				uint32_t flags) {
	create_buffer(client, resource, buffer_id, width, height, format, flags, true);
}

static const struct zwp_linux_buffer_params_v1_interface params_impl = {
	.destroy = destroy_request,
	.add = params_add,
	.create = params_create,
	.create_immed = params_create_immed,
};

static void params_resource_destroy(struct wl_resource *resource) {
	struct params *p = wl_resource_get_user_data(resource);
	close_planes(&p->attrs);
	free(p);
}

static void dmabuf_create_params(struct wl_client *client, struct wl_resource *resource,
				 uint32_t id) {
	struct params *p = calloc(1, sizeof(*p));
	if (p == NULL) {
		goto error_no_memory;
	}
	clear_planes(&p->attrs);
	struct wl_resource *r = wl_resource_create(client, &zwp_linux_buffer_params_v1_interface,
						   wl_resource_get_version(resource), id);
	if (r == NULL) {
		goto error_params;
	}
	p->rec = wl_resource_get_user_data(resource);
	wl_resource_set_implementation(r, &params_impl, p, params_resource_destroy);
	return;

error_params:
	free(p);
error_no_memory:
	wl_client_post_no_memory(client);
}

static const struct zwp_linux_dmabuf_feedback_v1_interface feedback_impl = {
	.destroy = destroy_request,
};

static void send_feedback(struct recorder *rec, struct wl_resource *r) {
	dev_t dev = makedev(RECORDER_DMABUF_MAIN_DEVICE_MAJOR, RECORDER_DMABUF_MAIN_DEVICE_MINOR);
	struct wl_array device = {.size = sizeof(dev), .alloc = sizeof(dev), .data = &dev};
	uint16_t indices[FORMAT_COUNT];
	for (size_t i = 0; i < FORMAT_COUNT; i++) {
		indices[i] = (uint16_t)i;
	}
	struct wl_array tranche = {
		.size = sizeof(indices), .alloc = sizeof(indices), .data = indices};
	zwp_linux_dmabuf_feedback_v1_send_format_table(r, rec->format_table_fd,
						       (uint32_t)rec->format_table_size);
	zwp_linux_dmabuf_feedback_v1_send_main_device(r, &device);
	zwp_linux_dmabuf_feedback_v1_send_tranche_target_device(r, &device);
	zwp_linux_dmabuf_feedback_v1_send_tranche_formats(r, &tranche);
	zwp_linux_dmabuf_feedback_v1_send_tranche_flags(r, 0);
	zwp_linux_dmabuf_feedback_v1_send_tranche_done(r);
	zwp_linux_dmabuf_feedback_v1_send_done(r);
}

static void dmabuf_get_feedback(struct wl_client *client, struct wl_resource *resource,
				uint32_t id) {
	struct wl_resource *r = wl_resource_create(client, &zwp_linux_dmabuf_feedback_v1_interface,
						   wl_resource_get_version(resource), id);
	if (r == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &feedback_impl, NULL, NULL);
	send_feedback(wl_resource_get_user_data(resource), r);
}

/* Per-surface feedback is the default feedback: there is one device and one tranche. */
static void dmabuf_get_surface_feedback(struct wl_client *client, struct wl_resource *resource,
					uint32_t id, struct wl_resource *surface) {
	dmabuf_get_feedback(client, resource, id);
}

static const struct zwp_linux_dmabuf_v1_interface dmabuf_impl = {
	.destroy = destroy_request,
	.create_params = dmabuf_create_params,
	.get_default_feedback = dmabuf_get_feedback,
	.get_surface_feedback = dmabuf_get_surface_feedback,
};

static void dmabuf_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
	struct wl_resource *r = wl_resource_create(client, &zwp_linux_dmabuf_v1_interface,
						   (int)version, id);
	if (r == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &dmabuf_impl, data, NULL);
	// v4 deprecates format and modifier events in favour of feedback.
	if (version >= ZWP_LINUX_DMABUF_V1_GET_DEFAULT_FEEDBACK_SINCE_VERSION) {
		return;
	}
	for (size_t i = 0; i < FORMAT_COUNT; i++) {
		bool first = true;
		for (size_t j = 0; j < i; j++) {
			first = first && formats[j].format != formats[i].format;
		}
		if (first) {
			zwp_linux_dmabuf_v1_send_format(r, formats[i].format);
		}
	}
	if (version < ZWP_LINUX_DMABUF_V1_MODIFIER_SINCE_VERSION) {
		return;
	}
	for (size_t i = 0; i < FORMAT_COUNT; i++) {
		zwp_linux_dmabuf_v1_send_modifier(r, formats[i].format,
						  (uint32_t)(formats[i].modifier >> 32),
						  (uint32_t)formats[i].modifier);
	}
}

bool recorder_dmabuf_init(struct recorder *rec) {
	clear_planes(&rec->last_dmabuf);
	if (rec->options.dmabuf_version >= 4) {
		unsigned char table[FORMAT_COUNT * FORMAT_TABLE_ENTRY_SIZE] = {0};
		for (size_t i = 0; i < FORMAT_COUNT; i++) {
			memcpy(table + i * FORMAT_TABLE_ENTRY_SIZE, &formats[i].format, 4);
			memcpy(table + i * FORMAT_TABLE_ENTRY_SIZE + 8, &formats[i].modifier, 8);
		}
		// Sealed, so clients must map it MAP_PRIVATE as the protocol says.
		rec->format_table_fd = recorder_memfd_create("crossway-recorder-dmabuf-formats",
							     table, sizeof(table), true);
		if (rec->format_table_fd < 0) {
			return false;
		}
		rec->format_table_size = sizeof(table);
	}
	return wl_global_create(rec->display, &zwp_linux_dmabuf_v1_interface,
				(int)rec->options.dmabuf_version, rec, dmabuf_bind) != NULL;
}

void recorder_dmabuf_finish(struct recorder *rec) {
	fd_close(&rec->format_table_fd);
	if (rec->has_last_dmabuf) {
		close_planes(&rec->last_dmabuf);
		rec->has_last_dmabuf = false;
	}
}

const struct recorder_dmabuf_format *recorder_dmabuf_formats(size_t *count) {
	*count = FORMAT_COUNT;
	return formats;
}

const struct recorder_dmabuf *recorder_last_dmabuf(const struct recorder *rec) {
	return rec->has_last_dmabuf ? &rec->last_dmabuf : NULL;
}
