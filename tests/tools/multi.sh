#!/bin/sh
# semrun with several semaphores and with rates: `semrun db 2 gpu 4 --
# CMD` holds a slot of both while CMD runs (listed in each pool), waits
# for all of them at once, gives all back; per-name weights; a rate is
# declared, shown by status and enforced in FIFO order; a different rate
# is refused with exit 65.
. "$(dirname "$0")/lib.sh"
start_semd

# Both held while CMD runs, with per-name weights.
"$SEMRUN" -w gpu=3 db 2 gpu 4 -- sh -c 'echo $$ >"$1"; while [ ! -e "$2" ]; do sleep 0.05; done' \
    sh "$tmp/m.pid" "$tmp/m.go" </dev/null &
m=$!
bg_pids="$bg_pids $m"
wait_until "the multi holder runs" test -s "$tmp/m.pid"
expect_state db 1 0
expect_state gpu 3 0
[ "$(st "sem('db')['holders'][0]['pid'] == sem('gpu')['holders'][0]['pid']")" = true ] ||
    fail "the same process should hold db and gpu: $(cat "$tmp/status.json")"
ok "semrun -w gpu=3 db 2 gpu 4: holds 1 of db and 3 of gpu"

# A second one needs 2 of gpu: it waits, keeping its place in db too,
# where a later single request for db queues behind it.
"$SEMRUN" -w 2 gpu db -- true </dev/null &
w=$!
bg_pids="$bg_pids $w"
wait_until "the second waits in both" is_state gpu 3 1
expect_state db 1 1
"$SEMRUN" db -- true </dev/null &
w2=$!
bg_pids="$bg_pids $w2"
wait_until "a single request for db queues behind" is_state db 1 2
ok "a waiting multi-request keeps its place in every queue"

touch "$tmp/m.go"
wait "$m" || fail "the multi holder exited $?"
wait "$w" || fail "the waiting multi-request exited $?"
wait "$w2" || fail "the single request exited $?"
wait_until "all given back" is_state db 0 0
expect_state gpu 0 0
ok "all granted in order and given back"

# x then y against y then x, 50 rounds each in parallel: never a timeout.
(
	i=0
	while [ $i -lt 50 ]; do
		"$SEMRUN" -t 60 x 1 y 1 -- true || exit 1
		i=$((i + 1))
	done
) &
a=$!
(
	i=0
	while [ $i -lt 50 ]; do
		"$SEMRUN" -t 60 y 1 x 1 -- true || exit 1
		i=$((i + 1))
	done
) &
b=$!
wait "$a" || fail "x then y: a round failed"
wait "$b" || fail "y then x: a round failed"
ok "50 rounds of x y against y x: no timeout"

# Rates: declared by the first, shown by status, FIFO.
hold_rate()
{
	"$SEMRUN" --rate 20/min api 3 -- sh -c 'echo $$ >"$1"; while [ ! -e "$2" ]; do sleep 0.05; done' \
	    sh "$tmp/r$1.pid" "$tmp/r.go" </dev/null &
	bg_pids="$bg_pids $!"
	eval "r$1=\$!"
}
hold_rate 1
wait_until "the first rated holder runs" test -s "$tmp/r1.pid"
# Capacity is free (3), the rate (one per 3 s) holds the others back,
# and they are served in arrival order.  The second queues at once: the
# status checks below may take seconds on a loaded machine.
hold_rate 2
wait_until "the second waits for the rate" is_state api 1 1
[ "$(st "abs(sem('api')['rate'] - 1/3) < 1e-9")" = true ] || fail "rate not shown: $(cat "$tmp/status.json")"
[ "$(st "sem('api')['burst']")" = 1 ] || fail "burst not shown"
[ "$(st "0 < sem('api')['next_grant_ms'] <= 3000")" = true ] ||
    fail "next_grant_ms: $(cat "$tmp/status.json")"
"$SEMDCTL" status api | grep -q "rate 0.333333/s burst 1, next grant in" ||
    fail "semdctl status shows no rate: $("$SEMDCTL" status api)"
hold_rate 3
wait_until "the second is granted by the rate" test -s "$tmp/r2.pid"
[ ! -s "$tmp/r3.pid" ] || fail "the third went with or before the second"
wait_until "the third is granted by the rate" test -s "$tmp/r3.pid"
ok "rate 20/min: granted one after the other, in order"

expect_status 65 "another rate" "$SEMRUN" --rate 5/s api -- true
grep -q "rate 0.333333/s burst 1, not rate 5/s" "$tmp/err" ||
    fail "rate mismatch message: $(cat "$tmp/err")"
touch "$tmp/r.go"
wait "$r1" "$r2" "$r3"

# Rate only: no capacity, many at once.
expect_status 0 "rate only" "$SEMRUN" --rate 1000/s --burst 5 -w 100 ronly -- true
