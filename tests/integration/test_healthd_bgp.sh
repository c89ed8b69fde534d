#!/usr/bin/env bash
# airdress-healthd under a real ExaBGP, announcing to a real BIRD 2, in two network
# namespaces built here:
#
#   router (BIRD, AS65000)  10.210.0.1 / fd00:210::1 ── 10.210.0.2 / fd00:210::2  pop
#   pop: ExaBGP (AS65001) running airdress-healthd, and the health target, a
#        python3 -m http.server on 127.0.0.1:8080 (checked by http and tcp)
#
# The ExaBGP configuration is the example of docs/healthd.md, with the test's addresses
# and paths. Asserts: announced after rise (IPv4 and IPv6, with community and MED);
# target stopped → withdrawn within fall × fast_interval + 1 s of the first failed
# round (the time is printed); target back → announced; disable file → 65535:0 seen by
# BIRD (local preference 0), withdrawn after drain_delay; file removed → back;
# admin /metrics and /status and the status file; SIGTERM → same drain, exit 0;
# ExaBGP stopped → healthd exits at once.
source "$(dirname "$0")/lib.sh"
command -v exabgp >/dev/null || skip "exabgp is not installed"
command -v bird >/dev/null && command -v birdc >/dev/null || skip "bird2 is not installed"
command -v curl >/dev/null || skip "curl is not installed"
HD="$BUILD_DIR/bin/airdress-healthd"
[ -x "$HD" ] || fail "$HD is not built"
HELP="$SOURCE_DIR/tests/integration/healthd"
# timing of healthd.yaml
FALL=2 FAST=0.25 INTERVAL=0.5 DRAIN=3

R=ahr-$$ P=ahp-$$
netns_add "$R" "$P"
netns_link "$R" 10.210.0.1/24 "$P" 10.210.0.2/24
dev_r=$(ip -n "$R" -o -4 addr show to 10.210.0.1/32 | awk '{print $2}')
dev_p=$(ip -n "$P" -o -4 addr show to 10.210.0.2/32 | awk '{print $2}')
ip -n "$R" addr add fd00:210::1/64 dev "$dev_r" nodad
ip -n "$P" addr add fd00:210::2/64 dev "$dev_p" nodad
cd "$TEST_TMP"
cp "$HELP/bird.conf" "$HELP/healthd.yaml" "$HELP/exabgp.env" .

# ---- without ExaBGP: the command line --------------------------------------------
"$HD" -V | grep -q '^airdress-healthd ' || fail "-V"
"$HD" -t -c healthd.yaml | grep -q "configuration ok" || fail "-t on a good file"
sed 's|203.0.113.0/24|203.0.113.1/24|' healthd.yaml >bad.yaml
out=$("$HD" -t -c bad.yaml) && fail "-t accepted host bits"
echo "$out" | grep -q "host bits" || fail "-t message: $out"
# EOF on stdin ends it with 0 (a private admin port: nothing else listens in $P)
start=$SECONDS
ip netns exec "$P" timeout 10 "$HD" -c healthd.yaml </dev/null >/dev/null 2>eof.log ||
	fail "EOF on stdin: status $? $(cat eof.log)"
((SECONDS - start < 5)) || fail "EOF on stdin took $((SECONDS - start)) s"
grep -q 'msg="stdin closed, exiting"' eof.log || fail "EOF not logged: $(cat eof.log)"
echo "ok: -V, -t (good and bad file), exit 0 on EOF on stdin"

# ---- the lab ---------------------------------------------------------------------
mkdir www && echo ok >www/index.html
start_target() {
	ip netns exec "$P" python3 -m http.server -b 127.0.0.1 --directory www 8080 \
		>>web.log 2>&1 &
	web=$!
	TEST_PIDS+=("$web")
}
start_target
wait_for 5 ip netns exec "$P" curl -sf -o /dev/null http://127.0.0.1:8080/ ||
	fail "target did not start"

ip netns exec "$R" bird -f -c bird.conf -s "$TEST_TMP/bird.ctl" >bird.log 2>&1 &
TEST_PIDS+=($!)
wait_for 5 test -S bird.ctl || { cat bird.log; fail "bird did not start"; }

# docs/healthd.md's ExaBGP example, with our addresses and our healthd
awk '/^<!-- exabgp.conf:/ { on = 1; next } on && /^```/ { if (++fence == 2) exit; next }
     on && fence == 1' "$SOURCE_DIR/docs/healthd.md" |
	sed -e "s|run .*;|run /bin/sh $HELP/run-healthd.sh $HD $TEST_TMP/healthd.yaml;|" \
	    -e 's|192\.0\.2\.1|10.210.0.1|; s|192\.0\.2\.2|10.210.0.2|g' \
	    -e 's|2001:db8::1|fd00:210::1|; s|2001:db8::2|fd00:210::2|' >exabgp.conf
grep -q "run /bin/sh $HELP/run-healthd.sh" exabgp.conf || fail "no ExaBGP example in the docs"
grep -q "neighbor fd00:210::1" exabgp.conf || fail "docs example: no IPv6 neighbor"

start_exabgp() {
	ip netns exec "$P" exabgp --env "$TEST_TMP/exabgp.env" "$TEST_TMP/exabgp.conf" \
		>>exabgp.log 2>&1 &
	exa=$!
	TEST_PIDS+=("$exa")
}

# route PREFIX: BIRD has it. route_all PREFIX: `show route all` for it.
route() { birdc -s bird.ctl show route "$1" table "$2" 2>/dev/null | grep -q "^$1 "; }
no_route() { ! route "$@"; }
route_all() { birdc -s bird.ctl show route all "$1" table "$2" 2>/dev/null; }
has_gshut() { route_all "$1" "$2" | grep -q 'BGP.community:.*(65535,0)'; }
no_gshut() { route "$1" "$2" && ! has_gshut "$1" "$2"; }
V4=203.0.113.0/24 V6=2001:db8:a1d::/48
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
dump() { birdc -s bird.ctl show route all; tail -20 healthd.log; tail -20 exabgp.log; }

t0=$(now)
start_exabgp
wait_for 20 route $V4 master4 || { dump; fail "IPv4 prefix not announced"; }
wait_for 5 route $V6 master6 || { dump; fail "IPv6 prefix not announced"; }
echo "ok: $V4 and $V6 announced $(secs "$t0" "$(now)") s after ExaBGP started (BGP session included)"
route_all $V4 master4 | grep -q 'BGP.community: (65000,1)$' || { dump; fail "community"; }
route_all $V4 master4 | grep -q 'BGP.med: 10' || { dump; fail "med"; }
route_all $V6 master6 | grep -q 'BGP.next_hop: fd00:210::2' || { dump; fail "IPv6 next hop"; }
grep -q 'exabgp neighbor.*10.210.0.1 up' healthd.log || fail "neighbor up not seen"
echo "ok: community (65000,1), med 10, next hop self on each session"
[ -s healthd.pid ] || fail "no healthd pid"
hd=$(cat healthd.pid)
TEST_PIDS+=("$hd")

# ---- the target dies -------------------------------------------------------------
kill "$web"; wait "$web" 2>/dev/null || true
t0=$(now)
wait_for 5 no_route $V4 master4 || { dump; fail "not withdrawn after the target stopped"; }
t=$(secs "$t0" "$(now)")
wait_for 2 no_route $V6 master6 || fail "IPv6 not withdrawn"
# the first failed round comes within one interval, the fall-th one (fall-1) fast
# intervals later; the bound holds while interval < fast_interval + 1 s
limit=$(awk -v f=$FALL -v s=$FAST 'BEGIN { print f * s + 1 }')
echo "ok: withdrawn ${t} s after the target stopped (bound: fall × fast_interval + 1 s = $limit s)"
awk -v t="$t" -v l="$limit" 'BEGIN { exit !(t <= l) }' || fail "withdraw took $t s > $limit s"
echo "withdraw_seconds=$t"
grep -q 'to=down .*Connection refused' healthd.log || fail "down not logged with its reason"

start_target
t0=$(now)
wait_for 5 route $V4 master4 || { dump; fail "not announced again"; }
echo "ok: announced again $(secs "$t0" "$(now)") s after the target came back"
wait_for 2 route $V6 master6 || fail "IPv6 not announced again"

# ---- admin endpoint and status file ----------------------------------------------
metrics=$(ip netns exec "$P" curl -sf http://127.0.0.1:9181/metrics) || fail "metrics"
echo "$metrics" | grep -q '^airdress_healthd_state{state="up"} 1$' || fail "state gauge: $metrics"
echo "$metrics" | grep -q '^airdress_healthd_announced 1$' || fail "announced gauge"
echo "$metrics" | grep -Eq '^airdress_healthd_checks_failed_total\{type="tcp"\} [1-9]' ||
	fail "failed checks not counted"
echo "$metrics" | grep -Eq '^airdress_healthd_check_duration_seconds_count\{type="http"\} [1-9]' ||
	fail "latency histogram"
echo "$metrics" | grep -q '^airdress_healthd_exabgp_errors_total 0$' || fail "exabgp refused commands"
echo "$metrics" | grep -Eq '^airdress_healthd_state_change_timestamp_seconds [1-9]' ||
	fail "state change timestamp"
ip netns exec "$P" curl -sf http://127.0.0.1:9181/status | grep -q '"state":"up"' || fail "/status"
grep -q '"state":"up"' healthd.status || fail "status file: $(cat healthd.status)"
grep -q 'exabgp, no reply\|reply without a command' healthd.log && fail "ExaBGP replies not matched"
echo "ok: metrics (state, announced, failures, latency, no refused commands), /status, status file"

# ---- drain with the disable file -------------------------------------------------
touch healthd.disable
t0=$(now)
wait_for 3 has_gshut $V4 master4 || { dump; fail "no 65535:0 after the disable file"; }
echo "ok: 65535:0 seen by BIRD $(secs "$t0" "$(now)") s after the disable file appeared"
route_all $V4 master4 | grep -q 'BGP.local_pref: 0' || fail "BIRD did not lower local_pref"
has_gshut $V6 master6 || fail "IPv6 without 65535:0"
route_all $V4 master4 | grep -q 'BGP.community: (65000,1) (65535,0)' || fail "own community lost"
wait_for $((DRAIN + 3)) no_route $V4 master4 || { dump; fail "not withdrawn after drain_delay"; }
t=$(secs "$t0" "$(now)")
awk -v t="$t" -v d=$DRAIN 'BEGIN { exit !(t >= d - 0.1 && t <= d + 1.5) }' ||
	fail "withdrawn after $t s, drain_delay is $DRAIN s"
echo "ok: withdrawn ${t} s after the disable file (drain_delay ${DRAIN} s)"
grep -q '"state":"disabled"' healthd.status || fail "status file: $(cat healthd.status)"
rm healthd.disable
t0=$(now)
wait_for 5 no_gshut $V4 master4 || { dump; fail "not back after the disable file went"; }
echo "ok: announced again without 65535:0 $(secs "$t0" "$(now)") s after the file was removed"

# ---- SIGTERM ---------------------------------------------------------------------
kill -TERM "$hd"
t0=$(now)
wait_for 3 has_gshut $V4 master4 || { dump; fail "no 65535:0 after SIGTERM"; }
wait_for $((DRAIN + 3)) no_route $V4 master4 || { dump; fail "not withdrawn after SIGTERM"; }
t=$(secs "$t0" "$(now)")
wait_for 3 eval '! kill -0 "$hd"' || fail "healthd still runs after its drain"
grep -q 'msg="drained, exiting"' healthd.log && grep -q 'msg=stopped' healthd.log ||
	fail "SIGTERM exit not logged"
no_route $V6 master6 || fail "IPv6 not withdrawn at exit"
grep -q '"running":false' healthd.status || fail "status file after exit"
echo "ok: SIGTERM: 65535:0, withdrawn ${t} s later, healthd exited"

# ---- ExaBGP stops: healthd follows at once, without a drain ------------------------
kill -TERM "$exa"
wait_for 10 eval '! kill -0 "$exa"' || fail "exabgp did not stop"
: >healthd.pid
start_exabgp
wait_for 20 route $V4 master4 || { dump; fail "not announced by the second healthd"; }
wait_for 2 test -s healthd.pid || fail "no second healthd"
hd=$(cat healthd.pid)
TEST_PIDS+=("$hd")
t0=$(now)
kill -TERM "$exa"
wait_for 5 eval '! kill -0 "$hd"' || fail "healthd still runs after ExaBGP stopped"
t=$(secs "$t0" "$(now)")
grep -q 'msg="exabgp shuts down, exiting"\|msg="stdin closed, exiting"' healthd.log ||
	fail "healthd did not see ExaBGP go"
awk -v t="$t" -v d=$DRAIN 'BEGIN { exit !(t < d) }' || fail "healthd drained on ExaBGP's stop ($t s)"
echo "ok: ExaBGP stopped: healthd exited ${t} s later (no drain)"
! grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' healthd.log eof.log ||
	fail "sanitizer report: $(grep -A5 'Sanitizer\|runtime error' healthd.log eof.log)"
echo "PASS"
