#!/bin/sh
# Requests of several cluster pools: one Txn, one revision (one token for
# all), granted only when every pool fits, strict FIFO with reservation
# across hosts and no deadlock; a request mixing local and cluster
# semaphores is refused.

# shellcheck disable=SC1091
. "$SEMD_SRCDIR/tests/cluster/lib.sh"

start_etcd 1
start_host h1 "$ETCD_EPS"
start_host h2 "$ETCD_EPS"

# h1 holds api-a.
on h1 "$SEMRUN" api-a 1 -- sh -c 'echo $$ >"$1"; while [ ! -e "$1.go" ]; do
    sleep 0.05; done' sh "$tmp/a" </dev/null >/dev/null 2>&1 &
ra=$!
bg_pids="$bg_pids $ra"
wait_until "h1 holds api-a" test -s "$tmp/a"
# h2 wants api-a and api-b together: it waits, and reserves api-b.
on h2 "$SEMRUN" api-a 1 api-b 1 -- sh -c 'echo "$SEMD_TOKEN" >"$1"; while
    [ ! -e "$1.go" ]; do sleep 0.05; done' sh "$tmp/ab" </dev/null \
    >/dev/null 2>"$tmp/ab.err" &
rab=$!
bg_pids="$bg_pids $rab"
wait_until "h2's request waits on both" is_state_on h2 api-b 0 1
is_state_on h1 api-a 1 1 || fail "h1: api-a is not (1 held, 1 waiting)"
ok "a request of two pools waits while one is taken"
# h1 now wants api-b, free: it must wait behind h2's earlier request.
on h1 "$SEMRUN" api-b 1 -- touch "$tmp/b" </dev/null &
rb=$!
bg_pids="$bg_pids $rb"
wait_until "h1's api-b request waits" is_state_on h2 api-b 0 2
[ -e "$tmp/b" ] && fail "api-b was granted past an earlier waiter"
ok "a free pool is not granted past an earlier request (reservation)"
touch "$tmp/a.go"
wait "$ra" || fail "h1's api-a holder failed"
wait_until "h2 holds both" test -s "$tmp/ab"
[ -e "$tmp/b" ] && fail "api-b granted to h1 while h2 holds it"
is_state_on h2 api-a 1 0 && is_state_on h2 api-b 1 1 ||
    fail "h2 does not see itself holding both with h1's waiter"
ok "the request of two pools is granted once both fit, before the later one"
touch "$tmp/ab.go"
wait "$rab" || fail "h2's two-pool request failed: $(cat "$tmp/ab.err")"
wait "$rb" || fail "h1's api-b request failed"
ok "then the later request of api-b runs (no deadlock)"

expect_status 65 "mixing a local and a cluster semaphore is refused" \
    on h1 "$SEMRUN" -t 5 api-a 1 local-z 1 -- true
grep -q "cannot mix local and cluster" "$tmp/err" ||
    fail "no clear message: $(cat "$tmp/err")"
wait_until "no key left in etcd" [ "$(etcd_count "$PREFIX/")" = 2 ]
ok "only the two capacity keys are left in etcd"
