#!/bin/sh
# Signals: while waiting they withdraw the request (exit 128+N, the
# holder unaffected); while CMD runs they are forwarded to CMD.
. "$(dirname "$0")/lib.sh"
start_semd

# A non-interactive shell starts background commands with SIGINT and
# SIGQUIT ignored, and semrun keeps ignored signals ignored; env puts
# them back to the default, as for a command in the foreground.  SIGHUP
# too: the suite may run under nohup.
# $DFL is used unquoted: it must be split into words.
if env --default-signal=INT true 2>/dev/null; then
	DFL="env --default-signal=INT,QUIT,HUP"
else
	cat >"$tmp/dfl.py" <<'PY'
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
signal.signal(signal.SIGQUIT, signal.SIG_DFL)
signal.signal(signal.SIGHUP, signal.SIG_DFL)
os.execvp(sys.argv[1], sys.argv[1:])
PY
	DFL="python3 $tmp/dfl.py"
fi

hold x 1
holder=$(cat "$tmp/hold.x.semrun")

# waiter_signal SIG STATUS: a waiter queued behind the holder gets SIG.
waiter_signal()
{
	rm -f "$tmp/ran"
	$DFL "$SEMRUN" x 1 -- touch "$tmp/ran" </dev/null &
	_w=$!
	bg_pids="$bg_pids $_w"
	wait_until "the waiter is queued" is_state x 1 1
	kill "-$1" "$_w"
	wait "$_w"
	_st=$?
	[ "$_st" -eq "$2" ] || fail "waiter got SIG$1: exit $_st, wanted $2"
	wait_until "the waiter left the queue" is_state x 1 0
	[ "$(st "[h['pid'] for h in sem('x')['holders']]")" = "[$holder]" ] ||
	    fail "the holder changed after SIG$1 to a waiter"
	[ -e "$tmp/ran" ] && fail "the waiter ran CMD after SIG$1"
	ok "SIG$1 while waiting: exit $2, withdrawn, holder unaffected"
}
waiter_signal INT 130
waiter_signal TERM 143
waiter_signal HUP 129
waiter_signal QUIT 131

# Two waiters: the first one interrupted, the second moves up and gets
# the slot when the holder is done.
"$SEMRUN" x 1 -- true </dev/null &
first=$!
bg_pids="$bg_pids $first"
wait_until "the first waiter is queued" is_state x 1 1
"$SEMRUN" x 1 -- touch "$tmp/second" </dev/null &
second=$!
bg_pids="$bg_pids $second"
wait_until "the second waiter is queued" is_state x 1 2
kill -TERM "$first"
wait "$first"
[ $? -eq 143 ] || fail "the first waiter did not exit 143"
wait_until "one waiter left" is_state x 1 1
unhold x
wait "$second"
[ $? -eq 0 ] || fail "the second waiter did not run"
[ -e "$tmp/second" ] || fail "the second waiter's CMD did not run"
expect_state x 0 0
ok "a withdrawn waiter does not block the one behind it"

# A signal ignored when semrun starts stays ignored while it waits.
hold x 1
"$SEMRUN" x 1 -- true </dev/null &
w=$!
bg_pids="$bg_pids $w"
wait_until "the waiter is queued" is_state x 1 1
kill -INT "$w"
sleep 0.2
kill -0 "$w" 2>/dev/null || fail "an ignored SIGINT ended semrun"
expect_state x 1 1
kill -TERM "$w"
wait "$w"
[ $? -eq 143 ] || fail "SIGTERM after an ignored SIGINT: not 143"
wait_until "the waiter left the queue" is_state x 1 0
unhold x
ok "a signal ignored at start stays ignored"

# CMD starts with the signal state semrun started with: what was ignored
# stays ignored (SIGCHLD excepted, see semrun(1); glibc's posix_spawn
# also leaves its internal signals 32 and 33 ignored), what semrun
# catches is back to the default, and the mask is the one at start
# although semrun unblocks what it catches.
cat >"$tmp/sigstate.py" <<'PY'
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_IGN)
signal.signal(signal.SIGUSR2, signal.SIG_IGN)
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
signal.signal(signal.SIGTERM, signal.SIG_DFL)
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1, signal.SIGPWR})
with open(sys.argv[1], "w") as f:
    for line in open("/proc/self/status"):
        if line.startswith(("SigIgn:", "SigBlk:")):
            f.write(line)
os.execv(sys.argv[2], sys.argv[2:])
PY
python3 "$tmp/sigstate.py" "$tmp/sig.start" "$SEMRUN" x 1 -- \
    grep -E '^Sig(Ign|Blk):' /proc/self/status >"$tmp/sig.cmd" </dev/null ||
    fail "semrun under sigstate.py failed"
python3 - "$tmp/sig.start" "$tmp/sig.cmd" <<'PY' ||
import signal, sys
def masks(path):
    return {l.split(":")[0]: int(l.split()[1], 16) for l in open(path)}
def bit(sig):
    return 1 << (int(sig) - 1)
start, cmd = masks(sys.argv[1]), masks(sys.argv[2])
internal = bit(32) | bit(33)
want_ign = start["SigIgn"] & ~bit(signal.SIGCHLD) & ~internal
assert start["SigIgn"] & bit(signal.SIGINT) and start["SigBlk"] & bit(signal.SIGUSR1)
assert cmd["SigIgn"] & ~internal == want_ign, "SigIgn %x, want %x" % (cmd["SigIgn"], want_ign)
assert not cmd["SigIgn"] & bit(signal.SIGTERM)
assert cmd["SigBlk"] == start["SigBlk"], "SigBlk %x, want %x" % (cmd["SigBlk"], start["SigBlk"])
PY
    fail "CMD's signal state: start $(cat "$tmp/sig.start"), CMD $(cat "$tmp/sig.cmd")"
expect_state x 0 0
ok "CMD starts with semrun's ignored signals (but SIGCHLD) and mask"

# While CMD runs: SIGUSR1 and SIGTERM sent to semrun reach CMD, which
# traps them; semrun exits with CMD's status.
rm -f "$tmp/fwd.log"
cat >"$tmp/fwd.sh" <<'SH'
trap 'echo USR1 >>"$1.log"' USR1
trap 'echo TERM >>"$1.log"; exit 7' TERM
trap 'echo INT >>"$1.log"' INT
echo $$ >"$1.pid"
while :; do sleep 0.05; done
SH
$DFL "$SEMRUN" f 1 -- sh "$tmp/fwd.sh" "$tmp/fwd" </dev/null &
r=$!
bg_pids="$bg_pids $r"
wait_until "CMD runs" test -s "$tmp/fwd.pid"
kill -USR1 "$r"
wait_until "CMD got SIGUSR1" grep -qs USR1 "$tmp/fwd.log"
kill -INT "$r"
wait_until "CMD got SIGINT" grep -qs INT "$tmp/fwd.log"
kill -TERM "$r"
wait "$r"
st_=$?
[ "$st_" -eq 7 ] || fail "semrun exited $st_ after forwarding SIGTERM, wanted CMD's 7"
[ "$(tr '\n' ' ' <"$tmp/fwd.log")" = "USR1 INT TERM " ] ||
    fail "CMD saw: $(cat "$tmp/fwd.log")"
rm -f "$tmp/fwd.pid"
expect_state f 0 0
ok "USR1, INT and TERM forwarded to CMD, CMD's status returned"

# SIGTERM to semrun kills a CMD that does not trap it: 143, slot free
# (a CMD left running would hold the slot for 300 s).
"$SEMRUN" f 1 -- sh -c 'echo $$ >"$0"; exec sleep 300' "$tmp/sleeper.pid" </dev/null &
r=$!
bg_pids="$bg_pids $r"
wait_until "CMD runs" test -s "$tmp/sleeper.pid"
wait_until "sleep runs" sh -c "grep -q sleep /proc/$(cat "$tmp/sleeper.pid")/cmdline"
kill -TERM "$r"
wait "$r"
st_=$?
[ "$st_" -eq 143 ] || fail "SIGTERM during CMD: exit $st_, wanted 143"
kill -0 "$(cat "$tmp/sleeper.pid")" 2>/dev/null && fail "CMD survived the forwarded SIGTERM"
expect_state f 0 0
ok "SIGTERM while CMD runs: CMD killed, exit 143, slot free"

exit 0
