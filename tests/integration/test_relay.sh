#!/usr/bin/env bash
# airdress-relay end to end on loopback addresses: real clients (curl, openssl
# s_client, python sockets), HAProxy as the TLS-terminating backend that reads the
# PROXY v2 header, and a backend that decodes PROXY v2 on its own.
#
#   127.0.0.1   the relay (HTTP and TLS listeners)
#   127.0.0.2   HAProxy: accept-proxy, HTTP and TLS (holds the certificate)
#   127.0.0.3   proxy_backend.py report: what arrived, byte for byte
#   127.0.0.4   proxy_backend.py echo: bulk and half-close
#   127.0.0.9   the client's source address
source "$(dirname "$0")/lib.sh"
here=$(cd "$(dirname "$0")" && pwd)
relay_bin=$BUILD_DIR/bin/airdress-relay
command -v haproxy >/dev/null || skip "haproxy is not installed"

base=$((10000 + RANDOM % 20000))  # below the ephemeral range (32768-)
http=$base tls=$((base + 1)) admin=$((base + 2))
cd "$TEST_TMP"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
	-out cert.pem -days 2 -subj "/CN=tls.a.airdr.es" \
	-addext "subjectAltName=DNS:tls.a.airdr.es" 2>/dev/null
cat cert.pem key.pem >both.pem
cat >haproxy.cfg <<EOF
global
  log stderr format raw local0 err
defaults
  mode http
  timeout client 10s
  timeout server 10s
  timeout connect 5s
frontend be_http
  bind 127.0.0.2:$http accept-proxy
  http-request return status 200 content-type text/plain lf-string "src=%[src] authority=%[fc_pp_authority] uid=%[fc_pp_unique_id] host=%[req.hdr(host)]\n"
frontend be_tls
  bind 127.0.0.2:$tls accept-proxy ssl crt $TEST_TMP/both.pem
  http-request return status 200 content-type text/plain lf-string "tls src=%[src] authority=%[fc_pp_authority] sni=%[ssl_fc_sni]\n"
EOF
haproxy -f haproxy.cfg -db >haproxy.log 2>&1 &
TEST_PIDS+=($!)
for addr in 127.0.0.3 127.0.0.4; do
	mode=report; [ $addr = 127.0.0.4 ] && mode=echo
	for port in $http $tls; do
		python3 "$here/proxy_backend.py" $addr $port $mode >"backend-$addr-$port.out" 2>&1 &
		TEST_PIDS+=($!)
	done
done

{
	echo "routes:"
	for i in $(seq 1 20); do printf '  - { name: n%d.a.airdr.es, tunnel: "127.0.0.2" }\n' "$i"; done
	echo '  - { name: TLS.a.airdr.es., tunnel: "127.0.0.2" }'
	echo '  - { name: app1.a.airdr.es, tunnel: "127.0.0.3" }'
	echo '  - { name: echo.a.airdr.es, tunnel: "127.0.0.4" }'
	echo '  - { name: down.a.airdr.es, tunnel: "127.0.0.5" }'
} >routes.yaml
cat >relay.yaml <<EOF
listen_http: ["127.0.0.1:$http"]
listen_tls: ["127.0.0.1:$tls"]
workers: 2
peek_timeout: 1s
idle_timeout: 3s
connect_timeout: 2s
drain_timeout: 2s
max_connections_per_name: 4
routes_file: routes.yaml
admin: { listen: "127.0.0.1:$admin" }
EOF
"$relay_bin" -c relay.yaml -t || fail "config check"
"$relay_bin" -c relay.yaml 2>relay.log &
relay=$!
TEST_PIDS+=("$relay")
wait_for 5 grep -q msg=started relay.log || { cat relay.log; fail "relay did not start"; }
wait_for 5 grep -q ready "backend-127.0.0.4-$tls.out" || fail "backends did not start"
wait_for 5 curl -s -o /dev/null "http://127.0.0.1:$admin/healthz" || fail "admin"
ok() { echo "ok: $*"; }

# HTTP routed by Host, many names; the backend sees the client's own address.
for i in $(seq 1 20); do
	out=$(curl -sS --interface 127.0.0.9 -H "Host: N$i.a.airdr.es:$http" "http://127.0.0.1:$http/x")
	case "$out" in
	"src=127.0.0.9 authority=n$i.a.airdr.es uid="????????????????" host=N$i.a.airdr.es:$http") ;;
	*) fail "HTTP n$i: $out" ;;
	esac
done
ok "HTTP: 20 names routed by Host, PROXY v2 carries the client address"
python3 - "$http" <<'PY' || fail "absolute-form"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(b"GET http://APP1.a.airdr.es:80/path HTTP/1.1\r\nHost: n4.a.airdr.es\r\n\r\n")
out = s.recv(4096).decode()
assert out.startswith("authority=app1.a.airdr.es src=127.0.0.1:"), out
PY
ok "HTTP: absolute-form authority wins over Host"

# HTTP errors.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code -H 'Host: unknown.a.airdr.es' "http://127.0.0.1:$http/")" = 404 ] || fail "unknown name"
[ "$(code -H 'Host:' "http://127.0.0.1:$http/")" = 400 ] || fail "HTTP/1.1 without Host"
[ "$(code -H 'Host: n1.a.airdr.es' -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "http://127.0.0.1:$http/")" = 431 ] ||
	fail "oversized head"
[ "$(code -H 'Host: down.a.airdr.es' "http://127.0.0.1:$http/")" = 502 ] || fail "unreachable operator"
python3 - "$http" <<'PY' || fail "bad requests"
import socket, sys
port = int(sys.argv[1])
def ask(raw):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(raw)
    out = b""
    while True:
        try: b = s.recv(4096)
        except ConnectionResetError: break
        if not b: break
        out += b
    return out
assert ask(b"GET / HTTP/1.1\r\nHost: n1.a.airdr.es\r\nHost: n2.a.airdr.es\r\n\r\n").startswith(b"HTTP/1.1 400"), "two Hosts"
assert ask(b"GET / HTTP/1.1\r\nHost : n1.a.airdr.es\r\n\r\n").startswith(b"HTTP/1.1 400"), "space before colon"
assert ask(b"GET / HTTP/1.1\r\nHost: n1.a.airdr.es\r\nX: a\r\n  folded\r\n\r\n").startswith(b"HTTP/1.1 400"), "obs-fold"
assert ask(b"GET / HTTP/1.1\r\nHost: n1.a\x01.airdr.es\r\n\r\n").startswith(b"HTTP/1.1 400"), "control character"
assert ask(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") == b"", "h2c preface is closed"
PY
ok "HTTP: 404, 400 (no Host, two Hosts, space before colon, obs-fold, bad bytes), 431, 502, h2c closed"

# TLS routed by SNI, terminated only by the backend.
out=$(curl -sS --interface 127.0.0.9 --cacert cert.pem --resolve "tls.a.airdr.es:$tls:127.0.0.1" "https://tls.a.airdr.es:$tls/")
[ "$out" = "tls src=127.0.0.9 authority=tls.a.airdr.es sni=tls.a.airdr.es" ] || fail "HTTPS via curl: $out"
out=$(printf 'GET / HTTP/1.1\r\nHost: tls.a.airdr.es\r\nConnection: close\r\n\r\n' |
	timeout 10 openssl s_client -quiet -verify_return_error -CAfile cert.pem \
		-servername tls.a.airdr.es -connect "127.0.0.1:$tls" 2>/dev/null | tail -1)
[ "$out" = "tls src=127.0.0.1 authority=tls.a.airdr.es sni=tls.a.airdr.es" ] || fail "s_client: $out"
out=$(curl -sS -k --resolve "nope.a.airdr.es:$tls:127.0.0.1" "https://nope.a.airdr.es:$tls/" 2>&1 || true)
[[ "$out" == *"unrecognized name"* ]] || fail "unknown SNI: $out"
ok "TLS: routed by SNI (curl, openssl s_client), unknown name gets unrecognized_name"

# Real ClientHello captures written in 1-byte pieces and re-framed into two records
# reach the backend byte for byte.
python3 - "$tls" "$SOURCE_DIR/tests/data" <<'PY' || fail "ClientHello reassembly"
import hashlib, socket, struct, sys, time
port, data = int(sys.argv[1]), sys.argv[2]
def send(payload, piece):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(0, len(payload), piece):
        s.sendall(payload[i:i + piece])
        if piece == 1 and i % 200 == 0: time.sleep(0.001)
    out = s.recv(4096).decode()
    s.close()
    want = "authority=app1.a.airdr.es src=127.0.0.1:"
    assert out.startswith(want), out
    assert ("bytes=%d sha256=%s" % (len(payload), hashlib.sha256(payload).hexdigest())) in out, out
for name in ("clienthello-chromium156.bin", "clienthello-curl-openssl3.bin"):
    hello = open("%s/%s" % (data, name), "rb").read()
    send(hello, 1)
    # Two records: the handshake message split at an odd offset.
    body = hello[5:]
    cut = 301
    two = (bytes([22]) + hello[1:3] + struct.pack("!H", cut) + body[:cut] +
           bytes([22]) + hello[1:3] + struct.pack("!H", len(body) - cut) + body[cut:])
    send(two, 1460)
PY
ok "TLS: captures (post-quantum Chromium, curl) in 1-byte pieces and over two records"

# Slowloris: a client that never finishes its head is cut at peek_timeout.
python3 - "$http" "$tls" <<'PY' || fail "slow clients"
import socket, sys, time
for port, partial in ((int(sys.argv[1]), b"GET / HTTP/1.1\r\nHost: n1"), (int(sys.argv[2]), b"\x16\x03\x01\x02")):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(partial)
    t = time.time()
    out = b""
    while True:
        try: b = s.recv(4096)
        except ConnectionResetError: break
        if not b: break
        out += b
    assert time.time() - t < 5, "closed by peek_timeout"
    if port == int(sys.argv[1]): assert out.startswith(b"HTTP/1.1 408"), out
PY
ok "slow clients cut at peek_timeout (408 on HTTP, close on TLS)"

# Bulk both ways through the echo backend, checksummed; half-close; idle periods.
HERE=$here python3 - "$tls" "${RELAY_BULK_MIB:-1024}" <<'PY' || fail "bulk transfer"
import hashlib, os, socket, struct, sys, threading, time
port, mib = int(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, os.environ["HERE"])
from clienthello import client_hello
def connect():
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    h = client_hello("echo.a.airdr.es")
    s.sendall(h)
    got = b""
    while len(got) < len(h):
        got += s.recv(len(h) - len(got))
    assert got == h
    return s
# 1. bulk: mib MiB each way, concurrently.
s = connect()
chunk = os.urandom(1 << 20)
up = hashlib.sha256()
def writer():
    for i in range(mib):
        block = chunk[i % 997:] + chunk[:i % 997]
        up.update(block)
        s.sendall(block)
    s.shutdown(socket.SHUT_WR)
t = threading.Thread(target=writer); t.start()
down = hashlib.sha256(); n = 0; t0 = time.time()
while True:
    b = s.recv(1 << 20)
    if not b: break
    down.update(b); n += len(b)
t.join(); s.close()
assert n == mib << 20, "received %d bytes" % n
assert up.digest() == down.digest(), "checksum differs"
print("bulk: %d MiB each way in %.1f s" % (mib, time.time() - t0))
# 2. half-close: our FIN reaches the backend, its answer still reaches us, also when
#    the FIN comes with the ClientHello, before the relay has reached the backend.
s = socket.create_connection(("127.0.0.1", port), timeout=20)
h = client_hello("echo.a.airdr.es")
s.sendall(h + b"early")
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(4096)
    if not b: break
    got += b
assert got == h + b"early", got
s = connect()
s.sendall(b"last words")
s.shutdown(socket.SHUT_WR)
got = b""
while True:
    b = s.recv(100)
    if not b: break
    got += b
assert got == b"last words", got
# 3. a long-lived connection survives idle periods shorter than idle_timeout (3 s).
s = connect()
for i in range(3):
    time.sleep(2)
    s.sendall(b"ping%d" % i)
    assert s.recv(100) == b"ping%d" % i
# ...and is closed after idle_timeout.
t0 = time.time()
try: b = s.recv(100)
except ConnectionResetError: b = b""
assert b == b"" and time.time() - t0 < 6, "idle connection closed"
PY
ok "bulk ${RELAY_BULK_MIB:-1024} MiB each way intact, half-close, idle timeout"

# A request head with a large body in one write: the relay's first read holds more
# than its 16 KiB peek buffer, and more arrives while it connects to the backend.
# Every byte must reach the backend, in order (the echo backend sends them back).
python3 - "$http" <<'PY' || fail "head and body in one write"
import os, socket, sys
port = int(sys.argv[1])
for size in (20000, 70000, 300000, 3000000):
    msg = b"POST /up HTTP/1.1\r\nHost: echo.a.airdr.es\r\nContent-Length: %d\r\n\r\n" % size
    msg += os.urandom(size)
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.sendall(msg)
    s.shutdown(socket.SHUT_WR)
    got = b""
    while True:
        b = s.recv(1 << 20)
        if not b: break
        got += b
    s.close()
    assert got == msg, "%d-byte body: %d of %d bytes came back" % (size, len(got), len(msg))
PY
ok "a head with a 20 KB to 3 MB body in one write reaches the backend whole"

# Per-name limit (4): a fifth connection for the same name is refused, other names
# still work, and the slot comes back when a connection ends.
HERE=$here python3 - "$tls" "$http" <<'PY' || fail "per-name limit"
import os, socket, struct, sys, time
tls, http = int(sys.argv[1]), int(sys.argv[2])
sys.path.insert(0, os.environ["HERE"])
from clienthello import client_hello
def open_echo():
    s = socket.create_connection(("127.0.0.1", tls), timeout=5)
    h = client_hello("echo.a.airdr.es")
    s.sendall(h)
    got = b""
    try:
        while len(got) < len(h):
            b = s.recv(len(h) - len(got))
            if not b: break
            got += b
    except ConnectionResetError:
        pass
    return s, got == h
held = []
for i in range(4):
    s, ok = open_echo()
    assert ok, "connection %d under the limit" % i
    held.append(s)
s, ok = open_echo()
assert not ok, "the fifth connection for the name is refused"
s = socket.create_connection(("127.0.0.1", http), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: echo.a.airdr.es\r\n\r\n")
assert s.recv(100).startswith(b"HTTP/1.1 503"), "503 on HTTP over the limit"
held.pop().close()
time.sleep(0.3)
s, ok = open_echo()
assert ok, "a slot came back"
PY
ok "per-name limit: 503 / close over it, slots come back"

# SIGHUP: routes change without touching open connections.
sed -i 's/n20.a.airdr.es/n21.a.airdr.es/' routes.yaml
kill -HUP "$relay"
wait_for 5 grep -q "configuration reloaded" relay.log || fail "reload"
[ "$(code -H 'Host: n21.a.airdr.es' "http://127.0.0.1:$http/")" = 200 ] || fail "added route"
[ "$(code -H 'Host: n20.a.airdr.es' "http://127.0.0.1:$http/")" = 404 ] || fail "removed route"
echo "routes: [ { name: bad..name, tunnel: 127.0.0.2 } ]" >routes.yaml
kill -HUP "$relay"
wait_for 5 grep -q "routes not loaded" relay.log || fail "broken routes file not reported"
[ "$(code -H 'Host: n21.a.airdr.es' "http://127.0.0.1:$http/")" = 200 ] || fail "broken reload kept routes"
ok "SIGHUP: routes added and removed; a broken routes file changes nothing"

# Metrics.
curl -sS "http://127.0.0.1:$admin/metrics" >metrics
grep -q '^relay_routed_total{listener="http"} [1-9]' metrics || fail "routed metric"
grep -q '^relay_unknown_name_total{listener="tls"} [1-9]' metrics || fail "unknown metric"
grep -q '^relay_rejected_total{listener="http",reason="peek_timeout"} 1$' metrics || fail "peek timeout metric"
ok "metrics"

stop_pid "$relay" relay
echo PASS
