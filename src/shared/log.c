/* Logging: see log.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

static enum log_level current_level = LOG_LEVEL_INFO;
static int level_from_env_done;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void log_set_level(enum log_level level)
{
	current_level = level;
	level_from_env_done = 1;
}

enum log_level log_get_level(void)
{
	if (!level_from_env_done) {
		const char *env = getenv("AIRDRESS_LOG_LEVEL");
		enum log_level lvl;
		if (env != NULL && log_level_parse(env, &lvl) == 0)
			current_level = lvl;
		level_from_env_done = 1;
	}
	return current_level;
}

int log_level_parse(const char *text, enum log_level *out)
{
	for (unsigned i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcmp(text, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return AD_ECONFIG;
}

void log_write(enum log_level level, const char *msg, const char *fields, ...)
{
	if (level < log_get_level())
		return;
	char line[2048];
	int n = snprintf(line, sizeof(line), "level=%s msg=", level_names[level]);
	if (strpbrk(msg, " =\"") != NULL)
		n += snprintf(line + n, sizeof(line) - (size_t)n, "\"%s\"", msg);
	else
		n += snprintf(line + n, sizeof(line) - (size_t)n, "%s", msg);
	if (fields != NULL && fields[0] != '\0' && (size_t)n < sizeof(line) - 1) {
		line[n++] = ' ';
		va_list ap;
		va_start(ap, fields);
		int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fields, ap);
		va_end(ap);
		if (m > 0)
			n += m;
	}
	if ((size_t)n >= sizeof(line) - 1)
		n = (int)sizeof(line) - 2;
	line[n++] = '\n';
	ssize_t ignored = write(STDERR_FILENO, line, (size_t)n);
	(void)ignored;
}

const char *log_quote(char *buf, size_t size, const char *text)
{
	size_t n = 0;
	if (size < 3) {
		if (size)
			buf[0] = '\0';
		return buf;
	}
	buf[n++] = '"';
	for (const char *p = text; *p != '\0' && n + 3 < size; p++) {
		unsigned char c = (unsigned char)*p;
		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else {
			buf[n++] = c < 0x20 || c == 0x7f ? '?' : (char)c;
		}
	}
	buf[n++] = '"';
	buf[n] = '\0';
	return buf;
}
