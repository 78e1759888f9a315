/*
 * Image layouts and allocation for GET_IMAGE_REQUIREMENTS and CREATE_BLOB.
 *
 * Without a render node (this is the memfd allocator): linear layouts with
 * rows aligned to 64 bytes, sizes rounded up to the page, backed by memfds
 * sealed against shrinking and growing before anyone else sees them (so a
 * compositor mapping them for wl_shm can never take SIGBUS). The R8 x N
 * "pool" shape guests use to shadow wl_shm pools is plain memory of N bytes.
 */
#ifndef CROSSWAY_DAEMON_IMAGE_H
#define CROSSWAY_DAEMON_IMAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "wire/wire_error.h"

#include <stddef.h>

#define IMAGE_MAX_PLANES 4

/* DRM fourcc codes (drm_fourcc.h values, spelled out so no header is needed). */
#define IMAGE_FOURCC(a, b, c, d)                                                                   \
	((uint32_t)(a) | ((uint32_t)(b) << 8) | ((uint32_t)(c) << 16) | ((uint32_t)(d) << 24))
#define IMAGE_FORMAT_R8 IMAGE_FOURCC('R', '8', ' ', ' ')
#define IMAGE_FORMAT_XRGB8888 IMAGE_FOURCC('X', 'R', '2', '4')
#define IMAGE_FORMAT_ARGB8888 IMAGE_FOURCC('A', 'R', '2', '4')
#define IMAGE_FORMAT_NV12 IMAGE_FOURCC('N', 'V', '1', '2')
#define IMAGE_MODIFIER_LINEAR 0ull

struct image_layout {
	uint32_t width;
	uint32_t height;
	uint32_t fourcc;
	uint32_t flags; // gbm use flags the guest asked for
	uint32_t num_planes;
	uint32_t strides[IMAGE_MAX_PLANES];
	uint32_t offsets[IMAGE_MAX_PLANES];
	uint64_t modifier;
	uint64_t size; // page aligned
	bool gbm;      // made by gbm (a dma-buf), else memfd
};

struct image_limits {
	uint32_t max_dimension; // width and height
	uint64_t max_bytes;     // one image
};

struct gbm_device;

/*
 * The allocator of one context: gbm on a render node when there is one
 * (dma-bufs the compositor can scan out or texture from), else memfd.
 * The render node is opened and the gbm device created before the sandbox
 * (Mesa loads its driver then).
 */
#define IMAGE_ALLOCATOR_MAX_FDS 8

struct image_allocator {
	int render_fd;          // owned; -1 without a render node
	struct gbm_device *gbm; // NULL without a render node
	char render_node[64];   // its path, for logs
	// fds the driver opened while creating the device (owned by it): the
	// sandbox must keep them open
	int driver_fds[IMAGE_ALLOCATOR_MAX_FDS];
	size_t driver_fd_count;
};

/** Tells the device the compositor renders with; false when unknown. */
typedef bool (*image_main_device_func_t)(void *data, dev_t *dev);

/**
 * Opens @render_node (NULL: a render node libdrm finds; "" or "none": memfd
 * only) and creates the gbm device. With more than one render node to
 * choose from, @main_device (may be NULL; called with @data) is asked for
 * the compositor's device and its render node is preferred over the first
 * (daemon/devprobe.h). Without gbm support in the build, or without a
 * usable node, the allocator is memfd only; that is not an error unless
 * @render_node named a node explicitly.
 */
bool image_allocator_init(struct image_allocator *a, const char *render_node,
			  image_main_device_func_t main_device, void *data, char *err,
			  size_t err_cap);

void image_allocator_finish(struct image_allocator *a);

/** Whether images are dma-bufs (capabilities' supports_dmabuf). */
static inline bool image_allocator_dmabuf(const struct image_allocator *a) {
	return a->gbm != NULL;
}

/** Whether the allocator can make a buffer of @fourcc with @modifier. */
bool image_allocator_can(const struct image_allocator *a, uint32_t fourcc, uint64_t modifier);

/**
 * Computes the layout of an image as the allocator would make it: for gbm
 * from a real (then freed) allocation, honouring @flags (gbm use flags;
 * LINEAR forces the linear modifier) and @modifiers (those the compositor
 * accepts, from its dmabuf feedback; NULL for any). For the R8 x N pool
 * shape and without gbm: the memfd layout.
 */
bool image_allocator_layout(const struct image_allocator *a, uint32_t width, uint32_t height,
			    uint32_t fourcc, uint32_t flags, const uint64_t *modifiers,
			    size_t modifier_count, const struct image_limits *limits,
			    struct image_layout *layout, struct wire_error *err);

/**
 * Allocates memory for @layout: a dma-buf with the same layout (checked)
 * when the layout came from gbm, else a sealed memfd. Returns the fd (caller
 * owns) or -1; *handle_type receives CROSSWAY_BACKEND_HANDLE_DMABUF or _SHM.
 */
int image_allocator_allocate(const struct image_allocator *a, const struct image_layout *layout,
			     uint32_t *handle_type);

/** Whether the memfd allocator knows @fourcc. */
bool image_format_supported(uint32_t fourcc);

/**
 * Computes the linear layout for an image, checking the limits with 64-bit
 * arithmetic. False with a reason for unknown formats, zero or oversized
 * dimensions, or a size over the limit.
 */
bool image_layout_compute(uint32_t width, uint32_t height, uint32_t fourcc, uint32_t flags,
			  const struct image_limits *limits, struct image_layout *layout,
			  struct wire_error *err);

/**
 * Whether @size is a valid CREATE_BLOB size for a blob the guest was told
 * has @required bytes: @required itself, or @required rounded up to a guest
 * page of 4, 16 or 64 KiB (the guest kernel page-aligns host blob sizes, and
 * Linux guests run with any of these page sizes). Nothing else: a size that
 * is no page rounding of @required is a guest or backend bug.
 */
bool image_blob_size_ok(uint64_t required, uint64_t size);

/**
 * Allocates @size bytes of sealed shared memory. Returns an fd the caller
 * owns, or -1 (errno set).
 */
int image_allocate_memfd(uint64_t size);

/** Total bytes copied from one buffer to another by crosswayd (pixels): 0 on
 * the blob path. Exposed for tests and printed at exit. */
extern uint64_t image_bytes_copied;

#endif
