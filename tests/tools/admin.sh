#!/bin/sh
# Administration of a running semd (semdctl resize, drain, undrain,
# revoke, list) against real semrun processes.
#
# Resize under load: six loops of semrun run a command that counts
# itself in and out under flock(1), an independent checker: at its
# start each command compares how many run (itself included) with the
# capacity in force, which the test writes before growing and only
# after a shrink has settled (held <= the new capacity, so that every
# command granted before the shrink has already counted itself).
. "$(dirname "$0")/lib.sh"

if ! command -v flock >/dev/null 2>&1; then
	echo "SKIP: flock (util-linux) is needed for the checker"
	exit 77
fi

cat >"$tmp/semd.conf" <<EOF
[sem load]
capacity = 2
[sem d]
capacity = 1
[sem paced]
rate = 1/h
EOF
"$SEMD_BIN" -f -S "$SOCK" -c "$tmp/semd.conf" >"$tmp/semd.log" 2>&1 &
semd_pid=$!
wait_until "semd answers on $SOCK" "$SEMDCTL" ping

# The checked command: count in, compare with the capacity, sleep,
# count out.  $1 is the checker's directory.
chk=$tmp/chk
mkdir "$chk"
echo 0 >"$chk/count"
echo 2 >"$chk/cap"
: >"$chk/log"
cat >"$tmp/cmd.sh" <<'EOF'
#!/bin/sh
flock "$1/lock" sh -c '
	n=$(($(cat "$1/count") + 1)); echo $n >"$1/count"
	c=$(cat "$1/cap"); echo "$n $c" >>"$1/log"
	[ $n -le $c ] || echo "$n running, capacity $c" >>"$1/violations"
' sh "$1"
sleep 0.05
flock "$1/lock" sh -c 'echo $(($(cat "$1/count") - 1)) >"$1/count"' sh "$1"
EOF
chmod +x "$tmp/cmd.sh"

# setcap N: write the capacity in force for the checker.
setcap()
{
	flock "$chk/lock" sh -c 'echo "$2" >"$1/cap"' sh "$chk" "$1"
}
# saw N: has the checker seen N commands run at once?
saw()
{
	grep -q "^$1 " "$chk/log"
}
# held_le N: is at most N held on load?
held_le()
{
	[ "$(held load)" -le "$1" ]
}

i=0
while [ $i -lt 6 ]; do
	( while [ ! -e "$tmp/stop" ]; do
		"$SEMRUN" -q load -- "$tmp/cmd.sh" "$chk" ||
		    echo "semrun exited $?" >>"$chk/violations"
	done ) &
	bg_pids="$bg_pids $!"
	i=$((i + 1))
done

wait_until "two run at once" saw 2
setcap 4
expect_status 0 "resize load 2 -> 4 under load" "$SEMDCTL" resize load 4
wait_until "four run at once after growing" saw 4
expect_status 0 "resize load 4 -> 1 under load" "$SEMDCTL" resize load 1
grep -q "nothing more is granted\|resized from 4 to 1" "$tmp/out" ||
    fail "resize said: $(cat "$tmp/out")"
wait_until "held comes down to 1" held_le 1
setcap 1
: >"$chk/log"
wait_until "commands run again after shrinking" test -s "$chk/log"
sleep 1
setcap 3
expect_status 0 "resize load 1 -> 3" "$SEMDCTL" resize load 3
wait_until "three run at once" saw 3
touch "$tmp/stop"
for _p in $bg_pids; do
	wait "$_p"
done
bg_pids=
[ ! -e "$chk/violations" ] || fail "the checker saw: $(sort -u "$chk/violations" | head -5)"
grep -q "resize load from 2 to 4" "$tmp/semd.log" ||
    fail "the resize is not logged with who did it"
ok "resize under load: never more than the capacity in force"

# Drain: nothing new is granted, waiters keep their place, --wait
# returns when nothing is held; undrain grants again.
hold d 1
expect_status 0 "drain d" "$SEMDCTL" drain d
[ "$(st "sem('d')['drained']")" = true ] || fail "d is not shown drained"
"$SEMDCTL" drain --wait d >"$tmp/drainwait.out" 2>&1 &
drainwait=$!
bg_pids="$bg_pids $drainwait"
"$SEMRUN" d -- touch "$tmp/d.ran" &
waiter=$!
bg_pids="$bg_pids $waiter"
wait_until "a waiter queues on the drained d" is_state d 1 1
unhold d
# Held is 0 now: drain --wait answers; the waiter still waits.
wait "$drainwait" || fail "drain --wait exited $?: $(cat "$tmp/drainwait.out")"
grep -q "nothing is held" "$tmp/drainwait.out" || fail "drain --wait said: $(cat "$tmp/drainwait.out")"
expect_state d 0 1
[ ! -e "$tmp/d.ran" ] || fail "a drained semaphore granted"
expect_status 75 "a try on a drained semaphore" "$SEMRUN" -n d -- true
expect_status 0 "undrain d" "$SEMDCTL" undrain d
wait "$waiter" || fail "the waiter exited $?"
[ -e "$tmp/d.ran" ] || fail "the waiter did not run after undrain"
expect_state d 0 0
ok "drain, drain --wait, undrain"

# Revoke: the holder's CMD gets SIGTERM, and the slot frees only once
# it has exited (it takes its time: a waiter must not get in before).
cat >"$tmp/victim.sh" <<'EOF'
#!/bin/sh
trap 'echo TERM >"$1.term"; while [ ! -e "$1.go" ]; do sleep 0.05; done; exit 3' TERM
echo "${SEMD_TOKEN:-}" >"$1.token"
echo $$ >"$1.pid"
while :; do sleep 0.05; done
EOF
chmod +x "$tmp/victim.sh"
"$SEMRUN" rv 1 -- "$tmp/victim.sh" "$tmp/v" 2>"$tmp/victim.err" &
victim=$!
bg_pids="$bg_pids $victim"
wait_until "the victim runs" test -s "$tmp/v.pid"
"$SEMRUN" rv 1 -- touch "$tmp/rv.next" &
next=$!
bg_pids="$bg_pids $next"
wait_until "a waiter queues on rv" is_state rv 1 1
expect_status 1 "revoke a pid that holds nothing" "$SEMDCTL" revoke rv 1
# By the pid status shows: CMD's (semrun says it in HELLO).
expect_status 0 "revoke the holder by CMD's pid" "$SEMDCTL" revoke rv "$(cat "$tmp/v.pid")"
grep -q "told 1 holder" "$tmp/out" || fail "revoke said: $(cat "$tmp/out")"
wait_until "CMD got SIGTERM" test -e "$tmp/v.term"
expect_state rv 1 1
[ ! -e "$tmp/rv.next" ] || fail "the slot was freed before CMD exited"
touch "$tmp/v.go"
wait "$victim"
st_victim=$?
[ "$st_victim" -eq 3 ] || fail "semrun exited $st_victim, wanted CMD's 3"
grep -q "revoked the slot of rv" "$tmp/victim.err" || fail "semrun said: $(cat "$tmp/victim.err")"
wait "$next" || fail "the next one exited $?"
[ -e "$tmp/rv.next" ] || fail "the waiter did not get the slot"
grep -q "revoke rv from" "$tmp/semd.log" || fail "the revoke is not logged"
ok "revoke: SIGTERM to CMD, the slot frees after it exits"

# --on-revoke=ignore only warns.
rm -f "$tmp/v.pid" "$tmp/v.term" "$tmp/v.go"
"$SEMRUN" --on-revoke=ignore rv 1 -- "$tmp/victim.sh" "$tmp/v" 2>"$tmp/victim.err" &
victim=$!
bg_pids="$bg_pids $victim"
wait_until "the victim runs" test -s "$tmp/v.pid"
tok=$(cat "$tmp/v.token")
[ -n "$tok" ] || fail "CMD has no SEMD_TOKEN"
expect_status 0 "revoke an ignoring holder by semrun's pid" "$SEMDCTL" revoke rv "$victim"
expect_status 1 "revoke a token nobody holds" "$SEMDCTL" revoke rv --token 12345
expect_status 0 "revoke an ignoring holder by its token" "$SEMDCTL" revoke rv --token "$tok"
grep -q "grant $tok" "$tmp/out" || fail "revoke --token said: $(cat "$tmp/out")"
wait_until "semrun warns" grep -q "continues (--on-revoke=ignore)" "$tmp/victim.err"
[ ! -e "$tmp/v.term" ] || fail "CMD got SIGTERM despite --on-revoke=ignore"
kill -TERM "$(cat "$tmp/v.pid")"
touch "$tmp/v.go"
wait "$victim"
ok "--on-revoke=ignore"

# A declared rate: one grant an hour, then a reload to a million a
# second lets the next one in at once (the debt is rescaled).
expect_status 0 "the first grant of a rate-only semaphore" "$SEMRUN" -n paced -- true
expect_status 75 "the rate holds back the second" "$SEMRUN" -n paced -- true
sed 's|^rate = 1/h$|rate = 1000000/s|' "$tmp/semd.conf" >"$tmp/semd.conf.new"
mv "$tmp/semd.conf.new" "$tmp/semd.conf"
expect_status 0 "reload with a faster rate" "$SEMDCTL" reload
grep -q "paced: rate 0.000277778/s burst 1 -> 1e+06/s burst 1" "$tmp/semd.log" ||
    fail "the rate change is not logged: $(grep paced "$tmp/semd.log")"
expect_status 0 "the faster rate grants at once" "$SEMRUN" -n paced -- true
ok "declared rates, changed by a reload"

expect_status 0 "list" "$SEMDCTL" list --json
python3 - "$tmp/out" <<'PY' || fail "list --json: $(cat "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
s = {x["name"]: x for x in d["sems"]}
# The reload put back the file's capacity of load (resized to 3 before).
assert s["load"]["declared"] and s["load"]["capacity"] == 2, s
assert s["paced"]["declared"] and s["paced"]["capacity"] == 0, s
assert s["paced"]["rate"] == 1e6 and s["paced"]["burst"] == 1, s
assert s["d"]["declared"] and not s["d"]["drained"], s
PY
kill -0 "$semd_pid" || fail "semd died"
exit 0
