#!/bin/sh
# The bound holds even if semrun is killed with SIGKILL: CMD inherits the
# connection, so the slot stays held until CMD (and whatever else kept
# the descriptor) has exited, and not a moment longer.
. "$(dirname "$0")/lib.sh"
start_semd

# A CMD that runs until $1.go exists; its pid goes to $1.pid.
cat >"$tmp/cmd.sh" <<'SH'
echo $$ >"$1.pid"
while [ ! -e "$1.go" ]; do sleep 0.05; done
SH

# Round 1: semrun killed, then CMD finishes by itself.
"$SEMRUN" x 1 -- sh "$tmp/cmd.sh" "$tmp/one" </dev/null &
runner=$!
bg_pids="$bg_pids $runner"
wait_until "CMD runs" test -s "$tmp/one.pid"
cmd=$(cat "$tmp/one.pid")
kill -9 "$runner"
wait "$runner"
[ $? -eq 137 ] || fail "semrun was not killed by SIGKILL"
# The daemon has had every chance to see semrun's end; nothing must change.
sleep 0.2
expect_state x 1 0
[ "$(st "[h['pid'] for h in sem('x')['holders']]")" = "[$runner]" ] ||
    fail "the holder is not the dead semrun ($runner)"
kill -0 "$cmd" || fail "CMD died with semrun"
expect_status 75 "slot still held after SIGKILL of semrun" "$SEMRUN" -n x 1 -- true
touch "$tmp/one.go"
wait_until "the slot is free once CMD exits" is_state x 0 0
expect_status 0 "slot free again" "$SEMRUN" -n x 1 -- true
ok "SIGKILL of semrun: slot held until CMD exits"

# Round 2: semrun killed, then CMD killed too.
"$SEMRUN" x 1 -- sh "$tmp/cmd.sh" "$tmp/two" </dev/null &
runner=$!
bg_pids="$bg_pids $runner"
wait_until "CMD runs" test -s "$tmp/two.pid"
kill -9 "$runner"
wait "$runner"
expect_status 75 "slot held after SIGKILL of semrun" "$SEMRUN" -n x 1 -- true
kill -9 "$(cat "$tmp/two.pid")"
wait_until "the slot is free once CMD is killed" is_state x 0 0
ok "SIGKILL of semrun, then of CMD: slot free"

# Round 3: CMD leaves a background child with the descriptor; with
# semrun killed (no RELEASE), the child keeps the slot, as with flock(1).
cat >"$tmp/bg.sh" <<'SH'
sh "$2" "$1.bg" &
echo $$ >"$1.pid"
while [ ! -e "$1.go" ]; do sleep 0.05; done
SH
"$SEMRUN" x 1 -- sh "$tmp/bg.sh" "$tmp/three" "$tmp/cmd.sh" </dev/null &
runner=$!
bg_pids="$bg_pids $runner"
wait_until "CMD runs" test -s "$tmp/three.pid"
wait_until "its background child runs" test -s "$tmp/three.bg.pid"
kill -9 "$runner"
wait "$runner"
touch "$tmp/three.go"
wait_until "CMD exits" sh -c "! kill -0 $(cat "$tmp/three.pid") 2>/dev/null"
sleep 0.2
expect_state x 1 0
touch "$tmp/three.bg.go"
wait_until "the slot is free once the background child exits" is_state x 0 0
ok "SIGKILL of semrun: a background child of CMD keeps the slot"

exit 0
