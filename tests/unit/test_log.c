/* Unit tests: log line format, levels, quoting. */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "error.h"
#include "log.h"

/* Run fn with stderr sent to a pipe; return what it wrote. */
static char captured[4096];

static const char *capture(void (*fn)(void))
{
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	int saved = dup(STDERR_FILENO);
	dup2(fds[1], STDERR_FILENO);
	fn();
	dup2(saved, STDERR_FILENO);
	close(saved);
	close(fds[1]);
	ssize_t n = read(fds[0], captured, sizeof(captured) - 1);
	close(fds[0]);
	captured[n > 0 ? n : 0] = '\0';
	return captured;
}

static void write_lines(void)
{
	log_set_level(LOG_LEVEL_INFO);
	log_info("zone loaded", "zone=%s records=%u", "a.airdr.es", 12u);
	log_debug("hidden", "x=%d", 1);
	log_error("started", "");
}

Test(log, one_line_per_event_with_level_msg_and_fields)
{
	const char *out = capture(write_lines);
	cr_assert_str_eq(out, "level=info msg=\"zone loaded\" zone=a.airdr.es records=12\n"
			      "level=error msg=started\n");
}

Test(log, quote_escapes_quotes_backslashes_and_controls)
{
	char buf[64];
	cr_assert_str_eq(log_quote(buf, sizeof(buf), "a.yaml:1:2: got \"x\"\\\n"),
			 "\"a.yaml:1:2: got \\\"x\\\"\\\\?\"");
	char small[8];
	cr_assert_str_eq(log_quote(small, sizeof(small), "abcdefghij"), "\"abcd\"",
			 "truncated text stays one quoted value");
}

Test(log, level_names_parse)
{
	enum log_level l;
	cr_assert_eq(log_level_parse("warn", &l), 0);
	cr_assert_eq(l, LOG_LEVEL_WARN);
	cr_assert_eq(log_level_parse("loud", &l), AD_ECONFIG);
}

Test(error, strerror_covers_errno_and_project_codes)
{
	cr_assert_str_eq(airdress_strerror(0), "success");
	cr_assert_str_eq(airdress_strerror(-ENOENT), "No such file or directory");
	cr_assert_str_eq(airdress_strerror(AD_ETRUNC), "truncated input");
	cr_assert_str_eq(airdress_strerror(-5000), "unknown error");
}
