#!/bin/sh
# Pins that `semd --help` and man/semd.8 agree: the same long options in
# both, and the same default for every option whose default both state.
# Also that semd accepts each --max-* option with 0 and refuses garbage.
set -eu
bin=${SEMD_BIN:?SEMD_BIN must name the semd binary}
man=${SEMD_SRCDIR:?SEMD_SRCDIR must name the source tree}/man/semd.8
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

"$bin" --help >"$tmp/help"

# Long options: "--max-pending" in the help, "Fl \-max\-pending" in mdoc.
grep -oE -- '--[a-z][a-z-]*[a-z]' "$tmp/help" | sort -u >"$tmp/help.opts"
grep -oE 'Fl \\-[a-z][a-z\\-]*[a-z]' "$man" | sed -e 's/^Fl /-/' \
    -e 's/\\-/-/g' | sort -u >"$tmp/man.opts"
if ! cmp -s "$tmp/help.opts" "$tmp/man.opts"; then
	echo "options.sh: long options differ (< --help, > semd.8):"
	diff "$tmp/help.opts" "$tmp/man.opts" || true
	fail=1
fi

# Defaults: the first "default N" in each option's paragraph.
awk '
	/^  (-[a-zA-Z], |    )--[a-z]/ {
		match($0, /--[a-z-]*[a-z]/)
		opt = substr($0, RSTART, RLENGTH); done = 0
	}
	opt != "" && !done && match($0, /default [0-9]+[KMG]?/) {
		print opt, substr($0, RSTART + 8, RLENGTH - 8); done = 1
	}' "$tmp/help" | sort >"$tmp/help.defs"
awk '
	/^\.It Fl \\-/ {
		match($0, /\\-[a-z\\-]*[a-z]/)
		opt = substr($0, RSTART, RLENGTH); gsub(/\\-/, "-", opt)
		opt = "-" opt; done = 0; next
	}
	/^\.It / { opt = "" }
	opt != "" && !done && match($0, /default [0-9]+[KMG]?/) {
		print opt, substr($0, RSTART + 8, RLENGTH - 8); done = 1
	}' "$man" | sort >"$tmp/man.defs"
join "$tmp/help.defs" "$tmp/man.defs" | while read -r opt h m; do
	if [ "$h" != "$m" ]; then
		echo "options.sh: $opt: default $h in --help, $m in semd.8"
		echo x >>"$tmp/bad"
	fi
done
[ ! -e "$tmp/bad" ] || fail=1
# Every limit states its default in both.
for opt in $(grep -- '--max-' "$tmp/help.opts"); do
	grep -q -- "^$opt " "$tmp/help.defs" ||
	    { echo "options.sh: $opt: no default in --help"; fail=1; }
	grep -q -- "^$opt " "$tmp/man.defs" ||
	    { echo "options.sh: $opt: no default in semd.8"; fail=1; }
done

# Each --max-* option parses (semd -V exits before doing anything), and
# a value that is not a number is a usage error (64).
for opt in $(grep -- '--max-' "$tmp/help.opts"); do
	case $opt in
	--max-frame) ok=64 ;;
	--max-output|--max-output-total) ok=1M ;;
	*) ok=0 ;;
	esac
	"$bin" "$opt" "$ok" -V >/dev/null ||
	    { echo "options.sh: $opt $ok refused"; fail=1; }
	rc=0
	"$bin" "$opt" 12x -V >/dev/null 2>&1 || rc=$?
	[ "$rc" -eq 64 ] ||
	    { echo "options.sh: $opt 12x: exit $rc, expected 64"; fail=1; }
done

# The usage style of semd, semrun and semdctl: --help to stdout with the
# synopsis first; a usage error is "semd: message" and the synopsis on
# stderr, exit 64; -V to stdout.
[ "$(head -n 1 "$tmp/help")" != "usage: semd [-fqv] [-c file] [-S path | --system] [--socket-mode octal]" ] &&
    { echo "options.sh: --help does not start with the synopsis"; fail=1; }
rc=0
"$bin" --bogus >"$tmp/out" 2>"$tmp/err" || rc=$?
if [ "$rc" -ne 64 ] || [ -s "$tmp/out" ] ||
    [ "$(head -n 1 "$tmp/err")" != "semd: unknown option '--bogus'" ] ||
    [ "$(sed -n 2p "$tmp/err" | cut -c 1-12)" != "usage: semd " ] ||
    [ "$(tail -n 1 "$tmp/err")" != "       semd -h | -V" ]; then
	echo "options.sh: --bogus: exit $rc, stderr:"; cat "$tmp/err"; fail=1
fi
"$bin" -V 2>"$tmp/err" | grep -q '^semd (semd) ' && [ ! -s "$tmp/err" ] ||
    { echo "options.sh: -V printed no version"; fail=1; }

[ "$fail" -eq 0 ] && echo "options.sh: --help and semd.8 agree" \
    "($(wc -l <"$tmp/help.opts") options, $(wc -l <"$tmp/help.defs")" \
    "defaults)"
exit "$fail"
