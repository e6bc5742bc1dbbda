#!/bin/sh
# The slot belongs to the work, not to the wrapper (DESIGN.md):
# 1. semrun started with fds 0-2 closed keeps its connection off them, so
#    what CMD writes to stderr never reaches the protocol stream;
# 2. SIGKILL of semrun plus a CMD that closes every inherited descriptor
#    (as sudo and daemonizers do): the keeper holds the slot until CMD
#    exits;
# 3. SIGTSTP/SIGTTIN/SIGTTOU sent to semrun alone reach CMD, then semrun
#    stops too; SIGCONT resumes both, and the slot stays held meanwhile.
. "$(dirname "$0")/lib.sh"
start_semd
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

# A CMD that runs until $1.go exists; its pid goes to $1.pid.
cat >"$tmp/cmd.sh" <<'SH'
echo $$ >"$1.pid"
while [ ! -e "$1.go" ]; do sleep 0.05; done
SH

# 1. Closed stdio.  CMD writes to its stderr, then says so.
"$SEMRUN" io 1 -- sh -c 'echo "junk for the protocol stream" >&2;
    echo "more junk" >&1; echo $$ >"$1.pid";
    while [ ! -e "$1.go" ]; do sleep 0.05; done' sh "$tmp/io" <&- >&- 2>&- &
runner=$!
bg_pids="$bg_pids $runner"
wait_until "CMD runs and has written to stderr" test -s "$tmp/io.pid"
sleep 0.2
expect_state io 1 0
expect_status 75 "closed stdio: the slot is still held" "$SEMRUN" -n io 1 -- true
touch "$tmp/io.go"
wait "$runner" || fail "semrun with closed stdio exited $?"
expect_state io 0 0
ok "closed stdio: CMD's output never reaches semd"

# 2. SIGKILL of semrun + a CMD that closes inherited descriptors.
cat >"$tmp/closer.py" <<'PY'
import os, sys, time
os.closerange(3, 1024)
with open(sys.argv[1] + ".pid", "w") as f:
    f.write("%d\n" % os.getpid())
while not os.path.exists(sys.argv[1] + ".go"):
    time.sleep(0.05)
PY
"$SEMRUN" k 1 -- "$PY" "$tmp/closer.py" "$tmp/closer" </dev/null &
runner=$!
bg_pids="$bg_pids $runner"
wait_until "CMD runs with its descriptors closed" test -s "$tmp/closer.pid"
cmd=$(cat "$tmp/closer.pid")
kill -9 "$runner"
wait "$runner"
sleep 0.2
kill -0 "$cmd" || fail "CMD died with semrun"
expect_state k 1 0
# Status shows who does the work: CMD (not the dead semrun), its argv.
[ "$(st "sem('k')['holders'][0]['worker_pid']")" = "$cmd" ] ||
    fail "status does not show CMD's pid $cmd: $(cat "$tmp/status.json")"
[ "$(st "sem('k')['holders'][0]['cmdline']")" = "$PY $tmp/closer.py $tmp/closer" ] ||
    fail "status does not show CMD's command line: $(cat "$tmp/status.json")"
expect_status 75 "SIGKILL + closerange: the slot is still held" \
    "$SEMRUN" -n k 1 -- true
touch "$tmp/closer.go"
wait_until "the slot is free once CMD exits" is_state k 0 0
ok "SIGKILL of semrun and a CMD that closes fds: held until CMD exits"

# The keeper keeps no pipe of the caller open: semrun's output pipe
# closes when CMD ends, even though semrun was killed.
sh -c 'echo $$ >"$1"; exec "$2" k 1 -- sh "$3" "$4"' sh "$tmp/pipe.semrun" \
    "$SEMRUN" "$tmp/cmd.sh" "$tmp/pipe" </dev/null | cat >"$tmp/pipe.out" &
pipeline=$!
wait_until "CMD runs" test -s "$tmp/pipe.pid"
kill -9 "$(cat "$tmp/pipe.semrun")"
touch "$tmp/pipe.go"
wait "$pipeline" || fail "the pipeline failed"
ok "the keeper keeps no pipe open"

# 3. Job-control stops reach CMD.  Run semrun as a job of an interactive-
# style shell (its own process group, not orphaned), so that the stop
# signals are not discarded.
cat >"$tmp/job.py" <<'PY'
import os, sys
pid = os.fork()
if pid == 0:
    os.setpgid(0, 0)
    os.execv(sys.argv[1], sys.argv[1:])
with open(sys.argv[-1] + ".semrun", "w") as f:
    f.write("%d\n" % pid)
_, status = os.waitpid(pid, 0)
with open(sys.argv[-1] + ".status", "w") as f:
    f.write("%d\n" % os.waitstatus_to_exitcode(status))
PY
"$PY" "$tmp/job.py" "$SEMRUN" st 1 -- sh "$tmp/cmd.sh" "$tmp/stop" </dev/null &
bg_pids="$bg_pids $!"
wait_until "CMD runs" test -s "$tmp/stop.pid"
runner=$(cat "$tmp/stop.semrun")
cmd=$(cat "$tmp/stop.pid")
bg_pids="$bg_pids $runner $cmd"
# state PID: the process state letter (R, S, T, Z...).
state() { sed 's/^[0-9]* (.*) \(.\).*/\1/' "/proc/$1/stat" 2>/dev/null; }
stopped() { [ "$(state "$1")" = T ]; }
running() { _s=$(state "$1"); [ -n "$_s" ] && [ "$_s" != T ]; }
for sig in TSTP TTIN TTOU; do
	kill -"$sig" "$runner"
	wait_until "CMD is stopped by SIG$sig sent to semrun" stopped "$cmd"
	wait_until "semrun is stopped too" stopped "$runner"
	expect_state st 1 0
	kill -CONT "$runner"
	wait_until "semrun runs again" running "$runner"
	wait_until "CMD runs again" running "$cmd"
done
touch "$tmp/stop.go"
wait_until "semrun has exited" test -s "$tmp/stop.status"
[ "$(cat "$tmp/stop.status")" = 0 ] || fail "semrun exited $(cat "$tmp/stop.status")"
expect_state st 0 0
ok "SIGTSTP/SIGTTIN/SIGTTOU reach CMD, SIGCONT resumes both"
exit 0
