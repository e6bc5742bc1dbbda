# lib.sh -- sourced by the cluster tests: real etcd members (etcd.sh) and
# several semd daemons on one machine acting as hosts (distinct host ids
# and sockets), on top of tests/tools/lib.sh (fail, ok, wait_until,
# expect_status, the temporary directory and its cleanup).
#
# Skips (exit 77) only when /usr/bin/etcd is missing.

# shellcheck disable=SC1091
. "$SEMD_SRCDIR/tests/tools/lib.sh"

ETCDSH="$SEMD_SRCDIR/tests/cluster/etcd.sh"
PY=/usr/bin/python3
PREFIX=/semd-test
hosts=

_tools_cleanup()
{
	for _h in $hosts; do
		[ -f "$tmp/$_h.semd.pid" ] &&
		    kill -9 "$(cat "$tmp/$_h.semd.pid")" 2>/dev/null
	done
	[ -d "$tmp/etcd" ] && sh "$ETCDSH" stop "$tmp/etcd"
}
trap '_tools_cleanup; cleanup' EXIT

# Fail the test with a message and the hosts' logs.
fail()
{
	echo "FAIL: $*" >&2
	show_logs
	exit 1
}

# start_etcd N: start an N-member etcd; ETCD_EPS gets its client URLs.
start_etcd()
{
	ETCD_EPS=$(sh "$ETCDSH" start "$tmp/etcd" "$1")
	_st=$?
	[ $_st -eq 77 ] && exit 77
	[ $_st -eq 0 ] || fail "cannot start etcd"
}

# start_host NAME EPS [SEMD ARGS...]: a semd for host NAME on
# $tmp/NAME.sock with cluster endpoints EPS; returns once it answers.
start_host()
{
	_h=$1
	_eps=$2
	shift 2
	"$SEMD_BIN" -f -vv -S "$tmp/$_h.sock" --cluster-endpoints "$_eps" \
	    --cluster-prefix "$PREFIX" --cluster-host-id "$_h" \
	    --cluster-names api- "$@" >>"$tmp/$_h.log" 2>&1 &
	echo $! >"$tmp/$_h.semd.pid"
	hosts="$hosts $_h"
	wait_until "semd $_h answers" "$SEMDCTL" -S "$tmp/$_h.sock" ping
}

# start_host_conf NAME EPS: like start_host, with the settings in a
# configuration file ([cluster], [sem api-x] scope = cluster, capacity 3).
start_host_conf()
{
	cat >"$tmp/$1.conf" <<CONF
[sem api-x]
capacity = 3
scope = cluster

[cluster]
endpoints = $2
prefix = $PREFIX
host-id = $1
lease-ttl = 10s
names = api-
CONF
	"$SEMD_BIN" -f -vv -S "$tmp/$1.sock" -c "$tmp/$1.conf" \
	    >>"$tmp/$1.log" 2>&1 &
	echo $! >"$tmp/$1.semd.pid"
	hosts="$hosts $1"
	wait_until "semd $1 answers" "$SEMDCTL" -S "$tmp/$1.sock" ping
}

# on HOST CMD [ARG]...: run CMD with $SEMD_SOCKET of HOST.
on()
{
	_h=$1
	shift
	SEMD_SOCKET=$tmp/$_h.sock "$@"
}

# st_on HOST PYEXPR: like st, against HOST.
st_on()
{
	SEMD_SOCKET=$tmp/$1.sock st "$2"
}

# is_state_on HOST NAME HELD WAITING
is_state_on()
{
	[ "$(st_on "$1" "(sem('$2')['held'], sem('$2')['waiting'])")" = \
	    "($3, $4)" ]
}

# etcd_count KEYPREFIX: how many keys etcd has under KEYPREFIX.
etcd_count()
{
	ETCDCTL_API=3 etcdctl --endpoints "$ETCD_EPS" get --prefix \
	    --keys-only "$1" | grep -c .
}

# show_logs: the last lines of every host's log (on failure).
show_logs()
{
	for _h in $hosts; do
		echo "--- $_h ---" >&2
		tail -n 15 "$tmp/$_h.log" >&2
	done
}

# timed_job HOST TIMEOUT SEM CAP TENTHS: in the background, semrun on
# HOST (-t TIMEOUT, SEM of capacity CAP) runs a command that holds the
# slot TENTHS tenths of a second and records its start and end in
# $tmp/ev.log for check_grants; its pid is added to $pids.
timed_job()
{
	on "$1" "$SEMRUN" -t "$2" "$3" "$4" -- sh -c '
	    echo "S $(date +%s%N) $SEMD_TOKEN $1" >>"$2"
	    sleep 0.$3
	    echo "E $(date +%s%N) $SEMD_TOKEN $1" >>"$2"' sh "$1" \
	    "$tmp/ev.log" "$5" </dev/null >/dev/null 2>>"$tmp/semrun.err" &
	pids="$pids $!"
}

# wait_jobs: wait for every pid in $pids; fail unless all exited 0.
wait_jobs()
{
	_bad=0
	for _p in $pids; do
		wait "$_p" || _bad=$((_bad + 1))
	done
	pids=
	[ $_bad -eq 0 ] ||
	    fail "$_bad semrun failed: $(head -5 "$tmp/semrun.err")"
}

# check_grants N CAP: the commands' own record in $tmp/ev.log (see
# tests/lib/check-grants.py): N grants, at most CAP at once, token order.
check_grants()
{
	$PY "$SEMD_SRCDIR/tests/lib/check-grants.py" "$tmp/ev.log" "$1" \
	    "$2" || fail "the checker found a violation"
}
