#!/bin/sh
# Host death frees its slots when its lease expires, not before; a local
# client's death frees them at once.

# shellcheck disable=SC1091
. "$SEMD_SRCDIR/tests/cluster/lib.sh"

start_etcd 1
# A lease of 3 s: the dead host's keys go 2 to 3 s after its death
# (keepalives every TTL/3).
start_host h1 "$ETCD_EPS" --cluster-lease-ttl 3
start_host h2 "$ETCD_EPS" --cluster-lease-ttl 3

on h1 "$SEMRUN" api-x 1 -- sh -c 'echo $$ >"$1"; exec sleep 1000' sh \
    "$tmp/cmd1.pid" </dev/null >/dev/null 2>&1 &
bg_pids="$bg_pids $!"
wait_until "h1 holds api-x" test -s "$tmp/cmd1.pid"
on h2 "$SEMRUN" api-x 1 -- touch "$tmp/granted2" </dev/null &
w2=$!
bg_pids="$bg_pids $w2"
wait_until "h2 sees the holder and its waiter" is_state_on h2 api-x 1 1
ok "h2 waits behind h1's holder"
[ "$(st_on h2 "sem('api-x')['holders'][0].get('host')")" = h1 ] ||
    fail "h2's status does not name h1 as the holder's host"
st_on h2 "sem('api-x')['holders'][0]['cmdline']" | grep -q "sleep 1000" ||
    fail "h2's status does not show the holder's command on h1"
[ "$(st_on h2 "sem('api-x')['waiters'][0].get('host')")" = h2 ] ||
    fail "h2's status does not name h2 as the waiter's host"
ok "status shows each cluster party's host and command"

kill -9 "$(cat "$tmp/h1.semd.pid")"
sleep 1.2
[ -e "$tmp/granted2" ] && fail "granted 1.2 s after the host died (TTL 3)"
is_state_on h2 api-x 1 1 || fail "h2: api-x changed before the TTL"
ok "the dead host's slot is still taken before its lease expires"
wait_until "h2's waiter is granted" test -e "$tmp/granted2"
wait "$w2" || fail "h2's semrun failed"
ok "the slot is freed when the lease expires"
kill -9 "$(cat "$tmp/cmd1.pid")" 2>/dev/null || true

# Now a long lease: a killed semrun (and its command, which holds the
# connection) frees its slot at once, long before 30 s.
start_host h3 "$ETCD_EPS" --cluster-lease-ttl 30
start_host h4 "$ETCD_EPS" --cluster-lease-ttl 30
on h3 "$SEMRUN" api-y 1 -- sh -c 'echo $$ >"$1"; exec sleep 1000' sh \
    "$tmp/cmd3.pid" </dev/null >/dev/null 2>&1 &
r3=$!
bg_pids="$bg_pids $r3"
wait_until "h3 holds api-y" test -s "$tmp/cmd3.pid"
on h4 "$SEMRUN" api-y 1 -- touch "$tmp/granted4" </dev/null &
w4=$!
bg_pids="$bg_pids $w4"
wait_until "h4 sees the holder and its waiter" is_state_on h4 api-y 1 1
kill -9 "$r3" "$(cat "$tmp/cmd3.pid")"
DEADLINE=10 wait_until "h4's waiter is granted at once" test -e \
    "$tmp/granted4"
ok "a killed local client frees its cluster slot at once"
wait "$w4" || fail "h4's semrun failed"
wait_until "no key left in etcd" [ "$(etcd_count "$PREFIX/api-y/q/")" = 0 ]
ok "no request key left in etcd"

# A clean stop (SIGTERM) revokes the lease: the slot is free at once.
on h3 "$SEMRUN" api-z 1 -- sh -c 'echo $$ >"$1"; exec sleep 1000' sh \
    "$tmp/cmd5.pid" </dev/null >/dev/null 2>&1 &
bg_pids="$bg_pids $!"
wait_until "h3 holds api-z" test -s "$tmp/cmd5.pid"
on h4 "$SEMRUN" api-z 1 -- touch "$tmp/granted6" </dev/null &
w6=$!
bg_pids="$bg_pids $w6"
wait_until "h4 sees the holder and its waiter" is_state_on h4 api-z 1 1
kill -TERM "$(cat "$tmp/h3.semd.pid")"
DEADLINE=10 wait_until "h4's waiter is granted at once" test -e \
    "$tmp/granted6"
ok "a semd stopped cleanly frees its cluster slots at once (lease revoked)"
wait "$w6" || fail "h4's semrun failed"
kill -9 "$(cat "$tmp/cmd5.pid")" 2>/dev/null || true
