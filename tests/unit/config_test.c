#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "crossway-config.h"
#include "daemon/config.h"
#include "tests/harness/test.h"

static struct config cfg;
static char err[CONFIG_ERROR_MAX];

TEST(shipped_policy_equals_builtin_defaults) {
	// The file in the tree and the built-in defaults must not drift.
	test_assert_msg(config_load(&cfg, CROSSWAY_SOURCE_POLICY, err, sizeof(err)), "%s", err);
	struct config builtin;
	config_defaults(&builtin);
	struct policy_config a, b;
	config_policy_for(&cfg, "work", &a);
	config_policy_for(&builtin, "work", &b);
	test_assert_int_eq(a.global_count, b.global_count);
	for (size_t i = 0; i < a.global_count; i++) {
		const struct policy_global_rule *r = policy_config_find(&b, a.globals[i].interface);
		test_assert_msg(r != NULL, "%s only in the file", a.globals[i].interface);
		test_assert_int_eq(r->max_version, a.globals[i].max_version);
	}
	test_assert(memcmp(&a.limits, &b.limits, sizeof(a.limits)) == 0);
	test_assert_str_eq(a.app_id_prefix, "crossway.work");
	test_assert_str_eq(b.app_id_prefix, "crossway.work");
	test_assert_int_eq(a.clipboard, b.clipboard);
	test_assert_int_eq(a.primary_selection, b.primary_selection);
	test_assert_int_eq(a.secctx, b.secctx);
	test_assert_int_eq(a.tag_titles, b.tag_titles);
	test_assert_int_eq(a.server_side_decorations, b.server_side_decorations);
	test_assert_int_eq(a.max_title_bytes, b.max_title_bytes);
}

TEST(vm_sections_inherit_and_override) {
	const char *text = "[default]\n"
			   "allow = wl_compositor wl_shm xdg_wm_base:3\n"
			   "clipboard = deny\n"
			   "max-objects = 1000\n"
			   "[vm work]\n"
			   "clipboard = both\n"
			   "allow-add = wl_seat\n"
			   "deny = wl_shm\n"
			   "[vm games]   # comment\n"
			   "title-prefix = no\n";
	test_assert_msg(config_parse(&cfg, text, "t", err, sizeof(err)), "%s", err);
	struct policy_config pc;
	config_policy_for(&cfg, "work", &pc);
	test_assert_int_eq(pc.clipboard, POLICY_CLIPBOARD_BOTH);
	test_assert_int_eq(pc.limits.max_objects, 1000);
	test_assert(policy_config_find(&pc, "wl_seat") != NULL);
	test_assert(policy_config_find(&pc, "wl_shm") == NULL);
	test_assert_int_eq(policy_config_find(&pc, "xdg_wm_base")->max_version, 3);
	config_policy_for(&cfg, "games", &pc);
	test_assert(!pc.tag_titles);
	test_assert_int_eq(pc.clipboard, POLICY_CLIPBOARD_DENY);
	test_assert(policy_config_find(&pc, "wl_shm") != NULL);
	config_policy_for(&cfg, "other", &pc); // no section: [default]
	test_assert_int_eq(pc.clipboard, POLICY_CLIPBOARD_DENY);
	test_assert_str_eq(pc.vm_name, "other");
}

struct bad_case {
	const char *text;
	const char *reason;
};

static const struct bad_case bad_cases[] = {
	{"max-objects = 70000\n", "t:1: max-objects: 70000 is above the limit of 65536"},
	{"host-queue-bytes = 5M\n", "above the limit"},
	{"max-objects = 0\n", "must be at least 1"},
	{"max-objects = 12x\n", "is not a number"},
	{"clipboard = always\n", "t:1: clipboard: deny, guest-to-host or both"},
	{"title-prefix = maybe\n", "expected yes or no"},
	{"frobnicate = 1\n", "unknown key \"frobnicate\""},
	{"[vm a b]\n", "VM name \"a b\""},
	{"[vm a]\n[vm a]\n", "t:2: [vm a] appears twice"},
	{"[vm a]\n[default]\n", "[default] must come before"},
	{"[something]\n", "sections are [default] and [vm NAME]"},
	{"allow = wl_compositor ../x\n", "\"../x\" is not an interface name"},
	{"deny = wl_shm:3\n", "no version in a deny list"},
	{"\n\njust words\n", "t:3: expected key = value"},
	{"security-context = maybe\n", "off, optional or required"},
};

TEST_P(rejects_bad_files, bad_cases) {
	test_assert(!config_parse(&cfg, data->text, "t", err, sizeof(err)));
	test_assert_str_contains(err, data->reason);
}

TEST(load_errors_and_defaults) {
	test_assert(!config_load(&cfg, "/nonexistent/crossway.conf", err, sizeof(err)));
	test_assert_str_contains(err, "No such file");
	// Explicit path missing: error. No path and nothing installed under
	// XDG_CONFIG_HOME: the installed or built-in defaults.
	setenv("XDG_CONFIG_HOME", getenv("XDG_RUNTIME_DIR"), 1);
	test_assert(config_load_default(&cfg, NULL, err, sizeof(err)));
	struct policy_config pc;
	config_policy_for(&cfg, "x", &pc);
	test_assert(policy_config_find(&pc, "xdg_wm_base") != NULL);
	test_assert(policy_config_find(&pc, "zwlr_screencopy_manager_v1") == NULL);
	// A user file wins.
	char path[512];
	snprintf(path, sizeof(path), "%s/crossway", getenv("XDG_RUNTIME_DIR"));
	mkdir(path, 0700);
	snprintf(path, sizeof(path), "%s/crossway/crossway.conf", getenv("XDG_RUNTIME_DIR"));
	FILE *f = fopen(path, "w");
	fputs("[default]\nallow = wl_shm\n", f);
	fclose(f);
	test_assert(config_load_default(&cfg, NULL, err, sizeof(err)));
	test_assert_str_eq(cfg.path, path);
	config_policy_for(&cfg, "x", &pc);
	test_assert_int_eq(pc.global_count, 1);
}
