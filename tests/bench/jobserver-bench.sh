#!/bin/sh
# jobserver-bench.sh -- builds sharing one semd pool (semrun --jobserver)
# vs each with its own make -jPOOL vs make -j (unlimited), on a CPU-bound
# recipe.  Run by `make bench-jobserver` (and `make bench`); the results
# are copied into BENCHMARKS.md by hand.
#
#   jobserver-bench.sh SEMD SEMRUN [RECIPES [POOL]]
#
# Each build is a generated Makefile of RECIPES (default 24) recipes; a
# recipe is an awk loop of about 0.2 CPU seconds here, which logs its
# start and end so the script can report the most recipes that ran at
# once.  POOL (default 4) is the shared pool.  Rows: three builds at
# once in four configurations, then one build alone under semrun and
# under make -jPOOL (what the jobserver costs a build).  Columns: wall
# time until all builds are done, until the first is done, the peak of
# recipes at once, and the CPU time of everything the builds ran.  It
# starts its own semd on a temporary socket.
set -eu

semd=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
semrun=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
recipes=${3:-24}
pool=${4:-4}
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/semd-jsbench.XXXXXX")
semd_pid=
cleanup()
{
	[ -n "$semd_pid" ] && kill "$semd_pid" 2>/dev/null
	[ -n "$semd_pid" ] && wait "$semd_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

SEMD_SOCKET=$tmp/sock
SEMD_NO_AUTOSTART=1
export SEMD_SOCKET SEMD_NO_AUTOSTART
unset MAKEFLAGS MFLAGS 2>/dev/null || true
"$semd" -f -S "$SEMD_SOCKET" >"$tmp/semd.log" 2>&1 &
semd_pid=$!
n=0
while [ ! -S "$SEMD_SOCKET" ]; do
	n=$((n + 1))
	[ $n -lt 200 ] || { echo "semd did not start" >&2; exit 1; }
	sleep 0.05
done

cat >"$tmp/B.mk" <<MK
N := \$(shell seq $recipes)
all: \$(addprefix r,\$(N))
r%:
	@echo "S \$(B) \$@ \$\$(date +%s%N)" >>\$(LOG); awk 'BEGIN { for (i = 0; i < 10000000; i++) s += i * 2 }'; echo "E \$(B) \$@ \$\$(date +%s%N)" >>\$(LOG)
MK

# cpu_ticks: CPU time of the children this shell has waited for (the
# builds, and everything below them), in clock ticks.
cpu_ticks()
{
	awk '{ print $16 + $17 }' /proc/$$/stat
}

# now_ms: wall clock in milliseconds.
now_ms()
{
	echo $(($(date +%s%N) / 1000000))
}

# run BUILDS LABEL CMD...: BUILDS builds of CMD at once; prints a row.
run()
{
	builds=$1
	label=$2
	shift 2
	log=$tmp/log.$$
	rm -rf "$tmp"/run.*
	rm -f "$log"
	t0=$(now_ms)
	cpu0=$(cpu_ticks)
	pids=
	for b in $(seq "$builds"); do
		mkdir -p "$tmp/run.$b"
		(cd "$tmp/run.$b" && "$@" -f "$tmp/B.mk" B=$b LOG="$log" \
		    >/dev/null 2>&1; echo $(($(date +%s%N) / 1000000)) \
		    >"$tmp/run.$b.end") &
		pids="$pids $!"
	done
	for p in $pids; do
		wait "$p"
	done
	t1=$(now_ms)
	cpu1=$(cpu_ticks)
	first=$t1
	last=0
	for b in $(seq "$builds"); do
		e=$(cat "$tmp/run.$b.end")
		[ "$e" -lt "$first" ] && first=$e
		[ "$e" -gt "$last" ] && last=$e
	done
	peak=$("$PY" - "$log" <<'PY'
import sys
run = peak = 0
for line in open(sys.argv[1]):
    run += 1 if line[0] == "S" else -1
    peak = max(peak, run)
print(peak)
PY
)
	awk -v l="$label" -v t0="$t0" -v t1="$t1" -v f="$first" \
	    -v z="$last" -v p="$peak" -v c0="$cpu0" -v c1="$cpu1" \
	    -v hz="$(getconf CLK_TCK)" 'BEGIN {
		printf "| %s | %.2f s | %.2f s | %.2f s | %d | %.1f s |\n",
		    l, (t1 - t0) / 1000, (f - t0) / 1000, (z - t0) / 1000, p,
		    (c1 - c0) / hz }'
}

echo "builds of $recipes recipes each, $(nproc) CPUs, load average" \
    "$(cut -d' ' -f1 /proc/loadavg) at the start"
echo
echo "| configuration | wall, all builds | first build done | last build done | peak recipes at once | CPU |"
echo "|---|---|---|---|---|---|"
run 3 "3 builds, one shared pool of $pool" \
    "$semrun" --jobserver build "$pool" -- make
run 3 "3 builds, each make -j$pool" make -j"$pool"
run 3 "3 builds, each make -j (unlimited)" make -j
run 3 "3 builds, one shared pool of $(nproc)" \
    "$semrun" --jobserver build "$(nproc)" -- make
run 1 "1 build, semrun --jobserver build $pool" \
    "$semrun" --jobserver build "$pool" -- make
run 1 "1 build, make -j$pool" make -j"$pool"
