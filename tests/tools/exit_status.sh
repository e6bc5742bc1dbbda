#!/bin/sh
# semrun's exit statuses: CMD's own, 128+signal, 126/127, usage (64),
# unreachable (69), refused (65), conflict (75, or -E), and what CMD sees.
. "$(dirname "$0")/lib.sh"
start_semd

# CMD's status passes through; the slot is given back each time.
expect_status 0 "true" "$SEMRUN" x 1 -- true
expect_status 3 "CMD exits 3" "$SEMRUN" x 1 -- sh -c 'exit 3'
expect_status 143 "CMD killed by SIGTERM" "$SEMRUN" x 1 -- sh -c 'kill -TERM $$'
expect_status 137 "CMD killed by SIGKILL" "$SEMRUN" x 1 -- sh -c 'kill -KILL $$'
expect_state x 0 0
expect_status 0 "CMD's output passes through" "$SEMRUN" x 1 -- echo 'hello  world'
[ "$(cat "$tmp/out")" = "hello  world" ] || fail "stdout was '$(cat "$tmp/out")'"
expect_status 0 "CMD reads semrun's stdin" sh -c "echo in | '$SEMRUN' x 1 -- grep -q '^in\$'"

# CMD sees the connection as $SEMD_FD, an open socket.
expect_status 0 "SEMD_FD names an inherited socket" "$SEMRUN" x 1 -- sh -c \
    'test -n "$SEMD_FD" && readlink "/proc/$$/fd/$SEMD_FD" | grep -q "^socket:"'

# Exec failures, reported from the child.
expect_status 127 "missing CMD (path)" "$SEMRUN" x 1 -- "$tmp/no-such-command"
grep -q "no-such-command" "$tmp/err" || fail "no message for a missing CMD"
expect_status 127 "missing CMD (PATH search)" "$SEMRUN" x 1 -- semd-test-no-such-command
printf '#!/bin/sh\nexit 0\n' >"$tmp/noexec"
chmod 644 "$tmp/noexec"
expect_status 126 "CMD not executable" "$SEMRUN" x 1 -- "$tmp/noexec"
expect_status 126 "CMD is a directory" "$SEMRUN" x 1 -- "$tmp"
expect_status 127 "missing CMD, -q" "$SEMRUN" -q x 1 -- "$tmp/no-such-command"
[ -s "$tmp/err" ] && fail "-q printed: $(cat "$tmp/err")"
mkdir "$tmp/bin"
cp "$tmp/noexec" "$tmp/bin/semd-test-noexec"
expect_status 126 "CMD not executable (PATH search)" env PATH="$tmp/bin:$PATH" \
    "$SEMRUN" x 1 -- semd-test-noexec
grep -q "semd-test-noexec: Permission denied" "$tmp/err" ||
    fail "not executable through PATH: $(cat "$tmp/err")"

# An executable file without #! is run by /bin/sh with $0 its path, as
# execvp(3) does; posix_spawnp(3) alone would fail with ENOEXEC.
printf 'echo "$0 $*" >"$SCRIPT_OUT"; exit 4\n' >"$tmp/bin/semd-test-script"
chmod 755 "$tmp/bin/semd-test-script"
expect_status 4 "script without #! (path)" env SCRIPT_OUT="$tmp/script.out" \
    "$SEMRUN" x 1 -- "$tmp/bin/semd-test-script" a 'b c'
[ "$(cat "$tmp/script.out")" = "$tmp/bin/semd-test-script a b c" ] ||
    fail "script without #! (path) saw: $(cat "$tmp/script.out")"
rm -f "$tmp/script.out"
expect_status 4 "script without #! (PATH search)" env PATH="/nonexistent:$tmp/bin:$PATH" \
    SCRIPT_OUT="$tmp/script.out" "$SEMRUN" x 1 -- semd-test-script
[ "$(cat "$tmp/script.out")" = "$tmp/bin/semd-test-script " ] ||
    fail "script without #! (PATH search) saw: $(cat "$tmp/script.out")"
expect_state x 0 0

# Usage errors.
expect_status 64 "no arguments" "$SEMRUN"
expect_status 64 "missing --" "$SEMRUN" x 1 true
expect_status 64 "missing CMD" "$SEMRUN" x 1 --
# CAPACITY left out joins an existing or declared semaphore; x is neither.
expect_status 65 "no CAPACITY for an unknown name (NO_CAPACITY)" "$SEMRUN" x -- true
grep -q "give its capacity" "$tmp/err" || fail "NO_CAPACITY message: $(cat "$tmp/err")"
expect_status 64 "capacity 0" "$SEMRUN" x 0 -- true
expect_status 65 "capacity abc is a NAME" "$SEMRUN" x abc -- true
expect_status 65 "capacity -1 is a NAME" "$SEMRUN" x -1 -- true
expect_status 65 "capacity 1x is a NAME" "$SEMRUN" x 1x -- true
expect_status 64 "digits before any NAME" "$SEMRUN" 1 x -- true
expect_status 64 "a NAME twice" "$SEMRUN" x 1 y 1 x 1 -- true
expect_status 64 "17 NAMEs" "$SEMRUN" a b c d e f g h i j k l m n o p q -- true
expect_status 64 "weight of no NAME given" "$SEMRUN" -w y=2 x 1 -- true
expect_status 64 "weight NAME=0" "$SEMRUN" -w x=0 x 1 -- true
expect_status 64 "burst without rate" "$SEMRUN" --burst 2 x 1 -- true
expect_status 64 "rate 0/s" "$SEMRUN" --rate 0/s x 1 -- true
expect_status 64 "rate 10/d" "$SEMRUN" --rate 10/d x 1 -- true
expect_status 64 "rate 1e3" "$SEMRUN" --rate 1e3 x 1 -- true
expect_status 64 "rate nan" "$SEMRUN" --rate nan x 1 -- true
expect_status 64 "capacity too big" "$SEMRUN" x 4294967296 -- true
expect_status 64 "weight 0" "$SEMRUN" -w 0 x 1 -- true
expect_status 64 "timeout -1" "$SEMRUN" -t -1 x 1 -- true
expect_status 64 "timeout abc" "$SEMRUN" -t abc x 1 -- true
expect_status 64 "timeout nan" "$SEMRUN" -t nan x 1 -- true
# Too small for a double (strtod underflows): the smallest timeout, not
# "not a number"; too large: "too long".
expect_status 0 "timeout 1e-400" "$SEMRUN" -t 1e-400 x 1 -- true
expect_status 64 "timeout 1e400" "$SEMRUN" -t 1e400 x 1 -- true
grep -q "too long" "$tmp/err" || fail "-t 1e400: $(cat "$tmp/err")"
expect_status 64 "timeout -1e-400" "$SEMRUN" -t -1e-400 x 1 -- true
expect_status 64 "-t without argument" "$SEMRUN" -t
expect_status 64 "-E 256" "$SEMRUN" -E 256 x 1 -- true
expect_status 64 "unknown option" "$SEMRUN" --bogus x 1 -- true
expect_status 64 "unknown short option, -q" "$SEMRUN" -q -Z x 1 -- true
[ -s "$tmp/err" ] || fail "usage errors must be printed even with -q"
# A usage error: one line "semrun: message", then the synopsis, on
# stderr, nothing on stdout.
expect_status 64 "timeout x" "$SEMRUN" -t x x 1 -- true
[ "$(head -n 1 "$tmp/err")" = "semrun: timeout must be a number of seconds: 'x'" ] &&
    [ "$(sed -n 2p "$tmp/err" | cut -c 1-14)" = "usage: semrun " ] &&
    [ "$(tail -n 1 "$tmp/err")" = "       semrun -h | -V" ] &&
    [ ! -s "$tmp/out" ] || fail "-t x: usage error was: $(cat "$tmp/err")"
expect_status 0 "--help" "$SEMRUN" --help
grep -q "^usage: semrun" "$tmp/out" || fail "--help printed no usage"
grep -q "127" "$tmp/out" || fail "--help lists no exit statuses"
[ ! -s "$tmp/err" ] || fail "--help wrote to stderr: $(cat "$tmp/err")"
expect_status 0 "--version" "$SEMRUN" --version
grep -q "^semrun (semd) " "$tmp/out" || fail "--version printed no version"

# Unreachable daemon: 69 with a message naming the socket.
expect_status 69 "unreachable" "$SEMRUN" -S "$tmp/nothing.sock" x 1 -- touch "$tmp/ran"
grep -q "nothing.sock" "$tmp/err" || fail "unreachable: message lacks the path: $(cat "$tmp/err")"
[ -e "$tmp/ran" ] && fail "CMD ran without a daemon"
expect_status 69 "unreachable, -q" "$SEMRUN" -q -S "$tmp/nothing.sock" x 1 -- true
[ -s "$tmp/err" ] && fail "-q printed: $(cat "$tmp/err")"
expect_status 69 "unreachable via SEMD_SOCKET" env SEMD_SOCKET="$tmp/nothing.sock" "$SEMRUN" x 1 -- true

# Conflicts: 75, or -E, and CMD does not run.
hold x 1
expect_status 75 "-n when full" "$SEMRUN" -n x 1 -- touch "$tmp/ran"
[ -s "$tmp/err" ] || fail "-n: no message"
expect_status 75 "-t 0.3 when full" "$SEMRUN" -t 0.3 x 1 -- touch "$tmp/ran"
expect_status 75 "-t 0 when full" "$SEMRUN" -t 0 x 1 -- touch "$tmp/ran"
expect_status 9 "-E 9 -n when full" "$SEMRUN" -E 9 -n x 1 -- touch "$tmp/ran"
expect_status 0 "-E 0 -n when full" "$SEMRUN" -E 0 -n x 1 -- touch "$tmp/ran"
expect_status 75 "-q -n when full" "$SEMRUN" -q -n x 1 -- touch "$tmp/ran"
[ -s "$tmp/err" ] && fail "-q printed: $(cat "$tmp/err")"
[ -e "$tmp/ran" ] && fail "CMD ran although the slot was not granted"
expect_state x 1 0

# Refused by the daemon: 65 with its message.
expect_status 65 "capacity mismatch" "$SEMRUN" x 2 -- touch "$tmp/ran"
[ -s "$tmp/err" ] || fail "capacity mismatch: no message"
expect_status 65 "weight above capacity" "$SEMRUN" -w 3 y 2 -- touch "$tmp/ran"
expect_status 65 "bad name" "$SEMRUN" 'bad name!' 1 -- touch "$tmp/ran"
[ -e "$tmp/ran" ] && fail "CMD ran although the request was refused"
expect_state x 1 0
unhold x
expect_state x 0 0

# Weight: two slots of three, then one more fits, a third does not.
hold w 3
expect_status 0 "-w 2 beside a holder of 1" "$SEMRUN" -n -w 2 w 3 -- true
expect_status 75 "-w 3 beside a holder of 1" "$SEMRUN" -n -w 3 w 3 -- true
unhold w

# CMD's background children do not keep the slot once semrun is done.
expect_status 0 "CMD leaves a background child" "$SEMRUN" x 1 -- sh -c \
    'sleep 300 </dev/null >/dev/null 2>&1 & echo $! >"$0"' "$tmp/bgchild.pid"
kill -0 "$(cat "$tmp/bgchild.pid")" || fail "the background child is gone"
expect_state x 0 0
expect_status 0 "slot free beside the background child" "$SEMRUN" -n x 1 -- true

# A daemon limit is temporary: ERROR LIMIT exits 75 (EX_TEMPFAIL), not 65,
# and the message names the option.  One uid may hold one connection.
"$SEMD_BIN" -f -S "$tmp/lim.sock" --max-connections-per-uid 1 \
    >"$tmp/lim.log" 2>&1 &
bg_pids="$bg_pids $!"
wait_until "the limited semd answers" "$SEMDCTL" -S "$tmp/lim.sock" ping
rm -f "$tmp/lim.go" "$tmp/lim.pid"
# ping's connection may not be gone yet when the holder connects: the
# holder is then refused, and tried again.
lim_holds()
{
	[ -s "$tmp/lim.pid" ] && return 0
	if [ -z "${limr:-}" ] || ! kill -0 "$limr" 2>/dev/null; then
		"$SEMRUN" -q -S "$tmp/lim.sock" lim 1 -- sh -c \
		    'echo $$ >"$0.pid"; while [ ! -e "$0.go" ]; do sleep 0.05; done' \
		    "$tmp/lim" </dev/null &
		limr=$!
		bg_pids="$bg_pids $limr"
	fi
	return 1
}
limr=
wait_until "the holder runs" lim_holds
expect_status 75 "connection refused for a limit" \
    "$SEMRUN" -S "$tmp/lim.sock" -n other 1 -- true
grep -q -- "--max-connections-per-uid" "$tmp/err" ||
    fail "the LIMIT message does not name the option: $(cat "$tmp/err")"
expect_status 75 "semdctl: connection refused for a limit" \
    "$SEMDCTL" -S "$tmp/lim.sock" status
touch "$tmp/lim.go"
wait "$limr" || fail "the holder under the limit failed"

exit 0
