#!/usr/bin/env bash
# airdress-operator bringing up its own WireGuard tunnel to airdress-relay, in two
# network namespaces built here: the relay owns its interface and has the operator
# as a peer; the operator creates its interface (wireguard-go where the kernel lacks
# WireGuard), dials the relay, binds its listener on its tunnel address, and a
# request for its name crosses the tunnel to a local service.
#
#   relay ns     10.202.1.1/24, airdress-relay, tunnel fd61:6972::1
#   operator ns  10.202.1.2/24, airdress-operator, tunnel fd61:6972::2, service 127.0.0.1
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for tool in wireguard-go wg ip; do
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

printf '%s\n' \
	'import http.server' \
	'class H(http.server.BaseHTTPRequestHandler):' \
	'    protocol_version = "HTTP/1.1"' \
	'    def do_GET(self):' \
	'        b = ("tunnel ok xff=%s\n" % self.headers.get("X-Forwarded-For")).encode()' \
	'        self.send_response(200); self.send_header("Content-Length", str(len(b))); self.end_headers()' \
	'        self.wfile.write(b)' \
	'    def log_message(self, *a): pass' \
	'http.server.HTTPServer(("127.0.0.1", 3000), H).serve_forever()' >svc.py
ip netns exec "$O" python3 svc.py &
TEST_PIDS+=($!)

relay_pub=$(cat relay.pub)
op_pub=$(cat op/operator.pub)
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
	'admin: { listen: "127.0.0.1:9170" }' \
	'drain_timeout: 1s' >operator.yaml
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

ip netns exec "$R" "$BUILD_DIR/bin/airdress-relay" -c relay.yaml 2>relay.log &
relay=$!
TEST_PIDS+=("$relay")
wait_for 10 grep -q msg=started relay.log || { cat relay.log; fail "relay did not start"; }
ip netns exec "$O" "$BUILD_DIR/bin/airdress-operator" run -c operator.yaml 2>operator.log &
op=$!
TEST_PIDS+=("$op")
wait_for 10 grep -q msg=started operator.log || { cat operator.log; fail "operator did not start"; }
grep -q 'msg="tunnel up"' operator.log || fail "no tunnel"
echo "ok: the operator created wgop$$ and set the relay as its peer"

ask() {
	ip netns exec "$R" python3 -c '
import socket
s = socket.create_connection(("127.0.0.1", 8080), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: app.a.airdr.es\r\nConnection: close\r\n\r\n")
out = b""
while True:
    b = s.recv(4096)
    if not b: break
    out += b
print(out.decode().split("\r\n\r\n", 1)[-1].strip())'
}
out=""
for _ in $(seq 20); do
	out=$(ask 2>/dev/null) && [[ "$out" == "tunnel ok"* ]] && break
	sleep 0.5
done
[ "$out" = "tunnel ok xff=127.0.0.1" ] || { tail -n 5 operator.log relay.log; fail "through the operator's tunnel: $out"; }
[ -n "$(ip netns exec "$O" wg show "wgop$$" latest-handshakes | awk '$2 > 0')" ] || fail "no handshake"
echo "ok: client -> relay -> the operator's own tunnel -> operator -> service: $out"

kill -TERM "$op"
wait_for 10 bash -c "! kill -0 $op" || fail "operator did not stop"
wait "$op" || fail "operator exit status"
! ip -n "$O" link show "wgop$$" 2>/dev/null || fail "operator interface left behind"
echo "ok: SIGTERM removed the operator's interface"
echo PASS
