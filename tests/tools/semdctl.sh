#!/bin/sh
# semdctl: ping, status as a table and as JSON, usage errors, and that it
# never starts a daemon.
. "$(dirname "$0")/lib.sh"
start_semd

# ping
expect_status 0 "ping" "$SEMDCTL" ping
[ -s "$tmp/out" ] && fail "ping printed: $(cat "$tmp/out")"
expect_status 0 "ping -v" "$SEMDCTL" -v ping
[ -s "$tmp/out" ] || fail "ping -v printed nothing"
# The common options work after the command as before it, for every
# command.
expect_status 0 "ping -v (option after the command)" "$SEMDCTL" ping -v
[ -s "$tmp/out" ] || fail "ping -v printed nothing"
expect_status 0 "ping --verbose -S PATH" "$SEMDCTL" ping --verbose -S "$SOCK"
grep -q "$SOCK" "$tmp/out" || fail "ping -S after the command: $(cat "$tmp/out")"
expect_status 69 "status -S after the command, nobody there" \
    "$SEMDCTL" status -S "$tmp/nothing.sock"
expect_status 69 "status --socket=PATH after the command" \
    "$SEMDCTL" status --json --socket="$tmp/nothing.sock"
expect_status 0 "status --help" "$SEMDCTL" status --help
grep -q "^usage: semdctl" "$tmp/out" || fail "status --help printed no usage"
expect_status 0 "list -h" "$SEMDCTL" list -h
expect_status 69 "ping, no daemon" "$SEMDCTL" -S "$tmp/nothing.sock" ping
grep -q "no semd running at $tmp/nothing.sock" "$tmp/err" ||
    fail "ping, no daemon: message was: $(cat "$tmp/err")"
expect_status 69 "status, no daemon" "$SEMDCTL" -S "$tmp/nothing.sock" status
expect_status 69 "status via SEMD_SOCKET, no daemon" \
    env SEMD_SOCKET="$tmp/nothing.sock" "$SEMDCTL" status --json
[ -e "$tmp/nothing.sock" ] && fail "semdctl started a daemon"
# Not even for the per-user default path: tested in resolve.sh (the
# per-user path is fixed, so it needs a private /tmp).

# Usage errors.
expect_status 64 "no command" "$SEMDCTL"
expect_status 64 "unknown command" "$SEMDCTL" frobnicate
expect_status 64 "unknown option" "$SEMDCTL" --bogus status
expect_status 64 "status: unknown option" "$SEMDCTL" status --bogus
expect_status 64 "status: two names" "$SEMDCTL" status a b
# A usage error: one line "semdctl: message", then the synopsis of that
# command only (of all of them before a command is known), on stderr.
[ "$(head -n 1 "$tmp/err")" = "semdctl: status: only one NAME, please ('a' and 'b')" ] &&
    [ "$(sed -n 2p "$tmp/err")" = "usage: semdctl [-v] [-S path] status [--json] [name]" ] &&
    [ "$(wc -l <"$tmp/err")" -eq 2 ] && [ ! -s "$tmp/out" ] ||
    fail "status a b: usage error was: $(cat "$tmp/err")"
expect_status 64 "ping: argument" "$SEMDCTL" ping extra
expect_status 64 "-S without path" "$SEMDCTL" -S
expect_status 0 "--help" "$SEMDCTL" --help
grep -q "^usage: semdctl" "$tmp/out" || fail "--help printed no usage"
[ ! -s "$tmp/err" ] || fail "--help wrote to stderr: $(cat "$tmp/err")"
# Every command of the synopsis is in semdctl(1)'s SYNOPSIS, and back.
awk 'NF == 0 { exit } { print }' "$tmp/out" |
    sed -n 's/^ *\(usage:\)\{0,1\} *semdctl //p' |
    awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^[a-z]+$/) { print $i; break } }' |
    sort -u >"$tmp/help.cmds"
sed -n 's/^\.Cm \([a-z]*\).*/\1/p' "$SEMD_SRCDIR/man/semdctl.1" |
    sort -u >"$tmp/man.cmds"
cmp -s "$tmp/help.cmds" "$tmp/man.cmds" ||
    fail "commands differ (< --help, > semdctl.1): $(diff "$tmp/help.cmds" "$tmp/man.cmds")"
expect_status 64 "unknown command: all the synopsis" "$SEMDCTL" frobnicate
grep -q "^ *semdctl \[-S path\] watch" "$tmp/err" ||
    fail "unknown command: no synopsis: $(cat "$tmp/err")"
expect_status 0 "--version" "$SEMDCTL" --version
grep -q "^semdctl (semd) " "$tmp/out" || fail "--version: $(cat "$tmp/out")"

# Nothing in use.
expect_status 0 "status, idle" "$SEMDCTL" status
grep -q "no semaphores in use" "$tmp/out" || fail "idle table: $(cat "$tmp/out")"
expect_status 0 "status --json, idle" "$SEMDCTL" status --json
[ "$(cat "$tmp/out")" = '{"sems":[],"truncated":false}' ] ||
    fail "idle JSON: $(cat "$tmp/out")"

# One holder and one waiter on x.
hold x 1
holder=$(cat "$tmp/hold.x.semrun")
holdcmd=$(cat "$tmp/hold.x.pid")
"$SEMRUN" x 1 -- true </dev/null &
waiter=$!
bg_pids="$bg_pids $waiter"
wait_until "the waiter is queued" is_state x 1 1
hold other 4

expect_status 0 "status --json" "$SEMDCTL" status --json
python3 - "$tmp/out" "$holder" "$waiter" "$(id -u)" "$holdcmd" "$tmp" <<'PY' || fail "JSON: $(cat "$tmp/out")"
import json, sys
out, holder, waiter, uid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
holdcmd, tmp = int(sys.argv[5]), sys.argv[6]
text = open(out, encoding="utf-8").read()
assert text.endswith("}\n") and text.count("\n") == 1, "one line"
d = json.loads(text)
assert d["truncated"] is False
sems = {s["name"]: s for s in d["sems"]}
assert set(sems) == {"x", "other"}, sems.keys()
x = sems["x"]
assert (x["capacity"], x["held"], x["waiting"]) == (1, 1, 1), x
assert len(x["holders"]) == 1 and len(x["waiters"]) == 1, x
h, w = x["holders"][0], x["waiters"][0]
assert h["pid"] == holder and w["pid"] == waiter, (h, w)
assert h["uid"] == uid and w["uid"] == uid
assert h["weight"] == 1 and w["weight"] == 1
assert isinstance(h["held_ms"], int) and h["held_ms"] >= 0
assert isinstance(w["waited_ms"], int) and "held_ms" not in w
# Who does the work: CMD's pid and argv (quoted as a shell would need),
# and the client's HELLO name; a waiter has no CMD yet.
assert h["worker_pid"] == holdcmd and h["client"] == "semrun", h
assert h["cmdline"] == ("sh -c 'echo $$ >\"$1.pid\"; while [ ! -e \"$1.go\" ]; "
    "do sleep 0.05; done' sh " + tmp + "/hold.x"), h["cmdline"]
assert w["worker_pid"] is None and w["client"] == "semrun", w
assert w["cmdline"].endswith("semrun x 1 -- true"), w["cmdline"]
assert h["user"] is None or isinstance(h["user"], str)
o = sems["other"]
assert (o["capacity"], o["held"], o["waiting"]) == (4, 1, 0), o
PY
ok "status --json: capacities, counts, holder and waiter"

expect_status 0 "status --json x" "$SEMDCTL" status --json x
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [s["name"] for s in d["sems"]] == ["x"], d' "$tmp/out" ||
    fail "status --json x: $(cat "$tmp/out")"
expect_status 0 "status x --json" "$SEMDCTL" status x -j
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [s["name"] for s in d["sems"]] == ["x"], d' "$tmp/out" ||
    fail "status x -j: $(cat "$tmp/out")"
expect_status 0 "status --json of a name not in use" "$SEMDCTL" status --json nope
[ "$(cat "$tmp/out")" = '{"sems":[],"truncated":false}' ] ||
    fail "name not in use: $(cat "$tmp/out")"

expect_status 0 "status (table)" "$SEMDCTL" status
grep -q "^x: capacity 1, held 1, waiting 1$" "$tmp/out" || fail "table: $(cat "$tmp/out")"
grep -q "^other: capacity 4, held 1, waiting 0$" "$tmp/out" || fail "table: $(cat "$tmp/out")"
# (Command lines are cut to fit; the JSON test above checks them whole.)
grep -q "^  holding *$holdcmd  *[^ ][^ ]*  *1  *[0-9.hdms]*  semrun  *sh -c " "$tmp/out" ||
    fail "table lacks the holder: $(cat "$tmp/out")"
grep -q "^  wait #1 *$waiter  *[^ ][^ ]*  *1  *[0-9.hdms]*  [^ ]" "$tmp/out" ||
    fail "table lacks the waiter: $(cat "$tmp/out")"
expect_status 0 "status x (table)" "$SEMDCTL" status x
grep -q "^other" "$tmp/out" && fail "status x showed other: $(cat "$tmp/out")"
expect_status 0 "status nope (table)" "$SEMDCTL" status nope
grep -q "nope: not in use" "$tmp/out" || fail "table for nope: $(cat "$tmp/out")"

unhold x
wait "$waiter"
unhold other

# Strings are escaped: a waiter whose command line (read from /proc, then
# quoted) has quotes, backslashes, control characters and bytes that are
# not UTF-8.  (A holder's CMD line comes through semd, which replaces
# unprintable bytes.)
hold esc 1
"$SEMRUN" esc 1 -- sh -c 'exit 0' 'a"b\c' \
    "$(printf 'tab\there\nnl \001 \377 \303\251')" </dev/null &
escr=$!
bg_pids="$bg_pids $escr"
wait_until "the waiter of esc is queued" is_state esc 1 1
expect_status 0 "status --json with odd command lines" "$SEMDCTL" status --json esc
python3 - "$tmp/out" <<'PY' || fail "escaping: $(cat "$tmp/out")"
import json, sys
raw = open(sys.argv[1], "rb").read()
d = json.loads(raw.decode("utf-8"))  # strict: fails on bad UTF-8
c = d["sems"][0]["waiters"][0]["cmdline"]
assert c.endswith(""" -- sh -c 'exit 0' 'a"b\\c' 'tab\there\nnl \x01 \ufffd \u00e9'"""), repr(c)
assert b"\\u0001" in raw and b"\\ufffd" in raw
PY
expect_status 0 "table with odd command lines" "$SEMDCTL" status esc
unhold esc
wait "$escr"
ok "JSON strings escaped, invalid UTF-8 replaced"

exit 0
