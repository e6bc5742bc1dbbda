#!/bin/sh
# Three semd daemons as three hosts share the cluster semaphore api-x of
# capacity 3 under random semrun load.  An independent checker reads the
# commands' own timestamps: never more than 3 at once cluster-wide, every
# grant in revision (token) order, and no key left in etcd at the end.

# shellcheck disable=SC1091
. "$SEMD_SRCDIR/tests/cluster/lib.sh"

start_etcd 1
# h1 takes its settings from a configuration file, h2 and h3 from options.
start_host_conf h1 "$ETCD_EPS"
start_host h2 "$ETCD_EPS"
start_host h3 "$ETCD_EPS"

n=45
i=0
pids=
while [ $i -lt $n ]; do
	h=h$((i % 3 + 1))
	hold=$(( (i * 7) % 5 + 2 ))	# tenths of a second, 2..6
	timed_job $h 120 api-x 3 $hold
	i=$((i + 1))
	[ $((i % 5)) -eq 0 ] && sleep 0.1
done
wait_jobs
ok "$n semrun on 3 hosts all ran"

check_grants "$n" 3

wait_until "no key left in etcd" [ "$(etcd_count "$PREFIX/api-x/q/")" = 0 ]
ok "no request key left in etcd"
for h in h1 h2 h3; do
	is_state_on $h api-x 0 0 || fail "$h: api-x not idle"
done
ok "every host sees api-x idle"
expect_status 0 "a request without capacity joins at the declared one" \
    on h1 "$SEMRUN" -t 30 api-x -- true
expect_status 0 "a request without capacity joins at the one in etcd" \
    on h2 "$SEMRUN" -t 30 api-x -- true
expect_status 65 "another capacity is CAPACITY_MISMATCH while in use" \
    sh -c 'on() { h=$1; shift; SEMD_SOCKET='"$tmp"'/$h.sock "$@"; }
	on h2 "$1" api-x 3 -- sh -c "SEMD_SOCKET='"$tmp"'/h3.sock \"$1\" -t 30 api-x 5 -- true"' \
    sh "$SEMRUN"
# h2's request key goes away in etcd first and reaches h3 by watch
# later: the pool is unused for h3 once h3 has seen it go.
wait_until "no key left in etcd" [ "$(etcd_count "$PREFIX/api-x/q/")" = 0 ]
wait_until "h3 sees api-x idle" is_state_on h3 api-x 0 0
expect_status 0 "an unused pool takes a new capacity" \
    on h3 "$SEMRUN" -t 30 api-x 4 -- true
expect_status 0 "and another host joins at it" \
    on h2 "$SEMRUN" -w 4 -t 30 api-x -- true
