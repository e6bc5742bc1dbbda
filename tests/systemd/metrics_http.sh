#!/bin/sh
# The metrics over HTTP, as semd-metrics.socket serves them: the units
# verify and are hardened like semd.service; systemd-socket-activate
# listens on a loopback TCP port and starts `semdctl metrics --http` on
# the first connection, as systemd would; curl scrapes it, and promtool
# parses what it gets.  Without semd the scrape says semd_up 0.
. "${SEMD_SRCDIR:?run through make check}/tests/tools/lib.sh"

for t in systemd-socket-activate systemd-analyze curl; do
	if ! command -v "$t" >/dev/null 2>&1; then
		echo "SKIP: $t is not installed"
		exit 77
	fi
done

# The units as they will be installed, ExecStart= pointing at the
# semdctl just built so that verify checks it for real.
src=$SEMD_BUILDDIR/systemd
mkdir -p "$tmp/units"
for u in semd-metrics.socket semd-metrics.service; do
	[ -f "$src/$u" ] || fail "$src/$u was not generated"
	grep -q '@bindir@' "$src/$u" && fail "$u: @bindir@ not substituted"
	sed "s|^ExecStart=[^ ]*/semdctl|ExecStart=$SEMDCTL|" "$src/$u" \
	    >"$tmp/units/$u"
done
if ! (cd "$tmp/units" && systemd-analyze verify --man=no \
    ./semd-metrics.socket ./semd-metrics.service) >"$tmp/verify.log" 2>&1
then
	cat "$tmp/verify.log" >&2
	fail "systemd-analyze verify rejects the metrics units"
fi
grep -q '^ListenStream=127.0.0.1:9734$' "$tmp/units/semd-metrics.socket" ||
    fail "the metrics socket is not 127.0.0.1:9734"
grep -q 'metrics --http$' "$tmp/units/semd-metrics.service" ||
    fail "the metrics service does not run semdctl metrics --http"
ok "systemd-analyze verify: semd-metrics.socket and .service"
out=$(systemd-analyze security --offline=true --no-pager \
    "$tmp/units/semd-metrics.service" 2>&1) || {
	echo "$out" >&2
	fail "systemd-analyze security failed"
}
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for semd-metrics.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || { echo "$out" >&2; fail "no exposure score found"; }
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' ||
    fail "exposure $score is above the 2.0 target"
ok "systemd-analyze security: semd-metrics.service $score <= 2.0"

start_semd
hold web 2

# A free loopback port (another test may use any fixed one).
port=$(python3 -c 'import socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
systemd-socket-activate -l "127.0.0.1:$port" \
    "$SEMDCTL" -S "$SOCK" metrics --http >"$tmp/http.log" 2>&1 &
act=$!
bg_pids="$bg_pids $act"
url=http://127.0.0.1:$port
wait_until "the activator listens" curl -s -o /dev/null "$url/"

code=$(curl -s -o "$tmp/metrics.txt" -D "$tmp/headers" -w '%{http_code}' \
    "$url/metrics") || fail "curl $url/metrics failed"
[ "$code" = 200 ] || fail "GET /metrics: $code"
grep -qi '^Content-Type: text/plain; version=0.0.4' "$tmp/headers" ||
    fail "Content-Type: $(cat "$tmp/headers")"
grep -q '^semd_up 1$' "$tmp/metrics.txt" || fail "no semd_up 1"
grep -q '^semd_held{sem="web"} 1$' "$tmp/metrics.txt" ||
    fail "no semd_held of web: $(cat "$tmp/metrics.txt")"
grep -q '^semd_capacity{sem="web"} 2$' "$tmp/metrics.txt" ||
    fail "no semd_capacity of web"
if command -v promtool >/dev/null 2>&1; then
	promtool check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1 ||
	    fail "promtool: $(cat "$tmp/promtool.out")"
	ok "promtool check metrics accepts the scrape"
fi
ok "GET /metrics through the socket-activated server: 200, the figures"

# A second scrape is served too (the server keeps running), afresh.
unhold web
code=$(curl -s -o "$tmp/metrics2.txt" -w '%{http_code}' "$url/metrics")
[ "$code" = 200 ] || fail "second GET /metrics: $code"
grep -q '^semd_held{sem="web"} 0$' "$tmp/metrics2.txt" ||
    fail "web is released but: $(grep web "$tmp/metrics2.txt")"
grep -q '^semd_hold_seconds_count{sem="web"} 1$' "$tmp/metrics2.txt" ||
    fail "web's hold is not counted: $(grep web "$tmp/metrics2.txt")"
ok "each scrape asks semd afresh"

[ "$(curl -s -o /dev/null -w '%{http_code}' "$url/nothing")" = 404 ] ||
    fail "an unknown path is not 404"
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/metrics")" = 405 ] ||
    fail "POST is not 405"
[ "$(curl -s -o /dev/null -w '%{http_code}' -I "$url/metrics")" = 200 ] ||
    fail "HEAD is not 200"
# A client that sends nothing does not stop the next scrape for long.
python3 -c 'import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /met")
' "$port" &
code=$(curl -s -m 30 -o /dev/null -w '%{http_code}' "$url/metrics")
[ "$code" = 200 ] || fail "after a half request: $code"
ok "404, 405, HEAD, and a stalled client"

kill -TERM "$semd_pid"
wait "$semd_pid"
semd_pid=
code=$(curl -s -o "$tmp/metrics3.txt" -w '%{http_code}' "$url/metrics")
[ "$code" = 200 ] || fail "GET /metrics without semd: $code"
grep -q '^semd_up 0$' "$tmp/metrics3.txt" ||
    fail "without semd: $(cat "$tmp/metrics3.txt")"
grep -q "cannot reach semd" "$tmp/http.log" ||
    fail "no reason logged: $(cat "$tmp/http.log")"
ok "without semd: semd_up 0, and why on stderr"

# Not under systemd: a clear refusal.
expect_status 64 "metrics --http without a socket" "$SEMDCTL" metrics --http
grep -q "LISTEN_FDS" "$tmp/err" || fail "message: $(cat "$tmp/err")"
