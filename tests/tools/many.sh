#!/bin/sh
# 60 semruns on a capacity of 5, all killed with SIGKILL together with
# their commands: the daemon ends up holding nothing and queueing nobody.
. "$(dirname "$0")/lib.sh"
start_semd

command -v setsid >/dev/null 2>&1 || { echo "SKIP: no setsid" >&2; exit 77; }

# Each semrun leads its own process group (setsid execs it directly,
# since a background job of a non-interactive shell is no group leader),
# so kill -9 -PGID takes semrun and CMD at once.
pids=
i=0
while [ $i -lt 60 ]; do
	setsid "$SEMRUN" many 5 -- sleep 30 </dev/null >/dev/null 2>&1 &
	pids="$pids $!"
	bg_groups="$bg_groups $!"
	i=$((i + 1))
done
wait_until "5 hold and 55 wait" is_state many 5 55
for p in $pids; do
	pgid=$(ps -o pgid= -p "$p" | tr -d ' ')
	[ "$pgid" = "$p" ] || fail "semrun $p is not leading its process group ($pgid)"
done
ok "60 semruns: 5 hold, 55 wait"

# Kill everything: semruns, and the sleeps of those that hold.
for p in $pids; do
	kill -9 "-$p"
done
for p in $pids; do
	wait "$p"
done
# A leaked sleep would hold its slot for 30 s: wait less than that.
DEADLINE=20
wait_until "nothing held or waiting" is_state many 0 0
[ "$(st "len(d['sems'])")" = 0 ] || fail "semaphores left: $(cat "$tmp/status.json")"
ok "all killed: nothing held, nobody waiting"

expect_status 0 "the daemon still serves" "$SEMRUN" -n many 5 -- true
exit 0
