#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crossway-config.h"
#include "daemon/config.h"

/* The policy file is small; anything bigger is a mistake. */
#define CONFIG_MAX_FILE (256 * 1024)

void config_defaults(struct config *cfg) {
	memset(cfg, 0, sizeof(*cfg));
	policy_config_defaults(&cfg->sections[0].policy, "{vm}");
	cfg->count = 1;
}

struct parser {
	const char *name;
	int line;
	char *err;
	size_t err_cap;
};

__attribute__((format(printf, 2, 3))) static bool perr(struct parser *p, const char *fmt, ...) {
	char msg[CONFIG_ERROR_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->err_cap, "%s:%d: %s", p->name, p->line, msg);
	return false;
}

static char *trim(char *s) {
	while (isspace((unsigned char)*s)) {
		s++;
	}
	size_t n = strlen(s);
	while (n > 0 && isspace((unsigned char)s[n - 1])) {
		s[--n] = '\0';
	}
	return s;
}

static bool valid_name(const char *s) {
	if (*s == '\0' || strlen(s) >= POLICY_NAME_MAX) {
		return false;
	}
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-') {
			return false;
		}
	}
	return true;
}

static bool parse_bool(struct parser *p, const char *key, const char *v, bool *out) {
	if (strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "on") == 0) {
		*out = true;
	} else if (strcmp(v, "no") == 0 || strcmp(v, "false") == 0 || strcmp(v, "off") == 0) {
		*out = false;
	} else {
		return perr(p, "%s: expected yes or no, not \"%s\"", key, v);
	}
	return true;
}

/* The keyword values of the policy's enumerated keys, in enum order. */
static const char *const clipboard_words[] = {"deny", "guest-to-host", "both"};
static const char *const unsealed_shm_words[] = {"allow", "refuse"};
static const char *const fullscreen_words[] = {"allow", "maximize"};
static const char *const secctx_words[] = {"off", "optional", "required"};
#define WORDS(w) (w), sizeof(w) / sizeof((w)[0])

/* Sets *@out to the index of @v among @words; the error lists them all. */
static bool parse_keyword(struct parser *p, const char *key, const char *v,
			  const char *const *words, size_t n, unsigned *out) {
	for (size_t i = 0; i < n; i++) {
		if (strcmp(v, words[i]) == 0) {
			*out = (unsigned)i;
			return true;
		}
	}
	char list[128] = "";
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(list);
		snprintf(list + len, sizeof(list) - len, "%s%s",
			 i == 0       ? ""
			 : i + 1 == n ? " or "
				      : ", ",
			 words[i]);
	}
	return perr(p, "%s: %s, not \"%s\"", key, list, v);
}

/* Parses a size with an optional K, M or G suffix (powers of 1024). */
static bool parse_size(struct parser *p, const char *key, const char *v, uint64_t max,
		       uint64_t *out) {
	char *end;
	errno = 0;
	unsigned long long n = strtoull(v, &end, 10);
	if (errno != 0 || end == v || *v == '-') {
		return perr(p, "%s: \"%s\" is not a number", key, v);
	}
	uint64_t mult = 1;
	if (*end == 'K' || *end == 'k') {
		mult = 1024;
		end++;
	} else if (*end == 'M') {
		mult = 1024 * 1024;
		end++;
	} else if (*end == 'G') {
		mult = 1024ull * 1024 * 1024;
		end++;
	}
	if (*end != '\0') {
		return perr(p, "%s: \"%s\" is not a number", key, v);
	}
	if (n > UINT64_MAX / mult) {
		return perr(p, "%s: %s is too large", key, v);
	}
	n *= mult;
	if (n == 0) {
		return perr(p, "%s: must be at least 1", key);
	}
	if (n > max) {
		return perr(p,
			    "%s: %llu is above the limit of %" PRIu64
			    " (limits can only be lowered)",
			    key, n, max);
	}
	*out = n;
	return true;
}

static bool parse_u32(struct parser *p, const char *key, const char *v, uint32_t max,
		      uint32_t *out) {
	uint64_t n;
	if (!parse_size(p, key, v, max, &n)) {
		return false;
	}
	*out = (uint32_t)n;
	return true;
}

static struct policy_global_rule *find_rule(struct policy_config *pc, const char *iface) {
	for (size_t i = 0; i < pc->global_count; i++) {
		if (strcmp(pc->globals[i].interface, iface) == 0) {
			return &pc->globals[i];
		}
	}
	return NULL;
}

/* "iface" or "iface:version", space separated. */
static bool parse_globals(struct parser *p, struct policy_config *pc, const char *key, char *v,
			  bool replace, bool remove) {
	if (replace) {
		pc->global_count = 0;
	}
	for (char *tok = strtok(v, " \t,"); tok; tok = strtok(NULL, " \t,")) {
		uint32_t version = 0;
		char *colon = strchr(tok, ':');
		if (colon != NULL) {
			*colon = '\0';
			if (remove) {
				return perr(p, "%s: no version in a deny list (\"%s\")", key, tok);
			}
			if (!parse_u32(p, key, colon + 1, UINT32_MAX, &version)) {
				return false;
			}
		}
		if (!valid_name(tok)) {
			return perr(p, "%s: \"%s\" is not an interface name", key, tok);
		}
		struct policy_global_rule *r = find_rule(pc, tok);
		if (remove) {
			if (r != NULL) {
				*r = pc->globals[--pc->global_count];
			}
			continue;
		}
		if (r == NULL) {
			if (pc->global_count == POLICY_MAX_RULES) {
				return perr(p, "%s: more than %d interfaces", key,
					    POLICY_MAX_RULES);
			}
			r = &pc->globals[pc->global_count++];
			snprintf(r->interface, sizeof(r->interface), "%s", tok);
		}
		r->max_version = version;
	}
	return true;
}

static bool set_key(struct parser *p, struct policy_config *pc, const char *key, char *v) {
	struct policy_limits *l = &pc->limits;
	struct policy_limits max;
	struct policy_config defaults;
	policy_config_defaults(&defaults, "");
	max = defaults.limits;
	if (strcmp(key, "allow") == 0) {
		return parse_globals(p, pc, key, v, true, false);
	} else if (strcmp(key, "allow-add") == 0) {
		return parse_globals(p, pc, key, v, false, false);
	} else if (strcmp(key, "deny") == 0) {
		return parse_globals(p, pc, key, v, false, true);
	} else if (strcmp(key, "title-prefix") == 0) {
		return parse_bool(p, key, v, &pc->tag_titles);
	} else if (strcmp(key, "app-id-prefix") == 0) {
		if (strlen(v) >= sizeof(pc->app_id_prefix)) {
			return perr(p, "%s: too long", key);
		}
		snprintf(pc->app_id_prefix, sizeof(pc->app_id_prefix), "%s", v);
		return true;
	} else if (strcmp(key, "max-title-bytes") == 0) {
		return parse_u32(p, key, v, 4096, &pc->max_title_bytes);
	} else if (strcmp(key, "clipboard") == 0) {
		unsigned i;
		if (!parse_keyword(p, key, v, WORDS(clipboard_words), &i)) {
			return false;
		}
		pc->clipboard = (enum policy_clipboard)i;
		return true;
	} else if (strcmp(key, "primary-selection") == 0) {
		return parse_bool(p, key, v, &pc->primary_selection);
	} else if (strcmp(key, "unsealed-shm") == 0) {
		unsigned i;
		if (!parse_keyword(p, key, v, WORDS(unsealed_shm_words), &i)) {
			return false;
		}
		pc->refuse_unsealed_shm = i == 1;
		return true;
	} else if (strcmp(key, "fullscreen") == 0) {
		unsigned i;
		if (!parse_keyword(p, key, v, WORDS(fullscreen_words), &i)) {
			return false;
		}
		pc->allow_fullscreen = i == 0;
		return true;
	} else if (strcmp(key, "server-side-decorations") == 0) {
		return parse_bool(p, key, v, &pc->server_side_decorations);
	} else if (strcmp(key, "security-context") == 0) {
		unsigned i;
		if (!parse_keyword(p, key, v, WORDS(secctx_words), &i)) {
			return false;
		}
		pc->secctx = (enum policy_secctx)i;
		return true;
	} else if (strcmp(key, "security-context-app-id") == 0) {
		if (*v == '\0' || strlen(v) >= sizeof(pc->secctx_app_id)) {
			return perr(p, "%s: 1-%zu characters", key, sizeof(pc->secctx_app_id) - 1);
		}
		snprintf(pc->secctx_app_id, sizeof(pc->secctx_app_id), "%s", v);
		return true;
	}
	struct {
		const char *key;
		uint32_t *u32;
		uint64_t *u64;
		uint64_t max;
	} limits[] = {
		{"max-message-bytes", &l->max_message, NULL, max.max_message},
		{"max-objects", &l->max_objects, NULL, max.max_objects},
		{"max-toplevels", &l->max_toplevels, NULL, max.max_toplevels},
		{"max-items", &l->max_items, NULL, max.max_items},
		{"max-image-requirements", &l->max_image_requirements, NULL,
		 max.max_image_requirements},
		{"max-pipes", &l->max_pipes, NULL, max.max_pipes},
		{"max-buffer-dimension", &l->max_dimension, NULL, max.max_dimension},
		{"max-damage-rects", &l->max_damage_rects, NULL, max.max_damage_rects},
		{"max-buffer-bytes", NULL, &l->max_buffer_bytes, max.max_buffer_bytes},
		{"max-total-bytes", NULL, &l->max_total_bytes, max.max_total_bytes},
		{"guest-queue-bytes", NULL, &l->guest_queue_bytes, max.guest_queue_bytes},
		{"host-queue-bytes", NULL, &l->host_queue_bytes, max.host_queue_bytes},
		{"clipboard-text-bytes", NULL, &l->clipboard_text_bytes, max.clipboard_text_bytes},
		{"clipboard-bytes", NULL, &l->clipboard_bytes, max.clipboard_bytes},
		{"max-subsurfaces", &l->max_subsurfaces, NULL, max.max_subsurfaces},
		{"max-subsurface-depth", &l->max_subsurface_depth, NULL, max.max_subsurface_depth},
		{"max-mime-types", &l->max_mime_types, NULL, max.max_mime_types},
	};
	for (size_t i = 0; i < sizeof(limits) / sizeof(limits[0]); i++) {
		if (strcmp(key, limits[i].key) != 0) {
			continue;
		}
		if (limits[i].u32) {
			return parse_u32(p, key, v, (uint32_t)limits[i].max, limits[i].u32);
		}
		return parse_size(p, key, v, limits[i].max, limits[i].u64);
	}
	return perr(p, "unknown key \"%s\"", key);
}

bool config_parse(struct config *cfg, const char *text, const char *name, char *err,
		  size_t err_cap) {
	config_defaults(cfg);
	struct parser p = {.name = name, .line = 0, .err = err, .err_cap = err_cap};
	struct policy_config *cur = &cfg->sections[0].policy;
	bool seen_vm = false;
	const char *s = text;
	while (*s) {
		p.line++;
		const char *nl = strchr(s, '\n');
		size_t len = nl ? (size_t)(nl - s) : strlen(s);
		char buf[1024];
		if (len >= sizeof(buf)) {
			return perr(&p, "line too long");
		}
		memcpy(buf, s, len);
		buf[len] = '\0';
		s += len + (nl ? 1 : 0);
		char *hash = strchr(buf, '#');
		if (hash) {
			*hash = '\0';
		}
		char *line = trim(buf);
		if (*line == '\0') {
			continue;
		}
		if (*line == '[') {
			char *close = strchr(line, ']');
			if (close == NULL || trim(close + 1)[0] != '\0') {
				return perr(&p, "bad section header");
			}
			*close = '\0';
			char *inner = trim(line + 1);
			if (strcmp(inner, "default") == 0) {
				if (seen_vm) {
					return perr(
						&p,
						"[default] must come before the [vm ...] sections");
				}
				cur = &cfg->sections[0].policy;
				continue;
			}
			if (strncmp(inner, "vm", 2) != 0 || !isspace((unsigned char)inner[2])) {
				return perr(&p, "sections are [default] and [vm NAME]");
			}
			char *vm = trim(inner + 2);
			if (!valid_name(vm)) {
				return perr(&p, "VM name \"%s\": use [A-Za-z0-9._-]", vm);
			}
			for (size_t i = 1; i < cfg->count; i++) {
				if (strcmp(cfg->sections[i].vm_name, vm) == 0) {
					return perr(&p, "[vm %s] appears twice", vm);
				}
			}
			if (cfg->count == CONFIG_MAX_SECTIONS) {
				return perr(&p, "more than %d sections", CONFIG_MAX_SECTIONS);
			}
			struct config_section *sec = &cfg->sections[cfg->count++];
			snprintf(sec->vm_name, sizeof(sec->vm_name), "%s", vm);
			sec->policy = cfg->sections[0].policy;
			cur = &sec->policy;
			seen_vm = true;
			continue;
		}
		char *eq = strchr(line, '=');
		if (eq == NULL) {
			return perr(&p, "expected key = value");
		}
		*eq = '\0';
		char *key = trim(line);
		char *value = trim(eq + 1);
		if (!set_key(&p, cur, key, value)) {
			return false;
		}
	}
	return true;
}

bool config_load(struct config *cfg, const char *path, char *err, size_t err_cap) {
	FILE *f = fopen(path, "re");
	if (f == NULL) {
		snprintf(err, err_cap, "%s: %s", path, strerror(errno));
		return false;
	}
	char *text = malloc(CONFIG_MAX_FILE + 1);
	size_t n = text ? fread(text, 1, CONFIG_MAX_FILE + 1, f) : 0;
	bool too_big = n > CONFIG_MAX_FILE;
	fclose(f);
	if (text == NULL || too_big) {
		snprintf(err, err_cap, "%s: %s", path, text ? "file too large" : "out of memory");
		free(text);
		return false;
	}
	text[n] = '\0';
	if (memchr(text, '\0', n) != NULL) {
		snprintf(err, err_cap, "%s: not a text file", path);
		free(text);
		return false;
	}
	bool ok = config_parse(cfg, text, path, err, err_cap);
	free(text);
	if (ok) {
		snprintf(cfg->path, sizeof(cfg->path), "%s", path);
	}
	return ok;
}

static bool exists(const char *path) {
	struct stat st;
	return stat(path, &st) == 0;
}

bool config_load_default(struct config *cfg, const char *path, char *err, size_t err_cap) {
	if (path != NULL) {
		return config_load(cfg, path, err, err_cap);
	}
	char user[512];
	const char *xdg = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	user[0] = '\0';
	if (xdg != NULL && xdg[0] == '/') {
		snprintf(user, sizeof(user), "%s/crossway/crossway.conf", xdg);
	} else if (home != NULL && home[0] == '/') {
		snprintf(user, sizeof(user), "%s/.config/crossway/crossway.conf", home);
	}
	if (user[0] != '\0' && exists(user)) {
		return config_load(cfg, user, err, err_cap);
	}
	if (exists(CROSSWAY_DEFAULT_POLICY)) {
		return config_load(cfg, CROSSWAY_DEFAULT_POLICY, err, err_cap);
	}
	config_defaults(cfg);
	return true;
}

static void expand_vm(char *dst, size_t cap, const char *tmpl, const char *vm) {
	size_t n = 0;
	for (const char *s = tmpl; *s && n + 1 < cap;) {
		if (strncmp(s, "{vm}", 4) == 0) {
			n += (size_t)snprintf(dst + n, cap - n, "%s", vm);
			if (n >= cap) {
				n = cap - 1;
			}
			s += 4;
		} else {
			dst[n++] = *s++;
		}
	}
	dst[n] = '\0';
}

void config_policy_for(const struct config *cfg, const char *vm_name, struct policy_config *out) {
	const struct config_section *sec = &cfg->sections[0];
	for (size_t i = 1; i < cfg->count; i++) {
		if (strcmp(cfg->sections[i].vm_name, vm_name) == 0) {
			sec = &cfg->sections[i];
			break;
		}
	}
	*out = sec->policy;
	snprintf(out->vm_name, sizeof(out->vm_name), "%s", vm_name);
	expand_vm(out->app_id_prefix, sizeof(out->app_id_prefix), sec->policy.app_id_prefix,
		  vm_name);
	expand_vm(out->secctx_app_id, sizeof(out->secctx_app_id), sec->policy.secctx_app_id,
		  vm_name);
}

void config_print(const struct policy_config *pc, FILE *out) {
	const struct policy_limits *l = &pc->limits;
	fprintf(out, "[vm %s]\nallow =", pc->vm_name);
	for (size_t i = 0; i < pc->global_count; i++) {
		if (pc->globals[i].max_version) {
			fprintf(out, " %s:%" PRIu32, pc->globals[i].interface,
				pc->globals[i].max_version);
		} else {
			fprintf(out, " %s", pc->globals[i].interface);
		}
	}
	fprintf(out, "\ntitle-prefix = %s\n", pc->tag_titles ? "yes" : "no");
	fprintf(out, "app-id-prefix = %s\n", pc->app_id_prefix);
	fprintf(out, "max-title-bytes = %" PRIu32 "\n", pc->max_title_bytes);
	fprintf(out, "clipboard = %s\n", clipboard_words[pc->clipboard]);
	fprintf(out, "primary-selection = %s\n", pc->primary_selection ? "yes" : "no");
	fprintf(out, "server-side-decorations = %s\n", pc->server_side_decorations ? "yes" : "no");
	fprintf(out, "fullscreen = %s\n", fullscreen_words[pc->allow_fullscreen ? 0 : 1]);
	fprintf(out, "unsealed-shm = %s\n", unsealed_shm_words[pc->refuse_unsealed_shm]);
	fprintf(out, "security-context = %s\n", secctx_words[pc->secctx]);
	fprintf(out, "security-context-app-id = %s\n", pc->secctx_app_id);
	fprintf(out, "max-message-bytes = %" PRIu32 "\n", l->max_message);
	fprintf(out, "max-objects = %" PRIu32 "\n", l->max_objects);
	fprintf(out, "max-toplevels = %" PRIu32 "\n", l->max_toplevels);
	fprintf(out, "max-items = %" PRIu32 "\n", l->max_items);
	fprintf(out, "max-image-requirements = %" PRIu32 "\n", l->max_image_requirements);
	fprintf(out, "max-pipes = %" PRIu32 "\n", l->max_pipes);
	fprintf(out, "max-buffer-dimension = %" PRIu32 "\n", l->max_dimension);
	fprintf(out, "max-damage-rects = %" PRIu32 "\n", l->max_damage_rects);
	fprintf(out, "max-buffer-bytes = %" PRIu64 "\n", l->max_buffer_bytes);
	fprintf(out, "max-total-bytes = %" PRIu64 "\n", l->max_total_bytes);
	fprintf(out, "guest-queue-bytes = %" PRIu64 "\n", l->guest_queue_bytes);
	fprintf(out, "host-queue-bytes = %" PRIu64 "\n", l->host_queue_bytes);
	fprintf(out, "clipboard-text-bytes = %" PRIu64 "\n", l->clipboard_text_bytes);
	fprintf(out, "clipboard-bytes = %" PRIu64 "\n", l->clipboard_bytes);
	fprintf(out, "max-subsurfaces = %" PRIu32 "\n", l->max_subsurfaces);
	fprintf(out, "max-subsurface-depth = %" PRIu32 "\n", l->max_subsurface_depth);
	fprintf(out, "max-mime-types = %" PRIu32 "\n", l->max_mime_types);
}
