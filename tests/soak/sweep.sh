#!/bin/sh
# The soak test's sweep (soak --sweep) on made-up event logs: it must pass
# a log that keeps the bound, including a release and a grant at the same
# instant, and catch one that breaks it, a release without a grant, a
# grant never released, and a release logged before its grant.  The soak
# run itself (make soak) is only as good as this checker.
set -u
if [ -z "${SEMD_BUILDDIR:-}" ]; then
	echo "SEMD_BUILDDIR is not set: run through make check" >&2
	exit 99
fi
SOAK=$SEMD_BUILDDIR/tests/soak/soak
[ -x "$SOAK" ] || { echo "missing $SOAK: build it first" >&2; exit 99; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/semd-sweep.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT

fail()
{
	echo "FAIL: $*" >&2
	exit 1
}

# expect STATUS DESCRIPTION: run the sweep on $tmp/log.
expect()
{
	"$SOAK" --sweep "$tmp/log" >"$tmp/out" 2>"$tmp/err"
	_st=$?
	[ "$_st" -eq "$1" ] ||
	    fail "$2: exit $_st, wanted $1: $(cat "$tmp/out" "$tmp/err")"
	echo "ok - $2 (exit $1)"
}

# soak.two has capacity 2, soak.one 1.  Lines need not be in order.
cat >"$tmp/log" <<'EOF'
G 100 soak.two 1 a
G 110 soak.two 1 b
R 200 soak.two 1 a
G 200 soak.two 1 c
R 300 soak.two 1 b
R 300 soak.two 1 c
G 400 soak.one 1 d
R 500 soak.one 1 d
G 500 soak.one 1 e
R 600 soak.one 1 e
EOF
expect 0 "a log within the bound"
grep -q " 5 grant intervals, 0 violations" "$tmp/out" || fail "wrong counts: $(cat "$tmp/out")"

cat >"$tmp/log" <<'EOF'
G 100 soak.two 1 a
G 150 soak.two 1 b
G 160 soak.two 1 c
R 170 soak.two 1 c
R 200 soak.two 1 a
R 300 soak.two 1 b
EOF
expect 1 "three of capacity 2 held at once"
grep -q "soak.two: 3 held at 160 ns, capacity 2" "$tmp/err" || fail "message: $(cat "$tmp/err")"

cat >"$tmp/log" <<'EOF'
G 100 soak.five 3 a
G 120 soak.five 3 b
R 130 soak.five 3 a
R 140 soak.five 3 b
EOF
expect 1 "weights 3 + 3 on capacity 5"

cat >"$tmp/log" <<'EOF'
G 100 soak.one 1 a
R 200 soak.one 1 a
R 300 soak.one 1 x
EOF
expect 1 "a release without a grant"

cat >"$tmp/log" <<'EOF'
G 100 soak.one 1 a
EOF
expect 1 "a grant never released"

cat >"$tmp/log" <<'EOF'
R 100 soak.one 1 a
G 200 soak.one 1 a
EOF
expect 1 "a release logged before its grant"

printf 'G 100 no.such.sem 1 a\nR 200 no.such.sem 1 a\n' >"$tmp/log"
expect 1 "an unknown semaphore"

rm -f "$tmp/log"
expect 2 "no log at all"
exit 0
