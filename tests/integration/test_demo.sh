#!/usr/bin/env bash
# The lab that scripts/demo shows, checked: scripts/lab brings up DNS PoP, relay PoP
# (with its WireGuard interface, wireguard-go), operator host (airdress-operator with
# its own tunnel, a sample service) and a client in network namespaces under a
# prefix of its own (so a lab someone left up is not touched), then:
#   the name claimed through airdress-dns's admin API answers A = the relay VIP;
#   HTTP and HTTPS (lab CA) from the client reach the service through
#   relay -> WireGuard -> operator, and the service sees X-Forwarded-For = the client;
#   SSE events arrive one by one, a WebSocket echoes, smuggling gets 400, a name the
#   operator does not hold 421, a stopped service 502, all through the whole path;
#   scripts/lab down stops everything and deletes the namespaces (always, at exit).
source "$(dirname "$0")/lib.sh"
[ "$(id -u)" = 0 ] || skip "needs root for network namespaces"
for tool in wireguard-go wg ip kdig curl openssl setsid; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
[ -c /dev/net/tun ] || skip "no /dev/net/tun"

lab=$SOURCE_DIR/scripts/lab
dir=$TEST_TMP/lab
prefix=adt$$-
export BUILD_DIR   # the binaries ctest built
lab_cleanup() {
	local rc=$?
	"$lab" down --dir "$dir" --prefix "$prefix" || echo "lab down failed" >&2
	if [ "$rc" != 0 ] && [ -d "$dir/logs" ]; then
		for f in "$dir"/logs/*.log; do echo "--- $f"; tail -20 "$f"; done >&2
	fi
	cleanup
}
trap lab_cleanup EXIT
cd "$TEST_TMP"

"$lab" up --dir "$dir" --prefix "$prefix" || fail "scripts/lab up"
# shellcheck disable=SC1091
source "$dir/lab.env"
[ "$NS_CLIENT" = "${prefix}client" ] || fail "namespace names do not use the prefix"
"$lab" status --dir "$dir" >status.out 2>&1 || { cat status.out; fail "status: not everything runs"; }
echo "ok: lab up under prefix $prefix; every process runs"

C=(ip netns exec "$NS_CLIENT")
q() { "${C[@]}" kdig +time=2 +retry=1 "@$DNS_ADDR" "$@" 2>&1 || true; }
out=$(q "$NAME" A)
grep -q 'status: NXDOMAIN' <<<"$out" || fail "unclaimed name: $out"
code=$(ip netns exec "$NS_DNS" curl -sS -o /dev/null -w '%{http_code}' --max-time 5 -X PUT \
	-H "Authorization: Bearer $(cat "$dir/dns/admin.token")" "http://127.0.0.1:9153/v1/names/$NAME")
[ "$code" = 201 ] || fail "claim: HTTP $code"
vip=$("${C[@]}" kdig +short +time=2 +retry=1 "@$DNS_ADDR" "$NAME" A)
[ "$vip" = "$RELAY_ADDR" ] || fail "A $NAME = '$vip', want the relay VIP $RELAY_ADDR"
echo "ok: DNS: $NAME NXDOMAIN before the claim, A $vip (the relay VIP) after"

out=$("${C[@]}" curl -sS --max-time 10 --resolve "$NAME:80:$vip" "http://$NAME/plain") || fail "HTTP: $out"
grep -q "^path: */plain\$" <<<"$out" || fail "HTTP: not the sample service: $out"
grep -q "^X-Forwarded-For: *$CLIENT_ADDR\$" <<<"$out" || fail "HTTP: X-Forwarded-For: $out"
grep -q "^X-Forwarded-Proto: *http\$" <<<"$out" || fail "HTTP: X-Forwarded-Proto: $out"
echo "ok: HTTP through relay -> WireGuard -> operator; X-Forwarded-For $CLIENT_ADDR"

out=$("${C[@]}" curl -sS --max-time 10 --cacert "$dir/ca/ca.pem" --resolve "$NAME:443:$vip" \
	"https://$NAME/secure") || fail "HTTPS: $out"
grep -q "^path: */secure\$" <<<"$out" || fail "HTTPS: not the sample service: $out"
grep -q "^X-Forwarded-For: *$CLIENT_ADDR\$" <<<"$out" || fail "HTTPS: X-Forwarded-For: $out"
grep -q "^X-Forwarded-Proto: *https\$" <<<"$out" || fail "HTTPS: X-Forwarded-Proto: $out"
echo "ok: HTTPS (lab CA verified) through the relay to the operator; X-Forwarded-For $CLIENT_ADDR"

# It went through the tunnel: the relay's peer is the operator, with traffic.
out=$(ip netns exec "$NS_RELAY" wg show "$WG_RELAY" transfer)
[ -n "$(awk '$2 > 0 && $3 > 0' <<<"$out")" ] || fail "no traffic on the relay's WireGuard peer: $out"
ip netns exec "$NS_RELAY" curl -fsS --max-time 5 http://127.0.0.1:9180/metrics >metrics || fail "relay metrics"
grep -q '^relay_routed_total{listener="tls"} [1-9]' metrics || fail "relay did not route TLS"
echo "ok: traffic on the WireGuard peer; the relay routed HTTP and TLS"

# What curl cannot show, through the whole path: SSE as it comes, a WebSocket echo,
# request smuggling refused.
client=$SOURCE_DIR/tests/integration/lab_client.py
for what in sse ws smuggle; do
	out=$("${C[@]}" python3 "$client" $what "$vip" "$NAME" 2>&1) || fail "$what: $out"
	echo "ok: $what through relay -> WireGuard -> operator: $out"
done

# code_of NAME SECONDS: the HTTP status the client gets for http://NAME/ through the VIP.
code_of() {
	"${C[@]}" curl -s -o /dev/null -w '%{http_code}' --max-time "$2" --resolve "$1:80:$vip" "http://$1/"
}

# A name the relay sends to this operator but the operator does not hold: 421.
printf '%s\n' "  - { name: stale.$ZONE, tunnel: \"$OPERATOR_TUNNEL\" }" >>"$dir/relay/routes.yaml"
kill -HUP "$(cat "$dir/pids/relay.pid")"
misdirected() { [ "$(code_of "stale.$ZONE" 5)" = 421 ]; }
wait_for 10 misdirected || fail "a name the operator does not hold: not 421"
echo "ok: a name routed to the operator that it does not hold gets 421"

# A name without a route: the relay's 404.
code=$(code_of "other.$ZONE" 10)
[ "$code" = 404 ] || fail "unrouted name: HTTP $code"
echo "ok: an unrouted name gets the relay's 404"

# The local service stops (by its pid): 502 with a page, not a hang.
kill -TERM "$(cat "$dir/pids/service.pid")"
down_502() { [ "$(code_of "$NAME" 5)" = 502 ]; }
wait_for 10 down_502 || fail "service stopped: not 502"
echo "ok: the service stopped: 502 through the whole path"

# Down: processes gone, namespaces gone, logs kept.
pids=$(cat "$dir"/pids/*.pid)
"$lab" down --dir "$dir" || fail "scripts/lab down"
for p in $pids; do
	[ -s "/proc/$p/cmdline" ] && fail "pid $p still runs after down"
done
for ns in "$NS_NET" "$NS_CLIENT" "$NS_DNS" "$NS_RELAY" "$NS_OPERATOR"; do
	! ip netns list | awk '{print $1}' | grep -qx "$ns" || fail "namespace $ns left after down"
done
[ -s "$dir/logs/relay.log" ] || fail "logs not kept"
echo "ok: down stopped every process and deleted the namespaces; logs kept"
echo PASS
