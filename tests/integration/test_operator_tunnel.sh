#!/usr/bin/env bash
# airdress-operator bringing up and keeping its own WireGuard tunnel to airdress-relay,
# in two network namespaces built here. The relay owns its interface and has the
# operator as a peer; the operator creates its interface (wireguard-go where the
# kernel lacks WireGuard), dials the relay, binds its listener on its tunnel address,
# and requests for its name cross the tunnel to a local service.
#
#   relay ns     10.202.1.1/24, airdress-relay, tunnel fd61:6972::1
#   operator ns  10.202.1.2/24, airdress-operator, tunnel fd61:6972::2, service 127.0.0.1
#
# Checked: a tunnel that never gets a handshake is reported dead (status, /healthz);
# requests, 100 MiB each way, status and metrics once it is up; wireguard-go killed by
# its pid is replaced and traffic resumes; a restarted relay (new session) is found
# again by the probes well before WireGuard's own timers; SIGTERM removes the interface.
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for tool in wireguard-go wg ip curl sha256sum; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
R=aotr-$$ O=aoto-$$
netns_add "$R" "$O"
netns_link "$R" 10.202.1.1/24 "$O" 10.202.1.2/24
cd "$TEST_TMP"
umask 077
wg genkey >relay.key
wg pubkey <relay.key >relay.pub
"$BUILD_DIR/bin/airdress-operator" keygen -d op >/dev/null || fail "keygen"

# The service: a greeting, 100 MiB down (a fixed pattern), and the SHA-256 of an upload.
printf '%s\n' \
	'import hashlib, http.server, socketserver' \
	'BLOCK = hashlib.sha256(b"airdress").digest() * 32768  # 1 MiB' \
	'class H(http.server.BaseHTTPRequestHandler):' \
	'    protocol_version = "HTTP/1.1"' \
	'    def reply(self, b):' \
	'        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers()' \
	'        self.wfile.write(b)' \
	'    def do_GET(self):' \
	'        if self.path == "/big":' \
	'            self.send_response(200); self.send_header("Content-Length", str(100 * len(BLOCK)))' \
	'            self.end_headers()' \
	'            for _ in range(100): self.wfile.write(BLOCK)' \
	'            return' \
	'        self.reply(("tunnel ok xff=%s\n" % self.headers.get("X-Forwarded-For")).encode())' \
	'    def do_POST(self):' \
	'        left, h = int(self.headers["Content-Length"]), hashlib.sha256()' \
	'        while left > 0:' \
	'            b = self.rfile.read(min(left, 1 << 20))' \
	'            if not b: break' \
	'            h.update(b); left -= len(b)' \
	'        self.reply((h.hexdigest() + "\n").encode())' \
	'    def log_message(self, *a): pass' \
	'class S(socketserver.ThreadingMixIn, http.server.HTTPServer): daemon_threads = True' \
	'S(("127.0.0.1", 3000), H).serve_forever()' >svc.py
ip netns exec "$O" python3 svc.py &
TEST_PIDS+=($!)

relay_pub=$(cat relay.pub)
op_pub=$(cat op/operator.pub)
# operator_config DEAD_AFTER: the operator's config file.
operator_config() {
	printf '%s\n' \
		'listen_http: ["[fd61:6972::2]:8080"]' \
		'listen_tls: []' \
		'names: [app.a.airdr.es]' \
		'routes:' \
		'  - { service: "http://127.0.0.1:3000" }' \
		'tunnel:' \
		"  interface: wgop$$" \
		'  private_key_file: op/operator.key' \
		'  address: "fd61:6972::2/64"' \
		'  listen_port: 51821' \
		"  relay_public_key: \"$relay_pub\"" \
		'  relay_endpoint: "10.202.1.1:51820"' \
		'  keepalive: 1s' \
		"  dead_after: $1" \
		'admin: { listen: "127.0.0.1:9170" }' \
		'drain_timeout: 1s' >operator.yaml
}
printf '%s\n' 'routes:' \
	"  - { name: app.a.airdr.es, tunnel: \"fd61:6972::2\", public_key: \"$op_pub\" }" >routes.yaml
printf '%s\n' \
	'listen_http: ["127.0.0.1:8080"]' \
	'listen_tls: []' \
	'workers: 1' \
	'drain_timeout: 1s' \
	"wireguard: { interface: wgrl$$, private_key_file: relay.key, listen_port: 51820," \
	'             address: "fd61:6972::1/64", userspace: auto }' \
	'routes_file: routes.yaml' \
	'admin: { listen: "127.0.0.1:9180" }' >relay.yaml

relay=
start_relay() {
	: >relay.log
	ip netns exec "$R" "$BUILD_DIR/bin/airdress-relay" -c relay.yaml 2>>relay.log &
	relay=$!
	TEST_PIDS+=("$relay")
	wait_for 10 grep -q msg=started relay.log || { cat relay.log; fail "relay did not start"; }
}
op=
start_operator() {
	ip netns exec "$O" "$BUILD_DIR/bin/airdress-operator" run -c operator.yaml 2>>operator.log &
	op=$!
	TEST_PIDS+=("$op")
	wait_for 10 grep -q msg=started operator.log || { cat operator.log; fail "operator did not start"; }
}
op_status() { ip netns exec "$O" "$BUILD_DIR/bin/airdress-operator" status -c operator.yaml; }
healthz() { ip netns exec "$O" curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:9170/healthz; }
ask() {
	ip netns exec "$R" curl -sS --max-time 3 -H 'Host: app.a.airdr.es' "http://127.0.0.1:8080$1"
}
# ask_until SECONDS: repeat the greeting until it comes through; prints it.
ask_until() {
	local end=$((SECONDS + $1)) out=""
	while ((SECONDS < end)); do
		out=$(ask / 2>/dev/null) && [[ "$out" == "tunnel ok"* ]] && break
		sleep 0.2
	done
	echo "$out"
}

# 1. No relay yet: the operator comes up, gets no handshake, and says so.
operator_config 3s
: >operator.log
start_operator
grep -q 'msg="tunnel up"' operator.log || fail "no tunnel"
wait_for 10 grep -q 'msg="tunnel dead"' operator.log || { cat operator.log; fail "no 'tunnel dead'"; }
[ "$(healthz)" = 503 ] || fail "/healthz while dead: $(healthz)"
out=$(op_status) && fail "status exit 0 while dead"
grep -q '^tunnel: dead$' <<<"$out" || fail "status while dead: $out"
grep -q '^latest handshake: never$' <<<"$out" || fail "status handshake: $out"
echo "ok: no handshake for dead_after: status 'tunnel: dead', /healthz 503"

# 2. The relay starts: the tunnel comes alive, /healthz turns 200.
start_relay
wait_for 15 grep -q 'msg="tunnel alive"' operator.log || { tail operator.log; fail "never alive"; }
healthy() { [ "$(healthz)" = 200 ]; }
wait_for 5 healthy || fail "/healthz once alive: $(healthz)"
echo "ok: the relay came up: 'tunnel alive', /healthz 200"
stop_pid "$op"

# 3. A fresh operator with the default dead_after: requests, status, metrics.
operator_config 180s
start_operator
out=$(ask_until 15)
[ "$out" = "tunnel ok xff=127.0.0.1" ] || { tail -n 5 operator.log relay.log; fail "through the tunnel: $out"; }
[ -n "$(ip netns exec "$O" wg show "wgop$$" latest-handshakes | awk '$2 > 0')" ] || fail "no handshake"
echo "ok: client -> relay -> the operator's own tunnel -> operator -> service: $out"
wait_for 5 bash -c "ip netns exec $O $BUILD_DIR/bin/airdress-operator status -c operator.yaml \
	| grep -q '^tunnel: up$'" || fail "status: $(op_status)"
out=$(op_status) || fail "status exit status: $out"
for want in '^latest handshake: [0-9]+ s ago$' '^probe rtt: [0-9]+ us$' '^name: app.a.airdr.es$' \
	'^route: host=\* path=/ service=http://127.0.0.1:3000$' '^transfer: [1-9][0-9]* B received'; do
	grep -Eq "$want" <<<"$out" || fail "status lacks $want: $out"
done
metrics=$(ip netns exec "$O" curl -s http://127.0.0.1:9170/metrics)
grep -q '^operator_tunnel_up 1$' <<<"$metrics" || fail "metrics: $(grep tunnel <<<"$metrics")"
grep -Eq '^operator_tunnel_last_handshake_seconds [1-9]' <<<"$metrics" || fail "handshake metric"
echo "ok: status and metrics show the tunnel up, its handshake, transfer, names and routes"

# 4. 100 MiB each way, intact.
want=$(python3 -c 'import hashlib; print(hashlib.sha256(hashlib.sha256(b"airdress").digest() * 32768 * 100).hexdigest())')
got=$(ip netns exec "$R" curl -sS --max-time 120 -H 'Host: app.a.airdr.es' http://127.0.0.1:8080/big \
	| sha256sum | cut -d' ' -f1)
[ "$got" = "$want" ] || fail "100 MiB download: $got"
head -c $((100 << 20)) /dev/urandom >up.bin
want=$(sha256sum <up.bin | cut -d' ' -f1)
got=$(ip netns exec "$R" curl -sS --max-time 120 -H 'Host: app.a.airdr.es' \
	--data-binary @up.bin http://127.0.0.1:8080/upload)
[ "$got" = "$want" ] || fail "100 MiB upload: $got"
rm -f up.bin
echo "ok: 100 MiB down and 100 MiB up through the tunnel, checksums equal"

# 5. wireguard-go dies (killed by its pid): the operator creates the interface again.
wgpid=$(ps -o pid=,comm= --ppid "$op" | awk '$2 == "wireguard-go" { print $1 }')
if [ -n "$wgpid" ]; then
	kill -KILL "$wgpid"
	wait_for 10 grep -q 'msg="tunnel interface gone' operator.log || fail "not noticed"
	out=$(ask_until 20)
	[ "$out" = "tunnel ok xff=127.0.0.1" ] || { tail operator.log; fail "after the restart: $out"; }
	grep -q '^probes lost: [0-9]*, fresh handshakes: [0-9]*, restarts: 1$' <<<"$(op_status)" ||
		fail "restarts: $(op_status)"
	echo "ok: wireguard-go $wgpid killed: interface created again, traffic resumed"
else
	echo "note: kernel WireGuard in use, no wireguard-go to kill"
fi

# 6. The relay restarts: its new session knows nothing of ours. The probes notice
#    and force a fresh handshake; WireGuard alone would take 15 s or more.
before=$(wc -l <operator.log)
stop_pid "$relay"
start_relay
t0=$SECONDS
out=$(ask_until 12)
[ "$out" = "tunnel ok xff=127.0.0.1" ] || { tail operator.log; fail "after the relay restarted: $out"; }
tail -n +"$before" operator.log | grep -q 'msg="relay not answering: forcing a fresh handshake"' ||
	fail "no fresh handshake"
echo "ok: relay restarted: a fresh handshake was forced, requests flow again after $((SECONDS - t0)) s"

stop_pid "$op"
! ip -n "$O" link show "wgop$$" 2>/dev/null || fail "operator interface left behind"
echo "ok: SIGTERM removed the operator's interface"
echo PASS
