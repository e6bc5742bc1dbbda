#!/bin/sh
# semrun gives CMD the grant's token as $SEMD_TOKEN: a non-zero decimal
# number, different for every grant, replacing one inherited from the
# caller's environment.
. "$(dirname "$0")/lib.sh"

start_semd

SEMD_TOKEN=inherited
export SEMD_TOKEN
"$SEMRUN" tok 2 -- sh -c 'echo "$SEMD_TOKEN" >"$1"' sh "$tmp/t1" ||
    fail "semrun 1 failed"
"$SEMRUN" tok 2 -- sh -c 'echo "$SEMD_TOKEN" >"$1"' sh "$tmp/t2" ||
    fail "semrun 2 failed"
# Two at once, nested: the inner one holds its own grant.
"$SEMRUN" tok 2 -- sh -c 'echo "$SEMD_TOKEN" >"$1";
    "$2" tok 2 -- sh -c "echo \$SEMD_TOKEN >$3"' sh "$tmp/t3" "$SEMRUN" \
    "$tmp/t4" || fail "nested semrun failed"
unset SEMD_TOKEN

for f in t1 t2 t3 t4; do
	grep -Eq '^[1-9][0-9]*$' "$tmp/$f" ||
	    fail "$f: SEMD_TOKEN is '$(cat "$tmp/$f")', not a decimal token"
done
n=$(cat "$tmp/t1" "$tmp/t2" "$tmp/t3" "$tmp/t4" | sort -u | wc -l)
[ "$n" -eq 4 ] || fail "four grants got $n distinct tokens"
ok "CMD gets a distinct SEMD_TOKEN for every grant"
