#include <inttypes.h>
#include <string.h>

#include "wire/cross_domain.h"
#include "wire/cursor.h"

const char *cross_domain_cmd_name(uint32_t cmd) {
	switch (cmd) {
	case CROSS_DOMAIN_CMD_INIT:
		return "INIT";
	case CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS:
		return "GET_IMAGE_REQUIREMENTS";
	case CROSS_DOMAIN_CMD_POLL:
		return "POLL";
	case CROSS_DOMAIN_CMD_SEND:
		return "SEND";
	case CROSS_DOMAIN_CMD_RECEIVE:
		return "RECEIVE";
	case CROSS_DOMAIN_CMD_READ:
		return "READ";
	case CROSS_DOMAIN_CMD_WRITE:
		return "WRITE";
	}
	return "unknown";
}

static bool decode_init(struct cursor *c, struct cross_domain_cmd *cmd, struct wire_error *err) {
	uint16_t size = cmd->cmd_size;
	if (size != CROSS_DOMAIN_INIT_LEGACY_SIZE && size != CROSS_DOMAIN_INIT_V1_SIZE &&
	    size != CROSS_DOMAIN_INIT_LIBKRUN_SIZE && size != CROSS_DOMAIN_INIT_UUID_SIZE) {
		return wire_error_set(err, "INIT: cmd_size %u is none of 16, 20, 24, 36", size);
	}
	memset(&cmd->init, 0, sizeof(cmd->init));
	cursor_read_u32(c, &cmd->init.query_ring_id);
	if (size == CROSS_DOMAIN_INIT_LEGACY_SIZE) {
		cmd->init.channel_ring_id = cmd->init.query_ring_id;
	} else {
		cursor_read_u32(c, &cmd->init.channel_ring_id);
	}
	cursor_read_u32(c, &cmd->init.channel_type);
	if (size == CROSS_DOMAIN_INIT_LIBKRUN_SIZE) {
		cursor_read_u32(c, &cmd->init.protocol_version);
	} else if (size == CROSS_DOMAIN_INIT_UUID_SIZE) {
		cursor_read_bytes(c, cmd->init.uuid, sizeof(cmd->init.uuid));
	}
	return true;
}

static bool decode_send(struct cursor *c, struct cross_domain_cmd *cmd, struct wire_error *err) {
	uint32_t count, data_size;
	if (cmd->cmd_size < CROSS_DOMAIN_SEND_RECEIVE_FIXED_SIZE) {
		return wire_error_set(err, "SEND: cmd_size %u < 16", cmd->cmd_size);
	}
	cursor_read_u32(c, &count);
	cursor_read_u32(c, &data_size);
	// Both layouts put opaque_data_size at offset 12, so the size of the
	// identifier table tells which one the guest was built with.
	int64_t table = (int64_t)cmd->cmd_size - CROSS_DOMAIN_SEND_RECEIVE_FIXED_SIZE -
			(int64_t)data_size;
	uint32_t layout;
	if (table == 12 * (int64_t)CROSS_DOMAIN_MAX_IDENTIFIERS) {
		layout = CROSS_DOMAIN_MAX_IDENTIFIERS;
	} else if (table == 12 * (int64_t)CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY) {
		layout = CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY;
	} else if (table < 0) {
		return wire_error_set(err,
				      "SEND: opaque_data_size %" PRIu32 " runs past cmd_size %u",
				      data_size, cmd->cmd_size);
	} else {
		return wire_error_set(err,
				      "SEND: cmd_size %u with opaque_data_size %" PRIu32
				      " fits neither the 28- nor the 4-identifier layout",
				      cmd->cmd_size, data_size);
	}
	if (count > layout) {
		return wire_error_set(err, "SEND: %" PRIu32 " identifiers > max %" PRIu32, count,
				      layout);
	}
	cmd->send.layout = layout;
	cmd->send.num_identifiers = count;
	memset(cmd->send.identifiers, 0, sizeof(cmd->send.identifiers));
	memset(cmd->send.identifier_types, 0, sizeof(cmd->send.identifier_types));
	memset(cmd->send.identifier_sizes, 0, sizeof(cmd->send.identifier_sizes));
	size_t base = c->pos;
	for (uint32_t i = 0; i < count; i++) {
		memcpy(&cmd->send.identifiers[i], c->data + base + 4 * i, 4);
		memcpy(&cmd->send.identifier_types[i], c->data + base + 4 * (layout + i), 4);
		memcpy(&cmd->send.identifier_sizes[i], c->data + base + 4 * (2 * layout + i), 4);
	}
	cursor_skip(c, 12 * (size_t)layout);
	cursor_take(c, data_size, &cmd->send.data);
	cmd->send.data_size = data_size;
	return true;
}

static bool decode_write(struct cursor *c, struct cross_domain_cmd *cmd, struct wire_error *err) {
	if (cmd->cmd_size < CROSS_DOMAIN_READ_WRITE_HEADER_SIZE) {
		return wire_error_set(err, "WRITE: cmd_size %u < 24", cmd->cmd_size);
	}
	uint32_t data_size, pad;
	cursor_read_u32(c, &cmd->write.identifier);
	cursor_read_u32(c, &cmd->write.hang_up);
	cursor_read_u32(c, &data_size);
	cursor_read_u32(c, &pad);
	if ((uint64_t)data_size + CROSS_DOMAIN_READ_WRITE_HEADER_SIZE != cmd->cmd_size) {
		return wire_error_set(
			err, "WRITE: opaque_data_size %" PRIu32 " does not match cmd_size %u",
			data_size, cmd->cmd_size);
	}
	cursor_take(c, data_size, &cmd->write.data);
	cmd->write.data_size = data_size;
	return true;
}

enum cross_domain_result cross_domain_next(struct cross_domain_reader *r,
					   struct cross_domain_cmd *cmd, struct wire_error *err) {
	size_t left = r->size - r->pos;
	if (left == 0) {
		return CROSS_DOMAIN_END;
	}
	if (left < CROSS_DOMAIN_HEADER_SIZE) {
		wire_error_set(err, "truncated command: %zu bytes left, a header needs 8", left);
		return CROSS_DOMAIN_INVALID;
	}
	struct cursor c = cursor_init(r->data + r->pos, left);
	uint8_t id = 0, ring_idx = 0;
	uint16_t size = 0;
	uint32_t pad = 0;
	cursor_read_u8(&c, &id);
	cursor_read_u8(&c, &ring_idx);
	cursor_read_u16(&c, &size);
	cursor_read_u32(&c, &pad);
	const char *name = cross_domain_cmd_name(id);
	if (size < CROSS_DOMAIN_HEADER_SIZE) {
		// rutabaga steps by cmd_size without this check, so cmd_size 0
		// would loop forever there.
		wire_error_set(err, "%s (cmd %u): cmd_size %u < 8", name, id, size);
		return CROSS_DOMAIN_INVALID;
	}
	if (size > left) {
		wire_error_set(err, "%s (cmd %u): cmd_size %u > %zu bytes left in the buffer", name,
			       id, size, left);
		return CROSS_DOMAIN_INVALID;
	}
	c.size = size; // the command's own bytes only
	cmd->cmd = id;
	cmd->cmd_size = size;
	bool ok;
	switch (id) {
	case CROSS_DOMAIN_CMD_INIT:
		ok = decode_init(&c, cmd, err);
		break;
	case CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS:
		if (size != CROSS_DOMAIN_GET_IMAGE_REQUIREMENTS_SIZE) {
			ok = wire_error_set(err, "GET_IMAGE_REQUIREMENTS: cmd_size %u != 24", size);
			break;
		}
		cursor_read_u32(&c, &cmd->image.width);
		cursor_read_u32(&c, &cmd->image.height);
		cursor_read_u32(&c, &cmd->image.drm_format);
		cursor_read_u32(&c, &cmd->image.flags);
		ok = true;
		break;
	case CROSS_DOMAIN_CMD_POLL:
		ok = size == CROSS_DOMAIN_POLL_SIZE ||
		     wire_error_set(err, "POLL: cmd_size %u != 16", size);
		break;
	case CROSS_DOMAIN_CMD_SEND:
		ok = decode_send(&c, cmd, err);
		break;
	case CROSS_DOMAIN_CMD_WRITE:
		ok = decode_write(&c, cmd, err);
		break;
	case CROSS_DOMAIN_CMD_RECEIVE:
	case CROSS_DOMAIN_CMD_READ:
		ok = wire_error_set(err, "%s (cmd %u) is a host-to-guest record, not a command",
				    name, id);
		break;
	default:
		ok = wire_error_set(err, "unknown command %u (cmd_size %u)", id, size);
		break;
	}
	if (!ok) {
		return CROSS_DOMAIN_INVALID;
	}
	r->pos += size;
	return CROSS_DOMAIN_OK;
}

static bool put_header(struct writer *w, uint8_t cmd, size_t cmd_size) {
	uint8_t hdr[8] = {cmd, 0, 0, 0, 0, 0, 0, 0};
	if (cmd_size != 0) {
		uint16_t s = (uint16_t)cmd_size;
		memcpy(hdr + 2, &s, 2);
	}
	return writer_put_bytes(w, hdr, sizeof(hdr));
}

static size_t encode_send_receive(uint8_t *out, size_t cap, uint8_t cmd, bool set_size,
				  uint32_t layout, uint32_t count, const uint32_t *ids,
				  const uint32_t *types, const uint32_t *sizes, const void *data,
				  uint32_t data_size) {
	if ((layout != CROSS_DOMAIN_MAX_IDENTIFIERS &&
	     layout != CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY) ||
	    count > layout) {
		return 0;
	}
	size_t total = (size_t)CROSS_DOMAIN_SEND_RECEIVE_HEADER_SIZE(layout) + data_size;
	if (total > cap || (set_size && total > UINT16_MAX)) {
		return 0;
	}
	struct writer w = writer_init(out, cap);
	put_header(&w, cmd, set_size ? total : 0);
	writer_put_u32(&w, count);
	writer_put_u32(&w, data_size);
	const uint32_t *arrays[3] = {ids, types, sizes};
	for (int a = 0; a < 3; a++) {
		for (uint32_t i = 0; i < layout; i++) {
			writer_put_u32(&w, i < count && arrays[a] ? arrays[a][i] : 0);
		}
	}
	writer_put_bytes(&w, data, data_size);
	return w.pos;
}

size_t cross_domain_encode_receive(uint8_t *out, size_t cap, uint32_t layout, uint32_t count,
				   const uint32_t *ids, const uint32_t *types,
				   const uint32_t *sizes, const void *data, uint32_t data_size) {
	// RECEIVE leaves cmd_size 0: guests read the size from opaque_data_size
	// and WPV requires bytes 1..3 to be zero.
	return encode_send_receive(out, cap, CROSS_DOMAIN_CMD_RECEIVE, false, layout, count, ids,
				   types, sizes, data, data_size);
}

size_t cross_domain_encode_send(uint8_t *out, size_t cap, uint32_t layout, uint32_t count,
				const uint32_t *ids, const uint32_t *types, const uint32_t *sizes,
				const void *data, uint32_t data_size) {
	return encode_send_receive(out, cap, CROSS_DOMAIN_CMD_SEND, true, layout, count, ids, types,
				   sizes, data, data_size);
}

static size_t encode_read_write(uint8_t *out, size_t cap, uint8_t cmd, bool set_size,
				uint32_t identifier, uint32_t hang_up, const void *data,
				uint32_t data_size) {
	size_t total = (size_t)CROSS_DOMAIN_READ_WRITE_HEADER_SIZE + data_size;
	if (total > cap || (set_size && total > UINT16_MAX)) {
		return 0;
	}
	struct writer w = writer_init(out, cap);
	put_header(&w, cmd, set_size ? total : 0);
	writer_put_u32(&w, identifier);
	writer_put_u32(&w, hang_up);
	writer_put_u32(&w, data_size);
	writer_put_u32(&w, 0);
	writer_put_bytes(&w, data, data_size);
	return w.pos;
}

size_t cross_domain_encode_read(uint8_t *out, size_t cap, uint32_t identifier, uint32_t hang_up,
				const void *data, uint32_t data_size) {
	if (hang_up > 1) {
		return 0;
	}
	return encode_read_write(out, cap, CROSS_DOMAIN_CMD_READ, false, identifier, hang_up, data,
				 data_size);
}

size_t cross_domain_encode_write(uint8_t *out, size_t cap, uint32_t identifier, uint32_t hang_up,
				 const void *data, uint32_t data_size) {
	return encode_read_write(out, cap, CROSS_DOMAIN_CMD_WRITE, true, identifier, hang_up, data,
				 data_size);
}

size_t cross_domain_encode_image_requirements(uint8_t *out, size_t cap,
					      const struct cross_domain_image_requirements *req) {
	struct writer w = writer_init(out, cap);
	for (int i = 0; i < 4; i++) {
		writer_put_u32(&w, req->strides[i]);
	}
	for (int i = 0; i < 4; i++) {
		writer_put_u32(&w, req->offsets[i]);
	}
	writer_put_u64(&w, req->modifier);
	writer_put_u64(&w, req->size);
	writer_put_u32(&w, req->blob_id);
	writer_put_u32(&w, req->map_info);
	writer_put_u32(&w, (uint32_t)req->memory_idx);
	if (!writer_put_u32(&w, (uint32_t)req->physical_device_idx)) {
		return 0;
	}
	return w.pos;
}

size_t cross_domain_encode_init(uint8_t *out, size_t cap, uint32_t form, uint32_t query_ring_id,
				uint32_t channel_ring_id, uint32_t channel_type) {
	if (form != CROSS_DOMAIN_INIT_LEGACY_SIZE && form != CROSS_DOMAIN_INIT_V1_SIZE &&
	    form != CROSS_DOMAIN_INIT_LIBKRUN_SIZE && form != CROSS_DOMAIN_INIT_UUID_SIZE) {
		return 0;
	}
	if (cap < form) {
		return 0;
	}
	struct writer w = writer_init(out, cap);
	put_header(&w, CROSS_DOMAIN_CMD_INIT, form);
	writer_put_u32(&w, query_ring_id);
	if (form != CROSS_DOMAIN_INIT_LEGACY_SIZE) {
		writer_put_u32(&w, channel_ring_id);
	}
	writer_put_u32(&w, channel_type);
	if (form == CROSS_DOMAIN_INIT_LIBKRUN_SIZE) {
		writer_put_u32(&w, 1); // protocol_version, as muvm sends
	} else if (form == CROSS_DOMAIN_INIT_UUID_SIZE) {
		writer_put_zeros(&w, 16);
	}
	return w.pos;
}

size_t cross_domain_encode_get_image_requirements(uint8_t *out, size_t cap, uint32_t width,
						  uint32_t height, uint32_t drm_format,
						  uint32_t flags) {
	if (cap < CROSS_DOMAIN_GET_IMAGE_REQUIREMENTS_SIZE) {
		return 0;
	}
	struct writer w = writer_init(out, cap);
	put_header(&w, CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS,
		   CROSS_DOMAIN_GET_IMAGE_REQUIREMENTS_SIZE);
	writer_put_u32(&w, width);
	writer_put_u32(&w, height);
	writer_put_u32(&w, drm_format);
	writer_put_u32(&w, flags);
	return w.pos;
}

size_t cross_domain_encode_poll(uint8_t *out, size_t cap) {
	if (cap < CROSS_DOMAIN_POLL_SIZE) {
		return 0;
	}
	struct writer w = writer_init(out, cap);
	put_header(&w, CROSS_DOMAIN_CMD_POLL, CROSS_DOMAIN_POLL_SIZE);
	writer_put_u64(&w, 0);
	return w.pos;
}

bool cross_domain_decode_record(const uint8_t *ring, size_t size, uint32_t layout,
				struct cross_domain_record *rec, struct wire_error *err) {
	struct cursor c = cursor_init(ring, size);
	uint8_t hdr[8];
	if (!cursor_read_bytes(&c, hdr, sizeof(hdr))) {
		return wire_error_set(err, "ring of %zu bytes is smaller than a header", size);
	}
	static const uint8_t zeros[7];
	if (memcmp(hdr + 1, zeros, 7) != 0) {
		return wire_error_set(err, "record header bytes 1-7 are not zero");
	}
	memset(rec, 0, sizeof(*rec));
	rec->cmd = hdr[0];
	if (hdr[0] == CROSS_DOMAIN_CMD_RECEIVE) {
		if (layout != CROSS_DOMAIN_MAX_IDENTIFIERS &&
		    layout != CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY) {
			return wire_error_set(err, "bad identifier layout %" PRIu32, layout);
		}
		if (!cursor_read_u32(&c, &rec->num_identifiers) ||
		    !cursor_read_u32(&c, &rec->data_size)) {
			return wire_error_set(err, "RECEIVE record is truncated");
		}
		if (rec->num_identifiers > layout) {
			return wire_error_set(err, "RECEIVE: %" PRIu32 " identifiers > %" PRIu32,
					      rec->num_identifiers, layout);
		}
		if (cursor_remaining(&c) < 12 * (size_t)layout) {
			return wire_error_set(err, "RECEIVE record is truncated");
		}
		size_t base = c.pos;
		for (uint32_t i = 0; i < rec->num_identifiers; i++) {
			memcpy(&rec->identifiers[i], ring + base + 4 * i, 4);
			memcpy(&rec->identifier_types[i], ring + base + 4 * (layout + i), 4);
			memcpy(&rec->identifier_sizes[i], ring + base + 4 * (2 * layout + i), 4);
		}
		cursor_skip(&c, 12 * (size_t)layout);
	} else if (hdr[0] == CROSS_DOMAIN_CMD_READ) {
		uint32_t pad;
		if (!cursor_read_u32(&c, &rec->identifier) || !cursor_read_u32(&c, &rec->hang_up) ||
		    !cursor_read_u32(&c, &rec->data_size) || !cursor_read_u32(&c, &pad)) {
			return wire_error_set(err, "READ record is truncated");
		}
		if (rec->hang_up > 1) {
			return wire_error_set(err, "READ: hang_up %" PRIu32 " is not 0 or 1",
					      rec->hang_up);
		}
	} else {
		return wire_error_set(err, "unknown record type %u", hdr[0]);
	}
	if (!cursor_take(&c, rec->data_size, &rec->data)) {
		return wire_error_set(err, "%s: data of %" PRIu32 " bytes runs past the ring",
				      cross_domain_cmd_name(rec->cmd), rec->data_size);
	}
	return true;
}

bool cross_domain_decode_image_requirements(const uint8_t *ring, size_t size,
					    struct cross_domain_image_requirements *req) {
	struct cursor c = cursor_init(ring, size);
	bool ok = true;
	for (int i = 0; i < 4; i++) {
		ok = ok && cursor_read_u32(&c, &req->strides[i]);
	}
	for (int i = 0; i < 4; i++) {
		ok = ok && cursor_read_u32(&c, &req->offsets[i]);
	}
	return ok && cursor_read_u64(&c, &req->modifier) && cursor_read_u64(&c, &req->size) &&
	       cursor_read_u32(&c, &req->blob_id) && cursor_read_u32(&c, &req->map_info) &&
	       cursor_read_i32(&c, &req->memory_idx) &&
	       cursor_read_i32(&c, &req->physical_device_idx);
}
