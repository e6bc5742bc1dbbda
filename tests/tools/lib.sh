# lib.sh -- sourced by the tests of semrun and semdctl.
#
# Starts a real semd in the foreground on a socket in a fresh temporary
# directory, points the tools at it ($SEMD_SOCKET), never lets anything
# auto-start a daemon, and cleans everything up on exit.  Tests assert
# states (through `semdctl status --json`) and exit statuses, never
# durations: waits poll for a state with a generous deadline.
#
# Environment (set by `make check`): SEMD_BUILDDIR (the build tree, where
# client/semrun and client/semdctl are), SEMD_BIN (the daemon).

set -u

if [ -z "${SEMD_BUILDDIR:-}" ]; then
	echo "SEMD_BUILDDIR is not set: run through make check" >&2
	exit 99
fi
SEMD_BIN=${SEMD_BIN:-$SEMD_BUILDDIR/daemon/semd}
SEMRUN=$SEMD_BUILDDIR/client/semrun
SEMDCTL=$SEMD_BUILDDIR/client/semdctl
for _f in "$SEMD_BIN" "$SEMRUN" "$SEMDCTL"; do
	if [ ! -x "$_f" ]; then
		echo "missing $_f: build it first" >&2
		exit 99
	fi
done
if ! command -v python3 >/dev/null 2>&1; then
	echo "SKIP: python3 is needed to read semdctl's JSON" >&2
	exit 77
fi

# Seconds before a wait for a state gives up: a safety net only.
DEADLINE=${SEMD_TEST_DEADLINE:-30}

SEMD_NO_AUTOSTART=1
export SEMD_NO_AUTOSTART
unset SEMD_FD

tmp=$(mktemp -d "${TMPDIR:-/tmp}/semd-tools.XXXXXX") || exit 99
SOCK=$tmp/sock
SEMD_SOCKET=$SOCK
export SEMD_SOCKET
semd_pid=
bg_pids=	# processes to kill -9 when the test ends
bg_groups=	# process groups to kill -9 when the test ends

# Kill what the test left running and remove the temporary directory.
cleanup()
{
	for _p in $bg_groups; do
		kill -9 "-$_p" 2>/dev/null
	done
	for _p in $bg_pids; do
		kill -9 "$_p" 2>/dev/null
	done
	# Commands run under semrun write their pid to *.pid files.
	for _f in "$tmp"/*.pid; do
		[ -f "$_f" ] && kill -9 "$(cat "$_f")" 2>/dev/null
	done
	if [ -n "$semd_pid" ]; then
		kill -TERM "$semd_pid" 2>/dev/null
		wait "$semd_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap 'cleanup' EXIT
trap 'exit 1' INT TERM HUP

# Fail the test with a message.
fail()
{
	echo "FAIL: $*" >&2
	if [ -s "$tmp/semd.log" ]; then
		echo "--- semd log (last lines) ---" >&2
		tail -n 20 "$tmp/semd.log" >&2
	fi
	exit 1
}

ok()
{
	echo "ok - $*"
}

# wait_until DESCRIPTION COMMAND [ARG]...: run COMMAND every 50 ms until
# it succeeds; fail after $DEADLINE seconds.
wait_until()
{
	_desc=$1
	shift
	_n=0
	while ! "$@"; do
		_n=$((_n + 1))
		if [ "$_n" -gt $((DEADLINE * 20)) ]; then
			fail "gave up waiting until $_desc"
		fi
		sleep 0.05
	done
}

# Start semd in the foreground on $SOCK and wait until it answers.
start_semd()
{
	"$SEMD_BIN" -f -S "$SOCK" >"$tmp/semd.log" 2>&1 &
	semd_pid=$!
	wait_until "semd answers on $SOCK" "$SEMDCTL" ping
}

# semdctl_json CMD PYEXPR: print the value of a Python expression over
# `semdctl CMD --json` (kept in $tmp/CMD.json), where d is the parsed
# JSON and sem(NAME) one semaphore of d["sems"] (an empty one when NAME
# is not there).
semdctl_json()
{
	"$SEMDCTL" "$1" --json >"$tmp/$1.json" ||
	    fail "semdctl $1 --json failed"
	python3 - "$tmp/$1.json" "$2" <<'PY'
import json, sys
with open(sys.argv[1], encoding="utf-8") as f:
    d = json.load(f)
def sem(name):
    for s in d["sems"]:
        if s["name"] == name:
            return s
    return {"name": name, "capacity": 0, "held": 0, "waiting": 0,
            "holders": [], "waiters": []}
v = eval(sys.argv[2])
print(str(v).lower() if isinstance(v, bool) else v)
PY
}

# st PYEXPR: semdctl_json over the daemon's status.
st()
{
	semdctl_json status "$1"
}

held()
{
	st "sem('$1')['held']"
}

waiting()
{
	st "sem('$1')['waiting']"
}

# is_state NAME HELD WAITING: does NAME have that weight held and that
# many waiters?
is_state()
{
	[ "$(st "(sem('$1')['held'], sem('$1')['waiting'])")" = "($2, $3)" ]
}

# expect_state NAME HELD WAITING: fail unless it is so now.
expect_state()
{
	_s=$(st "(sem('$1')['held'], sem('$1')['waiting'])")
	[ "$_s" = "($2, $3)" ] ||
	    fail "$1: (held, waiting) is $_s, wanted ($2, $3)"
}

# hold NAME CAPACITY: run a semrun that holds a slot of NAME until
# unhold NAME; return once it holds it.  Its pid is in $tmp/hold.NAME.semrun
# and its command's in $tmp/hold.NAME.pid.  NAME must be a file name.
# $HOLD_ARGS, when set, are more options for that semrun.
hold()
{
	rm -f "$tmp/hold.$1.go" "$tmp/hold.$1.pid"
	# shellcheck disable=SC2086
	"$SEMRUN" ${HOLD_ARGS:-} "$1" "$2" -- sh -c \
	    'echo $$ >"$1.pid"; while [ ! -e "$1.go" ]; do sleep 0.05; done' \
	    sh "$tmp/hold.$1" </dev/null &
	echo $! >"$tmp/hold.$1.semrun"
	bg_pids="$bg_pids $!"
	wait_until "the holder of $1 runs" test -s "$tmp/hold.$1.pid"
}

# unhold NAME: let the holder of NAME finish; check it exited 0.
unhold()
{
	touch "$tmp/hold.$1.go"
	wait "$(cat "$tmp/hold.$1.semrun")"
	_st=$?
	[ "$_st" -eq 0 ] || fail "the holder of $1 exited $_st"
	rm -f "$tmp/hold.$1.pid"
}

# expect_status STATUS DESCRIPTION COMMAND [ARG]...: run COMMAND (stdin
# from /dev/null, output in $tmp/out and $tmp/err) and check its status.
expect_status()
{
	_want=$1
	_desc=$2
	shift 2
	"$@" </dev/null >"$tmp/out" 2>"$tmp/err"
	_got=$?
	[ "$_got" -eq "$_want" ] ||
	    fail "$_desc: exit status $_got, wanted $_want; stderr: $(cat "$tmp/err")"
	ok "$_desc (exit $_want)"
}
