/*
 * The reason a codec gives when it rejects input. Codecs never log: they fill
 * one of these and return a failure code, and the caller decides what to do
 * (the daemon ends the context with this text).
 */
#ifndef CROSSWAY_WIRE_WIRE_ERROR_H
#define CROSSWAY_WIRE_WIRE_ERROR_H

#include <stdarg.h>
#include <stddef.h>

#define WIRE_ERROR_TEXT_MAX 256

struct wire_error {
	char text[WIRE_ERROR_TEXT_MAX]; // NUL-terminated; "" when no error
};

/**
 * Sets the error text (printf-style, truncated to fit). @err may be NULL, in
 * which case nothing happens. Always returns false so callers can write
 * `return wire_error_set(err, ...);` in bool functions.
 */
__attribute__((format(printf, 2, 3))) _Bool wire_error_set(struct wire_error *err, const char *fmt,
							   ...);

/**
 * Puts "<prefix>: " in front of the current text (used to add the name of the
 * message or command around a reason a lower layer gave). Always returns false.
 */
__attribute__((format(printf, 2, 3))) _Bool wire_error_prefix(struct wire_error *err,
							      const char *fmt, ...);

#endif
