/*
 * What the planes of a DRM fourcc format look like, as far as checking a
 * guest's linux-dmabuf planes against their buffers needs: the multi-planar
 * YUV formats and how many rows each of their planes has.
 */
#ifndef CROSSWAY_DAEMON_DRM_FORMAT_H
#define CROSSWAY_DAEMON_DRM_FORMAT_H

#include <stdbool.h>
#include <stdint.h>

/**
 * The rows of plane @plane of an image @height rows high in @fourcc, into
 * @rows: @height for plane 0 of any format, the subsampled height for the
 * chroma planes of the multi-planar YUV formats (NV12: half, rounded up).
 * False for a plane the format does not have (plane 1 of an RGB format, or
 * a plane past a YUV format's own): such a plane can only be a modifier's
 * auxiliary plane (compression metadata), whose layout the modifier's
 * vendor defines.
 */
bool drm_format_plane_rows(uint32_t fourcc, unsigned plane, uint32_t height, uint32_t *rows);

#endif
