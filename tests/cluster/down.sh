#!/bin/sh
# etcd unreachable, at start and mid-run: local semaphores keep working,
# cluster acquires wait within their timeouts and time out cleanly; once
# etcd is back, cluster service resumes.

# shellcheck disable=SC1091
. "$SEMD_SRCDIR/tests/cluster/lib.sh"

# At start: nothing listens on port 1.
start_host h0 http://127.0.0.1:1
expect_status 0 "a local semaphore works without etcd" \
    on h0 "$SEMRUN" -t 5 local-x 1 -- true
expect_status 75 "a cluster acquire times out without etcd" \
    on h0 "$SEMRUN" -t 1 api-x 1 -- true
expect_status 75 "a cluster try times out without etcd" \
    on h0 "$SEMRUN" -n api-x 1 -- true
grep -q "cluster acquires wait within their timeouts" "$tmp/h0.log" ||
    fail "no clear message about etcd in the log"
ok "the log says why cluster acquires wait"
is_state_on h0 api-x 0 0 || fail "h0: api-x not idle after the timeouts"

# Mid-run.
start_etcd 1
start_host h1 "$ETCD_EPS"
expect_status 0 "a cluster acquire works with etcd" \
    on h1 "$SEMRUN" -t 20 api-x 1 -- true
sh "$ETCDSH" kill "$tmp/etcd" 1
expect_status 75 "a cluster acquire times out while etcd is down" \
    on h1 "$SEMRUN" -t 1 api-x 1 -- true
expect_status 0 "a local semaphore works while etcd is down" \
    on h1 "$SEMRUN" -t 5 local-x 1 -- true
sh "$ETCDSH" restart "$tmp/etcd" 1 || fail "cannot restart etcd"
expect_status 0 "cluster acquires work again once etcd is back" \
    on h1 "$SEMRUN" -t 30 api-x 1 -- true
wait_until "no key left in etcd" [ "$(etcd_count "$PREFIX/api-x/q/")" = 0 ]
ok "no request key left in etcd"
