#!/bin/sh
# A 3-member etcd cluster under semd load: the leader is killed during
# the load (and restarted), later a follower.  Three semd hosts share
# api-x 3, each with the endpoints in another order (so their streams
# are spread over the members and some break).  An independent checker
# over the commands' own timestamps finds no over-admission and grants
# in token order; every request is served; no key is left.

# shellcheck disable=SC1091
. "$SEMD_SRCDIR/tests/cluster/lib.sh"

start_etcd 3
e1=$(echo "$ETCD_EPS" | cut -d, -f1)
e2=$(echo "$ETCD_EPS" | cut -d, -f2)
e3=$(echo "$ETCD_EPS" | cut -d, -f3)
start_host h1 "$e1,$e2,$e3"
start_host h2 "$e2,$e3,$e1"
start_host h3 "$e3,$e1,$e2"

n=60
i=0
pids=
while [ $i -lt $n ]; do
	h=h$((i % 3 + 1))
	hold=$(( (i * 7) % 5 + 2 ))
	timed_job $h 300 api-x 3 $hold
	i=$((i + 1))
	if [ $i -eq 20 ]; then
		leader=$(sh "$ETCDSH" leader "$tmp/etcd") ||
		    fail "no etcd leader"
		sh "$ETCDSH" kill "$tmp/etcd" "$leader"
		ok "killed the etcd leader (member $leader) under load"
	fi
	if [ $i -eq 35 ]; then
		sh "$ETCDSH" restart "$tmp/etcd" "$leader" ||
		    fail "cannot restart member $leader"
		leader=$(sh "$ETCDSH" leader "$tmp/etcd") ||
		    fail "no etcd leader"
		follower=$(( leader % 3 + 1 ))
		sh "$ETCDSH" kill "$tmp/etcd" "$follower"
		ok "restarted it; killed a follower (member $follower)"
	fi
	[ $((i % 5)) -eq 0 ] && sleep 0.2
done
wait_jobs
ok "all $n requests were served across the failures"

check_grants "$n" 3

sh "$ETCDSH" restart "$tmp/etcd" "$follower" || fail "cannot restart"
wait_until "no key left in etcd" [ "$(etcd_count "$PREFIX/api-x/q/")" = 0 ]
ok "no request key left in etcd"
