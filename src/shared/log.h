/*
 * Logging: one line per event to stderr,
 *   level=info msg="zone loaded" zone=a.airdr.es records=12
 * Messages are lowercase and put context first. Call sites pass the message and
 * optional key=value pairs already formatted in the printf arguments:
 *   log_info("zone loaded", "zone=%s records=%u", name, n);
 *   log_info("started", "");   (no fields)
 * Nothing here is for the hot path: count there (metrics), log on events.
 */
#ifndef AIRDRESS_LOG_H
#define AIRDRESS_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum log_level { LOG_LEVEL_DEBUG, LOG_LEVEL_INFO, LOG_LEVEL_WARN, LOG_LEVEL_ERROR };

/* Lines below this level are dropped. Default info; AIRDRESS_LOG_LEVEL=debug overrides. */
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* Parse "debug", "info", "warn", "error". Returns 0 or AD_ECONFIG. */
int log_level_parse(const char *text, enum log_level *out);

/* Write one line. msg is quoted if it holds spaces; fields is a printf format for the
 * key=value part (may be NULL). One write(2) per line, so threads never interleave. */
void log_write(enum log_level level, const char *msg, const char *fields, ...)
	__attribute__((format(printf, 3, 4)));

/* Quote text as one logfmt value: "…" with \" and \\ escaped and control bytes
 * replaced by '?'. Writes into buf (truncating) and returns buf. For values that
 * may hold spaces or quotes: log_error("load failed", "error=%s", log_quote(b, sizeof(b), e)). */
const char *log_quote(char *buf, size_t size, const char *text);

#define log_debug(msg, ...)                                                   \
	do {                                                                  \
		if (log_get_level() <= LOG_LEVEL_DEBUG)                       \
			log_write(LOG_LEVEL_DEBUG, msg, __VA_ARGS__);         \
	} while (0)
#define log_info(msg, ...) log_write(LOG_LEVEL_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_write(LOG_LEVEL_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_write(LOG_LEVEL_ERROR, msg, __VA_ARGS__)

#endif
