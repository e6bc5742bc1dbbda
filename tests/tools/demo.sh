#!/bin/sh
# The demo: five `semrun demo 2` jobs started at once.  Each CMD appends
# "start" when it begins and "end" before it ends; at no point of that
# log may more than two be between their start and end.
. "$(dirname "$0")/lib.sh"
start_semd

cat >"$tmp/job.sh" <<'SH'
echo start >>"$1"
sleep 0.3
echo end >>"$1"
SH
pids=
for i in 1 2 3 4 5; do
	"$SEMRUN" demo 2 -- sh "$tmp/job.sh" "$tmp/log" </dev/null &
	pids="$pids $!"
	bg_pids="$bg_pids $!"
done
for p in $pids; do
	wait "$p"
	st_=$?
	[ "$st_" -eq 0 ] || fail "a job exited $st_"
done
running=0
max=0
while read -r ev; do
	case $ev in
	start)	running=$((running + 1)) ;;
	end)	running=$((running - 1)) ;;
	*)	fail "bad log line '$ev'" ;;
	esac
	[ "$running" -gt "$max" ] && max=$running
	[ "$running" -ge 0 ] || fail "an end before its start"
done <"$tmp/log"
[ "$max" -le 2 ] || fail "$max jobs ran at once: $(tr '\n' ' ' <"$tmp/log")"
[ "$(grep -c '^start$' "$tmp/log")" -eq 5 ] || fail "not all five jobs started"
[ "$(grep -c '^end$' "$tmp/log")" -eq 5 ] || fail "not all five jobs ended"
expect_state demo 0 0
ok "five jobs on capacity 2: all ran, never more than 2 at once (max $max)"
exit 0
