/*
 * Types of the protocol tables that protocol/gen_tables.py generates from the
 * installed Wayland protocol XML. The generated proto_tables.h declares one
 * `const struct proto_interface proto_<name>` per interface, opcode macros
 * (PROTO_<IFACE>_REQ_<MSG>, PROTO_<IFACE>_EVT_<MSG>), PROTO_HAVE_<IFACE> for
 * every interface compiled in, and the lookup function below.
 *
 * The tables are read-only data with static storage duration: every pointer
 * in them stays valid for the life of the process.
 */
#ifndef CROSSWAY_PROTOCOL_TABLES_H
#define CROSSWAY_PROTOCOL_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Wayland allows at most 20 arguments per message (WL_CLOSURE_MAX_ARGS). */
#define PROTO_MAX_ARGS 20

enum proto_arg_type {
	PROTO_ARG_INT = 0,
	PROTO_ARG_UINT,
	PROTO_ARG_FIXED,
	PROTO_ARG_STRING,
	PROTO_ARG_OBJECT,
	PROTO_ARG_NEW_ID,
	PROTO_ARG_ARRAY,
	PROTO_ARG_FD,
};

struct proto_interface;

/*
 * One argument as it appears on the wire. A new_id without an interface in
 * the XML (wl_registry.bind) is expanded into three wire arguments: a string
 * (the interface name), a uint (the version) and the new_id itself, whose
 * `interface` is NULL and whose `dynamic` flag is set.
 */
struct proto_arg {
	const char *name;
	// object/new_id: the required interface; NULL for an object of any
	// interface, or for a dynamic new_id
	const struct proto_interface *interface;
	uint8_t type; // enum proto_arg_type
	bool nullable;
	bool dynamic; // new_id whose interface and version are the two previous args
};

struct proto_message {
	const char *name;
	const struct proto_arg *args; // arg_count entries
	uint32_t since;               // first interface version with this message
	uint16_t opcode;
	uint8_t arg_count;    // wire arguments, after new_id expansion
	uint8_t fd_count;     // arguments of type PROTO_ARG_FD
	uint8_t new_id_count; // arguments of type PROTO_ARG_NEW_ID (0 or 1)
	bool destructor;      // type="destructor" in the XML
};

struct proto_interface {
	const char *name;
	const struct proto_message *requests; // request_count entries, by opcode
	const struct proto_message *events;   // event_count entries, by opcode
	uint32_t version;                     // highest version in the XML
	uint16_t request_count;
	uint16_t event_count;
	uint16_t index;    // position in proto_interfaces[]
	uint16_t protocol; // position in proto_protocols[]
};

/* Every interface compiled in, sorted by name (so lookup can bisect). */
extern const struct proto_interface *const proto_interfaces[];
extern const size_t proto_interface_count;

/* Name of every protocol (XML file) compiled in, in build order. */
extern const char *const proto_protocols[];
extern const size_t proto_protocol_count;

/**
 * Finds an interface by its exact name.
 * @name: NUL-terminated; borrowed.
 * Returns the table entry, or NULL when no compiled protocol defines it.
 */
const struct proto_interface *proto_find_interface(const char *name);

#endif
