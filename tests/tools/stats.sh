#!/bin/sh
# semdctl stats and metrics against a real semd: the counters and
# histograms after real semrun traffic (grants, a wait, a timeout, a try
# refused, a disconnect), the JSON, the table, and the Prometheus text
# format checked by a real parser (promtool check metrics).
. "$(dirname "$0")/lib.sh"
start_semd

# js PYEXPR: semdctl_json over `semdctl stats`, sem(NAME) one semaphore.
js()
{
	semdctl_json stats "$1"
}

expect_status 0 "stats, idle" "$SEMDCTL" stats --json
[ "$(js 'len(d["sems"])')" = 0 ] || fail "stats of an idle daemon lists sems"
[ "$(js 'len(d["bucket_ms"])')" = 21 ] || fail "not 21 bucket bounds"

# Traffic on st while a holder keeps it alive: one grant at once, one
# after a wait, one try refused, one timeout, one disconnect.
hold st 1
"$SEMRUN" st 1 -- sleep 0.3 </dev/null &
w=$!
bg_pids="$bg_pids $w"
wait_until "the waiter waits" is_state st 1 1
expect_status 75 "a try refused" "$SEMRUN" -n st 1 -- true
unhold st
wait "$w" || fail "the waiter failed"
hold st 1
"$SEMRUN" -t 0.2 st 1 -- true </dev/null
kill -9 "$(cat "$tmp/hold.st.semrun")" "$(cat "$tmp/hold.st.pid")"
wait_until "the killed holder's slot is back" is_state st 0 0
# st is forgotten now (idle and not declared), but its figures are kept:
# three grants (a holder, the waiter, a holder), a try refused and a
# timeout, one release on disconnect.
[ "$(js '(sem("st")["held"], sem("st")["waiting"], d["semaphores"])')" = \
    "(0, 0, 0)" ] || fail "forgotten st: $(cat "$tmp/stats.json")"
[ "$(js '(sem("st")["grants"], sem("st")["timeouts"], sem("st")["disconnects"])')" = \
    "(3, 2, 1)" ] || fail "forgotten st's figures: $(cat "$tmp/stats.json")"
[ "$(js 'sem("st")["hold"]["count"]')" = 3 ] || fail "st hold count"
expect_status 0 "stats of a forgotten name" "$SEMDCTL" stats st
grep -q "^st: capacity 1, held 0, waiting 0" "$tmp/out" ||
    fail "stats st: $(cat "$tmp/out")"
# A new st takes them back.
hold st 1
[ "$(js 'sem("st")["grants"]')" = 4 ] ||
    fail "a new st should go on from 3 grants: $(cat "$tmp/stats.json")"
unhold st
ok "a forgotten semaphore's figures are kept, and taken back"

# Now on a semaphore that stays alive throughout.
hold keep 5
for i in 1 2 3; do
	"$SEMRUN" -w 2 keep 5 -- sleep 0.05 || fail "semrun keep failed"
done
expect_status 75 "a try refused on keep" "$SEMRUN" -n -w 5 keep 5 -- true
expect_status 75 "a timeout on keep" "$SEMRUN" -t 0.1 -w 5 keep 5 -- true
[ "$(js 'sem("keep")["grants"]')" = 4 ] || fail "grants: $(cat "$tmp/stats.json")"
[ "$(js 'sem("keep")["timeouts"]')" = 2 ] || fail "timeouts"
[ "$(js 'sem("keep")["releases"]')" = 3 ] || fail "releases"
[ "$(js 'sem("keep")["max_waiting"]')" = 1 ] || fail "max_waiting"
[ "$(js 'sem("keep")["wait"]["count"]')" = 4 ] || fail "wait count"
[ "$(js 'sem("keep")["hold"]["count"]')" = 3 ] || fail "hold count"
# Three holds of sleep 0.05: each at least 50 ms, so p50 >= 20 ms.
[ "$(js 'sem("keep")["hold"]["p50_ms"] >= 20')" = true ] ||
    fail "hold p50: $(cat "$tmp/stats.json")"
[ "$(js 'sem("keep")["hold"]["sum_ms"] >= 150')" = true ] || fail "hold sum"
[ "$(js 'sem("keep")["recent_hold_ms"] >= 50')" = true ] || fail "recent hold"
[ "$(js 'sum(sem("keep")["wait"]["buckets"])')" = 4 ] || fail "wait buckets"
[ "$(js 'd["connections"] >= 1 and d["semaphores"] == 1')" = true ] ||
    fail "daemon figures: $(cat "$tmp/stats.json")"
ok "stats --json counts grants, timeouts, releases and durations"

expect_status 0 "stats keep (table)" "$SEMDCTL" stats keep
grep -q "^keep: capacity 5, held 1, waiting 0 (longest line 1)$" "$tmp/out" ||
    fail "table: $(cat "$tmp/out")"
grep -q "^  grants 4, timeouts 2, withdrawals 1, releases 3" "$tmp/out" ||
    grep -q "^  grants 4, timeouts 2, withdrawals 0, releases 3" "$tmp/out" ||
    fail "table counters: $(cat "$tmp/out")"
grep -Eq "^  hold  p50 [0-9.]+m?s +p90 [0-9.]+m?s +p99 " "$tmp/out" ||
    fail "table hold line: $(cat "$tmp/out")"
expect_status 0 "stats of an unknown name" "$SEMDCTL" stats nosuch
grep -q "^nosuch: not in use$" "$tmp/out" || fail "unknown: $(cat "$tmp/out")"
expect_status 64 "stats: two names" "$SEMDCTL" stats a b
expect_status 64 "stats: bad option" "$SEMDCTL" stats --bogus
expect_status 69 "stats, no daemon" "$SEMDCTL" -S "$tmp/nothing.sock" stats
ok "stats as a table"

# metrics: promtool parses it, and the figures are those of STATS.
expect_status 0 "metrics" "$SEMDCTL" metrics
cp "$tmp/out" "$tmp/metrics.txt"
if command -v promtool >/dev/null 2>&1; then
	promtool check metrics <"$tmp/metrics.txt" >"$tmp/promtool.out" 2>&1 ||
	    fail "promtool check metrics: $(cat "$tmp/promtool.out")"
	ok "promtool check metrics accepts the output"
else
	echo "promtool is not installed (Debian package prometheus): not parsed"
fi
python3 - "$tmp/metrics.txt" <<'PY' || fail "metrics content"
import sys, re
text = open(sys.argv[1]).read()
want = {
    'semd_up': '1',
    'semd_capacity{sem="keep"}': '5',
    'semd_held{sem="keep"}': '1',
    'semd_waiting{sem="keep"}': '0',
    'semd_grants_total{sem="keep"}': '4',
    'semd_timeouts_total{sem="keep"}': '2',
    'semd_wait_seconds_count{sem="keep"}': '4',
    'semd_hold_seconds_count{sem="keep"}': '3',
    'semd_wait_seconds_bucket{sem="keep",le="+Inf"}': '4',
    'semd_semaphores': '1',
}
got = {}
for line in text.splitlines():
    if line.startswith("#") or not line:
        continue
    k, v = line.rsplit(" ", 1)
    got[k] = v
for k, v in want.items():
    if got.get(k) != v:
        sys.exit("%s: %r, wanted %r" % (k, got.get(k), v))
for m in ("semd_connections", "semd_uptime_seconds"):
    if m not in got:
        sys.exit("no " + m)
# Buckets are cumulative and end at the count.
prev = 0
for k, v in got.items():
    if k.startswith('semd_hold_seconds_bucket{sem="keep"'):
        assert int(v) >= prev, (k, v, prev)
        prev = int(v)
assert prev == 3, prev
for t in ("semd_wait_seconds histogram", "semd_hold_seconds histogram",
          "semd_grants_total counter", "semd_timeouts_total counter"):
    assert "# TYPE " + t in text, t
PY
ok "metrics: the figures, cumulative buckets, types"
unhold keep

# A semaphore declared in the configuration is never forgotten: its
# figures stay with it while it is idle, as a live semaphore's.
kill -TERM "$semd_pid"
wait "$semd_pid"
printf '[sem decl]\ncapacity = 2\n' >"$tmp/semd.conf"
"$SEMD_BIN" -f -S "$SOCK" -c "$tmp/semd.conf" >"$tmp/semd.log" 2>&1 &
semd_pid=$!
wait_until "semd answers on $SOCK" "$SEMDCTL" ping
for i in 1 2 3; do
	"$SEMRUN" decl -- true || fail "semrun decl failed"
done
[ "$(js '(sem("decl")["grants"], sem("decl")["releases"], sem("decl")["held"], sem("decl")["capacity"], d["semaphores"])')" = \
    "(3, 3, 0, 2, 1)" ] || fail "declared decl: $(cat "$tmp/stats.json")"
"$SEMDCTL" metrics | grep -q '^semd_grants_total{sem="decl"} 3$' ||
    fail "metrics of decl: $("$SEMDCTL" metrics | grep decl)"
ok "a declared semaphore keeps its figures while idle"
