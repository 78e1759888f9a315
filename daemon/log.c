#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <wayland-server-core.h>

#include "daemon/log.h"

static enum cw_log_level threshold = CW_LOG_INFO;
static char tag[80];

void cw_log_set_level(enum cw_log_level level) {
	threshold = level;
}

enum cw_log_level cw_log_get_level(void) {
	return threshold;
}

bool cw_log_parse_level(const char *text, enum cw_log_level *level) {
	static const char *const names[] = {"silent", "error", "info", "debug"};
	for (int i = 0; i < 4; i++) {
		if (strcmp(text, names[i]) == 0) {
			*level = (enum cw_log_level)i;
			return true;
		}
	}
	return false;
}

void cw_log_set_tag(const char *text) {
	if (text == NULL) {
		tag[0] = '\0';
		return;
	}
	snprintf(tag, sizeof(tag), "%s", text);
}

/* The length of the well-formed UTF-8 sequence at @p (of @n bytes) and its
 * code point, or 0 if the bytes there are not one (stray continuation,
 * overlong form, surrogate, past U+10FFFF or cut short). */
static int utf8_sequence(const unsigned char *p, int n, uint32_t *cp) {
	int len;
	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		len = 2;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		len = 3;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		len = 4;
	} else {
		return 0;
	}
	static const uint32_t lowest[5] = {0, 0, 0x80, 0x800, 0x10000}; // shorter forms below
	uint32_t v = p[0] & (0x7fu >> len);
	if (len > n) {
		return 0;
	}
	for (int k = 1; k < len; k++) {
		if ((p[k] & 0xc0) != 0x80) {
			return 0;
		}
		v = v << 6 | (p[k] & 0x3fu);
	}
	if (v < lowest[len] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) {
		return 0;
	}
	*cp = v;
	return len;
}

/* One line per message, whatever an argument held: a control character that
 * got this far (callers escape what peers chose) becomes '?' rather than a
 * forged line or a terminal escape. That includes the C1 controls (U+0080 to
 * U+009F, such as CSI) written in UTF-8, and any byte that is not part of
 * well-formed UTF-8, which a terminal in an 8-bit mode could take for one;
 * other UTF-8 text is left as it is. */
static void one_line(char *buf, int n) {
	unsigned char *p = (unsigned char *)buf;
	for (int i = 0; i < n;) {
		if (p[i] < 0x80) {
			if (p[i] < 0x20 || p[i] == 0x7f) {
				p[i] = '?';
			}
			i++;
			continue;
		}
		uint32_t cp;
		int len = utf8_sequence(p + i, n - i, &cp);
		if (len == 0) {
			p[i++] = '?';
		} else if (cp <= 0x9f) {
			memset(p + i, '?', (size_t)len);
			i += len;
		} else {
			i += len;
		}
	}
}

void cw_log_sanitize(const char *in, char *out, size_t cap) {
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	if (cap == 0) {
		return;
	}
	for (; *in != '\0'; in++) {
		unsigned char c = (unsigned char)*in;
		if (c >= 0x20 && c < 0x7f && c != '\\') {
			if (n + 2 > cap) {
				break;
			}
			out[n++] = (char)c;
		} else {
			if (n + 5 > cap) {
				break;
			}
			out[n++] = '\\';
			out[n++] = 'x';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
}

void cw_log_vat(enum cw_log_level level, const char *file, int line, const char *fmt, va_list ap) {
	if (level > threshold || level == CW_LOG_SILENT) {
		return;
	}
	// One write per line so lines of concurrent processes do not mix.
	char buf[2048];
	int n;
	if (tag[0] != '\0') {
		n = snprintf(buf, sizeof(buf), "crosswayd[%s]: ", tag);
	} else {
		n = snprintf(buf, sizeof(buf), "crosswayd: ");
	}
	if (threshold >= CW_LOG_DEBUG && n < (int)sizeof(buf)) {
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "[%s:%d] ", file, line);
	}
	if (n < (int)sizeof(buf)) {
		n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	}
	if (n >= (int)sizeof(buf) - 1) {
		n = (int)sizeof(buf) - 2;
	}
	one_line(buf, n);
	buf[n++] = '\n';
	ssize_t unused = write(STDERR_FILENO, buf, (size_t)n);
	(void)unused;
}

void cw_log_at(enum cw_log_level level, const char *file, int line, const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	cw_log_vat(level, file, line, fmt, ap);
	va_end(ap);
}

void cw_log_errno_at(enum cw_log_level level, const char *file, int line, const char *fmt, ...) {
	int saved = errno;
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cw_log_at(level, file, line, "%s: %s", msg, strerror(saved));
	errno = saved;
}

__attribute__((format(printf, 1, 0))) static void wayland_log(const char *fmt, va_list ap) {
	char msg[1024];
	vsnprintf(msg, sizeof(msg), fmt, ap);
	size_t n = strlen(msg);
	if (n > 0 && msg[n - 1] == '\n') {
		msg[n - 1] = '\0';
	}
	cw_log(CW_LOG_DEBUG, "libwayland: %s", msg);
}

void cw_log_capture_wayland(void) {
	wl_log_set_handler_server(wayland_log);
}

void cw_trace(const char *fmt, ...) {
	char buf[2048];
	int n = snprintf(buf, sizeof(buf), "[%s] ", tag[0] ? tag : "vm");
	va_list ap;
	va_start(ap, fmt);
	n += vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(buf) - 1) {
		n = (int)sizeof(buf) - 2;
	}
	one_line(buf, n);
	buf[n++] = '\n';
	ssize_t unused = write(STDERR_FILENO, buf, (size_t)n);
	(void)unused;
}
