#!/bin/sh
# A semd whose etcd lease is lost (here: the daemon is paused, SIGSTOP,
# for longer than its lease TTL, so etcd expires the lease and deletes
# its keys) tells its cluster holders REVOKED once it runs again:
# semrun applies --on-revoke (default: SIGTERM to CMD, semrun exits
# with CMD's status; ignore: CMD runs on, semrun warns), the slot is no
# longer counted, and another host's waiter is granted only once the
# lease has expired in etcd.  No key is left in etcd at the end.

# shellcheck disable=SC1091
. "$SEMD_SRCDIR/tests/cluster/lib.sh"

start_etcd 1
# Keepalives every TTL/3 = 1 s: at the pause the lease has 4 s or more.
start_host h1 "$ETCD_EPS" --cluster-lease-ttl 5
start_host h2 "$ETCD_EPS" --cluster-lease-ttl 30
h1pid=$(cat "$tmp/h1.semd.pid")

# The holder's CMD: its pid in $1.pid, SIGTERM writes $1.term and exits
# 3; otherwise it runs until $1.go exists, then exits 0.
cat >"$tmp/holder.sh" <<'EOF'
#!/bin/sh
trap 'touch "$1.term"; exit 3' TERM
echo $$ >"$1.pid.tmp" && mv "$1.pid.tmp" "$1.pid"
while [ ! -e "$1.go" ]; do sleep 0.1; done
exit 0
EOF
# The waiter's CMD on h2: what etcd says of h1's lease (hex $2) and of
# h1's keys under $3 at the moment of its grant.
cat >"$tmp/waiter.sh" <<'EOF'
#!/bin/sh
ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EPS" lease timetolive "$2" \
    >"$1.lease" 2>&1
ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EPS" get --prefix --keys-only \
    "$3" | grep -c . >"$1.keys"
touch "$1"
EOF
chmod +x "$tmp/holder.sh" "$tmp/waiter.sh"
export ETCD_EPS

# h1's lease, in hex, from its key under $PREFIX/NAME/q/h1-LEASE-SEQ.
h1_lease()
{
	ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EPS" get --prefix \
	    --keys-only "$PREFIX/$1/q/h1-" |
	    sed -n 's|.*/q/h1-\([0-9a-f]*\)-.*|\1|p' | head -n 1
}

# lose_lease NAME TAG: h1 holds NAME (CMD $tmp/TAG), h2's waiter queues;
# pause h1 until h2's waiter is granted (etcd expired h1's lease), then
# let h1 run again.
lose_lease()
{
	wait_until "h2 sees h1's holder and its own waiter" \
	    is_state_on h2 "$1" 1 1
	kill -STOP "$h1pid"
	sleep 1
	[ -e "$tmp/$2.granted" ] &&
	    fail "h2 was granted $1 1 s into h1's pause (lease TTL 5)"
	is_state_on h2 "$1" 1 1 || fail "h2: $1 changed before h1's TTL"
	ok "$1: h1's slot still counts 1 s into its pause"
	DEADLINE=60 wait_until "h2's waiter is granted $1" \
	    test -e "$tmp/$2.granted"
	grep -q "already expired" "$tmp/$2.granted.lease" ||
	    fail "h2 granted $1 while h1's lease lived: " \
	    "$(cat "$tmp/$2.granted.lease")"
	[ "$(cat "$tmp/$2.granted.keys")" = 0 ] ||
	    fail "h2 granted $1 while h1's key was in etcd"
	ok "$1: h2's waiter is granted only once h1's lease expired"
	# h1's holder knows nothing yet: its daemon is paused.
	[ ! -e "$tmp/$2.term" ] || fail "$2's CMD ended during the pause"
	kill -CONT "$h1pid"
}

# --- the default, --on-revoke=terminate
on h1 "$SEMRUN" api-x 1 -- "$tmp/holder.sh" "$tmp/t" \
    </dev/null >/dev/null 2>"$tmp/t.err" &
r1=$!
bg_pids="$bg_pids $r1"
wait_until "h1's holder runs" test -s "$tmp/t.pid"
lease=$(h1_lease api-x)
[ -n "$lease" ] || fail "no key of h1 under $PREFIX/api-x/q/"
on h2 "$SEMRUN" api-x 1 -- "$tmp/waiter.sh" "$tmp/t.granted" "$lease" \
    "$PREFIX/api-x/q/h1-" </dev/null >/dev/null 2>"$tmp/w1.err" &
w1=$!
bg_pids="$bg_pids $w1"
lose_lease api-x t
wait_until "CMD got SIGTERM" test -e "$tmp/t.term"
wait "$r1"
st=$?
[ "$st" -eq 3 ] || fail "semrun exited $st, wanted CMD's 3"
ok "lease lost: CMD got SIGTERM, semrun exited with CMD's status"
grep -q "revoked the slot of api-x" "$tmp/t.err" ||
    fail "semrun said: $(cat "$tmp/t.err")"
grep -q "lease $lease lost" "$tmp/h1.log" ||
    fail "h1 did not log the loss of lease $lease"
# (REVOKED comes from whichever h1 learns first: the watch's DELETE of
# its key, or the keepalive's answer that the lease expired.)
wait "$w1" || fail "h2's semrun exited $?"
wait_until "h1 counts no holder of api-x" is_state_on h1 api-x 0 0
ok "h1 no longer counts the revoked slot"

# --- --on-revoke=ignore: CMD runs on, semrun warns, the slot is gone.
on h1 "$SEMRUN" --on-revoke=ignore api-y 1 -- "$tmp/holder.sh" "$tmp/i" \
    </dev/null >/dev/null 2>"$tmp/i.err" &
r2=$!
bg_pids="$bg_pids $r2"
wait_until "h1's ignoring holder runs" test -s "$tmp/i.pid"
old=$lease
lease=$(h1_lease api-y)
[ -n "$lease" ] || fail "no key of h1 under $PREFIX/api-y/q/"
[ "$lease" != "$old" ] || fail "h1 kept the lost lease $old"
on h2 "$SEMRUN" api-y 1 -- "$tmp/waiter.sh" "$tmp/i.granted" "$lease" \
    "$PREFIX/api-y/q/h1-" </dev/null >/dev/null 2>"$tmp/w2.err" &
w2=$!
bg_pids="$bg_pids $w2"
lose_lease api-y i
wait_until "semrun warns" grep -q "continues (--on-revoke=ignore)" \
    "$tmp/i.err"
kill -0 "$(cat "$tmp/i.pid")" || fail "CMD died despite --on-revoke=ignore"
[ ! -e "$tmp/i.term" ] || fail "CMD got SIGTERM despite --on-revoke=ignore"
kill -0 "$r2" || fail "semrun exited despite --on-revoke=ignore"
wait_until "h1 counts no holder of api-y" is_state_on h1 api-y 0 0
ok "--on-revoke=ignore: CMD runs on, semrun warns, the slot is not counted"
wait "$w2" || fail "h2's semrun exited $?"
touch "$tmp/i.go"
wait "$r2"
st=$?
[ "$st" -eq 0 ] || fail "semrun exited $st, wanted CMD's 0"
ok "the ignoring semrun exits with CMD's status once it ends"

# h1 works on under its new lease, and nothing is left in etcd.
expect_status 0 "h1 grants api-x again" on h1 "$SEMRUN" -t 30 api-x 1 -- true
wait_until "no request key left in etcd" \
    [ "$(etcd_count "$PREFIX/api-x/q/")" = 0 ]
wait_until "no request key left in etcd" \
    [ "$(etcd_count "$PREFIX/api-y/q/")" = 0 ]
ok "no request key left in etcd"
kill -0 "$h1pid" || fail "h1 died"
exit 0
