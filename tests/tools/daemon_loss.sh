#!/bin/sh
# What semrun does when semd goes away under it for good (kill -9, or an
# orderly stop, and no daemon takes over): while waiting, CMD is not run
# and semrun exits 76; while CMD runs, CMD goes on and semrun warns
# (default), or -K terminates CMD (SIGTERM, then SIGKILL after
# --kill-after) and semrun exits 76.  Most cases use --reconnect=0 (do
# not wait for a daemon to take over; tests/restart/ covers restarts),
# the last one the default wait.
. "$(dirname "$0")/lib.sh"

# A CMD that writes its pid to $1.pid and runs until $1.go exists, then
# exits 7.  On SIGTERM it writes $1.term and exits 3, unless $2 is
# "ignore-term".
cat >"$tmp/cmd.sh" <<'SH'
if [ "${2:-}" = ignore-term ]; then
	trap '' TERM
else
	trap 'echo term >"$1.term"; exit 3' TERM
fi
echo $$ >"$1.pid"
while [ ! -e "$1.go" ]; do sleep 0.05; done
exit 7
SH

# kill_semd: kill -9 the daemon and reap it.
kill_semd()
{
	kill -9 "$semd_pid"
	wait "$semd_pid" 2>/dev/null
	semd_pid=
}

# run_bg NAME SEMRUN-ARGS...: start semrun in the background, stderr to
# $tmp/NAME.err; its pid in $runner.
run_bg()
{
	_n=$1
	shift
	"$SEMRUN" --reconnect=0 "$@" </dev/null >/dev/null 2>"$tmp/$_n.err" &
	runner=$!
	bg_pids="$bg_pids $runner"
}

# finish NAME STATUS: wait for $runner and check its exit status.
finish()
{
	wait "$runner"
	_st=$?
	[ "$_st" -eq "$2" ] ||
	    fail "$1: semrun exited $_st, wanted $2; stderr: $(cat "$tmp/$1.err")"
}

# not_running PID: has PID exited?
not_running()
{
	! kill -0 "$1" 2>/dev/null
}

# 1. semd killed while a semrun waits: CMD is not run, exit 76, one line.
start_semd
run_bg holder1 x 1 -- sh "$tmp/cmd.sh" "$tmp/h1"
holder=$runner
wait_until "the holder runs" test -s "$tmp/h1.pid"
run_bg waiter1 x 1 -- touch "$tmp/ran1"
waiter=$runner
wait_until "the waiter waits" is_state x 1 1
kill_semd
runner=$waiter
finish waiter1 76
[ -e "$tmp/ran1" ] && fail "CMD ran although semd died before the grant"
[ "$(cat "$tmp/waiter1.err")" = \
    "semrun: semd died while we waited for x; CMD was not run" ] ||
    fail "waiter: unexpected message: $(cat "$tmp/waiter1.err")"
ok "semd killed while waiting: exit 76, CMD not run, one clear line"

# The holder of that round saw the loss too; its CMD goes on (default)
# and semrun ends with CMD's status, without a failed release message.
wait_until "the holder notices" grep -q "lost semd" "$tmp/holder1.err"
kill -0 "$(cat "$tmp/h1.pid")" || fail "CMD died with semd"
touch "$tmp/h1.go"
runner=$holder
finish holder1 7
[ "$(wc -l <"$tmp/holder1.err")" -eq 1 ] ||
    fail "holder: expected one line, got: $(cat "$tmp/holder1.err")"
grep -q "^semrun: lost semd while CMD (sh, pid $(cat "$tmp/h1.pid")) runs; the slot of x is no longer held, CMD continues\$" \
    "$tmp/holder1.err" || fail "holder: unexpected message: $(cat "$tmp/holder1.err")"
[ -e "$tmp/h1.term" ] && fail "CMD was sent SIGTERM without -K"
ok "semd killed while CMD runs: warning, CMD continues, its status kept"

# 2. The same with -q: no message, same statuses.
start_semd
run_bg holder2 -q --on-daemon-loss=continue x 1 -- sh "$tmp/cmd.sh" "$tmp/h2"
holder=$runner
wait_until "the holder runs" test -s "$tmp/h2.pid"
run_bg waiter2 -q x 1 -- touch "$tmp/ran2"
waiter=$runner
wait_until "the waiter waits" is_state x 1 1
kill_semd
runner=$waiter
finish waiter2 76
[ -s "$tmp/waiter2.err" ] && fail "-q printed: $(cat "$tmp/waiter2.err")"
touch "$tmp/h2.go"
runner=$holder
finish holder2 7
[ -s "$tmp/holder2.err" ] && fail "-q printed: $(cat "$tmp/holder2.err")"
ok "-q: statuses 76 and CMD's, no message"

# 3. An orderly stop of semd (SIGTERM) is a loss as well.
start_semd
HOLD_ARGS=--reconnect=0 hold y 1
run_bg waiter3 y 1 -- touch "$tmp/ran3"
waiter=$runner
wait_until "the waiter waits" is_state y 1 1
kill -TERM "$semd_pid"
wait "$semd_pid"
semd_pid=
runner=$waiter
finish waiter3 76
[ -e "$tmp/ran3" ] && fail "CMD ran although semd stopped before the grant"
unhold y
ok "semd stopped (SIGTERM) while waiting: exit 76"

# 4. -K: CMD gets SIGTERM when semd is lost; semrun exits 76.
start_semd
run_bg term4 -K x 1 -- sh "$tmp/cmd.sh" "$tmp/k4"
wait_until "CMD runs" test -s "$tmp/k4.pid"
kill_semd
finish term4 76
[ -e "$tmp/k4.term" ] || fail "-K: CMD did not get SIGTERM"
grep -q "lost semd while CMD (sh, pid [0-9]*) runs; the slot of x is no longer held, terminating CMD" \
    "$tmp/term4.err" || fail "-K: unexpected message: $(cat "$tmp/term4.err")"
ok "-K: CMD terminated with SIGTERM, exit 76"

# 5. -K with a CMD that ignores SIGTERM: SIGKILL after --kill-after.
start_semd
run_bg kill5 --on-daemon-loss=terminate --kill-after=0.2 x 1 -- \
    sh "$tmp/cmd.sh" "$tmp/k5" ignore-term
wait_until "CMD runs" test -s "$tmp/k5.pid"
kill_semd
finish kill5 76
wait_until "CMD is gone" not_running "$(cat "$tmp/k5.pid")"
[ -e "$tmp/k5.go" ] && fail "CMD ended by itself"
ok "-K --kill-after 0.2: a CMD ignoring SIGTERM is killed, exit 76"

# 5b. The default: semrun tries to reach a daemon that takes over for
# the grace period semd announced (--grace 1) plus 5 s, then -K applies.
"$SEMD_BIN" -f -S "$SOCK" --grace 1 >"$tmp/semd.log" 2>&1 &
semd_pid=$!
wait_until "semd answers on $SOCK" "$SEMDCTL" ping
"$SEMRUN" -K --kill-after=0.2 x 1 -- sh "$tmp/cmd.sh" "$tmp/k5b" \
    </dev/null >/dev/null 2>"$tmp/kill5b.err" &
runner=$!
bg_pids="$bg_pids $runner"
wait_until "CMD runs" test -s "$tmp/k5b.pid"
kill_semd
finish kill5b 76
grep -q "lost semd while CMD (sh, pid [0-9]*) runs and could not reclaim the slot of x (no semd answered at $SOCK for [0-9]* ms.*); terminating CMD" \
    "$tmp/kill5b.err" || fail "default wait: unexpected message: $(cat "$tmp/kill5b.err")"
ok "semd gone for good: semrun tried to reclaim, then -K applied, exit 76"

# 6. -K does nothing while semd lives: CMD's own status, slot released.
start_semd
expect_status 5 "-K, semd alive" "$SEMRUN" -K x 1 -- sh -c 'exit 5'
expect_state x 0 0

# 7. Usage errors of the new options.
expect_status 64 "--on-daemon-loss=bogus" "$SEMRUN" --on-daemon-loss=bogus x 1 -- true
expect_status 64 "--kill-after=-1" "$SEMRUN" -K --kill-after=-1 x 1 -- true
expect_status 64 "--kill-after=abc" "$SEMRUN" -K --kill-after=abc x 1 -- true
expect_status 0 "--help mentions 76" "$SEMRUN" --help
grep -q "^  76 " "$tmp/out" || fail "--help does not list exit status 76"

exit 0
