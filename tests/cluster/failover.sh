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
	on $h "$SEMRUN" -t 300 api-x 3 -- sh -c '
	    echo "S $(date +%s%N) $SEMD_TOKEN $1" >>"$2"
	    sleep 0.$3
	    echo "E $(date +%s%N) $SEMD_TOKEN $1" >>"$2"' sh $h "$tmp/ev.log" \
	    $hold </dev/null >/dev/null 2>>"$tmp/semrun.err" &
	pids="$pids $!"
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
bad=0
for p in $pids; do
	wait "$p" || bad=$((bad + 1))
done
[ $bad -eq 0 ] || fail "$bad semrun failed: $(head -5 "$tmp/semrun.err")"
ok "all $n requests were served across the failures"

$PY - "$tmp/ev.log" "$n" 3 <<'PY' || fail "the checker found a violation"
import sys
path, n, cap = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
start, end = {}, {}
for line in open(path):
    kind, ts, tok, host = line.split()
    (start if kind == "S" else end)[int(tok)] = int(ts)
assert len(start) == n and set(start) == set(end), \
    "%d starts, %d ends, want %d each" % (len(start), len(end), n)
ev = sorted([(t, 1) for t in start.values()] + [(t, -1) for t in end.values()],
            key=lambda e: (e[0], e[1]))
cur = top = 0
for t, d in ev:
    cur += d
    top = max(top, cur)
assert top <= cap, "%d ran at once, capacity %d" % (top, cap)
toks = sorted(start)
for i, a in enumerate(toks):
    for b in toks[i + 1:]:
        assert start[a] < end[b], "token %d started after %d ended" % (a, b)
print("ok - at most %d at once (capacity %d), %d grants in token order"
      % (top, cap, n))
PY

sh "$ETCDSH" restart "$tmp/etcd" "$follower" || fail "cannot restart"
wait_until "no key left in etcd" [ "$(etcd_count "$PREFIX/api-x/q/")" = 0 ]
ok "no request key left in etcd"
