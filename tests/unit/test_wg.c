/* Unit tests for wg: key and argument validation. Nothing here runs a command. */
#include <criterion/criterion.h>
#include <string.h>

#include "error.h"
#include "wg.h"

/* A real key pair from `wg genkey | wg pubkey`. */
#define PUB "HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw="

Test(wg, key_valid)
{
	cr_assert_eq(wg_key_valid(PUB), 1);
	cr_assert_eq(wg_key_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="), 1);
	cr_assert_eq(wg_key_valid("+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/+/8="), 1);
}

Test(wg, key_invalid)
{
	cr_assert_eq(wg_key_valid(NULL), 0);
	cr_assert_eq(wg_key_valid(""), 0);
	/* 43 and 45 bytes */
	cr_assert_eq(wg_key_valid("HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8yk="), 0);
	cr_assert_eq(wg_key_valid("HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykw=="), 0);
	/* no padding, padding inside, URL-safe alphabet, space */
	cr_assert_eq(wg_key_valid("HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykwA"), 0);
	cr_assert_eq(wg_key_valid("HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8y=w="), 0);
	cr_assert_eq(wg_key_valid("HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8yk_="), 0);
	cr_assert_eq(wg_key_valid("HIgo9xNzJMWLKASShiTqIybx 0U3wGLiUeJ1PKf8ykw="), 0);
	/* last symbol leaves non-zero low bits: 33 bytes' worth, not 32 */
	cr_assert_eq(wg_key_valid("HIgo9xNzJMWLKASShiTqIybxZ0U3wGLiUeJ1PKf8ykx="), 0);
	cr_assert_eq(wg_key_valid("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB="), 0);
	/* an option, not a key */
	cr_assert_eq(wg_key_valid("--------------------------------------------"), 0);
}

Test(wg, peer_args_rejected_before_running_anything)
{
	/* A NULL handle is rejected first; with a handle, bad keys and prefixes are
	 * rejected by validation (the same checks), so no command ever runs. */
	cr_assert_eq(wg_peer_set(NULL, PUB, "fd61:6972::2/128"), AD_EPARSE);
	cr_assert_eq(wg_peer_remove(NULL, PUB), AD_EPARSE);
}

static void up_fails(const struct wg_settings *s)
{
	char err[256] = "x";
	cr_assert_null(wg_iface_up(s, err, sizeof(err)));
	cr_assert_neq(err[0], '\0', "an error message");
	cr_assert_not_null(strstr(err, "invalid"), "%s", err);
}

Test(wg, settings_rejected)
{
	const struct wg_settings ok = { "adtest0", "/nonexistent.key", 51820, "fd61:6972::1/64",
					WG_MODE_AUTO };
	struct wg_settings s;
	char err[256];

	cr_assert_null(wg_iface_up(NULL, err, sizeof(err)));
	s = ok, s.interface = NULL, up_fails(&s);
	s = ok, s.interface = "", up_fails(&s);
	s = ok, s.interface = "sixteen-chars-xx", up_fails(&s);
	s = ok, s.interface = "-h", up_fails(&s);
	s = ok, s.interface = "a b", up_fails(&s);
	s = ok, s.interface = "a/b", up_fails(&s);
	s = ok, s.private_key_file = NULL, up_fails(&s);
	s = ok, s.private_key_file = "", up_fails(&s);
	s = ok, s.listen_port = 0, up_fails(&s);
	s = ok, s.listen_port = 65536, up_fails(&s);
	s = ok, s.address = "fd61:6972::1", up_fails(&s);
	s = ok, s.address = "fd61:6972::1/129", up_fails(&s);
	s = ok, s.address = "10.0.0.1/33", up_fails(&s);
	s = ok, s.address = "10.0.0.1/", up_fails(&s);
	s = ok, s.address = "10.0.0.1/-1", up_fails(&s);
	s = ok, s.address = "example.com/24", up_fails(&s);
	s = ok, s.userspace = (enum wg_mode)7, up_fails(&s);
}

Test(wg, null_safe)
{
	wg_iface_down(NULL);
	cr_assert_eq(wg_iface_alive(NULL), 0);
	cr_assert_eq(wg_iface_userspace(NULL), false);
}
