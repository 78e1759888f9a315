/*
 * The policy file, crossway.conf(5): a [default] section and [vm NAME]
 * sections keyed by the VM name the backend sends in HELLO. A VM section
 * starts as a copy of [default] and overrides what it names.
 *
 *   # comment
 *   [default]
 *   allow = wl_compositor xdg_wm_base:5 wl_seat     # replaces the list
 *   allow-add = wp_viewporter                       # adds to it
 *   deny = wl_seat                                  # removes from it
 *   title-prefix = yes
 *   app-id-prefix = crossway.{vm}
 *   clipboard = guest-to-host | both | deny
 *   ...
 *   [vm work]
 *   clipboard = both
 *
 * The whole file is parsed at start-up (before the sandbox closes the file
 * system); the section for a VM is picked when its name is known.
 */
#ifndef CROSSWAY_DAEMON_CONFIG_H
#define CROSSWAY_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "daemon/policy.h"

#define CONFIG_MAX_SECTIONS 64
#define CONFIG_ERROR_MAX 256

struct config_section {
	char vm_name[POLICY_NAME_MAX]; // "" for [default]
	struct policy_config policy;
};

struct config {
	struct config_section sections[CONFIG_MAX_SECTIONS]; // [0] is [default]
	size_t count;
	char path[256]; // where it came from ("" for built-in defaults)
};

/** Fills @cfg with the built-in default policy (the shipped file's content). */
void config_defaults(struct config *cfg);

/**
 * Parses @text (a whole file; @name is used in errors). On failure returns
 * false and writes "name:line: reason" into @err.
 */
bool config_parse(struct config *cfg, const char *text, const char *name, char *err,
		  size_t err_cap);

/** Reads and parses the file at @path. */
bool config_load(struct config *cfg, const char *path, char *err, size_t err_cap);

/**
 * Loads the policy: @path if given; else $XDG_CONFIG_HOME/crossway/crossway.conf
 * (~/.config when unset) if it exists; else the installed default policy;
 * else the built-in defaults. Returns false only for a file that exists but
 * is invalid (or an explicit @path that cannot be read).
 */
bool config_load_default(struct config *cfg, const char *path, char *err, size_t err_cap);

/**
 * The policy for @vm_name: its section if there is one, else [default], with
 * "{vm}" in prefixes replaced by the name.
 */
void config_policy_for(const struct config *cfg, const char *vm_name, struct policy_config *out);

/** Writes the policy for @vm_name back in crossway.conf syntax (for --print-policy). */
void config_print(const struct policy_config *p, FILE *out);

#endif
