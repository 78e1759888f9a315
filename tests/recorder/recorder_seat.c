/* _GNU_SOURCE: none needed; POSIX only. */
#include <string.h>
#include <wayland-server-core.h>
#include <wayland-server-protocol.h>

#include "daemon/fd.h"
#include "tests/recorder/recorder_internal.h"

#define SEAT_VERSION 7
#define REPEAT_RATE 25   // keys per second
#define REPEAT_DELAY 600 // milliseconds

/*
 * A small complete keymap: evdev keycodes (+8) for letters, digits, Escape,
 * BackSpace, Tab, Return, space and the left Shift/Control/Alt, with the
 * three key types xkbcommon assigns to them by default.
 */
static const char default_keymap[] =
	"xkb_keymap {\n"
	"xkb_keycodes \"crossway\" {\n"
	"\tminimum = 8;\n\tmaximum = 255;\n"
	"\t<ESC> = 9;\n"
	"\t<AE01> = 10; <AE02> = 11; <AE03> = 12; <AE04> = 13; <AE05> = 14;\n"
	"\t<AE06> = 15; <AE07> = 16; <AE08> = 17; <AE09> = 18; <AE10> = 19;\n"
	"\t<BKSP> = 22; <TAB> = 23;\n"
	"\t<AD01> = 24; <AD02> = 25; <AD03> = 26; <AD04> = 27; <AD05> = 28;\n"
	"\t<AD06> = 29; <AD07> = 30; <AD08> = 31; <AD09> = 32; <AD10> = 33;\n"
	"\t<RTRN> = 36; <LCTL> = 37;\n"
	"\t<AC01> = 38; <AC02> = 39; <AC03> = 40; <AC04> = 41; <AC05> = 42;\n"
	"\t<AC06> = 43; <AC07> = 44; <AC08> = 45; <AC09> = 46;\n"
	"\t<LFSH> = 50;\n"
	"\t<AB01> = 52; <AB02> = 53; <AB03> = 54; <AB04> = 55; <AB05> = 56;\n"
	"\t<AB06> = 57; <AB07> = 58;\n"
	"\t<LALT> = 64; <SPCE> = 65;\n"
	"};\n"
	"xkb_types \"crossway\" {\n"
	"\ttype \"ONE_LEVEL\" {\n\t\tmodifiers = none;\n\t\tlevel_name[Level1] = \"Any\";\n\t};\n"
	"\ttype \"TWO_LEVEL\" {\n\t\tmodifiers = Shift;\n\t\tmap[Shift] = Level2;\n"
	"\t\tlevel_name[Level1] = \"Base\";\n\t\tlevel_name[Level2] = \"Shift\";\n\t};\n"
	"\ttype \"ALPHABETIC\" {\n\t\tmodifiers = Shift + Lock;\n\t\tmap[Shift] = Level2;\n"
	"\t\tmap[Lock] = Level2;\n\t\tlevel_name[Level1] = \"Base\";\n"
	"\t\tlevel_name[Level2] = \"Caps\";\n\t};\n"
	"};\n"
	"xkb_compatibility \"crossway\" {\n"
	"\tinterpret Shift_L { action = SetMods(modifiers = Shift); };\n"
	"\tinterpret Control_L { action = SetMods(modifiers = Control); };\n"
	"\tinterpret Alt_L { action = SetMods(modifiers = Mod1); };\n"
	"};\n"
	"xkb_symbols \"crossway\" {\n"
	"\tkey <ESC> { [ Escape ] };\n"
	"\tkey <AE01> { [ 1, exclam ] }; key <AE02> { [ 2, at ] };\n"
	"\tkey <AE03> { [ 3, numbersign ] }; key <AE04> { [ 4, dollar ] };\n"
	"\tkey <AE05> { [ 5, percent ] }; key <AE06> { [ 6, asciicircum ] };\n"
	"\tkey <AE07> { [ 7, ampersand ] }; key <AE08> { [ 8, asterisk ] };\n"
	"\tkey <AE09> { [ 9, parenleft ] }; key <AE10> { [ 0, parenright ] };\n"
	"\tkey <BKSP> { [ BackSpace ] }; key <TAB> { [ Tab ] };\n"
	"\tkey <AD01> { [ q, Q ] }; key <AD02> { [ w, W ] }; key <AD03> { [ e, E ] };\n"
	"\tkey <AD04> { [ r, R ] }; key <AD05> { [ t, T ] }; key <AD06> { [ y, Y ] };\n"
	"\tkey <AD07> { [ u, U ] }; key <AD08> { [ i, I ] }; key <AD09> { [ o, O ] };\n"
	"\tkey <AD10> { [ p, P ] };\n"
	"\tkey <RTRN> { [ Return ] }; key <LCTL> { [ Control_L ] };\n"
	"\tkey <AC01> { [ a, A ] }; key <AC02> { [ s, S ] }; key <AC03> { [ d, D ] };\n"
	"\tkey <AC04> { [ f, F ] }; key <AC05> { [ g, G ] }; key <AC06> { [ h, H ] };\n"
	"\tkey <AC07> { [ j, J ] }; key <AC08> { [ k, K ] }; key <AC09> { [ l, L ] };\n"
	"\tkey <LFSH> { [ Shift_L ] };\n"
	"\tkey <AB01> { [ z, Z ] }; key <AB02> { [ x, X ] }; key <AB03> { [ c, C ] };\n"
	"\tkey <AB04> { [ v, V ] }; key <AB05> { [ b, B ] }; key <AB06> { [ n, N ] };\n"
	"\tkey <AB07> { [ m, M ] };\n"
	"\tkey <LALT> { [ Alt_L ] }; key <SPCE> { [ space ] };\n"
	"\tmodifier_map Shift { <LFSH> };\n"
	"\tmodifier_map Control { <LCTL> };\n"
	"\tmodifier_map Mod1 { <LALT> };\n"
	"};\n"
	"};\n";

static void release_request(struct wl_client *client, struct wl_resource *resource) {
	wl_resource_destroy(resource);
}

static void pointer_set_cursor(struct wl_client *client, struct wl_resource *resource,
			       uint32_t serial, struct wl_resource *surface, int32_t hotspot_x,
			       int32_t hotspot_y) {
}

static const struct wl_pointer_interface pointer_impl = {
	.set_cursor = pointer_set_cursor,
	.release = release_request,
};

static const struct wl_keyboard_interface keyboard_impl = {
	.release = release_request,
};

static void keyboard_resource_destroy(struct wl_resource *resource) {
	wl_list_remove(wl_resource_get_link(resource));
}

static void send_enter(struct recorder *rec, struct wl_resource *keyboard) {
	struct wl_array keys = {0}; // nothing is held down
	uint32_t serial = wl_display_next_serial(rec->display);
	wl_keyboard_send_enter(keyboard, serial, rec->focus, &keys);
	wl_keyboard_send_modifiers(keyboard, serial, 0, 0, 0, 0);
}

static void focus_destroy_notify(struct wl_listener *l, void *data) {
	struct recorder *rec = wl_container_of(l, rec, focus_destroy);
	wl_list_remove(&l->link);
	wl_list_init(&l->link);
	rec->focus = NULL; // no leave for a surface that is gone
}

void recorder_seat_focus(struct recorder *rec, struct wl_resource *surface) {
	if (surface == rec->focus) {
		return;
	}
	struct wl_resource *kb;
	if (rec->focus != NULL) {
		struct wl_client *old = wl_resource_get_client(rec->focus);
		uint32_t serial = wl_display_next_serial(rec->display);
		wl_resource_for_each(kb, &rec->keyboards) {
			if (wl_resource_get_client(kb) == old) {
				wl_keyboard_send_leave(kb, serial, rec->focus);
			}
		}
		wl_list_remove(&rec->focus_destroy.link);
		wl_list_init(&rec->focus_destroy.link);
	}
	rec->focus = surface;
	if (surface == NULL) {
		return;
	}
	rec->focus_destroy.notify = focus_destroy_notify;
	wl_resource_add_destroy_listener(surface, &rec->focus_destroy);
	// wl_data_device: the selection comes immediately before keyboard focus.
	recorder_data_announce(rec, wl_resource_get_client(surface));
	wl_resource_for_each(kb, &rec->keyboards) {
		if (wl_resource_get_client(kb) == wl_resource_get_client(surface)) {
			send_enter(rec, kb);
		}
	}
}

static void seat_get_pointer(struct wl_client *client, struct wl_resource *resource, uint32_t id) {
	struct wl_resource *r = wl_resource_create(client, &wl_pointer_interface,
						   wl_resource_get_version(resource), id);
	if (r == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &pointer_impl, NULL, NULL);
}

static void seat_get_keyboard(struct wl_client *client, struct wl_resource *resource, uint32_t id) {
	struct recorder *rec = wl_resource_get_user_data(resource);
	struct wl_resource *r = wl_resource_create(client, &wl_keyboard_interface,
						   wl_resource_get_version(resource), id);
	if (r == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &keyboard_impl, NULL, keyboard_resource_destroy);
	wl_list_insert(rec->keyboards.prev, wl_resource_get_link(r));

	const char *text = rec->keymap_text ? rec->keymap_text : default_keymap;
	size_t size = strlen(text) + 1; // xkb keymaps are sent with their NUL
	// A fresh memfd per keyboard: an unsealed one may be written by its client.
	int fd = recorder_memfd_create("crossway-recorder-keymap", text, size,
				       !rec->options.keymap_unsealed);
	if (fd < 0) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_keyboard_send_keymap(r, WL_KEYBOARD_KEYMAP_FORMAT_XKB_V1, fd, (uint32_t)size);
	fd_close(&fd); // libwayland sent its own copy
	if (wl_resource_get_version(r) >= WL_KEYBOARD_REPEAT_INFO_SINCE_VERSION) {
		wl_keyboard_send_repeat_info(r, REPEAT_RATE, REPEAT_DELAY);
	}
	if (rec->focus != NULL && wl_resource_get_client(rec->focus) == client) {
		send_enter(rec, r);
	}
}

static void seat_get_touch(struct wl_client *client, struct wl_resource *resource, uint32_t id) {
	wl_resource_post_error(resource, WL_SEAT_ERROR_MISSING_CAPABILITY,
			       "wl_seat has no touch capability");
}

static const struct wl_seat_interface seat_impl = {
	.get_pointer = seat_get_pointer,
	.get_keyboard = seat_get_keyboard,
	.get_touch = seat_get_touch,
	.release = release_request,
};

static void seat_bind(struct wl_client *client, void *data, uint32_t version, uint32_t id) {
	struct wl_resource *r = wl_resource_create(client, &wl_seat_interface, (int)version, id);
	if (r == NULL) {
		wl_client_post_no_memory(client);
		return;
	}
	wl_resource_set_implementation(r, &seat_impl, data, NULL);
	wl_seat_send_capabilities(r, WL_SEAT_CAPABILITY_POINTER | WL_SEAT_CAPABILITY_KEYBOARD);
	if (version >= WL_SEAT_NAME_SINCE_VERSION) {
		wl_seat_send_name(r, "seat0");
	}
}

bool recorder_seat_init(struct recorder *rec) {
	return wl_global_create(rec->display, &wl_seat_interface, SEAT_VERSION, rec, seat_bind) !=
	       NULL;
}
