/* Plane shapes of the multi-planar YUV DRM formats (see drm_format.h). */
#include "daemon/drm_format.h"
#include "daemon/image.h"

#include <stddef.h>

struct yuv_format {
	uint32_t fourcc;
	uint8_t planes;
	uint8_t vsub; // rows of the chroma planes: one per vsub rows of the image
};

/* From the kernel's drm_fourcc.h: NVxx and Pxxx have a luma and an
 * interleaved chroma plane, YUVxxx/YVUxxx, Q4xx and Sxxx three planes. */
static const struct yuv_format yuv_formats[] = {
	{IMAGE_FOURCC('N', 'V', '1', '2'), 2, 2}, // NV12: 4:2:0
	{IMAGE_FOURCC('N', 'V', '2', '1'), 2, 2}, // NV21
	{IMAGE_FOURCC('N', 'V', '1', '5'), 2, 2}, // NV15: 4:2:0, 10 bit packed
	{IMAGE_FOURCC('P', '0', '1', '0'), 2, 2}, // P010
	{IMAGE_FOURCC('P', '0', '1', '2'), 2, 2}, // P012
	{IMAGE_FOURCC('P', '0', '1', '6'), 2, 2}, // P016
	{IMAGE_FOURCC('P', '0', '3', '0'), 2, 2}, // P030
	{IMAGE_FOURCC('N', 'V', '1', '6'), 2, 1}, // NV16: 4:2:2
	{IMAGE_FOURCC('N', 'V', '6', '1'), 2, 1}, // NV61
	{IMAGE_FOURCC('N', 'V', '2', '0'), 2, 1}, // NV20: 4:2:2, 10 bit packed
	{IMAGE_FOURCC('P', '2', '1', '0'), 2, 1}, // P210
	{IMAGE_FOURCC('N', 'V', '2', '4'), 2, 1}, // NV24: 4:4:4
	{IMAGE_FOURCC('N', 'V', '4', '2'), 2, 1}, // NV42
	{IMAGE_FOURCC('N', 'V', '3', '0'), 2, 1}, // NV30: 4:4:4, 10 bit packed
	{IMAGE_FOURCC('Y', 'U', 'V', '9'), 3, 4}, // YUV410: 4x4 subsampled
	{IMAGE_FOURCC('Y', 'V', 'U', '9'), 3, 4}, // YVU410
	{IMAGE_FOURCC('Y', 'U', '1', '1'), 3, 1}, // YUV411: 4x1
	{IMAGE_FOURCC('Y', 'V', '1', '1'), 3, 1}, // YVU411
	{IMAGE_FOURCC('Y', 'U', '1', '2'), 3, 2}, // YUV420
	{IMAGE_FOURCC('Y', 'V', '1', '2'), 3, 2}, // YVU420
	{IMAGE_FOURCC('Y', 'U', '1', '6'), 3, 1}, // YUV422
	{IMAGE_FOURCC('Y', 'V', '1', '6'), 3, 1}, // YVU422
	{IMAGE_FOURCC('Y', 'U', '2', '4'), 3, 1}, // YUV444
	{IMAGE_FOURCC('Y', 'V', '2', '4'), 3, 1}, // YVU444
	{IMAGE_FOURCC('Q', '4', '1', '0'), 3, 1}, // Q410: 4:4:4, 16 bit
	{IMAGE_FOURCC('Q', '4', '0', '1'), 3, 1}, // Q401
	{IMAGE_FOURCC('S', '0', '1', '0'), 3, 2}, // S010: 4:2:0, 10 bit
	{IMAGE_FOURCC('S', '0', '1', '2'), 3, 2}, // S012
	{IMAGE_FOURCC('S', '0', '1', '6'), 3, 2}, // S016
	{IMAGE_FOURCC('S', '2', '1', '0'), 3, 1}, // S210: 4:2:2
	{IMAGE_FOURCC('S', '2', '1', '2'), 3, 1}, // S212
	{IMAGE_FOURCC('S', '2', '1', '6'), 3, 1}, // S216
	{IMAGE_FOURCC('S', '4', '1', '0'), 3, 1}, // S410: 4:4:4
	{IMAGE_FOURCC('S', '4', '1', '2'), 3, 1}, // S412
	{IMAGE_FOURCC('S', '4', '1', '6'), 3, 1}, // S416
};

bool drm_format_plane_rows(uint32_t fourcc, unsigned plane, uint32_t height, uint32_t *rows) {
	if (plane == 0) {
		*rows = height;
		return true;
	}
	for (size_t i = 0; i < sizeof(yuv_formats) / sizeof(yuv_formats[0]); i++) {
		const struct yuv_format *f = &yuv_formats[i];
		if (f->fourcc == fourcc) {
			if (plane >= f->planes) {
				return false;
			}
			*rows = (uint32_t)(((uint64_t)height + f->vsub - 1) / f->vsub);
			return true;
		}
	}
	return false;
}
