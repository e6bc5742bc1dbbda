#!/bin/sh
# semrun and the GNU make jobserver, with Debian's real make:
#  - semrun --jobserver NAME N -- make: the build's job slots are slots of
#    NAME, handed out lazily (one spare token in the pipe), in both the
#    pipe style (make 4.3) and the fifo style (make 4.4; checked with our
#    own protocol client, jobserver-client.py, as make 4.4 is not here);
#  - three builds of 40 recipes under one pool of 4: never more than 4
#    recipes at once machine-wide, 4 at some point, all 120 ran, nothing
#    held at the end (an independent checker reads the recipes' log);
#  - kill -9 of a make mid-build: its slots are freed once its jobs are
#    gone, and a waiting build then runs;
#  - semrun inside a recipe lends its job slot back to make while it
#    waits, so other recipes run (and takes one again before CMD).
. "$(dirname "$0")/lib.sh"

here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if ! command -v make >/dev/null 2>&1; then
	echo "SKIP: GNU make is not installed" >&2
	exit 77
fi
CLIENT=$here/jobserver-client.py
CHECK=$here/jobserver-check.py
start_semd

# Usage: the style is checked, and --weight makes no sense with it.
expect_status 64 "--jobserver-style must be pipe or fifo" \
    "$SEMRUN" --jobserver --jobserver-style=socket b 2 -- true
expect_status 64 "--jobserver takes no --weight" \
    "$SEMRUN" --jobserver -w 2 b 2 -- true
printf 'all:\n\t@:\n' >"$tmp/empty.mk"
expect_status 0 "make -j under --jobserver runs" \
    "$SEMRUN" --jobserver b 2 -- make -j2 -f "$tmp/empty.mk"
grep -q 'leave -j out' "$tmp/err" ||
    fail "no warning about make -j: $(cat "$tmp/err")"
ok "make given -j is warned about"

# --- 1. Lazy tokens, both styles, seen through our protocol client ---
for style in pipe fifo; do
	d=$tmp/client-$style
	mkdir "$d"
	"$SEMRUN" --jobserver --jobserver-style=$style build 3 -- \
	    "$PY" "$CLIENT" "$d" 2 </dev/null >"$d/out" 2>&1 &
	runner=$!
	bg_pids="$bg_pids $runner"
	wait_until "the $style client finds the jobserver" test -e "$d/ready"
	auth=$(cat "$d/ready")
	case $style in
	pipe)	echo "$auth" | grep -Eq '^[0-9]+,[0-9]+$' ||
		    fail "pipe style auth is '$auth'" ;;
	fifo)	fifo=${auth#fifo:}
		[ "$auth" != "$fifo" ] && [ -p "$fifo" ] ||
		    fail "fifo style auth is '$auth'" ;;
	esac
	# The implicit slot, and one spare token backed by a slot.
	wait_until "$style: implicit slot and one spare" is_state build 2 0
	sleep 0.2
	expect_state build 2 0
	touch "$d/start"
	wait_until "$style: the client took two tokens" test -e "$d/took"
	# The pipe is empty again: semrun asks for a third spare, which
	# capacity 3 cannot give while the client holds two.
	wait_until "$style: 3 held, 1 more asked for" is_state build 3 1
	touch "$d/give"
	wait_until "$style: the client gave them back" test -e "$d/gave"
	# One token stays as the spare; the other's slot goes back.
	wait_until "$style: back to implicit + spare" is_state build 2 0
	touch "$d/end"
	wait "$runner" || fail "$style: semrun exited $?: $(cat "$d/out")"
	expect_state build 0 0
	if [ "$style" = fifo ]; then
		[ ! -e "$fifo" ] && [ ! -e "$(dirname "$fifo")" ] ||
		    fail "the fifo $fifo was left behind"
	fi
	ok "$style style: one spare token, a slot per token, all returned"
done

# Capacity omitted: the build joins the semaphore as it exists, and make
# sees a bare -j (the count is not known) with the jobserver.
hold build 3
printf 'all:\n\t@echo "$$MAKEFLAGS" >$(OUT)\n' >"$tmp/F.mk"
expect_status 0 "--jobserver without a capacity" \
    "$SEMRUN" --jobserver build -- make -f "$tmp/F.mk" OUT="$tmp/flags"
grep -Eq -- '(^| )-j --jobserver-auth=[0-9]+,[0-9]+( |$)' "$tmp/flags" ||
    fail "MAKEFLAGS was '$(cat "$tmp/flags")'"
unhold build
expect_state build 0 0
ok "capacity omitted: a bare -j and the jobserver in MAKEFLAGS"

# --- 2. Three builds of 40 recipes under one pool of 4 ---
# Each recipe logs its start and end, one O_APPEND line each.
cat >"$tmp/M" <<'MK'
N := $(shell seq 40)
all: $(addprefix r,$(N))
r%:
	@echo "S $(B) $@ $$(date +%s%N)" >>$(LOG); sleep 0.1; echo "E $(B) $@ $$(date +%s%N)" >>$(LOG)
MK
for b in 1 2 3; do
	mkdir "$tmp/b$b"
	(cd "$tmp/b$b" && exec "$SEMRUN" --jobserver build 4 -- \
	    make -f "$tmp/M" B=$b LOG="$tmp/log") </dev/null \
	    >"$tmp/b$b.out" 2>&1 &
	eval "pid$b=\$!"
	bg_pids="$bg_pids $!"
done
for b in 1 2 3; do
	eval "wait \$pid$b" ||
	    fail "build $b exited $?: $(cat "$tmp/b$b.out")"
	if grep -Eq 'INTERNAL|jobserver' "$tmp/b$b.out"; then
		fail "build $b: $(cat "$tmp/b$b.out")"
	fi
done
"$PY" "$CHECK" "$tmp/log" 4 120 || fail "the recipes' log breaks the bound"
expect_state build 0 0
ok "three builds of 40 recipes: at most 4 at once, 4 at some point, all returned"

# --- 3. kill -9 of a make mid-build ---
cat >"$tmp/K" <<'MK'
all: k1 k2 k3 k4 k5 k6 k7 k8
k%:
	@echo $$PPID >$(DIR)/make.pid; echo "S $(B) $@ $$(date +%s%N)" >>$(LOG); touch $(DIR)/$@.started; while [ ! -e $(DIR)/go ]; do sleep 0.05; done; echo "E $(B) $@ $$(date +%s%N)" >>$(LOG)
MK
mkdir "$tmp/k" "$tmp/kb"
(cd "$tmp/k" && exec "$SEMRUN" --jobserver build 4 -- \
    make -f "$tmp/K" B=killed DIR="$tmp/k" LOG="$tmp/klog") </dev/null \
    >"$tmp/k.out" 2>&1 &
killed=$!
bg_pids="$bg_pids $killed"
# Four recipes run; semrun has asked for a fifth slot as the spare.
wait_until "the first build runs 4 recipes" is_state build 4 1
[ "$(ls "$tmp/k"/*.started | wc -l)" -eq 4 ] ||
    fail "$(ls "$tmp/k"/*.started | wc -l) recipes started, wanted 4"
(cd "$tmp/kb" && exec "$SEMRUN" --jobserver build 4 -- \
    make -f "$tmp/M" B=after LOG="$tmp/klog") </dev/null \
    >"$tmp/kb.out" 2>&1 &
after=$!
bg_pids="$bg_pids $after"
wait_until "the second build waits" is_state build 4 2
make_pid=$(cat "$tmp/k/make.pid")
kill -9 "$make_pid"
wait "$killed"
st=$?
[ "$st" -eq 137 ] || fail "semrun of the killed make exited $st, not 137"
# make is gone but its 4 recipes still run: they hold the connection,
# so the slots stay held and the bound holds; the other build waits.
sleep 0.3
expect_state build 4 1
! grep -q '^S after' "$tmp/klog" || fail "the second build ran too early"
touch "$tmp/k/go"
wait "$after" || fail "the second build exited $?: $(cat "$tmp/kb.out")"
"$PY" "$CHECK" "$tmp/klog" 4 44 || fail "the log of the kill case breaks the bound"
expect_state build 0 0
ok "kill -9 of make: its slots are freed once its jobs end, the next build runs"

# --- 4. semrun in a recipe lends its job slot while it waits ---
# W waits for x (held here); P1 and P2 can only finish once both run at
# the same time.  With 2 job slots that needs the one W lends back.
cat >"$tmp/L" <<'MK'
all: W P1 P2
W:
	+$(SEMRUN) x 1 -- touch $(DIR)/W.done
P1 P2:
	@touch $(DIR)/$@; n=0; while [ ! -e $(DIR)/P1 ] || [ ! -e $(DIR)/P2 ]; do sleep 0.05; n=$$((n+1)); if [ $$n -gt 600 ]; then echo "$@ ran alone"; exit 1; fi; done; touch $(DIR)/$@.ok
MK
lend_case()
{
	_d=$1
	shift
	mkdir "$_d"
	hold x 1
	(cd "$_d" && exec "$@" -f "$tmp/L" SEMRUN="$SEMRUN" DIR="$_d") \
	    </dev/null >"$_d.out" 2>&1 &
	_make=$!
	bg_pids="$bg_pids $_make"
	wait_until "P1 and P2 ran together" \
	    test -e "$_d/P1.ok" -a -e "$_d/P2.ok"
	# Meanwhile W's semrun waits for x, without a job slot.
	expect_state x 1 1
	[ ! -e "$_d/W.done" ] || fail "W ran while x was held"
	unhold x
	wait "$_make" || fail "$* exited $?: $(cat "$_d.out")"
	[ -e "$_d/W.done" ] || fail "W did not run"
	# make 4.3 counts its tokens at exit and says INTERNAL if one is off.
	! grep -q 'INTERNAL' "$_d.out" || fail "make: $(cat "$_d.out")"
	expect_state x 0 0
}
lend_case "$tmp/lend-make" make -j2
ok "semrun in a make -j2 recipe lends its slot while waiting"
lend_case "$tmp/lend-top" "$SEMRUN" --jobserver build 2 -- make
expect_state build 0 0
ok "semrun in a recipe under semrun --jobserver lends its slot while waiting"

# The same in the fifo style (make 4.4): a "make" whose implicit job is a
# waiting semrun; the client gets the spare and the lent token, which it
# could not with only capacity 2 of build.
d=$tmp/lend-fifo
mkdir "$d"
hold x 1
"$SEMRUN" --jobserver --jobserver-style=fifo build 2 -- sh -c '
	"$1" x 1 -- touch "$3/W.done" &
	w=$!
	"$2" "$4" "$3" 2 || exit 1
	wait $w' sh "$SEMRUN" "$PY" "$d" "$CLIENT" </dev/null >"$d.out" 2>&1 &
runner=$!
bg_pids="$bg_pids $runner"
wait_until "fifo: the client finds the jobserver" test -e "$d/ready"
wait_until "fifo: the recipe's semrun waits for x" is_state x 1 1
touch "$d/start"
wait_until "fifo: the client took the spare and the lent token" \
    test -e "$d/took"
touch "$d/give"
wait_until "fifo: the client gave them back" test -e "$d/gave"
unhold x
wait_until "fifo: W ran" test -e "$d/W.done"
touch "$d/end"
wait "$runner" || fail "fifo lending: exited $?: $(cat "$d.out")"
expect_state build 0 0
expect_state x 0 0
ok "fifo style: semrun in a recipe lends its slot while waiting"

# --- 5. A recipe not marked '+': make 4.3 closes the jobserver pipe for
# it, though MAKEFLAGS still names its descriptors.  semrun must not take
# whatever has those numbers for make's pipe: it waits without lending,
# says why with -v, and make's token count stays right.
cat >"$tmp/N" <<'MK'
all: W
W:
	$(SEMRUN) -v x 1 -- touch $(DIR)/W.done
MK
d=$tmp/noplus
mkdir "$d"
hold x 1
(cd "$d" && exec make -j2 -f "$tmp/N" SEMRUN="$SEMRUN" DIR="$d") </dev/null \
    >"$d.out" 2>&1 &
runner=$!
bg_pids="$bg_pids $runner"
wait_until "the recipe's semrun waits for x" is_state x 1 1
unhold x
wait "$runner" || fail "make exited $?: $(cat "$d.out")"
[ -e "$d/W.done" ] || fail "W did not run"
grep -q "not make's pipe" "$d.out" || fail "no reason given: $(cat "$d.out")"
! grep -q 'lent back\|INTERNAL' "$d.out" || fail "a slot was lent: $(cat "$d.out")"
ok "a recipe without '+': no lending, and nothing mistaken for make's pipe"

# --- 6. semrun killed with SIGKILL mid-build: the build goes on with the
# tokens it has, and the slots stay held until make has exited.
mkdir "$tmp/sk"
(cd "$tmp/sk" && exec "$SEMRUN" --jobserver build 3 -- \
    make -f "$tmp/K" B=sk DIR="$tmp/sk" LOG="$tmp/sklog") </dev/null \
    >"$tmp/sk.out" 2>&1 &
runner=$!
bg_pids="$bg_pids $runner"
wait_until "the build runs 3 recipes" is_state build 3 1
kill -9 "$runner"
wait "$runner"
sleep 0.3
# The connection lives on in make (and semrun's keeper): the 3 slots stay
# held, and so does the request for a spare that nobody will serve.
expect_state build 3 1
touch "$tmp/sk/go"
wait_until "the build ends and its slots are freed" is_state build 0 0
[ "$(grep -c '^E sk' "$tmp/sklog")" -eq 8 ] ||
    fail "the build did not finish all 8 recipes: $(cat "$tmp/sklog")"
ok "SIGKILL of semrun --jobserver: the build finishes, slots held until then"

# --- 7. A signal to a waiting semrun that has lent its slot: it exits
# at once (128+N), taking a token back only if one is there, and does
# not wait for make's other jobs to return one.
cat >"$tmp/S" <<'MK'
all: W P1 P2
W:
	+@echo $$$$ >$(DIR)/w.pid; exec $(SEMRUN) x 1 -- true
P1 P2:
	@touch $(DIR)/$@.running; while [ ! -e $(DIR)/go ]; do sleep 0.05; done
MK
d=$tmp/sig
mkdir "$d"
hold x 1
(cd "$d" && exec make -j2 -f "$tmp/S" SEMRUN="$SEMRUN" DIR="$d") </dev/null \
    >"$d.out" 2>&1 &
runner=$!
bg_pids="$bg_pids $runner"
# P2 runs on the slot W lent: both P recipes hold make's tokens now.
wait_until "P1 and P2 run while W waits" \
    test -e "$d/P1.running" -a -e "$d/P2.running"
expect_state x 1 1
w=$(cat "$d/w.pid")
kill -TERM "$w"
# P1 and P2 keep their tokens until $d/go exists: semrun must not wait
# for one of them to come back.
wait_until "W's semrun has exited" sh -c "! kill -0 $w 2>/dev/null"
expect_state x 1 0
[ ! -e "$d/go" ] || fail "the test went wrong"
touch "$d/go"
unhold x
wait "$runner"
st=$?
[ "$st" -eq 2 ] || fail "make exited $st, wanted 2 (W failed): $(cat "$d.out")"
grep -q 'W.*143\|W.*Terminated\|Error 143' "$d.out" ||
    fail "W did not end by SIGTERM: $(cat "$d.out")"
cat "$d.out"
ok "SIGTERM to a waiting semrun with a lent slot: it exits without waiting for a token"

# --- 8. semd restarts mid-build: semrun reclaims every slot (make's
# implicit one and those behind tokens, each by its token) and asks the
# new daemon again for the spare its lost request was waiting for.
mkdir "$tmp/rc"
(cd "$tmp/rc" && exec "$SEMRUN" --jobserver build 3 -- \
    make -f "$tmp/K" B=rc DIR="$tmp/rc" LOG="$tmp/rclog") </dev/null \
    >"$tmp/rc.out" 2>&1 &
runner=$!
bg_pids="$bg_pids $runner"
wait_until "the build runs 3 recipes and wants a 4th slot" is_state build 3 1
kill -9 "$semd_pid"
wait "$semd_pid" 2>/dev/null
start_semd
wait_until "3 slots reclaimed, a spare asked for again" is_state build 3 1
touch "$tmp/rc/go"
wait "$runner" || fail "the build exited $?: $(cat "$tmp/rc.out")"
[ "$(grep -c '^E rc' "$tmp/rclog")" -eq 8 ] ||
    fail "the build did not finish its 8 recipes"
expect_state build 0 0
ok "semd restarted mid-build: the build's slots are reclaimed"

exit 0
