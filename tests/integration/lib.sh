# Helpers for integration tests (sourced). Every process a test starts is recorded
# and stopped by its pid when the test exits; every wait is bounded.
set -euo pipefail
: "${BUILD_DIR:?BUILD_DIR is set by ctest}"
: "${SOURCE_DIR:?SOURCE_DIR is set by ctest}"

TEST_TMP=$(mktemp -d /tmp/airdress-test.XXXXXX)
TEST_PIDS=()

cleanup() {
	local pid
	for pid in "${TEST_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${TEST_PIDS[@]}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
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
