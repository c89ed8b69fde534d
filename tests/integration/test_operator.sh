#!/usr/bin/env bash
# airdress-operator behind a real airdress-relay, on loopback addresses:
#   client -> relay (127.0.0.1) -> PROXY v2 -> operator (127.0.0.3, TLS terminated)
#          -> local services (127.0.0.1)
# HTTP and HTTPS with the test CA, the client address in X-Forwarded-For, routes by
# host and path, 421, 502, the catch-all, keep-alive, uploads (length and chunked),
# a 100 MiB download, SSE events arriving one by one, a WebSocket echo, smuggling
# attempts refused, a connection without a PROXY header closed. A service on a unix
# socket; service connections pooled across client connections, a service that closes
# idle connections, one that drops a reused connection (idempotent requests sent
# again); the access log; routes and access_log reloaded on SIGHUP.
source "$(dirname "$0")/lib.sh"
base=$((10000 + RANDOM % 20000))  # below the ephemeral range (32768-)
http=$base tls=$((base + 1)) svc=$((base + 2)) admin=$((base + 3)) radmin=$((base + 4))
flaky=$((base + 5)) idle=$((base + 6))
cd "$TEST_TMP"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem \
	-out cert.pem -days 2 -subj "/CN=app.test.airdr.es" \
	-addext "subjectAltName=DNS:app.test.airdr.es" 2>/dev/null

cat >svc.py <<'EOF'
# svc.py PORT|/UNIX/PATH [IDLE_SECONDS]: GET .../conn answers the number of the
# connection it came on; IDLE_SECONDS closes connections idle that long.
import base64, hashlib, http.server, itertools, os, socket, socketserver, sys, time
CONNS = itertools.count(1)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def setup(self):
        super().setup()
        self.conn_id = next(CONNS)
    def reply(self, body, ctype="text/plain"):
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path.endswith("/conn"):
            return self.reply(("conn=%d\n" % self.conn_id).encode())
        if self.path.startswith("/big"):
            n = int(self.path[4:] or "0") << 20
            self.send_response(200); self.send_header("Content-Length", str(n)); self.end_headers()
            block = bytes(range(256)) * 4096
            while n > 0:
                k = min(n, len(block)); self.wfile.write(block[:k]); n -= k
            return
        if self.path == "/sse":
            self.send_response(200); self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked"); self.end_headers()
            for i in range(3):
                ev = ("data: %d %f\n\n" % (i, time.time())).encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev)); self.wfile.flush()
                time.sleep(0.4)
            self.wfile.write(b"0\r\n\r\n"); return
        if self.path == "/ws" and self.headers.get("Upgrade", "").lower() == "websocket":
            acc = base64.b64encode(hashlib.sha1((self.headers["Sec-WebSocket-Key"] + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
            self.send_response(101); self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade"); self.send_header("Sec-WebSocket-Accept", acc)
            self.end_headers(); self.wfile.flush()
            s = self.connection
            hdr = s.recv(2); ln = hdr[1] & 0x7f; mask = s.recv(4); data = bytearray(s.recv(ln))
            for i in range(len(data)): data[i] ^= mask[i % 4]
            s.sendall(bytes([0x81, len(data)]) + bytes(data))
            self.close_connection = True; return
        if self.path == "/wsdrain" and self.headers.get("Upgrade", "").lower() == "websocket":
            # Finishes its side first, then reads the client's last bytes late: they
            # must all arrive, then a clean EOF (wsdrain.out: "BYTES eof|reset").
            self.send_response(101); self.send_header("Upgrade", "websocket")
            self.send_header("Connection", "Upgrade"); self.end_headers(); self.wfile.flush()
            s = self.connection
            s.sendall(bytes([0x81, 2]) + b"hi"); s.shutdown(socket.SHUT_WR)
            time.sleep(1)
            n, end = 0, "eof"
            try:
                while True:
                    b = s.recv(65536)
                    if not b: break
                    n += len(b)
            except ConnectionResetError:
                end = "reset"
            with open("wsdrain.out", "w") as f: f.write("%d %s\n" % (n, end))
            self.close_connection = True; return
        self.reply(("path=%s xff=%s proto=%s host=%s\n" % (self.path, self.headers.get("X-Forwarded-For"), self.headers.get("X-Forwarded-Proto"), self.headers.get("X-Forwarded-Host"))).encode())
    def do_POST(self):
        h = hashlib.sha256(); n = 0
        if self.headers.get("Transfer-Encoding") == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0: self.rfile.readline(); break
                d = self.rfile.read(size); self.rfile.readline(); h.update(d); n += len(d)
        else:
            left = int(self.headers.get("Content-Length", 0))
            while left:
                d = self.rfile.read(min(left, 1 << 20)); h.update(d); n += len(d); left -= len(d)
        self.reply(("got %d %s\n" % (n, h.hexdigest())).encode())
    def log_message(self, *a): pass
H.timeout = float(sys.argv[2]) if len(sys.argv) > 2 else None
if sys.argv[1].startswith("/"):
    class U(socketserver.ThreadingUnixStreamServer):
        daemon_threads = True
    U(sys.argv[1], H).serve_forever()
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
python3 svc.py "$svc" &
TEST_PIDS+=($!)
python3 svc.py "$TEST_TMP/svc.sock" &
TEST_PIDS+=($!)
python3 svc.py "$idle" 0.3 &
TEST_PIDS+=($!)

# Answers the first request of each connection; on the second it closes the
# connection without a word (with a reset when the path holds "rst"), as a service
# does that closes an idle connection just as a request is on its way.
cat >flaky.py <<'EOF'
import socket, struct, sys, threading
def serve(s):
    f = s.makefile("rb")
    try:
        for n in (1, 2):
            length = 0
            first = f.readline()
            if not first:
                return
            if n == 2 and b"rst" in first:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            while True:
                line = f.readline()
                if not line:
                    return
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
                if line == b"\r\n":
                    break
            f.read(length)
            if n == 2:
                return
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nflaky ok\n")
    finally:
        f.close()
        s.close()
ls = socket.create_server(("127.0.0.1", int(sys.argv[1])))
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
EOF
python3 flaky.py "$flaky" &
TEST_PIDS+=($!)

cat >operator.yaml <<EOF
listen_http: ["127.0.0.3:$http"]
listen_tls: ["127.0.0.3:$tls"]
names: [app.test.airdr.es]
certificates:
  - { name: app.test.airdr.es, cert: cert.pem, key: key.pem }
routes:
  - { host: app.test.airdr.es, path: /down/, service: "http://127.0.0.1:1" }
  - { host: app.test.airdr.es, path: /teapot, service: "http_status:418" }
  - { host: app.test.airdr.es, path: /unix/, service: "unix:$TEST_TMP/svc.sock" }
  - { host: app.test.airdr.es, path: /flaky/, service: "http://127.0.0.1:$flaky" }
  - { host: app.test.airdr.es, path: /idle/, service: "http://127.0.0.1:$idle" }
  - { host: app.test.airdr.es, service: "http://127.0.0.1:$svc" }
  - { service: "http_status:404" }
admin: { listen: "127.0.0.1:$admin" }
EOF
cat >routes.yaml <<EOF
routes:
  - { name: app.test.airdr.es, tunnel: "127.0.0.3" }
  - { name: other.test.airdr.es, tunnel: "127.0.0.3" }
EOF
cat >relay.yaml <<EOF
listen_http: ["127.0.0.1:$http"]
listen_tls: ["127.0.0.1:$tls"]
workers: 1
routes_file: routes.yaml
admin: { listen: "127.0.0.1:$radmin" }
EOF
op=$BUILD_DIR/bin/airdress-operator
"$op" run -c operator.yaml -t || fail "config check"
"$op" run -c operator.yaml 2>operator.log &
op_pid=$!
TEST_PIDS+=($op_pid)
"$BUILD_DIR/bin/airdress-relay" -c relay.yaml 2>relay.log &
TEST_PIDS+=($!)
wait_for 10 grep -q msg=started operator.log || { cat operator.log; fail "operator did not start"; }
wait_for 10 grep -q msg=started relay.log || fail "relay did not start"
for port in "$svc" "$idle" "$flaky"; do
	wait_for 10 bash -c "echo > /dev/tcp/127.0.0.1/$port" || fail "service $port did not start"
done
wait_for 10 test -S svc.sock || fail "unix socket service did not start"
ok() { echo "ok: $*"; }
get() { curl -sS --max-time 20 --interface 127.0.0.9 "$@"; }
https() { get --cacert cert.pem --resolve "app.test.airdr.es:$tls:127.0.0.1" "$@"; }

out=$(get -H "Host: app.test.airdr.es" "http://127.0.0.1:$http/hello")
[ "$out" = "path=/hello xff=127.0.0.9 proto=http host=app.test.airdr.es" ] || fail "HTTP: $out"
out=$(https "https://app.test.airdr.es:$tls/secure")
[ "$out" = "path=/secure xff=127.0.0.9 proto=https host=app.test.airdr.es:$tls" ] || fail "HTTPS: $out"
out=$(https -H "X-Forwarded-For: 6.6.6.6" "https://app.test.airdr.es:$tls/spoof")
[[ "$out" == *"xff=127.0.0.9 "* ]] || fail "client X-Forwarded-For trusted: $out"
ok "HTTP and HTTPS through relay and operator; the service sees the client's address"

# The operator closes first after a response with Connection: close; the relay then
# ends its side with a reset (both sides done, every byte acknowledged), so the
# operator keeps no TIME_WAIT socket per connection.
time_waits() { ss -Htan state time-wait src "127.0.0.3:$http" | wc -l; }
before=$(time_waits)
for i in $(seq 1 20); do
	get -o /dev/null -H "Host: app.test.airdr.es" -H "Connection: close" "http://127.0.0.1:$http/tw$i" ||
		fail "request $i with Connection: close"
done
after=$(time_waits)
[ "$after" -le "$before" ] || fail "the operator kept $((after - before)) TIME_WAIT sockets for 20 requests"
ok "20 connections through the relay leave no TIME_WAIT at the operator"

code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
[ "$(code -H "Host: other.test.airdr.es" "http://127.0.0.1:$http/")" = 421 ] || fail "421"
[ "$(code --cacert cert.pem --resolve "app.test.airdr.es:$tls:127.0.0.1" "https://app.test.airdr.es:$tls/down/x")" = 502 ] || fail "502"
[ "$(code -H "Host: app.test.airdr.es" "http://127.0.0.1:$http/teapot")" = 418 ] || fail "http_status route"
ok "421 for a name not held, 502 for a stopped service, http_status routes"

n=$(https -w '%{num_connects}\n' -o /dev/null -o /dev/null "https://app.test.airdr.es:$tls/a" "https://app.test.airdr.es:$tls/b" | tr '\n' ' ')
[ "$n" = "1 0 " ] || fail "keep-alive: connects $n"
ok "keep-alive: two requests, one connection"

head -c $((10 << 20)) /dev/urandom >up.bin
want=$(sha256sum up.bin | cut -d' ' -f1)
out=$(https --data-binary @up.bin "https://app.test.airdr.es:$tls/up")
[ "$out" = "got $((10 << 20)) $want" ] || fail "upload: $out"
out=$(https -H "Transfer-Encoding: chunked" --data-binary @up.bin "https://app.test.airdr.es:$tls/up")
[ "$out" = "got $((10 << 20)) $want" ] || fail "chunked upload: $out"
got=$(https "https://app.test.airdr.es:$tls/big100" | sha256sum | cut -d' ' -f1)
want=$(python3 -c "import hashlib,sys; b=bytes(range(256))*4096; h=hashlib.sha256(); [h.update(b) for _ in range(100)]; print(h.hexdigest())")
[ "$got" = "$want" ] || fail "100 MiB download"
ok "10 MiB upload (length and chunked) and 100 MiB download intact"

python3 - "$tls" <<'PY' || fail "SSE"
import socket, ssl, sys, time
ctx = ssl.create_default_context(cafile="cert.pem")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10), server_hostname="app.test.airdr.es")
s.sendall(b"GET /sse HTTP/1.1\r\nHost: app.test.airdr.es\r\n\r\n")
buf, seen = b"", []
while len(seen) < 3:
    b = s.recv(4096)
    if not b: break
    buf += b
    while b"\n\n" in buf:
        ev, buf = buf.split(b"\n\n", 1)
        if b"data: " in ev:
            seen.append(time.time())
assert len(seen) == 3, seen
assert seen[2] - seen[0] > 0.5, "events arrived in a burst: %r" % seen
# To the end of the stream: its service connection is then back in the pool before
# the next tests, which count service connections.
while not buf.endswith(b"0\r\n\r\n"):
    b = s.recv(4096)
    assert b, "the stream ended without its last chunk"
    buf += b
PY
ok "SSE events arrive one by one"

python3 - "$http" <<'PY' || fail "WebSocket"
import base64, os, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
key = base64.b64encode(os.urandom(16)).decode()
s.sendall(("GET /ws HTTP/1.1\r\nHost: app.test.airdr.es\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % key).encode())
head = b""
while b"\r\n\r\n" not in head:
    head += s.recv(1)
assert head.startswith(b"HTTP/1.1 101"), head
msg = b"hello over the tunnel"
mask = os.urandom(4)
s.sendall(bytes([0x81, 0x80 | len(msg)]) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(msg)))
frame = s.recv(2)
data = b""
while len(data) < frame[1]:
    data += s.recv(frame[1] - len(data))
assert frame[0] == 0x81 and data == msg, (frame, data)
PY
ok "WebSocket upgrade and echo"

# The service ends the tunnel first; the client's bytes after that, and the end of the
# stream, reach it intact although the relay resets its connection to the operator
# once both sides are done and every byte is acknowledged.
python3 - "$http" <<'PY' || fail "WebSocket tunnel ended by the service first"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"GET /wsdrain HTTP/1.1\r\nHost: app.test.airdr.es\r\nUpgrade: websocket\r\n"
          b"Connection: Upgrade\r\nSec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==\r\n"
          b"Sec-WebSocket-Version: 13\r\n\r\n")
got = b""
while True:
    b = s.recv(4096)
    assert b, "EOF before the frame: %r" % got
    got += b
    if got.endswith(b"\x81\x02hi"):
        break
assert got.startswith(b"HTTP/1.1 101"), got
assert s.recv(16) == b"", "the service's half-close did not come through"
s.sendall(b"x" * 65536)
time.sleep(0.3)  # acknowledged by the operator before the relay sees the end
s.close()
PY
drained() { [[ -s wsdrain.out ]]; }
wait_for 10 drained || fail "the service never saw the end of the tunnel"
[[ $(cat wsdrain.out) == "65536 eof" ]] || fail "service got: $(cat wsdrain.out)"
ok "WebSocket: the client's last bytes after the service's end arrive, then EOF"

python3 - "$http" <<'PY' || fail "smuggling"
import socket, sys
def ask(raw):
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
    s.sendall(raw)
    out = b""
    while True:
        try: b = s.recv(4096)
        except (ConnectionResetError, socket.timeout): break
        if not b: break
        out += b
    return out
h = b"POST /up HTTP/1.1\r\nHost: app.test.airdr.es\r\n"
assert ask(h + b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n").startswith(b"HTTP/1.1 400"), "CL.TE"
assert ask(h + b"Content-Length: 4\r\nContent-Length: 5\r\n\r\nabcde").startswith(b"HTTP/1.1 400"), "two CL"
assert ask(h + b"Transfer-Encoding: xchunked\r\n\r\n0\r\n\r\n")[:12] in (b"HTTP/1.1 400", b"HTTP/1.1 501"), "bad TE"
assert ask(h + b"Transfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n").startswith(b"HTTP/1.1 400"), "bad chunk size"
PY
ok "smuggling attempts refused with 400 (or 501)"

python3 - <<PY || fail "no PROXY header"
import socket
s = socket.create_connection(("127.0.0.3", $http), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: app.test.airdr.es\r\n\r\n")
try: b = s.recv(100)
except ConnectionResetError: b = b""
assert b == b"", b
PY
ok "a connection without a PROXY v2 header is closed"

metric() {
	local text
	text=$(curl -fsS --max-time 5 "http://127.0.0.1:$admin/metrics") || return 1
	awk -v k="$1" '$1 == k { v = $2 } END { print v + 0 }' <<<"$text"
}
reused_m='operator_service_connections_total{event="reused"}'
retried_m='operator_service_connections_total{event="retried"}'
closed_m='operator_service_connections_total{event="closed_idle"}'
down_m='operator_rejected_total{reason="service_down"}'

out=$(get -H "Host: app.test.airdr.es" "http://127.0.0.1:$http/unix/hello")
[ "$out" = "path=/unix/hello xff=127.0.0.9 proto=http host=app.test.airdr.es" ] || fail "unix socket service: $out"
out=$(https "https://app.test.airdr.es:$tls/unix/secure")
[ "$out" = "path=/unix/secure xff=127.0.0.9 proto=https host=app.test.airdr.es:$tls" ] || fail "unix socket service over TLS: $out"
ok "a service on a unix socket, with X-Forwarded-* as for TCP"

reused0=$(metric "$reused_m")
uids=() tids=()
for i in $(seq 20); do
	uids+=("$(get -H "Host: app.test.airdr.es" "http://127.0.0.1:$http/unix/conn")")
	tids+=("$(https "https://app.test.airdr.es:$tls/conn")")
done
[[ "${uids[0]}" == conn=* && "${tids[0]}" == conn=* ]] || fail "pool: ${uids[0]} ${tids[0]}"
[ "$(printf '%s\n' "${uids[@]}" | sort -u | wc -l)" = 1 ] || fail "unix service connections not reused: ${uids[*]}"
[ "$(printf '%s\n' "${tids[@]}" | sort -u | wc -l)" = 1 ] || fail "TCP service connections not reused: ${tids[*]}"
reused=$(($(metric "$reused_m") - reused0))
[ "$reused" -ge 39 ] || fail "pool: $reused reuses for 40 requests"
ok "40 client connections one after another: each service saw one connection (${uids[0]}, ${tids[0]}); $reused reuses"

closed0=$(metric "$closed_m") retried0=$(metric "$retried_m") down0=$(metric "$down_m")
for i in 1 2 3; do
	out=$(get -H "Host: app.test.airdr.es" "http://127.0.0.1:$http/idle/conn")
	[[ "$out" == conn=* ]] || fail "service closing idle connections, request $i: $out"
	sleep 0.8
done
closed=$(($(metric "$closed_m") - closed0))
[ "$closed" -ge 2 ] || fail "idle connections closed by the service not noticed: $closed"
[ "$(metric "$retried_m")" = "$retried0" ] || fail "a request had to be sent again"
[ "$(metric "$down_m")" = "$down0" ] || fail "502 from a service that closes idle connections"
ok "a service closing idle connections: $closed dropped from the pool as they closed, no 502"

retried0=$(metric "$retried_m")
for i in $(seq 6); do
	out=$(get -H "Host: app.test.airdr.es" "http://127.0.0.1:$http/flaky/get$i")
	[ "$out" = "flaky ok" ] || fail "GET $i to a service that drops reused connections: $out"
	out=$(get -H "Host: app.test.airdr.es" "http://127.0.0.1:$http/flaky/rst$i")
	[ "$out" = "flaky ok" ] || fail "GET $i to a service that resets reused connections: $out"
done
retried=$(($(metric "$retried_m") - retried0))
[ "$retried" -ge 11 ] || fail "GETs sent again: $retried"
[ "$(code -H "Host: app.test.airdr.es" --data-binary x "http://127.0.0.1:$http/flaky/post")" = 502 ] ||
	fail "a POST on a dropped reused connection was not refused with 502"
ok "a reused connection closed or reset before the answer: GETs sent again ($retried), a POST gets 502"

line() { grep -cE "$1" operator.log || true; }
re_client='client=127\.0\.0\.9:[0-9]+ host=app\.test\.airdr\.es'
[ "$(line "^level=info msg=access $re_client method=GET path=\"/hello\" status=200 bytes=[1-9][0-9]* duration_ms=[0-9]+ listener=http route=5 service=\"http://127\.0\.0\.1:$svc\" id=[0-9a-f]{16}\$")" = 1 ] ||
	fail "access log: GET /hello"
[ "$(line "msg=access $re_client method=GET path=\"/secure\" status=200 .* listener=tls route=5 ")" = 1 ] ||
	fail "access log: GET /secure over TLS"
[ "$(line "msg=access $re_client method=GET path=\"/unix/conn\" status=200 .* route=2 service=\"unix:$TEST_TMP/svc.sock\" ")" = 20 ] ||
	fail "access log: 20 lines for /unix/conn"
[ "$(line "msg=access client=[0-9.:]+ host=other\.test\.airdr\.es method=GET path=\"/\" status=421 .* route=- service=\"-\" ")" = 1 ] ||
	fail "access log: 421"
[ "$(line "msg=access client=[0-9.:]+ host=app\.test\.airdr\.es method=POST path=\"/flaky/post\" status=502 .* route=3 ")" = 1 ] ||
	fail "access log: 502"
[ "$(line "msg=access client=[0-9.:]+ host=app\.test\.airdr\.es method=GET path=\"/ws\" status=101 ")" = 1 ] ||
	fail "access log: WebSocket"
ok "access log: one line per request with client, host, method, path, status, bytes, time, route, service, id"

sed -i 's|path: /teapot, service: "http_status:418"|path: /teapot, service: "http_status:410"|' operator.yaml
echo "access_log: false" >>operator.yaml
kill -HUP "$op_pid"
wait_for 10 grep -q 'msg="configuration reloaded"' operator.log || fail "SIGHUP: no reload"
[ "$(code -H "Host: app.test.airdr.es" "http://127.0.0.1:$http/teapot")" = 410 ] || fail "SIGHUP: routes not reloaded"
get -H "Host: app.test.airdr.es" "http://127.0.0.1:$http/after-reload" >/dev/null
[ "$(line 'path="/after-reload"')" = 0 ] || fail "SIGHUP: access_log: false not applied"
long=$(printf 'x%.0s' $(seq 120))
sed -i "s|service: \"http_status:410\"|service: \"unix:/tmp/$long\"|" operator.yaml
kill -HUP "$op_pid"
wait_for 10 grep -q 'msg="reload refused' operator.log || fail "SIGHUP: a unix path over sun_path accepted"
grep -q 'msg="route has an unusable service" route=1 ' operator.log || fail "SIGHUP: bad route not named"
[ "$(code -H "Host: app.test.airdr.es" "http://127.0.0.1:$http/teapot")" = 410 ] || fail "SIGHUP: bad reload changed the routes"
rc=0
timeout 10 "$op" run -c operator.yaml 2>bad.log || rc=$?
[ "$rc" = 1 ] && grep -q 'msg="route has an unusable service"' bad.log || fail "start with a unix path over sun_path: rc $rc"
ok "SIGHUP reloads routes and access_log; a unix path too long is refused at start and on reload"

# max_request_body (reloadable): a Content-Length over it gets 413 before anything
# reaches the service; a chunked body that grows past it is cut off; smaller ones pass.
sed -i "s|service: \"unix:/tmp/$long\"|service: \"http_status:410\"|" operator.yaml
echo "max_request_body: 1MiB" >>operator.yaml
reloads=$(grep -c 'msg="configuration reloaded"' operator.log)
kill -HUP "$op_pid"
reloaded() { [ "$(grep -c 'msg="configuration reloaded"' operator.log)" -gt "$reloads" ]; }
wait_for 10 reloaded || { tail -5 operator.log; fail "SIGHUP with max_request_body: no reload"; }
head -c $((2 << 20)) /dev/urandom >big.bin
head -c $((512 << 10)) /dev/urandom >small.bin
[ "$(code -H "Host: app.test.airdr.es" --data-binary @big.bin "http://127.0.0.1:$http/up")" = 413 ] ||
	fail "Content-Length over max_request_body: not 413"
out=$(get -H "Host: app.test.airdr.es" --data-binary @small.bin "http://127.0.0.1:$http/up") ||
	fail "a body under the limit: curl failed"
[ "$out" = "got $((512 << 10)) $(sha256sum small.bin | cut -d' ' -f1)" ] || fail "a body under the limit: $out"
# (curl may see the 413 page or, still sending, a reset: either way the service must
# not have had the whole body)
out=$(get -H "Host: app.test.airdr.es" -H "Transfer-Encoding: chunked" --data-binary @big.bin \
	"http://127.0.0.1:$http/up" 2>&1) || true
[[ "$out" != got* ]] || fail "a chunked body over the limit went through: $out"
rejected=$(curl -fsS "http://127.0.0.1:$admin/metrics" |
	awk '/^operator_rejected_total\{reason="body_too_large"\}/ { print $2 }')
[ "$rejected" = 2 ] || fail "body_too_large counted $rejected times"
ok "max_request_body: 413 for a Content-Length over it, a chunked body cut off, smaller bodies pass"

[ "$("$op" status -c operator.yaml | head -1)" = "operator: ok" ] || fail "status"
metrics=$(curl -fsS "http://127.0.0.1:$admin/metrics") || fail "metrics"
grep -q '^operator_requests_total{listener="tls"} [1-9]' <<<"$metrics" || fail "metrics"
"$op" keygen -d keys >pub.txt || fail "keygen"
[ "$(stat -c %a keys/operator.key)" = 600 ] || fail "key file mode"
[ "$(wg pubkey <keys/operator.key)" = "$(cat pub.txt)" ] || fail "keygen: public key does not match"
ok "status, metrics, keygen (0600, matches wg pubkey)"
echo PASS
