#!/usr/bin/env bash
# The runtime under load: many concurrent TCP clients and UDP datagrams against
# airdress-echo, clients that vanish mid-stream, a slow client; then SIGTERM while
# the load runs: the server drains and exits 0 within its drain timeout.
source "$(dirname "$0")/lib.sh"

echo_bin=$BUILD_DIR/tests/airdress-echo
"$echo_bin" -w 2 -i 2000 -d 1500 127.0.0.1:0 >"$TEST_TMP/out" 2>"$TEST_TMP/err" &
server=$!
TEST_PIDS+=("$server")
wait_for 5 grep -q port= "$TEST_TMP/out" || fail "echo server did not start"
port=$(sed -n 's/^port=//p' "$TEST_TMP/out")

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
        except OSError: pass
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
# 4. SIGTERM during load: drain and exit 0.
timeout 60 python3 "$TEST_TMP/load.py" "$port" drain &
load=$!
TEST_PIDS+=("$load")
sleep 0.3
kill -TERM "$server"
start=$SECONDS
status=0
wait_for 10 bash -c "! kill -0 $server" || fail "server still running 10 s after SIGTERM"
wait "$server" || status=$?
[ "$status" = 0 ] || fail "server exited $status after SIGTERM"
wait "$load" || true
grep -q 'msg=stopped' "$TEST_TMP/err" || fail "no clean stop logged"
echo "drained and stopped in $((SECONDS - start)) s"
cat "$TEST_TMP/err"
echo "PASS"
