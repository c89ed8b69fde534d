#!/usr/bin/env bash
# airdress-relay between three hosts: a client, the relay PoP and a backend, each in
# its own network namespace built here, on the real ports 80 and 443. The backend is
# HAProxy with accept-proxy (and the TLS certificate): it must see the client's own
# address, which only the PROXY v2 header can tell it.
#
#   client  10.202.0.2 ── 10.202.0.1  relay  10.203.0.1 ── 10.203.0.2  backend
source "$(dirname "$0")/lib.sh"
command -v haproxy >/dev/null || skip "haproxy is not installed"
C=adc-$$ R=adr-$$ B=adb-$$
netns_add "$C" "$R" "$B"
netns_link "$C" 10.202.0.2/24 "$R" 10.202.0.1/24
netns_link "$R" 10.203.0.1/24 "$B" 10.203.0.2/24
cd "$TEST_TMP"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
	-out cert.pem -days 2 -subj "/CN=app.a.airdr.es" -addext "subjectAltName=DNS:app.a.airdr.es" 2>/dev/null
cat cert.pem key.pem >both.pem
cat >haproxy.cfg <<CFG
defaults
  mode http
  timeout client 10s
  timeout server 10s
  timeout connect 5s
frontend be_http
  bind 10.203.0.2:80 accept-proxy
  http-request return status 200 content-type text/plain lf-string "http src=%[src] authority=%[fc_pp_authority]\n"
frontend be_tls
  bind 10.203.0.2:443 accept-proxy ssl crt $TEST_TMP/both.pem
  http-request return status 200 content-type text/plain lf-string "https src=%[src] sni=%[ssl_fc_sni]\n"
CFG
ip netns exec "$B" haproxy -f haproxy.cfg -db >haproxy.log 2>&1 &
TEST_PIDS+=($!)

cat >routes.yaml <<CFG
routes:
  - { name: app.a.airdr.es, tunnel: "10.203.0.2" }
CFG
cat >relay.yaml <<CFG
listen_http: ["10.202.0.1:80"]
listen_tls: ["10.202.0.1:443"]
workers: 2
routes_file: routes.yaml
admin: { listen: "127.0.0.1:9180" }
CFG
ip netns exec "$R" "$BUILD_DIR/bin/airdress-relay" -c relay.yaml 2>relay.log &
relay=$!
TEST_PIDS+=("$relay")
wait_for 5 grep -q msg=started relay.log || { cat relay.log; fail "relay did not start"; }
wait_for 5 ip netns exec "$B" bash -c "echo > /dev/tcp/10.203.0.2/80" || fail "backend did not start"

out=$(ip netns exec "$C" curl -sS --resolve app.a.airdr.es:80:10.202.0.1 http://app.a.airdr.es/)
[ "$out" = "http src=10.202.0.2 authority=app.a.airdr.es" ] || fail "HTTP: $out"
echo "ok: HTTP from the client host reaches the backend host with the client's address"
out=$(ip netns exec "$C" curl -sS --cacert cert.pem --resolve app.a.airdr.es:443:10.202.0.1 https://app.a.airdr.es/)
[ "$out" = "https src=10.202.0.2 sni=app.a.airdr.es" ] || fail "HTTPS: $out"
echo "ok: HTTPS passes through the relay untouched, terminated by the backend"
code=$(ip netns exec "$C" curl -s -o /dev/null -w '%{http_code}' --resolve other.a.airdr.es:80:10.202.0.1 http://other.a.airdr.es/)
[ "$code" = 404 ] || fail "unknown name: $code"
echo "ok: unknown name 404"
[ "$(ip netns exec "$R" curl -fsS http://127.0.0.1:9180/healthz)" = ok ] || fail "healthz"
stop_pid "$relay" relay
echo PASS
