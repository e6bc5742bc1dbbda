#!/bin/sh
# semrun -v while it waits: its position at once, then with an estimate
# from the recent hold times, then again each time the position changes
# (here when the waiter ahead gives up), and never when it does not.
. "$(dirname "$0")/lib.sh"
# Under make, semrun -v would also talk about make's jobserver.
unset MAKEFLAGS MFLAGS
start_semd

# History: x stays alive (a holder of 1 of 2) while two jobs of 0.3 s
# run, so the daemon has recent hold times for it.
hold x 2
for i in 1 2; do
	"$SEMRUN" x 2 -- sleep 0.3 || fail "semrun x failed"
done
"$SEMDCTL" stats --json x >"$tmp/s.json"
grep -q '"recent_hold_ms":[1-9]' "$tmp/s.json" ||
    fail "no recent hold time: $(cat "$tmp/s.json")"

# Fill x, then two waiters: a (quiet) and b (-v) behind it.
"$SEMRUN" x 2 -- sh -c 'while [ ! -e "$1" ]; do sleep 0.05; done' sh \
    "$tmp/go2" </dev/null &
h2=$!
bg_pids="$bg_pids $h2"
wait_until "x is full" is_state x 2 0
"$SEMRUN" x 2 -- true </dev/null &
a=$!
bg_pids="$bg_pids $a"
wait_until "a waits" is_state x 2 1
"$SEMRUN" -v x 2 -- true </dev/null 2>"$tmp/b.err" &
b=$!
bg_pids="$bg_pids $b"
wait_until "b waits" is_state x 2 2
wait_until "b says its position" grep -q "^semrun: waiting for x, position 2$" \
    "$tmp/b.err"
wait_until "b gives an estimate" grep -Eq \
    "^semrun: waiting for x, position 2, about [0-9]+(ms|s) more \(recent holds take [0-9]+(ms|s)\)$" \
    "$tmp/b.err"
ok "semrun -v: the position, then an estimate from recent holds"
# Nothing changes for a few polls: nothing more is said.
sleep 2.5
[ "$(grep -c "waiting for x" "$tmp/b.err")" -eq 2 ] ||
    fail "b said more while nothing changed: $(cat "$tmp/b.err")"
ok "semrun -v says nothing while the position stays"

# a gives up: b moves to position 1 and says so.
kill -TERM "$a"
wait "$a"
wait_until "b moved up" grep -Eq \
    "^semrun: waiting for x, position 1, about [0-9]+(ms|s) more" "$tmp/b.err"
ok "semrun -v says the new position when it changes"

touch "$tmp/go2"
wait "$h2" || fail "the second holder failed"
wait "$b" || fail "b failed: $(cat "$tmp/b.err")"
grep -q "^semrun: acquired x (weight 1 of 2)$" "$tmp/b.err" ||
    fail "b did not say it acquired x: $(cat "$tmp/b.err")"
ok "semrun -v: acquired after waiting"
unhold x
