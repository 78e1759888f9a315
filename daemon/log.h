/*
 * crosswayd's one log interface. Every line carries the VM name (once known)
 * and, at debug level, the source position:
 *   crosswayd[vm-a]: Context ended: wl_surface#12.attach(opcode 1): ...
 * libwayland's own messages (wl_log) are routed into the same sink.
 * wire/ never logs; it returns reasons and the daemon decides.
 */
#ifndef CROSSWAY_DAEMON_LOG_H
#define CROSSWAY_DAEMON_LOG_H

#include <stdarg.h>
#include <stdbool.h>

enum cw_log_level {
	CW_LOG_SILENT = 0,
	CW_LOG_ERROR = 1,
	CW_LOG_INFO = 2,
	CW_LOG_DEBUG = 3,
};

/** Sets the threshold; messages above it are dropped. Default: INFO. */
void cw_log_set_level(enum cw_log_level level);
enum cw_log_level cw_log_get_level(void);

/** Parses "silent", "error", "info" or "debug". Returns false otherwise. */
bool cw_log_parse_level(const char *text, enum cw_log_level *level);

/** Sets the tag printed in every line (the VM name); copied. NULL clears. */
void cw_log_set_tag(const char *tag);

/** Routes libwayland's wl_log output into cw_log at debug level. */
void cw_log_capture_wayland(void);

__attribute__((format(printf, 4, 5))) void cw_log_at(enum cw_log_level level, const char *file,
						     int line, const char *fmt, ...);
__attribute__((format(printf, 4, 0))) void cw_log_vat(enum cw_log_level level, const char *file,
						      int line, const char *fmt, va_list ap);

#define cw_log(level, ...)                                                                         \
	do {                                                                                       \
		cw_log_at(level, __FILE__, __LINE__, __VA_ARGS__);                                 \
	} while (0)

/* Appends ": <strerror(errno)>". */
#define cw_log_errno(level, fmt, ...)                                                              \
	do {                                                                                       \
		cw_log_errno_at(level, __FILE__, __LINE__, fmt, ##__VA_ARGS__);                    \
	} while (0)

__attribute__((format(printf, 4, 5))) void cw_log_errno_at(enum cw_log_level level,
							   const char *file, int line,
							   const char *fmt, ...);

/**
 * Copies @in to @out (@cap bytes, NUL-terminated), printable ASCII as it is
 * and every other byte (control characters, escape sequences, newlines that
 * would forge log lines, non-ASCII, the backslash itself) as \xNN. For text
 * a peer chose: a VM's name, a compositor's error message.
 */
void cw_log_sanitize(const char *in, char *out, size_t cap);

/** Prints one trace line, "[tag] text", whatever the level (for --trace). */
__attribute__((format(printf, 1, 2))) void cw_trace(const char *fmt, ...);

/** Whether a message at @level would be printed (to skip costly formatting). */
static inline bool cw_log_enabled(enum cw_log_level level) {
	return level <= cw_log_get_level();
}

#endif
