# Helpers for integration tests (sourced). Every process a test starts is recorded
# and stopped by its pid when the test exits; every wait is bounded.
set -euo pipefail
: "${BUILD_DIR:?BUILD_DIR is set by ctest}"
: "${SOURCE_DIR:?SOURCE_DIR is set by ctest}"

TEST_TMP=$(mktemp -d /tmp/airdress-test.XXXXXX)
TEST_PIDS=()
TEST_NETNS=()

cleanup() {
	local pid
	for pid in "${TEST_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${TEST_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
	done
	for ns in "${TEST_NETNS[@]}"; do
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -rf "$TEST_TMP"
}
trap cleanup EXIT

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

skip() {
	echo "SKIP: $*" >&2
	exit 77
}

# wait_for SECONDS COMMAND...: run COMMAND every 0.1 s until it succeeds.
wait_for() {
	local limit=$1; shift
	local end=$((SECONDS + limit))
	until "$@" 2>/dev/null; do
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}

# stop_pid PID [WHAT]: SIGTERM, wait (bounded) until it is gone, and fail unless it
# exited with status 0. PID must be a child of this shell.
stop_pid() {
	local pid=$1 what=${2:-pid $1}
	kill -TERM "$pid"
	wait_for 10 bash -c "! kill -0 $pid" || fail "$what did not stop"
	wait "$pid" || fail "$what: exit status $?"
}

# netns_add NAME...: create network namespaces (loopback up), deleted at exit.
netns_add() {
	local ns
	[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
	for ns in "$@"; do
		ip netns add "$ns"
		TEST_NETNS+=("$ns")
		ip -n "$ns" link set lo up
	done
}

# netns_link NS1 ADDR1/LEN NS2 ADDR2/LEN: a veth pair between two namespaces.
netns_link() {
	local a=v$RANDOM$RANDOM b=v$RANDOM$RANDOM
	ip link add "$a" type veth peer name "$b"
	ip link set "$a" netns "$1"
	ip link set "$b" netns "$3"
	ip -n "$1" addr add "$2" dev "$a"
	ip -n "$3" addr add "$4" dev "$b"
	ip -n "$1" link set "$a" up
	ip -n "$3" link set "$b" up
}
