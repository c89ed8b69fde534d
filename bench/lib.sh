# Helpers shared by the bench/<area>/run scripts that start proxies and measure their CPU.
# Source it after setting root (the repository) and build (the build tree). It keeps the
# pids it starts in PIDS; the caller's cleanup stops them with stop_pid.

PIDS=()
clk_tck=$(getconf CLK_TCK)

stop_pid() { # stop_pid PID: TERM, wait up to 5 s, then KILL
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}
forget_pid() { # drop a stopped pid from PIDS
	local keep=() p
	for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}
wait_for() { # wait_for SECONDS COMMAND...
	local end=$((SECONDS + $1)); shift
	until "$@" 2>/dev/null; do
		((SECONDS < end)) || return 1
		sleep 0.1
	done
}
port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
free_ports() { # free_ports N: the first of N consecutive ports nobody listens on, on any address
	local base
	for _ in $(seq 50); do
		base=$((20000 + RANDOM % 12000))   # below the ephemeral range (32768-)
		if ss -Htln | awk -v a=$base -v n="$1" '{ k = split($4, p, ":"); x = p[k] - a; if (x >= 0 && x < n) bad = 1 } END { exit bad }'; then
			echo "$base"
			return 0
		fi
	done
	return 1
}

cpu_us() { # utime+stime of a process (all its threads, live and exited), in µs
	local f
	f=$(cat "/proc/$1/stat")
	f=${f##*) }
	set -- $f
	echo $(((${12} + ${13}) * 1000000 / clk_tck))
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
cpu_jiffies() { # cpu_jiffies CPU: "busy total" jiffies of one CPU, from /proc/stat
	awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat
}
# cpu_share CPU PROXY_US BUSY0 TOTAL0: "CPU c: proxy N%, other M%" since cpu_jiffies gave
# BUSY0 TOTAL0. other is everything on that CPU not charged to the proxy: softirq work
# and, on a shared machine, other processes.
cpu_share() {
	local b t
	read -r b t < <(cpu_jiffies "$1")
	awk -v cpu="$1" -v c="$2" -v b="$((b - $3))" -v t="$((t - $4))" -v hz="$clk_tck" 'BEGIN {
		if (t <= 0) t = 1
		p = 100 * c / 1e6 * hz / t; o = 100 * b / t - p; if (o < 0) o = 0
		printf "CPU %s: proxy %.0f%%, other %.0f%%", cpu, p, o }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR) print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

# build_relay_load: the load client and bulk backend (bench/relay/relay_load.c, with the
# project's PROXY v2 encoder) into $build/bench/relay_load, when missing or stale.
# Compiled here, not by CMake: it links OpenSSL, which the project's libraries do not need.
build_relay_load() {
	local src=$root/bench/relay/relay_load.c bin=$build/bench/relay_load
	mkdir -p "$build/bench"
	if [[ ! -x $bin || $src -nt $bin || $root/src/shared/proxy_v2.c -nt $bin ]]; then
		gcc -O2 -Wall -Wextra -I"$root/src/shared" -o "$bin" "$src" "$root/src/shared/proxy_v2.c" \
			-lssl -lcrypto -lpthread
	fi
}
