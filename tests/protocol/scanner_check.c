/*
 * Compares crossway's protocol tables (protocol/gen_tables.py) with what
 * wayland-scanner makes of the same XML.
 *
 * The program is linked with `wayland-scanner private-code` output for every
 * XML file the tables were built from, and with no libwayland: every
 * wl_*_interface symbol comes from that output. SCANNER_INDEX_H names the
 * header scanner_index.py wrote, which lists the interfaces per file.
 *
 * One subtest per XML file checks each interface the scanner defines against
 * ours (name, version, protocol, message counts, and per message name,
 * since, argument types, nullability, referenced interfaces, fd and new_id
 * counts). It reports every difference it finds, as
 * "iface.message (request N): field: scanner X, ours Y", before failing.
 * A last subtest checks the other direction: nothing in our tables that the
 * scanner does not define. The destructor flag is not in the scanner's
 * wl_message, so it is not compared here (the golden test covers it).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <wayland-util.h>

#include "protocol/tables.h"
#include "tests/harness/test.h"

struct scanner_protocol {
	const char *label; // the build's name for the XML file ("wayland", "xdg-shell")
	const struct wl_interface *const *interfaces;
	size_t count;
};

#include SCANNER_INDEX_H

#define ARRAY_LENGTH(a) (sizeof(a) / sizeof((a)[0]))

/* Signature letter of each enum proto_arg_type, as wayland-scanner writes it. */
static const char type_letters[] = "iufsonah";

struct tally {
	size_t problems;
	size_t interfaces, requests, events, args;
	char first[512]; // the first problem, repeated in the failure reason
};

__attribute__((format(printf, 2, 3))) static void problem(struct tally *t, const char *fmt, ...) {
	char text[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (t->problems == 0) {
		snprintf(t->first, sizeof(t->first), "%s", text);
	}
	t->problems++;
	test_note("%s", text);
}

/* A scanner signature taken apart: since prefix, then one entry per argument. */
struct signature {
	unsigned since;
	size_t count;
	char type[PROTO_MAX_ARGS + 1];
	bool nullable[PROTO_MAX_ARGS + 1];
	bool bad; // more arguments than PROTO_MAX_ARGS, or a letter we do not know
};

static struct signature parse_signature(const char *s) {
	struct signature sig = {0};
	while (*s >= '0' && *s <= '9') {
		sig.since = sig.since * 10 + (unsigned)(*s - '0');
		s++;
	}
	if (sig.since == 0) {
		sig.since = 1;
	}
	bool nullable = false;
	for (; *s != '\0'; s++) {
		if (*s == '?') {
			nullable = true;
			continue;
		}
		if (strchr(type_letters, *s) == NULL || sig.count > PROTO_MAX_ARGS) {
			sig.bad = true;
			break;
		}
		sig.type[sig.count] = *s;
		sig.nullable[sig.count] = nullable;
		sig.count++;
		nullable = false;
	}
	return sig;
}

/* Our message's signature in the scanner's notation, for messages. */
static void our_signature(const struct proto_message *m, char *out, size_t cap) {
	size_t n = 0;
	if (m->since > 1) {
		n += (size_t)snprintf(out, cap, "%u", (unsigned)m->since);
	}
	for (size_t i = 0; i < m->arg_count && n + 3 < cap; i++) {
		if (m->args[i].nullable) {
			out[n++] = '?';
		}
		out[n++] = m->args[i].type < sizeof(type_letters) - 1
				   ? type_letters[m->args[i].type]
				   : '!';
	}
	out[n < cap ? n : cap - 1] = '\0';
}

static const char *name_or_none(const char *name) {
	return name ? name : "(none)";
}

static void compare_message(struct tally *t, const char *iface, const char *kind, uint16_t opcode,
			    const struct wl_message *sm, const struct proto_message *pm) {
	const char *mname = sm->name;
	if (strcmp(sm->name, pm->name) != 0) {
		problem(t, "%s %s %u: name: scanner \"%s\", ours \"%s\"", iface, kind, opcode,
			sm->name, pm->name);
	}
	if (pm->opcode != opcode) {
		problem(t, "%s.%s (%s %u): opcode: ours %u", iface, mname, kind, opcode,
			pm->opcode);
	}
	struct signature sig = parse_signature(sm->signature);
	char ours[2 * PROTO_MAX_ARGS + 16];
	our_signature(pm, ours, sizeof(ours));
	if (sig.bad) {
		problem(t, "%s.%s (%s %u): scanner signature \"%s\" not understood", iface, mname,
			kind, opcode, sm->signature);
		return;
	}
	if (pm->since != sig.since) {
		problem(t, "%s.%s (%s %u): since: scanner %u, ours %u", iface, mname, kind, opcode,
			sig.since, (unsigned)pm->since);
	}
	if (pm->arg_count != sig.count) {
		problem(t, "%s.%s (%s %u): argument count: scanner %zu \"%s\", ours %u \"%s\"",
			iface, mname, kind, opcode, sig.count, sm->signature, pm->arg_count, ours);
		return;
	}
	size_t fds = 0, new_ids = 0;
	for (size_t i = 0; i < sig.count; i++) {
		const struct proto_arg *a = &pm->args[i];
		char ours_type = a->type < sizeof(type_letters) - 1 ? type_letters[a->type] : '!';
		t->args++;
		fds += sig.type[i] == 'h';
		new_ids += sig.type[i] == 'n';
		if (ours_type != sig.type[i]) {
			problem(t, "%s.%s (%s %u): argument %zu (%s) type: scanner '%c', ours '%c'",
				iface, mname, kind, opcode, i, a->name, sig.type[i], ours_type);
		}
		if (a->nullable != sig.nullable[i]) {
			problem(t, "%s.%s (%s %u): argument %zu (%s) nullable: scanner %s, ours %s",
				iface, mname, kind, opcode, i, a->name,
				sig.nullable[i] ? "yes" : "no", a->nullable ? "yes" : "no");
		}
		// types[] has one entry per signature letter; object and new_id
		// entries name the interface, or are NULL for "any".
		const struct wl_interface *st = sm->types[i];
		const char *scanner_ref = st ? st->name : NULL;
		const char *our_ref = a->interface ? a->interface->name : NULL;
		if ((scanner_ref == NULL) != (our_ref == NULL) ||
		    (scanner_ref && strcmp(scanner_ref, our_ref) != 0)) {
			problem(t,
				"%s.%s (%s %u): argument %zu (%s) interface: scanner %s, ours %s",
				iface, mname, kind, opcode, i, a->name, name_or_none(scanner_ref),
				name_or_none(our_ref));
		}
		// The scanner writes an untyped new_id as "sun" with no interface.
		bool scanner_dynamic = sig.type[i] == 'n' && st == NULL;
		if (a->dynamic != scanner_dynamic) {
			problem(t, "%s.%s (%s %u): argument %zu (%s) dynamic: scanner %s, ours %s",
				iface, mname, kind, opcode, i, a->name,
				scanner_dynamic ? "yes" : "no", a->dynamic ? "yes" : "no");
		}
	}
	if (pm->fd_count != fds) {
		problem(t, "%s.%s (%s %u): fd_count: scanner %zu 'h', ours %u", iface, mname, kind,
			opcode, fds, pm->fd_count);
	}
	if (pm->new_id_count != new_ids) {
		problem(t, "%s.%s (%s %u): new_id_count: scanner %zu 'n', ours %u", iface, mname,
			kind, opcode, new_ids, pm->new_id_count);
	}
}

static void compare_messages(struct tally *t, const char *iface, const char *kind, int scanner_n,
			     const struct wl_message *sm, unsigned ours_n,
			     const struct proto_message *pm) {
	if ((unsigned)scanner_n != ours_n) {
		problem(t, "%s: %s count: scanner %d, ours %u", iface, kind, scanner_n, ours_n);
	}
	unsigned n = (unsigned)scanner_n < ours_n ? (unsigned)scanner_n : ours_n;
	for (unsigned i = 0; i < n; i++) {
		compare_message(t, iface, kind, (uint16_t)i, &sm[i], &pm[i]);
	}
}

static void compare_interface(struct tally *t, size_t protocol, const struct wl_interface *si) {
	const struct proto_interface *pi = proto_find_interface(si->name);
	if (pi == NULL) {
		problem(t, "%s: missing from our tables", si->name);
		return;
	}
	t->interfaces++;
	t->requests += (size_t)si->method_count;
	t->events += (size_t)si->event_count;
	if (strcmp(pi->name, si->name) != 0) {
		problem(t, "%s: lookup returned \"%s\"", si->name, pi->name);
	}
	if (pi->version != (uint32_t)si->version) {
		problem(t, "%s: version: scanner %d, ours %u", si->name, si->version,
			(unsigned)pi->version);
	}
	if (pi->protocol != protocol) {
		problem(t, "%s: protocol: built from XML file %zu, ours says %u", si->name,
			protocol, pi->protocol);
	}
	if (pi->index >= proto_interface_count || proto_interfaces[pi->index] != pi) {
		problem(t, "%s: index %u does not point back at it", si->name, pi->index);
	}
	compare_messages(t, si->name, "request", si->method_count, si->methods, pi->request_count,
			 pi->requests);
	compare_messages(t, si->name, "event", si->event_count, si->events, pi->event_count,
			 pi->events);
}

TEST_P(scanner_agrees, scanner_protocols) {
	size_t protocol = (size_t)(data - scanner_protocols);
	struct tally t = {0};
	for (size_t i = 0; i < data->count; i++) {
		compare_interface(&t, protocol, data->interfaces[i]);
	}
	const char *ours = protocol < proto_protocol_count ? proto_protocols[protocol] : "(none)";
	test_note("%s (ours: protocol %s): %zu interfaces, %zu requests, %zu events, "
		  "%zu arguments compared",
		  data->label, ours, t.interfaces, t.requests, t.events, t.args);
	test_assert_msg(t.problems == 0, "%s: %zu difference(s) from wayland-scanner; first: %s",
			data->label, t.problems, t.first);
}

static const struct wl_interface *find_scanner_interface(const char *name) {
	for (size_t p = 0; p < ARRAY_LENGTH(scanner_protocols); p++) {
		for (size_t i = 0; i < scanner_protocols[p].count; i++) {
			if (strcmp(scanner_protocols[p].interfaces[i]->name, name) == 0) {
				return scanner_protocols[p].interfaces[i];
			}
		}
	}
	return NULL;
}

TEST(tables_have_nothing_extra) {
	struct tally t = {0};
	size_t scanner_total = 0;
	for (size_t p = 0; p < ARRAY_LENGTH(scanner_protocols); p++) {
		scanner_total += scanner_protocols[p].count;
	}
	if (proto_protocol_count != ARRAY_LENGTH(scanner_protocols)) {
		problem(&t, "protocol count: %zu XML files, ours %zu",
			ARRAY_LENGTH(scanner_protocols), proto_protocol_count);
	}
	if (proto_interface_count != scanner_total) {
		problem(&t, "interface count: scanner %zu, ours %zu", scanner_total,
			proto_interface_count);
	}
	for (size_t i = 0; i < proto_interface_count; i++) {
		const char *name = proto_interfaces[i]->name;
		if (find_scanner_interface(name) == NULL) {
			problem(&t, "%s: in our tables but not defined by wayland-scanner", name);
		}
		if (i > 0 && strcmp(proto_interfaces[i - 1]->name, name) >= 0) {
			problem(&t, "proto_interfaces[] not sorted at %zu (%s)", i, name);
		}
	}
	test_note("%zu XML files, %zu interfaces in the scanner's output, %zu in ours",
		  ARRAY_LENGTH(scanner_protocols), scanner_total, proto_interface_count);
	test_assert_msg(t.problems == 0, "%zu difference(s); first: %s", t.problems, t.first);
}
