/* _GNU_SOURCE: memfd_create and F_ADD_SEALS. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/mman.h>
#include <unistd.h>

#include "daemon/fd.h"
#include "daemon/image.h"

uint64_t image_bytes_copied;

#define ROW_ALIGN 64u
#define PAGE 4096u

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
