#!/bin/sh
# Run real etcd members on loopback ports for the cluster tests.
#   etcd.sh start DIR N       start an N-member cluster with its data in DIR;
#                             prints the client URLs, comma-separated (also
#                             in DIR/endpoints); exit 77 if etcd is missing
#   etcd.sh kill DIR I [SIG]  signal member I (1-based; default KILL) and wait
#   etcd.sh restart DIR I     start member I again (same data, same ports)
#   etcd.sh leader DIR        print the number of the leader member
#   etcd.sh stop DIR          kill every member and wait
# Ports are picked free by the kernel (bind to port 0) at start.  Nothing
# outside DIR is touched; only pids this script started are signalled.
set -eu
ETCD=${ETCD:-/usr/bin/etcd}
PY=/usr/bin/python3

cmd=$1
dir=$2

free_ports() {
	$PY -c '
import socket, sys
ss = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); ss.append(s)
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}

member_start() {
	i=$1
	# shellcheck disable=SC1090
	. "$dir/m$i.env"
	state=new
	[ -d "$dir/m$i.data" ] && state=existing
	"$ETCD" --name "m$i" --data-dir "$dir/m$i.data" \
		--listen-client-urls "http://127.0.0.1:$cport" \
		--advertise-client-urls "http://127.0.0.1:$cport" \
		--listen-peer-urls "http://127.0.0.1:$pport" \
		--initial-advertise-peer-urls "http://127.0.0.1:$pport" \
		--initial-cluster "$(cat "$dir/initial-cluster")" \
		--initial-cluster-state "$state" \
		--initial-cluster-token "semd-test-$$" \
		--heartbeat-interval 50 --election-timeout 500 \
		--log-outputs stderr --logger zap \
		>>"$dir/m$i.log" 2>&1 &
	echo $! >"$dir/m$i.pid"
}

member_wait() {
	i=$1
	# shellcheck disable=SC1090
	. "$dir/m$i.env"
	n=0
	while ! curl -s -m 2 "http://127.0.0.1:$cport/health" 2>/dev/null |
	    grep -q '"health":"true"'; do
		n=$((n + 1))
		if [ $n -gt 300 ]; then
			echo "etcd member $i did not become healthy:" >&2
			tail -n 20 "$dir/m$i.log" >&2
			exit 1
		fi
		if ! kill -0 "$(cat "$dir/m$i.pid")" 2>/dev/null; then
			echo "etcd member $i died:" >&2
			tail -n 20 "$dir/m$i.log" >&2
			exit 1
		fi
		sleep 0.1
	done
}

case $cmd in
start)
	n=$3
	if [ ! -x "$ETCD" ]; then
		echo "SKIP: $ETCD is missing (Debian package etcd-server)" >&2
		exit 77
	fi
	mkdir -p "$dir"
	ports=$(free_ports $((2 * n)))
	ic=
	eps=
	i=1
	for p in $ports; do
		if [ -z "${cport:-}" ]; then
			cport=$p
			continue
		fi
		pport=$p
		printf 'cport=%s\npport=%s\n' "$cport" "$pport" >"$dir/m$i.env"
		ic="${ic:+$ic,}m$i=http://127.0.0.1:$pport"
		eps="${eps:+$eps,}http://127.0.0.1:$cport"
		i=$((i + 1))
		cport=
	done
	echo "$ic" >"$dir/initial-cluster"
	echo "$eps" >"$dir/endpoints"
	echo "$n" >"$dir/members"
	i=1
	while [ $i -le "$n" ]; do
		member_start $i
		i=$((i + 1))
	done
	i=1
	while [ $i -le "$n" ]; do
		member_wait $i
		i=$((i + 1))
	done
	echo "$eps"
	;;
kill)
	i=$3
	pid=$(cat "$dir/m$i.pid")
	kill -"${4:-KILL}" "$pid" 2>/dev/null || true
	while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	;;
restart)
	member_start "$3"
	member_wait "$3"
	;;
leader)
	n=$(cat "$dir/members")
	i=1
	while [ $i -le "$n" ]; do
		# shellcheck disable=SC1090
		. "$dir/m$i.env"
		if ETCDCTL_API=3 etcdctl --endpoints "http://127.0.0.1:$cport" \
		    endpoint status -w json 2>/dev/null |
		    $PY -c 'import json,sys; s=json.load(sys.stdin)[0]["Status"]; sys.exit(0 if s["leader"]==s["header"]["member_id"] else 1)'; then
			echo $i
			exit 0
		fi
		i=$((i + 1))
	done
	exit 1
	;;
stop)
	for f in "$dir"/m*.pid; do
		[ -f "$f" ] || continue
		pid=$(cat "$f")
		kill -KILL "$pid" 2>/dev/null || true
		while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
	done
	;;
*)
	echo "usage: etcd.sh start|kill|restart|leader|stop DIR ..." >&2
	exit 2
	;;
esac
