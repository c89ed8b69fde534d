#!/usr/bin/env bash
# The relay's WireGuard module end to end: runs the namespace test (tests/unit/
# test_wg_netns.c) with AIRDRESS_WG_REQUIRE=1, so a missing prerequisite it finds is a
# failure here, not a silent pass. Two namespaces joined by a veth pair, wg_iface_up in
# one (wireguard-go), an operator set up by hand in the other, a TCP exchange across
# the tunnel, peer removal, teardown. Skips (77) without root or wireguard-go.
. "$(dirname "$0")/lib.sh"

[[ $(id -u) -eq 0 ]] || skip "needs root (network namespaces)"
command -v wireguard-go >/dev/null || skip "wireguard-go not installed"
command -v wg >/dev/null || skip "wg (wireguard-tools) not installed"
[[ -c /dev/net/tun ]] || skip "no /dev/net/tun"
bin="$BUILD_DIR/tests/test_wg_netns"
[[ -x $bin ]] || skip "test_wg_netns not built (Criterion missing?)"

out="$TEST_TMP/out"
AIRDRESS_WG_REQUIRE=1 "$bin" --jobs 1 >"$out" 2>&1 || { cat "$out" >&2; fail "test_wg_netns failed"; }
cat "$out"
grep -q 'Tested: 1 | Passing: 1 | Failing: 0 | Crashing: 0' "$out" ||
	fail "test_wg_netns did not run and pass its one test"
echo "PASS: wireguard tunnel through wg_iface_up"
