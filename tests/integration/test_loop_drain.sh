#!/usr/bin/env bash
# The runtime under load, through the common daemon frame: many concurrent TCP
# clients and UDP datagrams against airdress-echo, clients that vanish mid-stream,
# a slow client, the admin endpoint and its metrics, a SIGHUP reload (good and
# broken file); then SIGTERM while the load runs: /healthz turns 503, the server
# drains and exits 0 within its drain timeout.
source "$(dirname "$0")/lib.sh"

echo_bin=$BUILD_DIR/tests/airdress-echo
cat >"$TEST_TMP/echo.yaml" <<'YAML'
listen: ["127.0.0.1:0"]
workers: 2
idle_timeout: 2s
drain_timeout: 1500ms
admin: { listen: "127.0.0.1:0" }
YAML
"$echo_bin" -c "$TEST_TMP/echo.yaml" -t || fail "config check"
"$echo_bin" -c "$TEST_TMP/echo.yaml" 2>"$TEST_TMP/err" &
server=$!
TEST_PIDS+=("$server")
wait_for 5 grep -q 'msg=started' "$TEST_TMP/err" || fail "echo server did not start"
port=$(sed -n 's/.*msg=listening .*port=\([0-9]*\).*/\1/p' "$TEST_TMP/err" | head -1)
admin=$(sed -n 's/.*msg=started .*admin_port=\([0-9]*\).*/\1/p' "$TEST_TMP/err")
[ -n "$port" ] && [ -n "$admin" ] || fail "no ports in the log"

# The admin endpoint, with a real HTTP client.
[ "$(curl -fsS "http://127.0.0.1:$admin/healthz")" = ok ] || fail "/healthz not ok"
[ "$(curl -fsS "http://127.0.0.1:$admin/readyz")" = ready ] || fail "/readyz not ready"

cat >"$TEST_TMP/load.py" <<'PY'
import hashlib, os, socket, sys, threading, time
port = int(sys.argv[1]); mode = sys.argv[2]
errors = []
def tcp_client(i):
    data = os.urandom(64 * 1024 + i)
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        if mode == "vanish" and i % 2:
            s.sendall(data[:30000]); s.close(); return
        t = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
        t.start(); got = bytearray()
        while True:
            b = s.recv(65536)
            if not b: break
            got += b
        t.join(); s.close()
        if mode == "steady" and bytes(got) != data:
            errors.append("tcp %d: %d of %d bytes" % (i, len(got), len(data)))
    except OSError as e:
        if mode == "steady": errors.append("tcp %d: %s" % (i, e))
def udp_client(i):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
    ok = 0
    for k in range(200):
        m = os.urandom(1 + (k * 7) % 1200)
        s.sendto(m, ("127.0.0.1", port))
        try:
            if s.recv(2048) == m: ok += 1
        except OSError:
            if mode == "drain": break   # the server is gone: stop asking
    if mode == "steady" and ok < 200: errors.append("udp %d: %d/200 answered" % (i, ok))
threads = [threading.Thread(target=tcp_client, args=(i,)) for i in range(64)]
threads += [threading.Thread(target=udp_client, args=(i,)) for i in range(4)]
for t in threads: t.start()
for t in threads: t.join(30)
for e in errors[:10]: print(e)
sys.exit(1 if errors else 0)
PY

# 1. Steady load: every byte and datagram comes back.
timeout 60 python3 "$TEST_TMP/load.py" "$port" steady || fail "steady load lost data"
# 2. Clients that vanish mid-stream leave the server serving.
timeout 60 python3 "$TEST_TMP/load.py" "$port" vanish || fail "vanishing clients"
timeout 60 python3 "$TEST_TMP/load.py" "$port" steady || fail "server broken after vanishing clients"
# 3. A slow client that sends nothing is dropped by the idle timeout (2 s).
python3 - "$port" <<'PY' || fail "slow client was not dropped"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
t = time.time()
try: r = s.recv(1)
except ConnectionResetError: r = b""
sys.exit(0 if r == b"" and time.time() - t < 9 else 1)
PY
# Metrics count what the workers did, summed over workers.
curl -fsS "http://127.0.0.1:$admin/metrics" >"$TEST_TMP/metrics" || fail "/metrics"
accepted=$(awk '$1=="airdress_connections_accepted_total"{print $2}' "$TEST_TMP/metrics")
udp=$(awk '$1=="airdress_udp_received_total"{print $2}' "$TEST_TMP/metrics")
((accepted >= 192)) || fail "accepted=$accepted, expected at least 192"
((udp >= 2400)) || fail "udp received=$udp, expected at least 2400"
grep -q '^airdress_workers 2$' "$TEST_TMP/metrics" || fail "worker gauge"

# 4. SIGHUP: a broken file changes nothing, a good one applies the idle timeout.
echo "workers: [" >"$TEST_TMP/echo.yaml.bad"
cp "$TEST_TMP/echo.yaml" "$TEST_TMP/echo.yaml.good"
cp "$TEST_TMP/echo.yaml.bad" "$TEST_TMP/echo.yaml"
kill -HUP "$server"
wait_for 5 grep -q 'reload failed' "$TEST_TMP/err" || fail "broken reload not reported"
sed 's/idle_timeout: 2s/idle_timeout: 500ms/' "$TEST_TMP/echo.yaml.good" >"$TEST_TMP/echo.yaml"
kill -HUP "$server"
wait_for 5 grep -q 'configuration reloaded' "$TEST_TMP/err" || fail "reload not applied"
python3 - "$port" <<'PY' || fail "the reloaded idle timeout did not apply"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
t = time.time()
try: r = s.recv(1)
except ConnectionResetError: r = b""
sys.exit(0 if r == b"" and time.time() - t < 1.8 else 1)
PY
[ "$(curl -fsS "http://127.0.0.1:$admin/healthz")" = ok ] || fail "/healthz after reload"

# 5. SIGTERM during load: drain and exit 0.
timeout 60 python3 "$TEST_TMP/load.py" "$port" drain &
load=$!
TEST_PIDS+=("$load")
sleep 0.3
kill -TERM "$server"
start=$SECONDS
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$admin/healthz" || true)
case "$code" in 503|000) ;; *) fail "/healthz answered $code while draining" ;; esac
status=0
wait_for 10 bash -c "! kill -0 $server" || fail "server still running 10 s after SIGTERM"
wait "$server" || status=$?
[ "$status" = 0 ] || fail "server exited $status after SIGTERM"
wait "$load" || true
grep -q 'msg=stopped' "$TEST_TMP/err" || fail "no clean stop logged"
echo "drained and stopped in $((SECONDS - start)) s"
cat "$TEST_TMP/err"
echo "PASS"
