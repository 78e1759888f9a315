#include "proto_tables.h"
#include "tests/harness/bytes.h"
#include "tests/harness/test.h"
#include "wire/limits.h"
#include "wire/objects.h"

/* Runs one downstream request through resolve, decode and translate. */
static enum objects_result request(struct objects *objs, struct bytes *b, size_t start,
				   struct wire_error *err) {
	wl_end(b, start);
	uint8_t *msg = b->data + start;
	struct wayland_msg_header hdr;
	if (wayland_msg_header_parse(msg, b->len - start, 4096, &hdr, err) != WAYLAND_MSG_OK) {
		return OBJECTS_INVALID;
	}
	struct object *sender;
	const struct proto_message *m;
	enum objects_result r = objects_resolve_request(objs, hdr.object_id, hdr.opcode, &sender,
							&m, err);
	if (r == OBJECTS_INVALID) {
		return r;
	}
	struct wayland_args args;
	if (!wayland_msg_decode(msg, &hdr, sender->interface, m, &args, err)) {
		return OBJECTS_INVALID;
	}
	if (r == OBJECTS_DROP) {
		return r;
	}
	struct object *created;
	return objects_translate_request(objs, msg, sender, m, &args, &created, err);
}

static enum objects_result event(struct objects *objs, struct bytes *b, size_t start,
				 struct wire_error *err) {
	wl_end(b, start);
	uint8_t *msg = b->data + start;
	struct wayland_msg_header hdr;
	if (wayland_msg_header_parse(msg, b->len - start, 4096, &hdr, err) != WAYLAND_MSG_OK) {
		return OBJECTS_INVALID;
	}
	struct object *sender;
	const struct proto_message *m;
	enum objects_result r = objects_resolve_event(objs, hdr.object_id, hdr.opcode, &sender, &m,
						      err);
	if (r != OBJECTS_FORWARD) {
		return r;
	}
	struct wayland_args args;
	if (!wayland_msg_decode(msg, &hdr, sender->interface, m, &args, err)) {
		return OBJECTS_INVALID;
	}
	struct object *created;
	return objects_translate_event(objs, msg, sender, m, &args, &created, err);
}

static uint32_t word(const struct bytes *b, size_t at) {
	uint32_t v;
	memcpy(&v, b->data + at, 4);
	return v;
}

TEST(display_exists) {
	struct objects *objs = objects_create(64);
	struct object *d = objects_lookup_down(objs, 1);
	test_assert(d != NULL && d->interface == &proto_wl_display);
	test_assert(objects_lookup_up(objs, 1) == d);
	test_assert_int_eq(objects_count(objs), 1);
	objects_destroy(objs);
}

struct new_id_case {
	uint32_t id;
	const char *reason;
};

static const struct new_id_case new_id_cases[] = {
	{2, NULL},
	{3, "already in use (live object)"},    // H-25
	{5, "skips ahead (next free id is 4)"}, // H-24
	{0, "not in the client range"},
	{0xff000001u, "not in the client range"}, // H-27
};

TEST_P(new_id_rules, new_id_cases) {
	struct objects *objs = objects_create(64);
	struct wire_error err = {0};
	// ids 2 and 3 exist except when the case is about creating 2.
	if (data->id != 2) {
		test_assert(objects_add_down(objs, 2, &proto_wl_registry, 1, &err));
		test_assert(objects_add_down(objs, 3, &proto_wl_callback, 1, &err));
	}
	struct object *o = objects_add_down(objs, data->id, &proto_wl_callback, 1, &err);
	if (data->reason) {
		test_assert(o == NULL);
		test_assert_str_contains(err.text, data->reason);
	} else {
		test_assert_msg(o != NULL, "%s", err.text);
	}
	objects_destroy(objs);
}

TEST(ids_are_translated_around_internal_objects) {
	struct objects *objs = objects_create(64);
	struct wire_error err;
	struct object *reg = objects_add_down(objs, 2, &proto_wl_registry, 1, &err);
	test_assert(reg && reg->up_id == 2);
	struct object *own = objects_add_internal(objs, &proto_wl_callback, 1, &err);
	test_assert(own && own->up_id == 3 && own->internal && own->down_id == 0);
	struct object *cb = objects_add_down(objs, 3, &proto_wl_callback, 1, &err);
	test_assert(cb && cb->up_id == 4 && cb->down_id == 3);
	test_assert(objects_lookup_down(objs, 3)->up_id == 4);
	test_assert(objects_lookup_up(objs, 3)->internal);
	// A delete_id for the internal object is swallowed; once the object
	// is destroyed (here its destructor event) it frees its id.
	objects_mark_destroyed(objs, objects_lookup_up(objs, 3));
	bool internal;
	test_assert_int_eq(objects_delete_id(objs, 3, &internal), 0);
	test_assert(internal);
	test_assert(objects_lookup_up(objs, 3) == NULL);
	struct object *next = objects_add_down(objs, 4, &proto_wl_callback, 1, &err);
	test_assert_int_eq(next->up_id, 3); // reused like libwayland-client would
	objects_destroy(objs);
}

/* A compositor that releases one of the proxy's own objects while the proxy
 * still holds it (a decoration manager, say) must not free the id for
 * reuse: the proxy still refers to it. It is freed when the proxy destroys
 * the object. (Found by the compositor fuzz campaign: the id went to a new
 * guest object and crosswayd sent decoration requests to it.) */
TEST(early_delete_id_keeps_an_internal_id) {
	struct objects *objs = objects_create(64);
	struct wire_error err;
	struct object *own = objects_add_internal(objs, &proto_zxdg_decoration_manager_v1, 1, &err);
	test_assert(own && own->up_id == 2);
	bool internal;
	test_assert_int_eq(objects_delete_id(objs, 2, &internal), 0);
	test_assert(internal);
	struct object *held = objects_lookup_up(objs, 2);
	test_assert(held != NULL && held->state == OBJECT_DELETED && held->internal);
	// The next guest object gets another id; a second delete_id changes nothing.
	struct object *next = objects_add_down(objs, 2, &proto_wl_callback, 1, &err);
	test_assert_int_eq(next->up_id, 3);
	test_assert_int_eq(objects_delete_id(objs, 2, &internal), 0);
	test_assert(objects_lookup_up(objs, 2) == held && held->state == OBJECT_DELETED);
	objects_mark_destroyed(objs, held);
	test_assert(objects_lookup_up(objs, 2) == NULL);
	objects_destroy(objs);
}

TEST(zombie_until_delete_id) {
	struct objects *objs = objects_create(64);
	struct wire_error err;
	struct object *o = objects_add_down(objs, 2, &proto_wl_region, 1, &err);
	objects_mark_destroyed(objs, o);
	test_assert_int_eq(o->state, OBJECT_ZOMBIE);
	// H-26: reusing an id whose deletion is in flight.
	test_assert(objects_add_down(objs, 2, &proto_wl_region, 1, &err) == NULL);
	test_assert_str_contains(err.text, "deletion not yet confirmed");
	bool internal;
	test_assert_int_eq(objects_delete_id(objs, 2, &internal), 2);
	test_assert(!internal);
	test_assert(objects_lookup_down(objs, 2) == NULL);
	test_assert(objects_add_down(objs, 2, &proto_wl_region, 1, &err) != NULL);
	test_assert_int_eq(objects_count(objs), 2);
	objects_destroy(objs);
}

TEST(delete_id_of_live_object) {
	struct objects *objs = objects_create(64);
	struct wire_error err;
	objects_add_down(objs, 2, &proto_wl_region, 1, &err);
	bool internal;
	test_assert_int_eq(objects_delete_id(objs, 2, &internal), 2);
	struct object *o = objects_lookup_down(objs, 2);
	test_assert(o && o->state == OBJECT_DELETED);
	// Requests to it are dropped, not forwarded.
	struct bytes b = {0};
	size_t s = wl_begin(&b, 2, PROTO_WL_REGION_REQ_ADD);
	for (int i = 0; i < 4; i++) {
		bytes_u32(&b, 1);
	}
	test_assert_int_eq(request(objs, &b, s, &err), OBJECTS_DROP);
	// The guest may reuse the id: libwayland-client frees it when the
	// proxy goes away.
	test_assert(objects_add_down(objs, 2, &proto_wl_callback, 1, &err) != NULL);
	test_assert_int_eq(objects_count(objs), 2);
	objects_destroy(objs);
}

/* After delete_id the compositor has nothing at that id to send from: an
 * event there (found by the compositor fuzzer) is refused, not passed to a
 * guest that may have reused the id. */
TEST(events_after_delete_id_are_refused) {
	struct objects *objs = objects_create(64);
	struct wire_error err;
	objects_add_down(objs, 2, &proto_wl_callback, 1, &err);
	bool internal;
	test_assert_int_eq(objects_delete_id(objs, 2, &internal), 2);
	struct object *o;
	const struct proto_message *m;
	test_assert_int_eq(objects_resolve_event(objs, 2, PROTO_WL_CALLBACK_EVT_DONE, &o, &m, &err),
			   OBJECTS_INVALID);
	test_assert_str_contains(err.text,
				 "wl_callback#2.done: event after the compositor deleted");
	objects_destroy(objs);
}

TEST(server_objects) {
	struct objects *objs = objects_create(64);
	struct wire_error err;
	struct object *o = objects_add_up(objs, 0xff000000u, &proto_wl_data_offer, 3, &err);
	test_assert(o && o->down_id == 0xff000000u);
	test_assert(objects_lookup_down(objs, 0xff000000u) == o);
	test_assert(objects_add_up(objs, 0xff000000u, &proto_wl_data_offer, 3, &err) == NULL);
	test_assert_str_contains(err.text, "already a live wl_data_offer");
	objects_mark_destroyed(objs, o);
	test_assert(objects_add_up(objs, 0xff000000u, &proto_wl_data_offer, 3, &err) != NULL);
	test_assert(objects_add_up(objs, 5, &proto_wl_data_offer, 3, &err) == NULL);
	test_assert_int_eq(objects_count(objs), 2);
	objects_destroy(objs);
}

TEST(object_limit) {
	struct objects *objs = objects_create(8);
	struct wire_error err;
	uint32_t id = 2;
	while (objects_add_down(objs, id, &proto_wl_callback, 1, &err) != NULL) {
		id++;
	}
	test_assert_int_eq(objects_count(objs), 8);
	test_assert_str_contains(err.text, "object limit (8) reached");
	test_assert(objects_add_up(objs, 0xff000000u, &proto_wl_data_offer, 1, &err) == NULL);
	test_assert(objects_add_internal(objs, &proto_wl_callback, 1, &err) == NULL);
	// Freed ids come back; ids beyond the limit never do.
	bool internal;
	objects_mark_destroyed(objs, objects_lookup_down(objs, 4));
	objects_delete_id(objs, objects_lookup_down(objs, 4)->up_id, &internal);
	test_assert(objects_add_down(objs, 4, &proto_wl_callback, 1, &err) != NULL);
	objects_destroy(objs);
}

TEST(request_translation) {
	struct objects *objs = objects_create(64);
	struct wire_error err = {0};
	struct bytes b = {0};
	objects_add_internal(objs, &proto_wl_callback, 1, &err); // shifts up ids by one
	size_t s = wl_begin(&b, 1, PROTO_WL_DISPLAY_REQ_GET_REGISTRY);
	bytes_u32(&b, 2);
	test_assert_int_eq(request(objs, &b, s, &err), OBJECTS_FORWARD);
	test_assert_int_eq(word(&b, s + 8), 3); // new id rewritten to the upstream id
	s = wl_begin(&b, 2, PROTO_WL_REGISTRY_REQ_BIND);
	bytes_u32(&b, 7);
	bytes_string(&b, "wl_compositor");
	bytes_u32(&b, 4);
	bytes_u32(&b, 3);
	test_assert_msg(request(objs, &b, s, &err) == OBJECTS_FORWARD, "%s", err.text);
	test_assert_int_eq(word(&b, s), 3);         // sender: registry's upstream id
	test_assert_int_eq(word(&b, b.len - 4), 4); // the compositor's upstream id
	struct object *comp = objects_lookup_down(objs, 3);
	test_assert(comp->interface == &proto_wl_compositor && comp->version == 4);
	s = wl_begin(&b, 3, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE);
	bytes_u32(&b, 4);
	test_assert(request(objs, &b, s, &err) == OBJECTS_FORWARD);
	test_assert_int_eq(objects_lookup_down(objs, 4)->version, 4); // inherited
	s = wl_begin(&b, 4, PROTO_WL_SURFACE_REQ_ATTACH);
	bytes_u32(&b, 0);
	bytes_u32(&b, 0);
	bytes_u32(&b, 0);
	test_assert(request(objs, &b, s, &err) == OBJECTS_FORWARD);
	test_assert_int_eq(word(&b, s), 5);
	objects_destroy(objs);
}

/* The decoded arguments follow the translation: policy reads them after it
 * and must see the ids the compositor sees. */
TEST(request_translation_updates_the_decoded_arguments) {
	struct objects *objs = objects_create(64);
	struct wire_error err = {0};
	objects_add_internal(objs, &proto_wl_callback, 1, &err); // shifts up ids by one
	struct object *comp = objects_add_down(objs, 2, &proto_wl_compositor, 4, &err);
	test_assert(comp != NULL && comp->up_id == 3);
	struct bytes b = {0};
	size_t s = wl_begin(&b, 2, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE);
	bytes_u32(&b, 3);
	wl_end(&b, s);
	struct wayland_msg_header hdr;
	test_assert(wayland_msg_header_parse(b.data + s, b.len - s, 4096, &hdr, &err) ==
		    WAYLAND_MSG_OK);
	const struct proto_message *m = &proto_wl_compositor.requests[hdr.opcode];
	struct wayland_args args;
	test_assert(wayland_msg_decode(b.data + s, &hdr, &proto_wl_compositor, m, &args, &err));
	test_assert_int_eq(args.value[0], 3); // the guest's new id
	struct object *created;
	test_assert(objects_translate_request(objs, b.data + s, comp, m, &args, &created, &err) ==
		    OBJECTS_FORWARD);
	test_assert_int_eq(created->up_id, 4);
	test_assert_int_eq(args.value[0], 4); // now the compositor's
	test_assert_int_eq(word(&b, s + 8), 4);
	objects_destroy(objs);
}

struct request_reject_case {
	const char *name;
	void (*build)(struct bytes *b);
	const char *reason;
};

/* Set-up shared by the reject cases: registry 2, compositor 3, surface 4,
 * region 5 (destroyed, delete_id pending). Messages are to these. */
static void setup(struct objects *objs) {
	struct wire_error err;
	objects_add_down(objs, 2, &proto_wl_registry, 1, &err);
	objects_add_down(objs, 3, &proto_wl_compositor, 4, &err);
	objects_add_down(objs, 4, &proto_wl_surface, 4, &err);
	struct object *r = objects_add_down(objs, 5, &proto_wl_region, 4, &err);
	objects_mark_destroyed(objs, r);
	objects_add_down(objs, 6, &proto_wl_surface, 1, &err);
}

static void unknown_object(struct bytes *b) {
	size_t s = wl_begin(b, 99, 0); // H-14
	wl_end(b, s);
}
static void bad_opcode(struct bytes *b) {
	size_t s = wl_begin(b, 4, 40); // H-15
	wl_end(b, s);
}
static void too_new(struct bytes *b) {
	size_t s = wl_begin(b, 6, PROTO_WL_SURFACE_REQ_SET_BUFFER_SCALE); // H-16: v3 on v1
	bytes_u32(b, 2);
	wl_end(b, s);
}
static void wrong_iface(struct bytes *b) {
	size_t s = wl_begin(b, 4, PROTO_WL_SURFACE_REQ_SET_INPUT_REGION);
	bytes_u32(b, 3); // a wl_compositor, not a wl_region
	wl_end(b, s);
}
static void destroyed_arg(struct bytes *b) {
	size_t s = wl_begin(b, 4, PROTO_WL_SURFACE_REQ_SET_INPUT_REGION);
	bytes_u32(b, 5); // zombie region
	wl_end(b, s);
}
static void unknown_arg(struct bytes *b) {
	size_t s = wl_begin(b, 4, PROTO_WL_SURFACE_REQ_ATTACH);
	bytes_u32(b, 77);
	bytes_u32(b, 0);
	bytes_u32(b, 0);
	wl_end(b, s);
}
static void bind_unknown_iface(struct bytes *b) {
	size_t s = wl_begin(b, 2, PROTO_WL_REGISTRY_REQ_BIND);
	bytes_u32(b, 1);
	bytes_string(b, "zwlr_screencopy_manager_v1");
	bytes_u32(b, 1);
	bytes_u32(b, 7);
	wl_end(b, s);
}
static void bind_version_zero(struct bytes *b) {
	size_t s = wl_begin(b, 2, PROTO_WL_REGISTRY_REQ_BIND);
	bytes_u32(b, 1);
	bytes_string(b, "wl_compositor");
	bytes_u32(b, 0); // H-31
	bytes_u32(b, 7);
	wl_end(b, s);
}
static void bind_version_huge(struct bytes *b) {
	size_t s = wl_begin(b, 2, PROTO_WL_REGISTRY_REQ_BIND);
	bytes_u32(b, 1);
	bytes_string(b, "wl_compositor");
	bytes_u32(b, 1000);
	bytes_u32(b, 7);
	wl_end(b, s);
}
static void new_id_reuse(struct bytes *b) {
	size_t s = wl_begin(b, 3, PROTO_WL_COMPOSITOR_REQ_CREATE_SURFACE);
	bytes_u32(b, 4); // live surface
	wl_end(b, s);
}

static const struct request_reject_case reject_cases[] = {
	{"unknown object", unknown_object, "request (opcode 0) to unknown object 99"},
	{"bad opcode", bad_opcode, "wl_surface#4: unknown request opcode 40"},
	{"too new", too_new, "wl_surface#6.set_buffer_scale(opcode 8): request needs version 3"},
	{"wrong interface", wrong_iface,
	 "wl_surface#4.set_input_region(opcode 5): argument 'region': object 3 is a "
	 "wl_compositor, not a wl_region"},
	{"destroyed argument", destroyed_arg, "argument 'region': object 5 was destroyed"},
	{"unknown argument", unknown_arg, "argument 'buffer': unknown object 77"},
	{"bind unknown interface", bind_unknown_iface, "interface is not known to crossway"},
	{"bind version 0", bind_version_zero, "version 0 is outside"},
	{"bind version 1000", bind_version_huge, "version 1000 is outside"},
	{"new id reuse", new_id_reuse,
	 "wl_compositor#3.create_surface(opcode 0): new id 4 is already in use"},
};

TEST_P(request_rejects, reject_cases) {
	struct objects *objs = objects_create(64);
	setup(objs);
	struct bytes b = {0};
	data->build(&b);
	struct wire_error err = {0};
	// request() re-ends the message: harmless, the size is the same.
	test_assert_int_eq(request(objs, &b, 0, &err), OBJECTS_INVALID);
	test_assert_str_contains(err.text, data->reason);
	objects_destroy(objs);
}

TEST(requests_to_zombies_are_dropped) {
	struct objects *objs = objects_create(64);
	setup(objs);
	struct bytes b = {0};
	size_t s = wl_begin(&b, 5, PROTO_WL_REGION_REQ_DESTROY);
	struct wire_error err;
	test_assert_int_eq(request(objs, &b, s, &err), OBJECTS_DROP);
	objects_destroy(objs);
}

TEST(events_translate_and_create) {
	struct objects *objs = objects_create(64);
	struct wire_error err = {0};
	objects_add_internal(objs, &proto_wl_callback, 1, &err);                        // up 2
	objects_add_down(objs, 2, &proto_wl_seat, 7, &err);                             // up 3
	struct object *dev = objects_add_down(objs, 3, &proto_wl_data_device, 3, &err); // up 4
	test_assert_int_eq(dev->up_id, 4);
	struct bytes b = {0};
	// wl_data_device.data_offer(new id 0xff000000)
	size_t s = wl_begin(&b, 4, PROTO_WL_DATA_DEVICE_EVT_DATA_OFFER);
	bytes_u32(&b, 0xff000000u);
	test_assert_msg(event(objs, &b, s, &err) == OBJECTS_FORWARD, "%s", err.text);
	test_assert_int_eq(word(&b, s), 3); // sender translated to the guest id
	struct object *offer = objects_lookup_down(objs, 0xff000000u);
	test_assert(offer && offer->interface == &proto_wl_data_offer && offer->version == 3);
	// Events to the internal object are not forwarded.
	s = wl_begin(&b, 2, PROTO_WL_CALLBACK_EVT_DONE);
	bytes_u32(&b, 0);
	test_assert_int_eq(event(objs, &b, s, &err), OBJECTS_DROP);
	// delete_id of a guest object is forwarded with the guest's id.
	objects_mark_destroyed(objs, objects_lookup_down(objs, 3));
	s = wl_begin(&b, 1, PROTO_WL_DISPLAY_EVT_DELETE_ID);
	bytes_u32(&b, 4);
	test_assert_int_eq(event(objs, &b, s, &err), OBJECTS_FORWARD);
	test_assert_int_eq(word(&b, s + 8), 3);
	// ... and of the internal one is swallowed.
	s = wl_begin(&b, 1, PROTO_WL_DISPLAY_EVT_DELETE_ID);
	bytes_u32(&b, 2);
	test_assert_int_eq(event(objs, &b, s, &err), OBJECTS_DROP);
	// An event naming an unknown object is invalid.
	s = wl_begin(&b, 0xff000000u, PROTO_WL_DATA_OFFER_EVT_OFFER);
	bytes_string(&b, "text/plain");
	test_assert_int_eq(event(objs, &b, s, &err), OBJECTS_FORWARD);
	s = wl_begin(&b, 55, 0);
	test_assert_int_eq(event(objs, &b, s, &err), OBJECTS_INVALID);
	test_assert_str_contains(err.text, "event (opcode 0) from unknown object 55");
	objects_destroy(objs);
}

TEST(destructor_event_then_delete_id) {
	struct objects *objs = objects_create(64);
	struct wire_error err = {0};
	objects_add_down(objs, 2, &proto_wl_callback, 1, &err);
	struct bytes b = {0};
	size_t s = wl_begin(&b, 2, PROTO_WL_CALLBACK_EVT_DONE);
	bytes_u32(&b, 42);
	test_assert_int_eq(event(objs, &b, s, &err), OBJECTS_FORWARD);
	test_assert_int_eq(objects_lookup_down(objs, 2)->state, OBJECT_ZOMBIE);
	s = wl_begin(&b, 1, PROTO_WL_DISPLAY_EVT_DELETE_ID);
	bytes_u32(&b, 2);
	test_assert_int_eq(event(objs, &b, s, &err), OBJECTS_FORWARD);
	test_assert(objects_lookup_down(objs, 2) == NULL);
	test_assert_int_eq(objects_count(objs), 1);
	objects_destroy(objs);
}
