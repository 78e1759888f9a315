#include <stdio.h>
#include <string.h>

#include "wire/wire_error.h"

_Bool wire_error_set(struct wire_error *err, const char *fmt, ...) {
	if (err == NULL) {
		return 0;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return 0;
}

_Bool wire_error_prefix(struct wire_error *err, const char *fmt, ...) {
	if (err == NULL) {
		return 0;
	}
	char prefix[WIRE_ERROR_TEXT_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	char old[WIRE_ERROR_TEXT_MAX];
	memcpy(old, err->text, sizeof(old));
	// Built by hand: both halves may be long and truncation is intended.
	size_t n = strnlen(prefix, sizeof(prefix));
	if (n > sizeof(err->text) - 3) {
		n = sizeof(err->text) - 3;
	}
	memcpy(err->text, prefix, n);
	memcpy(err->text + n, ": ", 2);
	size_t room = sizeof(err->text) - n - 3;
	size_t m = strnlen(old, sizeof(old));
	if (m > room) {
		m = room;
	}
	memcpy(err->text + n + 2, old, m);
	err->text[n + 2 + m] = '\0';
	return 0;
}
