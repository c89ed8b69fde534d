#!/usr/bin/env bash
# airdress-relay owning its WireGuard interface, in two network namespaces built
# here: the relay creates its interface (wireguard-go where the kernel lacks
# WireGuard), adds the operator from the routes file as a peer, and a client
# request for the operator's name crosses the tunnel to a backend that listens on
# the operator's tunnel address and reads the PROXY v2 header.
#
#   relay ns     10.201.0.1/24 (veth), airdress-relay, tunnel fd61:6972::1
#   operator ns  10.201.0.2/24 (veth), wireguard-go by hand, tunnel fd61:6972::2,
#                proxy_backend.py on [fd61:6972::2]:8080
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for tool in wireguard-go wg ip; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

R=adr-$$ O=ado-$$
netns_add "$R" "$O"
netns_link "$R" 10.201.0.1/24 "$O" 10.201.0.2/24

cd "$TEST_TMP"
umask 077
wg genkey >relay.key
wg pubkey <relay.key >relay.pub
wg genkey >op.key
wg pubkey <op.key >op.pub

# The operator side, by hand.
ip netns exec "$O" env WG_PROCESS_FOREGROUND=1 wireguard-go wgo$$ >op-wg.log 2>&1 &
TEST_PIDS+=($!)
wait_for 5 ip -n "$O" link show wgo$$ || fail "operator wireguard-go did not start"
ip netns exec "$O" wg set wgo$$ private-key op.key peer "$(cat relay.pub)" \
	endpoint 10.201.0.1:51820 allowed-ips fd61:6972::1/128 persistent-keepalive 1
ip -n "$O" addr add fd61:6972::2/64 dev wgo$$
ip -n "$O" link set wgo$$ up
ip netns exec "$O" python3 "$here/proxy_backend.py" fd61:6972::2 8080 report >backend.out 2>&1 &
TEST_PIDS+=($!)

cat >routes.yaml <<EOF
routes:
  - name: app.a.airdr.es
    tunnel: "fd61:6972::2"
    public_key: "$(cat op.pub)"
EOF
cat >relay.yaml <<EOF
listen_http: ["127.0.0.1:8080"]
listen_tls: ["127.0.0.1:8443"]
workers: 1
drain_timeout: 1s
wireguard: { interface: wgr$$, private_key_file: relay.key, listen_port: 51820,
             address: "fd61:6972::1/64", userspace: auto }
routes_file: routes.yaml
admin: { listen: "127.0.0.1:9180" }
EOF
ip netns exec "$R" "$BUILD_DIR/bin/airdress-relay" -c relay.yaml 2>relay.log &
relay=$!
TEST_PIDS+=("$relay")
wait_for 10 grep -q msg=started relay.log || { cat relay.log; fail "relay did not start"; }
grep -q 'msg="wireguard interface up"' relay.log || fail "no interface"
[ "$(ip netns exec "$R" wg show wgr$$ peers)" = "$(cat op.pub)" ] || fail "operator not a peer"
[[ "$(ip netns exec "$R" wg show wgr$$ allowed-ips)" == *"fd61:6972::2/128"* ]] || fail "allowed ips"
echo "ok: relay created wgr$$ and added the operator as a peer"

# A request crosses the tunnel; the backend on the operator's address sees it.
wait_for 10 grep -q ready backend.out || fail "backend did not start"
ask() {
	ip netns exec "$R" python3 - <<'PY'
import socket
s = socket.create_connection(("127.0.0.1", 8080), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: app.a.airdr.es\r\n\r\n")
print(s.recv(4096).decode().strip())
PY
}
out=""
for _ in $(seq 20); do
	out=$(ask 2>/dev/null) && [[ "$out" == authority=app.a.airdr.es* ]] && break
	sleep 0.5
done
[[ "$out" == "authority=app.a.airdr.es src=127.0.0.1:"* ]] || { cat relay.log; fail "through the tunnel: $out"; }
echo "ok: client -> relay -> WireGuard -> backend on the operator's tunnel address: $out"

# Reload without the key: the peer goes.
sed -i '/public_key/d' routes.yaml
kill -HUP "$relay"
wait_for 5 grep -q "configuration reloaded" relay.log || fail "reload"
[ -z "$(ip netns exec "$R" wg show wgr$$ peers)" ] || fail "peer not removed"
echo "ok: reload removed the peer"

# SIGTERM: the interface and the relay's wireguard-go go away.
stop_pid "$relay" relay
! ip -n "$R" link show wgr$$ 2>/dev/null || fail "interface left behind"
echo PASS
