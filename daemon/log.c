#include <errno.h>
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

/* One line per message, whatever an argument held: a control character that
 * got this far (callers escape what peers chose) becomes '?' rather than a
 * forged line or a terminal escape. */
static void one_line(char *buf, int n) {
	for (int i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];
		if (c < 0x20 || c == 0x7f) {
			buf[i] = '?';
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
