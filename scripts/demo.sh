#!/bin/sh
# The seed's example made real: five jobs, two slots.
#
# Builds semd if needed, starts a private semd on a temporary socket, runs
# five `semrun demo 2 -- sleep 1` jobs at the same moment and draws when
# each one ran.  Never more than two run at once; all five finish in about
# three seconds instead of one (unbounded) or five (one at a time).
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$("$top/scripts/build.sh")

tmp=$(mktemp -d "${TMPDIR:-/tmp}/semd-demo.XXXXXX")
SEMD_SOCKET=$tmp/semd.sock
export SEMD_SOCKET
cleanup() {
	[ -n "${semd_pid:-}" ] && kill "$semd_pid" 2>/dev/null && wait "$semd_pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

"$dir/daemon/semd" -f -S "$SEMD_SOCKET" &
semd_pid=$!
i=0
until "$dir/client/semdctl" ping 2>/dev/null; do
	i=$((i + 1))
	[ "$i" -lt 100 ] || { echo "demo: semd did not start" >&2; exit 1; }
	sleep 0.05
done

# Each job notes when it starts and ends, around a real "sleep 1".
cat > "$tmp/job" <<EOF
#!/bin/sh
echo "start \$1 \$(date +%s.%N)" >> "$tmp/log"
sleep 1
echo "end \$1 \$(date +%s.%N)" >> "$tmp/log"
EOF
chmod +x "$tmp/job"

t0=$(date +%s.%N)
echo "five jobs, 2 slots:  semrun demo 2 -- job N   (a job is: sleep 1)"
echo
pids=
for job in 1 2 3 4 5; do
	"$dir/client/semrun" demo 2 -- "$tmp/job" "$job" &
	pids="$pids $!"
done
sleep 0.5
echo "semdctl status demo, half a second in:"
"$dir/client/semdctl" status demo | sed 's/^/    /'
echo
for p in $pids; do
	wait "$p"
done
t1=$(date +%s.%N)

# Draw the timeline: one row per job, one column per 0.1 s.
sort -k3 -n "$tmp/log" | awk -v t0="$t0" -v t1="$t1" '
	$1 == "start" { s[$2] = $3 - t0; ev[++n] = "+" }
	$1 == "end"   { e[$2] = $3 - t0; ev[++n] = "-" }
	END {
		cur = 0; max = 0
		for (i = 1; i <= n; i++) {
			cur += (ev[i] == "+") ? 1 : -1
			if (cur > max) max = cur
		}
		printf "job  %-10s%-10s%-10s%-10s\n", "0s", "1s", "2s", "3s"
		for (j = 1; j <= 5; j++) {
			line = ""
			for (c = 0; c < 40; c++) {
				t = c / 10 + 0.05
				line = line ((t > s[j] && t <= e[j]) ? "#" : ".")
			}
			printf "%-4d %s  %.2fs -> %.2fs\n", j, line, s[j], e[j]
		}
		printf "\nat most %d running at once (capacity 2); all done in %.2f s\n",
		    max, t1 - t0
		if (max > 2) { print "demo: BOUND BROKEN"; exit 1 }
	}'
