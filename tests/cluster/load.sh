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
	on $h "$SEMRUN" -t 120 api-x 3 -- sh -c '
	    echo "S $(date +%s%N) $SEMD_TOKEN $1" >>"$2"
	    sleep 0.$3
	    echo "E $(date +%s%N) $SEMD_TOKEN $1" >>"$2"' sh $h "$tmp/ev.log" \
	    $hold </dev/null >/dev/null 2>>"$tmp/semrun.err" &
	pids="$pids $!"
	i=$((i + 1))
	[ $((i % 5)) -eq 0 ] && sleep 0.1
done
bad=0
for p in $pids; do
	wait "$p" || bad=$((bad + 1))
done
[ $bad -eq 0 ] || fail "$bad semrun failed: $(head -5 "$tmp/semrun.err")"
ok "$n semrun on 3 hosts all ran"

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
# FIFO by revision: an earlier request runs before a later one ends.
toks = sorted(start)
for i, a in enumerate(toks):
    for b in toks[i + 1:]:
        assert start[a] < end[b], "token %d started after %d ended" % (a, b)
print("ok - at most %d at once (capacity %d), %d grants in token order"
      % (top, cap, n))
PY

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
expect_status 0 "an unused pool takes a new capacity" \
    on h3 "$SEMRUN" -t 30 api-x 4 -- true
expect_status 0 "and another host joins at it" \
    on h2 "$SEMRUN" -w 4 -t 30 api-x -- true
