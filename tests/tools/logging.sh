#!/bin/sh
# The events log level: one key=value line for each grant, release,
# timeout, withdrawal and release on disconnect, with sem, uid, pid,
# weight and durations, and no HELLO/STATUS chatter; and a daemonized semd
# without syslog logs to semd.log next to its socket.
. "$(dirname "$0")/lib.sh"

"$SEMD_BIN" -f -S "$SOCK" --log-level events >"$tmp/semd.log" 2>&1 &
semd_pid=$!
wait_until "semd answers on $SOCK" "$SEMDCTL" ping

expect_status 0 "a grant and a release" "$SEMRUN" -w 2 lg 3 -- true
# A timeout in line, a try refused, and a disconnect while holding.
hold lg 3
expect_status 75 "a try refused" "$SEMRUN" -n -w 3 lg 3 -- true
expect_status 75 "a timeout in line" "$SEMRUN" -t 0.2 -w 3 lg 3 -- true
kill -9 "$(cat "$tmp/hold.lg.semrun")"
kill -9 "$(cat "$tmp/hold.lg.pid")"
wait_until "the killed holder's slot is back" is_state lg 0 0
"$SEMDCTL" status >/dev/null

uid=$(id -u)
log=$tmp/semd.log
line() { grep -E "$1" "$log" >/dev/null || fail "no log line matching: $1"; }
line "^semd: event=grant sem=lg uid=$uid pid=[0-9]+ weight=2 waited_ms=0 client=[0-9]+$"
line "^semd: event=release sem=lg uid=$uid pid=[0-9]+ weight=2 held_ms=[0-9]+ client=[0-9]+$"
line "^semd: event=timeout sem=lg uid=$uid pid=[0-9]+ weight=3 waited_ms=0 client=[0-9]+ reason=try$"
line "^semd: event=timeout sem=lg uid=$uid pid=[0-9]+ weight=3 waited_ms=[0-9]+ client=[0-9]+$"
line "^semd: event=release sem=lg uid=$uid pid=[0-9]+ weight=1 held_ms=[0-9]+ client=[0-9]+ reason=disconnect$"
ms=$(sed -n 's/.*event=timeout.* waited_ms=\([0-9]*\) client=[0-9]*$/\1/p' "$log")
[ "$ms" -ge 150 ] || fail "the timeout waited only $ms ms"
# Nothing else: no connection, HELLO or STATUS lines at this level.
other=$(grep -v '^semd: event=' "$log")
[ -z "$other" ] || fail "other lines at level events: $other"
ok "level events: one key=value line per event, nothing else"

# A withdrawal: semrun interrupted while waiting.
hold lg 1
"$SEMRUN" lg 1 -- true </dev/null &
w=$!
bg_pids="$bg_pids $w"
wait_until "the waiter waits" is_state lg 1 1
kill -TERM "$w"
wait "$w"
line "^semd: event=withdraw sem=lg uid=$uid pid=$w weight=1 waited_ms=[0-9]+ client=[0-9]+$"
unhold lg
ok "a withdrawal is logged"

kill -TERM "$semd_pid"
wait "$semd_pid"
semd_pid=

# Daemonized, without syslog: semd.log next to the socket (or
# --log-file where this machine has a syslog socket).
mkdir -m 700 "$tmp/rt"
args=
want=$tmp/rt/semd.log
if [ -S /dev/log ]; then
	args="--log-file $tmp/rt/other.log"
	want=$tmp/rt/other.log
fi
# shellcheck disable=SC2086
"$SEMD_BIN" -S "$tmp/rt/semd.sock" -l events $args ||
    fail "semd did not start as a daemon"
dpid=$(SEMD_SOCKET=$tmp/rt/semd.sock "$SEMDCTL" stats --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["pid"])')
bg_pids="$bg_pids $dpid"
SEMD_SOCKET=$tmp/rt/semd.sock "$SEMRUN" bg 1 -- true ||
    fail "semrun against the daemon failed"
wait_until "the grant is in $want" grep -q "event=grant sem=bg" "$want"
grep -Eq "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z semd\[$dpid\]: event=release sem=bg " \
    "$want" || fail "no timestamped release line in $want: $(cat "$want")"
perm=$(stat -c %a "$want")
[ "$perm" = 600 ] || fail "$want has mode $perm"
kill -TERM "$dpid"
ok "a daemon without syslog logs to $(basename "$want")"
