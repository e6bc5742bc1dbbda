#!/bin/sh
# A broken watch stream resumes without missing a release: h2 waits,
# watching through etcd member 1; member 1 is killed; h1 (through member
# 2) releases while h2's stream is down; h2's watch resumes on another
# member from the next revision, sees the delete, and is granted.

# shellcheck disable=SC1091
. "$SEMD_SRCDIR/tests/cluster/lib.sh"

start_etcd 3
e1=$(echo "$ETCD_EPS" | cut -d, -f1)
e2=$(echo "$ETCD_EPS" | cut -d, -f2)
e3=$(echo "$ETCD_EPS" | cut -d, -f3)
start_host h1 "$e2,$e3"
start_host h2 "$e1,$e3"

on h1 "$SEMRUN" api-x 1 -- sh -c 'echo $$ >"$1"; while [ ! -e "$1.go" ]; do
    sleep 0.05; done' sh "$tmp/a" </dev/null >/dev/null 2>&1 &
ra=$!
bg_pids="$bg_pids $ra"
wait_until "h1 holds api-x" test -s "$tmp/a"
on h2 "$SEMRUN" api-x 1 -- touch "$tmp/granted" </dev/null &
rb=$!
bg_pids="$bg_pids $rb"
wait_until "h2 waits" is_state_on h2 api-x 1 1
sh "$ETCDSH" kill "$tmp/etcd" 1
touch "$tmp/a.go"
wait "$ra" || fail "h1's holder failed"
ok "h1 released while h2's watch stream was broken"
wait_until "h2 is granted" test -e "$tmp/granted"
wait "$rb" || fail "h2's semrun failed"
grep -q "watch: .*resuming from revision" "$tmp/h2.log" ||
    fail "h2's log shows no resumed watch"
ok "h2's watch resumed and did not miss the release"
wait_until "no key left in etcd" [ "$(etcd_count "$PREFIX/api-x/q/")" = 0 ]
ok "no request key left in etcd"
