/*
 * Fuzz target for wire/cross_domain. The whole input is read three ways:
 *
 * 1. As the command buffer of one SUBMIT: cross_domain_next until END or
 *    INVALID. Each result is compared with a model of the contract in
 *    cross_domain.h (bounds, exact fixed sizes, SEND layouts, WRITE sizes);
 *    the reader only moves forward, by cmd_size, and never on failure;
 *    decoded pointers lie inside the command; every decoded command
 *    re-encodes to its canonical bytes (the original with the bytes the
 *    decoder ignores set to zero) and decodes again to the same fields.
 *    SEND and WRITE are also re-encoded as the host's RECEIVE and READ
 *    records, which the guest-side record decoder must read back.
 * 2. As a channel ring the host wrote: cross_domain_decode_record with the
 *    28- and 4-slot layouts (and a bad one), against a model, with the same
 *    canonical re-encoding check.
 * 3. As a query ring: cross_domain_decode_image_requirements, which must
 *    accept exactly 64 bytes or more and re-encode byte for byte.
 *
 * Built twice: fuzz-cross_domain with every check above, and
 * fuzz-cross_domain_decode (ROUND_TRIPS 0), which checks the decoders
 * against the models and the bytes but skips the re-encoding (copies of up
 * to 64 KiB per command), over the same corpus (corpus/cross_domain_decode
 * links to corpus/cross_domain).
 */
#include <string.h>

#include "tests/fuzz/fuzz.h"
#include "wire/cross_domain.h"

/* Large enough for any command (cmd_size is 16 bits) and any ring record
 * made from one. */
#define SCRATCH_CAP (70u * 1024u)
#ifndef ROUND_TRIPS
#define ROUND_TRIPS 1
#endif

static uint8_t scratch[SCRATCH_CAP];
static uint8_t canon[SCRATCH_CAP];

static uint32_t u32_at(const uint8_t *p, size_t off) {
	uint32_t v;
	memcpy(&v, p + off, 4);
	return v;
}

static uint16_t u16_at(const uint8_t *p, size_t off) {
	uint16_t v;
	memcpy(&v, p + off, 2);
	return v;
}

/* The contract of cross_domain_next, written out independently. */
static bool command_acceptable(const uint8_t *p, size_t left) {
	if (left < CROSS_DOMAIN_HEADER_SIZE) {
		return false;
	}
	uint16_t size = u16_at(p, 2);
	if (size < CROSS_DOMAIN_HEADER_SIZE || size > left) {
		return false;
	}
	switch (p[0]) {
	case CROSS_DOMAIN_CMD_INIT:
		return size == 16 || size == 20 || size == 24 || size == 36;
	case CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS:
		return size == 24;
	case CROSS_DOMAIN_CMD_POLL:
		return size == 16;
	case CROSS_DOMAIN_CMD_SEND: {
		if (size < 16) {
			return false;
		}
		int64_t table = (int64_t)size - 16 - (int64_t)u32_at(p, 12);
		uint32_t count = u32_at(p, 8);
		return (table == 48 && count <= 4) || (table == 336 && count <= 28);
	}
	case CROSS_DOMAIN_CMD_WRITE:
		return size >= 24 && (uint64_t)u32_at(p, 16) + 24 == size;
	}
	return false;
}

/* Zeroes what a command's decoder ignores: ring_idx and the header pad. */
static void canon_header(uint8_t *c) {
	c[1] = 0;
	memset(c + 4, 0, 4);
}

static void expect_same_send(const struct cross_domain_cmd *a, const struct cross_domain_cmd *b) {
	fuzz_check(a->send.layout == b->send.layout &&
			   a->send.num_identifiers == b->send.num_identifiers &&
			   a->send.data_size == b->send.data_size,
		   "SEND fields differ after a roundtrip");
	fuzz_check(memcmp(a->send.identifiers, b->send.identifiers, sizeof(a->send.identifiers)) ==
				   0 &&
			   memcmp(a->send.identifier_types, b->send.identifier_types,
				  sizeof(a->send.identifier_types)) == 0 &&
			   memcmp(a->send.identifier_sizes, b->send.identifier_sizes,
				  sizeof(a->send.identifier_sizes)) == 0,
		   "SEND identifiers differ after a roundtrip");
	fuzz_check(a->send.data_size == 0 ||
			   memcmp(a->send.data, b->send.data, a->send.data_size) == 0,
		   "SEND data differs after a roundtrip");
}

/* The host's RECEIVE (same layout as SEND) must decode on the guest side. */
static void check_receive_of(const struct cross_domain_cmd *cmd) {
	uint32_t layout = cmd->send.layout;
	size_t n = cross_domain_encode_receive(
		scratch, SCRATCH_CAP, layout, cmd->send.num_identifiers, cmd->send.identifiers,
		cmd->send.identifier_types, cmd->send.identifier_sizes, cmd->send.data,
		cmd->send.data_size);
	fuzz_check(n == cmd->cmd_size, "RECEIVE of %u bytes encoded as %zu",
		   (unsigned)cmd->cmd_size, n);
	fuzz_check(scratch[0] == CROSS_DOMAIN_CMD_RECEIVE && u32_at(scratch, 0) == scratch[0] &&
			   u32_at(scratch, 4) == 0,
		   "RECEIVE header bytes 1-7 are not zero");
	struct cross_domain_record rec;
	struct wire_error err = {{0}};
	fuzz_check(cross_domain_decode_record(scratch, n, layout, &rec, &err),
		   "RECEIVE we encoded does not decode: %s", err.text);
	fuzz_check(rec.cmd == CROSS_DOMAIN_CMD_RECEIVE &&
			   rec.num_identifiers == cmd->send.num_identifiers &&
			   rec.data_size == cmd->send.data_size &&
			   rec.data == scratch + n - rec.data_size,
		   "RECEIVE fields differ");
	fuzz_check(memcmp(rec.identifiers, cmd->send.identifiers, sizeof(rec.identifiers)) == 0 &&
			   memcmp(rec.identifier_types, cmd->send.identifier_types,
				  sizeof(rec.identifier_types)) == 0 &&
			   memcmp(rec.identifier_sizes, cmd->send.identifier_sizes,
				  sizeof(rec.identifier_sizes)) == 0,
		   "RECEIVE identifiers differ");
	fuzz_check(rec.data_size == 0 || memcmp(rec.data, cmd->send.data, rec.data_size) == 0,
		   "RECEIVE data differs");
}

static void check_read_of(const struct cross_domain_cmd *cmd) {
	size_t n = cross_domain_encode_read(scratch, SCRATCH_CAP, cmd->write.identifier,
					    cmd->write.hang_up, cmd->write.data,
					    cmd->write.data_size);
	if (cmd->write.hang_up > 1) {
		fuzz_check(n == 0, "READ with hang_up %u encoded", (unsigned)cmd->write.hang_up);
		return;
	}
	fuzz_check(n == cmd->cmd_size, "READ encoded as %zu bytes", n);
	struct cross_domain_record rec;
	struct wire_error err = {{0}};
	for (uint32_t layout = 4; layout <= 28; layout += 24) {
		fuzz_check(cross_domain_decode_record(scratch, n, layout, &rec, &err),
			   "READ we encoded does not decode: %s", err.text);
		fuzz_check(rec.cmd == CROSS_DOMAIN_CMD_READ &&
				   rec.identifier == cmd->write.identifier &&
				   rec.hang_up == cmd->write.hang_up &&
				   rec.data_size == cmd->write.data_size &&
				   (rec.data_size == 0 ||
				    memcmp(rec.data, cmd->write.data, rec.data_size) == 0),
			   "READ fields differ");
	}
}

/* Encoding into one byte less than the command needs must produce nothing
 * (a heap block of exactly that size, so a stray write is an ASan report). */
static void check_too_small(const struct cross_domain_cmd *cmd) {
	size_t cap = cmd->cmd_size - 1u;
	uint8_t *out = malloc(cap);
	fuzz_check(out != NULL, "out of memory");
	size_t n = 0;
	switch (cmd->cmd) {
	case CROSS_DOMAIN_CMD_INIT:
		n = cross_domain_encode_init(out, cap, cmd->cmd_size, 1, 2, 3);
		break;
	case CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS:
		n = cross_domain_encode_get_image_requirements(out, cap, 1, 2, 3, 4);
		break;
	case CROSS_DOMAIN_CMD_POLL:
		n = cross_domain_encode_poll(out, cap);
		break;
	case CROSS_DOMAIN_CMD_SEND:
		n = cross_domain_encode_send(out, cap, cmd->send.layout, cmd->send.num_identifiers,
					     cmd->send.identifiers, cmd->send.identifier_types,
					     cmd->send.identifier_sizes, cmd->send.data,
					     cmd->send.data_size);
		break;
	case CROSS_DOMAIN_CMD_WRITE:
		n = cross_domain_encode_write(out, cap, cmd->write.identifier, cmd->write.hang_up,
					      cmd->write.data, cmd->write.data_size);
		break;
	}
	fuzz_check(n == 0, "%s encoded into %zu bytes, one too few",
		   cross_domain_cmd_name(cmd->cmd), cap);
	free(out);
}

/* The decoded fields against the command's bytes. */
static void check_fields(const struct cross_domain_cmd *cmd, const uint8_t *start,
			 const uint8_t *input_end) {
	uint16_t size = cmd->cmd_size;
	switch (cmd->cmd) {
	case CROSS_DOMAIN_CMD_INIT:
		fuzz_check(size != 16 || cmd->init.channel_ring_id == cmd->init.query_ring_id,
			   "16-byte INIT: one ring for both");
		if (size == CROSS_DOMAIN_INIT_LIBKRUN_SIZE) {
			fuzz_check(cmd->init.protocol_version == u32_at(start, 20),
				   "INIT protocol_version");
		} else if (size == CROSS_DOMAIN_INIT_UUID_SIZE) {
			fuzz_check(memcmp(cmd->init.uuid, start + 20, 16) == 0, "INIT uuid");
		}
		break;
	case CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS:
		fuzz_check(cmd->image.width == u32_at(start, 8) &&
				   cmd->image.height == u32_at(start, 12) &&
				   cmd->image.drm_format == u32_at(start, 16) &&
				   cmd->image.flags == u32_at(start, 20),
			   "GET_IMAGE_REQUIREMENTS fields");
		break;
	case CROSS_DOMAIN_CMD_POLL:
		break;
	case CROSS_DOMAIN_CMD_SEND: {
		uint32_t layout = cmd->send.layout;
		fuzz_check(layout == 4 || layout == 28, "SEND layout %u", (unsigned)layout);
		fuzz_check(cmd->send.num_identifiers <= layout, "SEND: %u identifiers in %u slots",
			   (unsigned)cmd->send.num_identifiers, (unsigned)layout);
		fuzz_check((uint32_t)size == 16 + 12 * layout + cmd->send.data_size,
			   "SEND sizes do not add up");
		fuzz_check(cmd->send.data == start + 16 + 12 * layout &&
				   cmd->send.data + cmd->send.data_size == start + size &&
				   start + size <= input_end,
			   "SEND data outside the command");
		for (uint32_t i = 0; i < CROSS_DOMAIN_MAX_IDENTIFIERS; i++) {
			bool used = i < cmd->send.num_identifiers;
			fuzz_check(
				cmd->send.identifiers[i] ==
						(used ? u32_at(start, 16 + 4 * i) : 0) &&
					cmd->send.identifier_types[i] ==
						(used ? u32_at(start, 16 + 4 * (layout + i)) : 0) &&
					cmd->send.identifier_sizes[i] ==
						(used ? u32_at(start, 16 + 4 * (2 * layout + i))
						      : 0),
				"SEND identifier slot %u", (unsigned)i);
		}
		break;
	}
	case CROSS_DOMAIN_CMD_WRITE:
		fuzz_check((uint32_t)size == 24 + cmd->write.data_size &&
				   cmd->write.data == start + 24 && start + size <= input_end,
			   "WRITE data outside the command");
		fuzz_check(cmd->write.identifier == u32_at(start, 8) &&
				   cmd->write.hang_up == u32_at(start, 12),
			   "WRITE fields");
		break;
	default:
		fuzz_check(false, "command %u decoded", (unsigned)cmd->cmd);
	}
}

/* Re-encodes a decoded command; compares with its canonical bytes and
 * decodes the result again. */
static void check_round_trip(const struct cross_domain_cmd *cmd, const uint8_t *start) {
	uint16_t size = cmd->cmd_size;
	memcpy(canon, start, size);
	canon_header(canon);
	size_t n = 0;
	switch (cmd->cmd) {
	case CROSS_DOMAIN_CMD_INIT:
		n = cross_domain_encode_init(scratch, size, size, cmd->init.query_ring_id,
					     cmd->init.channel_ring_id, cmd->init.channel_type);
		if (size == CROSS_DOMAIN_INIT_LIBKRUN_SIZE) {
			uint32_t one = 1; // what the encoder sends, as muvm does
			memcpy(canon + 20, &one, 4);
		} else if (size == CROSS_DOMAIN_INIT_UUID_SIZE) {
			memset(canon + 20, 0, 16); // the encoder has no uuid argument
		}
		break;
	case CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS:
		n = cross_domain_encode_get_image_requirements(
			scratch, size, cmd->image.width, cmd->image.height, cmd->image.drm_format,
			cmd->image.flags);
		break;
	case CROSS_DOMAIN_CMD_POLL:
		memset(canon + 8, 0, 8);
		n = cross_domain_encode_poll(scratch, size);
		break;
	case CROSS_DOMAIN_CMD_SEND: {
		uint32_t layout = cmd->send.layout;
		for (uint32_t a = 0; a < 3; a++) {
			size_t off = 16 + 4 * (a * layout + cmd->send.num_identifiers);
			size_t unused = 4 * (layout - cmd->send.num_identifiers);
			memset(canon + off, 0, unused); // unused slots: the encoder writes 0
		}
		n = cross_domain_encode_send(scratch, size, layout, cmd->send.num_identifiers,
					     cmd->send.identifiers, cmd->send.identifier_types,
					     cmd->send.identifier_sizes, cmd->send.data,
					     cmd->send.data_size);
		break;
	}
	case CROSS_DOMAIN_CMD_WRITE:
		memset(canon + 20, 0, 4); // pad
		n = cross_domain_encode_write(scratch, size, cmd->write.identifier,
					      cmd->write.hang_up, cmd->write.data,
					      cmd->write.data_size);
		break;
	}
	fuzz_check(n == size, "%s of %u bytes re-encoded as %zu", cross_domain_cmd_name(cmd->cmd),
		   (unsigned)size, n);
	fuzz_check(memcmp(scratch, canon, size) == 0, "%s re-encodes to different bytes",
		   cross_domain_cmd_name(cmd->cmd));
	check_too_small(cmd);

	struct cross_domain_reader again = cross_domain_reader_init(scratch, n);
	struct cross_domain_cmd cmd2;
	struct wire_error err = {{0}};
	fuzz_check(cross_domain_next(&again, &cmd2, &err) == CROSS_DOMAIN_OK,
		   "re-encoded %s does not decode: %s", cross_domain_cmd_name(cmd->cmd), err.text);
	fuzz_check(cmd2.cmd == cmd->cmd && cmd2.cmd_size == size && again.pos == n,
		   "re-encoded header");
	switch (cmd->cmd) {
	case CROSS_DOMAIN_CMD_INIT:
		fuzz_check(cmd2.init.query_ring_id == cmd->init.query_ring_id &&
				   cmd2.init.channel_ring_id == cmd->init.channel_ring_id &&
				   cmd2.init.channel_type == cmd->init.channel_type,
			   "INIT fields differ after a roundtrip");
		break;
	case CROSS_DOMAIN_CMD_GET_IMAGE_REQUIREMENTS:
		fuzz_check(memcmp(&cmd2.image, &cmd->image, sizeof(cmd->image)) == 0,
			   "GET_IMAGE_REQUIREMENTS fields differ after a roundtrip");
		break;
	case CROSS_DOMAIN_CMD_SEND:
		expect_same_send(cmd, &cmd2);
		check_receive_of(cmd);
		break;
	case CROSS_DOMAIN_CMD_WRITE:
		fuzz_check(cmd2.write.identifier == cmd->write.identifier &&
				   cmd2.write.hang_up == cmd->write.hang_up &&
				   cmd2.write.data_size == cmd->write.data_size &&
				   (cmd->write.data_size == 0 ||
				    memcmp(cmd2.write.data, cmd->write.data,
					   cmd->write.data_size) == 0),
			   "WRITE fields differ after a roundtrip");
		check_read_of(cmd);
		break;
	}
}

static void run_commands(const uint8_t *data, size_t size) {
	struct cross_domain_reader r = cross_domain_reader_init(data, size);
	for (;;) {
		size_t before = r.pos;
		struct cross_domain_cmd cmd;
		struct wire_error err = {{0}};
		enum cross_domain_result res = cross_domain_next(&r, &cmd, &err);
		fuzz_check(r.data == data && r.size == size, "reader span changed");
		if (res == CROSS_DOMAIN_END) {
			fuzz_check(before == size && r.pos == size, "END at %zu of %zu", before,
				   size);
			return;
		}
		bool model = command_acceptable(data + before, size - before);
		if (res == CROSS_DOMAIN_INVALID) {
			if (fuzz_verbose()) {
				fprintf(stderr, "command at %zu: %s\n", before, err.text);
			}
			fuzz_check(!model, "valid command at %zu rejected: %s", before, err.text);
			fuzz_check(r.pos == before, "a rejected command moved the reader");
			fuzz_check(err.text[0] != '\0', "rejected without a reason");
			return;
		}
		fuzz_check(res == CROSS_DOMAIN_OK, "result %d", (int)res);
		fuzz_check(model, "invalid command at %zu accepted (cmd %u, cmd_size %u)", before,
			   (unsigned)data[before], (unsigned)u16_at(data, before + 2));
		fuzz_check(cmd.cmd == data[before] && cmd.cmd_size == u16_at(data, before + 2),
			   "header fields");
		fuzz_check(cmd.cmd_size >= CROSS_DOMAIN_HEADER_SIZE &&
				   r.pos == before + cmd.cmd_size && r.pos <= size,
			   "reader moved from %zu to %zu for cmd_size %u", before, r.pos,
			   (unsigned)cmd.cmd_size);
		if (fuzz_verbose()) {
			fprintf(stderr, "command at %zu: %s, %u bytes\n", before,
				cross_domain_cmd_name(cmd.cmd), (unsigned)cmd.cmd_size);
		}
		check_fields(&cmd, data + before, data + size);
		if (ROUND_TRIPS) {
			check_round_trip(&cmd, data + before);
		}
	}
}

/* The contract of cross_domain_decode_record, written out independently. */
static bool record_acceptable(const uint8_t *p, size_t size, uint32_t layout) {
	static const uint8_t zeros[7];
	if (size < 8 || memcmp(p + 1, zeros, 7) != 0) {
		return false;
	}
	if (p[0] == CROSS_DOMAIN_CMD_RECEIVE) {
		if ((layout != 4 && layout != 28) || size < 16 + 12 * (size_t)layout) {
			return false;
		}
		return u32_at(p, 8) <= layout && u32_at(p, 12) <= size - 16 - 12 * (size_t)layout;
	}
	if (p[0] == CROSS_DOMAIN_CMD_READ) {
		return size >= 24 && u32_at(p, 12) <= 1 && u32_at(p, 16) <= size - 24;
	}
	return false;
}

static void run_record(const uint8_t *data, size_t size, uint32_t layout) {
	struct cross_domain_record rec;
	struct wire_error err = {{0}};
	bool ok = cross_domain_decode_record(data, size, layout, &rec, &err);
	if (fuzz_verbose()) {
		fprintf(stderr, "record (layout %u): %s\n", (unsigned)layout,
			ok ? cross_domain_cmd_name(rec.cmd) : err.text);
	}
	fuzz_check(ok == record_acceptable(data, size, layout), "record (layout %u): %s",
		   (unsigned)layout, ok ? "accepted, should not be" : err.text);
	if (!ok) {
		fuzz_check(err.text[0] != '\0', "rejected without a reason");
		return;
	}
	size_t head = rec.cmd == CROSS_DOMAIN_CMD_RECEIVE ? 16 + 12 * (size_t)layout : 24;
	fuzz_check(rec.data == data + head && head + rec.data_size <= size,
		   "record data outside the ring");
	if (rec.cmd == CROSS_DOMAIN_CMD_RECEIVE) {
		fuzz_check(rec.num_identifiers <= layout, "RECEIVE count");
		for (uint32_t i = 0; i < CROSS_DOMAIN_MAX_IDENTIFIERS; i++) {
			bool used = i < rec.num_identifiers;
			fuzz_check(
				rec.identifiers[i] == (used ? u32_at(data, 16 + 4 * i) : 0) &&
					rec.identifier_types[i] ==
						(used ? u32_at(data, 16 + 4 * (layout + i)) : 0) &&
					rec.identifier_sizes[i] ==
						(used ? u32_at(data, 16 + 4 * (2 * layout + i))
						      : 0),
				"RECEIVE identifier slot %u", (unsigned)i);
		}
	} else {
		fuzz_check(rec.identifier == u32_at(data, 8) && rec.hang_up == u32_at(data, 12),
			   "READ fields");
	}
	size_t total = head + rec.data_size;
	if (!ROUND_TRIPS || total > SCRATCH_CAP) {
		return; // (larger than any ring: nothing more to compare)
	}
	memcpy(canon, data, total);
	size_t n;
	if (rec.cmd == CROSS_DOMAIN_CMD_RECEIVE) {
		for (uint32_t a = 0; a < 3; a++) {
			memset(canon + 16 + 4 * (a * layout + rec.num_identifiers), 0,
			       4 * (layout - rec.num_identifiers));
		}
		n = cross_domain_encode_receive(scratch, SCRATCH_CAP, layout, rec.num_identifiers,
						rec.identifiers, rec.identifier_types,
						rec.identifier_sizes, rec.data, rec.data_size);
	} else {
		memset(canon + 20, 0, 4);
		n = cross_domain_encode_read(scratch, SCRATCH_CAP, rec.identifier, rec.hang_up,
					     rec.data, rec.data_size);
	}
	fuzz_check(n == total && memcmp(scratch, canon, total) == 0,
		   "record re-encodes differently (%zu bytes, expected %zu)", n, total);
}

static void run_image_requirements(const uint8_t *data, size_t size) {
	struct cross_domain_image_requirements req;
	bool ok = cross_domain_decode_image_requirements(data, size, &req);
	fuzz_check(ok == (size >= CROSS_DOMAIN_IMAGE_REQUIREMENTS_SIZE),
		   "image requirements of %zu bytes: %d", size, (int)ok);
	if (!ok) {
		return;
	}
	fuzz_check(req.modifier == ((uint64_t)u32_at(data, 36) << 32 | u32_at(data, 32)) &&
			   req.size == ((uint64_t)u32_at(data, 44) << 32 | u32_at(data, 40)) &&
			   req.blob_id == u32_at(data, 48) && req.map_info == u32_at(data, 52) &&
			   req.strides[3] == u32_at(data, 12) && req.offsets[3] == u32_at(data, 28),
		   "image requirements fields");
	if (!ROUND_TRIPS) {
		return;
	}
	size_t n = cross_domain_encode_image_requirements(scratch, SCRATCH_CAP, &req);
	fuzz_check(n == CROSS_DOMAIN_IMAGE_REQUIREMENTS_SIZE && memcmp(scratch, data, n) == 0,
		   "image requirements re-encode differently");
	fuzz_check(cross_domain_encode_image_requirements(scratch, n - 1, &req) == 0,
		   "image requirements encoded into too small a buffer");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	run_commands(data, size);
	run_record(data, size, CROSS_DOMAIN_MAX_IDENTIFIERS);
	run_record(data, size, CROSS_DOMAIN_MAX_IDENTIFIERS_LEGACY);
	run_record(data, size, size > 0 ? data[size - 1] : 0);
	run_image_requirements(data, size);
	return 0;
}
