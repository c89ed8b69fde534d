/* Unit tests for the operator's tunnel watch: the state from handshake times, and
 * when missed probes force a fresh handshake. The interface itself is tested in
 * tests/integration/test_operator_tunnel.sh, with real WireGuard. */
#include <criterion/criterion.h>

#include "tunnel.h"

#define DEAD_AFTER_MS 180000

Test(tunnel, assess_from_handshakes)
{
	long long start = 1000000;
	/* No interface: down, whatever the handshakes say. */
	cr_assert_eq(tunnel_assess(false, start + 5, start, start + 1, DEAD_AFTER_MS), TUNNEL_DOWN);
	/* No handshake yet: connecting until dead_after has passed since the start. */
	cr_assert_eq(tunnel_assess(true, start, start, 0, DEAD_AFTER_MS), TUNNEL_CONNECTING);
	cr_assert_eq(tunnel_assess(true, start + 179, start, 0, DEAD_AFTER_MS), TUNNEL_CONNECTING);
	cr_assert_eq(tunnel_assess(true, start + 180, start, 0, DEAD_AFTER_MS), TUNNEL_DEAD);
	/* A handshake: up until dead_after has passed since it. */
	cr_assert_eq(tunnel_assess(true, start + 200, start, start + 100, DEAD_AFTER_MS), TUNNEL_UP);
	cr_assert_eq(tunnel_assess(true, start + 279, start, start + 100, DEAD_AFTER_MS), TUNNEL_UP);
	cr_assert_eq(tunnel_assess(true, start + 280, start, start + 100, DEAD_AFTER_MS), TUNNEL_DEAD);
	/* And alive again with the next one. */
	cr_assert_eq(tunnel_assess(true, start + 400, start, start + 399, DEAD_AFTER_MS), TUNNEL_UP);
	/* A clock step back leaves a handshake "in the future": still up. */
	cr_assert_eq(tunnel_assess(true, start, start, start + 50, DEAD_AFTER_MS), TUNNEL_UP);
}

Test(tunnel, assess_short_dead_after)
{
	cr_assert_eq(tunnel_assess(true, 10, 10, 0, 1000), TUNNEL_CONNECTING);
	cr_assert_eq(tunnel_assess(true, 11, 10, 0, 1000), TUNNEL_DEAD);
	cr_assert_eq(tunnel_assess(true, 12, 10, 11, 1500), TUNNEL_UP);
	cr_assert_eq(tunnel_assess(true, 13, 10, 11, 1500), TUNNEL_DEAD);
}

Test(tunnel, probe_misses_force_a_handshake)
{
	struct tunnel_probe_count pc = { .limit = 3 };
	/* Two misses then an answer: the count starts again. */
	cr_assert_not(tunnel_probe_result(&pc, false));
	cr_assert_not(tunnel_probe_result(&pc, false));
	cr_assert_not(tunnel_probe_result(&pc, true));
	cr_assert_eq(pc.misses, 0);
	/* Three in a row: a fresh handshake, and the next three again. */
	cr_assert_not(tunnel_probe_result(&pc, false));
	cr_assert_not(tunnel_probe_result(&pc, false));
	cr_assert(tunnel_probe_result(&pc, false));
	cr_assert_not(tunnel_probe_result(&pc, false));
	cr_assert_not(tunnel_probe_result(&pc, false));
	cr_assert(tunnel_probe_result(&pc, false));
	/* A limit of one: every miss. */
	struct tunnel_probe_count one = { .limit = 1 };
	cr_assert(tunnel_probe_result(&one, false));
	cr_assert(tunnel_probe_result(&one, false));
	cr_assert_not(tunnel_probe_result(&one, true));
}

Test(tunnel, state_names)
{
	cr_assert_str_eq(tunnel_state_name(TUNNEL_CONNECTING), "connecting");
	cr_assert_str_eq(tunnel_state_name(TUNNEL_UP), "up");
	cr_assert_str_eq(tunnel_state_name(TUNNEL_DEAD), "dead");
	cr_assert_str_eq(tunnel_state_name(TUNNEL_DOWN), "down");
	cr_assert_str_eq(tunnel_state_name((enum tunnel_state)9), "unknown");
}
