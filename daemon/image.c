/* _GNU_SOURCE: memfd_create and F_ADD_SEALS. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdio.h>
#include <string.h>

#include "crossway-config.h"
#include "daemon/fd.h"
#include "daemon/devprobe.h"
#include "daemon/image.h"
#include "wire/crossway-backend.h"

#if HAVE_GBM
#include <gbm.h>
#include <xf86drm.h>
#endif

uint64_t image_bytes_copied;

#define ROW_ALIGN 64u
/* Image sizes are told to the guest rounded to the smallest guest page; a
 * guest with larger pages rounds further (image_blob_size_ok). */
#define PAGE CROSSWAY_BACKEND_BLOB_PAGE_4K

struct format_info {
	uint32_t fourcc;
	uint8_t bpp; // bytes per pixel of plane 0
	bool nv12;   // plane 1: interleaved UV at half height
};

/* Linear formats of wl_shm and the shm shadow shape. */
static const struct format_info formats[] = {
	{IMAGE_FORMAT_R8, 1, false},
	{IMAGE_FOURCC('G', 'R', '8', '8'), 2, false},
	{IMAGE_FOURCC('R', 'G', '1', '6'), 2, false},
	{IMAGE_FOURCC('B', 'G', '1', '6'), 2, false},
	{IMAGE_FOURCC('X', 'R', '1', '2'), 2, false},
	{IMAGE_FOURCC('A', 'R', '1', '2'), 2, false},
	{IMAGE_FOURCC('X', 'R', '1', '5'), 2, false},
	{IMAGE_FOURCC('A', 'R', '1', '5'), 2, false},
	{IMAGE_FOURCC('R', 'G', '2', '4'), 3, false},
	{IMAGE_FOURCC('B', 'G', '2', '4'), 3, false},
	{IMAGE_FORMAT_XRGB8888, 4, false},
	{IMAGE_FORMAT_ARGB8888, 4, false},
	{IMAGE_FOURCC('X', 'B', '2', '4'), 4, false},
	{IMAGE_FOURCC('A', 'B', '2', '4'), 4, false},
	{IMAGE_FOURCC('R', 'X', '2', '4'), 4, false},
	{IMAGE_FOURCC('R', 'A', '2', '4'), 4, false},
	{IMAGE_FOURCC('B', 'X', '2', '4'), 4, false},
	{IMAGE_FOURCC('B', 'A', '2', '4'), 4, false},
	{IMAGE_FOURCC('X', 'R', '3', '0'), 4, false},
	{IMAGE_FOURCC('A', 'R', '3', '0'), 4, false},
	{IMAGE_FOURCC('X', 'B', '3', '0'), 4, false},
	{IMAGE_FOURCC('A', 'B', '3', '0'), 4, false},
	{IMAGE_FOURCC('X', 'B', '4', 'H'), 8, false},
	{IMAGE_FOURCC('A', 'B', '4', 'H'), 8, false},
	{IMAGE_FORMAT_NV12, 1, true},
};

static const struct format_info *find_format(uint32_t fourcc) {
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (formats[i].fourcc == fourcc) {
			return &formats[i];
		}
	}
	return NULL;
}

bool image_format_supported(uint32_t fourcc) {
	return find_format(fourcc) != NULL;
}

static uint64_t align_up(uint64_t v, uint64_t a) {
	return (v + a - 1) / a * a;
}

bool image_layout_compute(uint32_t width, uint32_t height, uint32_t fourcc, uint32_t flags,
			  const struct image_limits *limits, struct image_layout *layout,
			  struct wire_error *err) {
	const struct format_info *f = find_format(fourcc);
	char name[5] = {(char)(fourcc & 0xff), (char)((fourcc >> 8) & 0xff),
			(char)((fourcc >> 16) & 0xff), (char)(fourcc >> 24), 0};
	for (int i = 0; i < 4; i++) {
		if (name[i] < 0x20 || name[i] > 0x7e) {
			name[i] = '?';
		}
	}
	if (f == NULL) {
		return wire_error_set(err, "format %s (0x%08" PRIx32 ") is not supported", name,
				      fourcc);
	}
	// The R8 x N pool shape is one long row: bound it by bytes, not width.
	bool pool = fourcc == IMAGE_FORMAT_R8 && height == 1;
	if (width == 0 || height == 0 || height > limits->max_dimension ||
	    (!pool && width > limits->max_dimension)) {
		return wire_error_set(
			err, "image %" PRIu32 "x%" PRIu32 " %s: dimensions must be 1..%" PRIu32,
			width, height, name, limits->max_dimension);
	}
	if (f->nv12 && (width % 2 || height % 2)) {
		return wire_error_set(err, "image %" PRIu32 "x%" PRIu32 " NV12: odd dimensions",
				      width, height);
	}
	*layout = (struct image_layout){
		.width = width,
		.height = height,
		.fourcc = fourcc,
		.flags = flags,
		.num_planes = f->nv12 ? 2 : 1,
		.modifier = IMAGE_MODIFIER_LINEAR,
	};
	uint64_t stride = pool ? width : align_up((uint64_t)width * f->bpp, ROW_ALIGN);
	uint64_t size = stride * height;
	if (f->nv12) {
		size += stride * (height / 2);
	}
	uint64_t total = align_up(size, PAGE);
	if (stride > UINT32_MAX || total > limits->max_bytes) {
		return wire_error_set(err,
				      "image %" PRIu32 "x%" PRIu32 " %s needs %" PRIu64
				      " bytes, more than the per-buffer limit of %" PRIu64,
				      width, height, name, total, limits->max_bytes);
	}
	layout->strides[0] = (uint32_t)stride;
	if (f->nv12) {
		layout->strides[1] = (uint32_t)stride;
		layout->offsets[1] = (uint32_t)(stride * height);
	}
	layout->size = total;
	return true;
}

int image_allocate_memfd(uint64_t size) {
	int fd = memfd_create("crossway-blob", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		return -1;
	}
	if (ftruncate(fd, (off_t)size) != 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) != 0) {
		fd_close(&fd);
		return -1;
	}
	return fd;
}

/* ---------------------------------------------------------------------- */
/* The allocator: gbm on a render node, else memfd                        */

#if HAVE_GBM

static dev_t node_rdev(const char *path) {
	struct stat st;
	return path != NULL && stat(path, &st) == 0 && S_ISCHR(st.st_mode) ? st.st_rdev : 0;
}

/* Opens @wanted, else (with more than one render node to choose from) the
 * render node of the compositor's main device, else the first. */
static int open_render_node(const char *wanted, image_main_device_func_t main_device, void *data,
			    char *path, size_t cap) {
	if (wanted != NULL) {
		snprintf(path, cap, "%s", wanted);
		return open(wanted, O_RDWR | O_CLOEXEC);
	}
	drmDevicePtr devices[16];
	int n = drmGetDevices2(0, devices, 16);
	struct devprobe_node nodes[16];
	size_t count = 0;
	for (int i = 0; i < n; i++) {
		if (devices[i]->available_nodes & (1 << DRM_NODE_RENDER)) {
			const char *primary = devices[i]->available_nodes & (1 << DRM_NODE_PRIMARY)
						      ? devices[i]->nodes[DRM_NODE_PRIMARY]
						      : NULL;
			nodes[count++] = (struct devprobe_node){
				.render_path = devices[i]->nodes[DRM_NODE_RENDER],
				.devs = {node_rdev(primary),
					 node_rdev(devices[i]->nodes[DRM_NODE_RENDER])},
			};
		}
	}
	dev_t dev;
	int first = count > 1 && main_device != NULL && main_device(data, &dev)
			    ? devprobe_pick(nodes, count, dev)
			    : -1;
	int fd = -1;
	if (first >= 0) {
		snprintf(path, cap, "%s", nodes[first].render_path);
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	for (size_t i = 0; i < count && fd < 0; i++) {
		snprintf(path, cap, "%s", nodes[i].render_path);
		fd = open(path, O_RDWR | O_CLOEXEC);
	}
	if (n > 0) {
		drmFreeDevices(devices, n);
	}
	errno = fd < 0 && count == 0 ? ENODEV : errno;
	return fd;
}
#endif

bool image_allocator_init(struct image_allocator *a, const char *render_node,
			  image_main_device_func_t main_device, void *data, char *err,
			  size_t err_cap) {
	*a = (struct image_allocator){.render_fd = -1};
	if (render_node != NULL && (render_node[0] == '\0' || strcmp(render_node, "none") == 0)) {
		return true;
	}
#if HAVE_GBM
	a->render_fd = open_render_node(render_node, main_device, data, a->render_node,
					sizeof(a->render_node));
	if (a->render_fd < 0) {
		if (render_node != NULL) {
			snprintf(err, err_cap, "cannot open render node %s: %s", render_node,
				 strerror(errno));
			return false;
		}
		a->render_node[0] = '\0';
		return true; // no render node here: memfd only
	}
	bool before[1024] = {false};
	for (int fd = 3; fd < 1024; fd++) {
		before[fd] = fcntl(fd, F_GETFD) >= 0;
	}
	a->gbm = gbm_create_device(a->render_fd);
	for (int fd = 3; fd < 1024 && a->gbm != NULL; fd++) {
		if (!before[fd] && fcntl(fd, F_GETFD) >= 0 &&
		    a->driver_fd_count < IMAGE_ALLOCATOR_MAX_FDS) {
			a->driver_fds[a->driver_fd_count++] = fd;
		}
	}
	if (a->gbm == NULL) {
		fd_close(&a->render_fd);
		if (render_node != NULL) {
			snprintf(err, err_cap, "gbm cannot use %s", render_node);
			return false;
		}
	}
	return true;
#else
	if (render_node != NULL) {
		snprintf(err, err_cap, "this crosswayd was built without gbm");
		return false;
	}
	return true;
#endif
}

void image_allocator_finish(struct image_allocator *a) {
#if HAVE_GBM
	if (a->gbm != NULL) {
		gbm_device_destroy(a->gbm);
		a->gbm = NULL;
	}
#endif
	fd_close(&a->render_fd);
}

bool image_allocator_can(const struct image_allocator *a, uint32_t fourcc, uint64_t modifier) {
#if HAVE_GBM
	if (a->gbm != NULL) {
		return gbm_device_get_format_modifier_plane_count(a->gbm, fourcc, modifier) > 0;
	}
#endif
	return modifier == IMAGE_MODIFIER_LINEAR && image_format_supported(fourcc);
}

#if HAVE_GBM
static struct gbm_bo *create_bo(const struct image_allocator *a, uint32_t width, uint32_t height,
				uint32_t fourcc, uint32_t flags, const uint64_t *modifiers,
				size_t count) {
	// The guest's flags are gbm's own use flags; LINEAR overrides modifiers.
	if (count > 0 && !(flags & GBM_BO_USE_LINEAR)) {
		struct gbm_bo *bo = gbm_bo_create_with_modifiers2(
			a->gbm, width, height, fourcc, modifiers, (unsigned)count, flags);
		if (bo != NULL) {
			return bo;
		}
	}
	return gbm_bo_create(a->gbm, width, height, fourcc, flags);
}

static bool layout_from_bo(struct gbm_bo *bo, struct image_layout *l, int *fd_out) {
	int fd = gbm_bo_get_fd(bo);
	if (fd < 0) {
		return false;
	}
	off_t size = lseek(fd, 0, SEEK_END);
	int planes = gbm_bo_get_plane_count(bo);
	if (size <= 0 || planes < 1 || planes > IMAGE_MAX_PLANES) {
		fd_close(&fd);
		return false;
	}
	l->num_planes = (uint32_t)planes;
	for (int i = 0; i < planes; i++) {
		l->strides[i] = gbm_bo_get_stride_for_plane(bo, i);
		l->offsets[i] = gbm_bo_get_offset(bo, i);
	}
	l->modifier = gbm_bo_get_modifier(bo);
	l->size = (uint64_t)size;
	if (fd_out != NULL) {
		*fd_out = fd;
	} else {
		fd_close(&fd);
	}
	return true;
}
#endif

bool image_allocator_layout(const struct image_allocator *a, uint32_t width, uint32_t height,
			    uint32_t fourcc, uint32_t flags, const uint64_t *modifiers,
			    size_t modifier_count, const struct image_limits *limits,
			    struct image_layout *layout, struct wire_error *err) {
	// The R8 x N pool shape shadows wl_shm pools: plain memory, always.
	bool pool = fourcc == IMAGE_FORMAT_R8 && height == 1;
	if (!image_layout_compute(width, height, fourcc, flags, limits, layout, err)) {
#if HAVE_GBM
		if (a->gbm == NULL || pool) {
			return false;
		}
		// A format only the GPU knows: let gbm decide below, but not for
		// more pixels than the byte limit allows at one byte each (the
		// size is only known once gbm has allocated it).
		if (width == 0 || height == 0 || width > limits->max_dimension ||
		    height > limits->max_dimension) {
			return false;
		}
		if ((uint64_t)width * height > limits->max_bytes) {
			return wire_error_set(err,
					      "image of %" PRIu32 "x%" PRIu32
					      " pixels is over the limit of %" PRIu64 " bytes",
					      width, height, limits->max_bytes);
		}
		*layout = (struct image_layout){
			.width = width, .height = height, .fourcc = fourcc, .flags = flags};
#else
		return false;
#endif
	}
#if HAVE_GBM
	if (a->gbm != NULL && !pool) {
		struct gbm_bo *bo = create_bo(a, width, height, fourcc, flags, modifiers,
					      modifier_count);
		if (bo == NULL) {
			return wire_error_set(
				err, "gbm cannot allocate %" PRIu32 "x%" PRIu32 " of 0x%08" PRIx32,
				width, height, fourcc);
		}
		bool ok = layout_from_bo(bo, layout, NULL);
		gbm_bo_destroy(bo);
		if (!ok) {
			return wire_error_set(err, "gbm gave an unusable buffer");
		}
		if (layout->size > limits->max_bytes) {
			return wire_error_set(
				err, "image needs %" PRIu64 " bytes, over the limit of %" PRIu64,
				layout->size, limits->max_bytes);
		}
		layout->gbm = true;
		// The guest kernel maps whole pages.
		layout->size = (layout->size + PAGE - 1) / PAGE * PAGE;
	}
#endif
	return true;
}

static uint64_t round_up(uint64_t v, uint64_t page) {
	return (v + page - 1) / page * page;
}

bool image_blob_size_ok(uint64_t required, uint64_t size) {
	if (required > UINT64_MAX - CROSSWAY_BACKEND_BLOB_PAGE_64K) {
		return false;
	}
	return size == required || size == round_up(required, CROSSWAY_BACKEND_BLOB_PAGE_4K) ||
	       size == round_up(required, CROSSWAY_BACKEND_BLOB_PAGE_16K) ||
	       size == round_up(required, CROSSWAY_BACKEND_BLOB_PAGE_64K);
}

int image_allocator_allocate(const struct image_allocator *a, const struct image_layout *layout,
			     uint32_t *handle_type) {
#if HAVE_GBM
	if (layout->gbm && a->gbm != NULL) {
		uint64_t modifier = layout->modifier;
		struct gbm_bo *bo = create_bo(a, layout->width, layout->height, layout->fourcc,
					      layout->flags, &modifier, 1);
		if (bo == NULL) {
			errno = ENOMEM;
			return -1;
		}
		struct image_layout got = *layout;
		int fd = -1;
		bool ok = layout_from_bo(bo, &got, &fd);
		gbm_bo_destroy(bo); // the dma-buf keeps the memory
		// The guest was promised this exact layout.
		if (!ok || got.modifier != layout->modifier ||
		    memcmp(got.strides, layout->strides, sizeof(got.strides)) != 0 ||
		    memcmp(got.offsets, layout->offsets, sizeof(got.offsets)) != 0 ||
		    got.size > layout->size) {
			fd_close(&fd);
			errno = EINVAL;
			return -1;
		}
		*handle_type = CROSSWAY_BACKEND_HANDLE_DMABUF;
		return fd;
	}
#endif
	*handle_type = CROSSWAY_BACKEND_HANDLE_SHM;
	return image_allocate_memfd(layout->size);
}
