#!/bin/sh
# fresh-tmp.sh CMD [ARG...]
#
# Run CMD with empty tmpfs on /tmp and /run, for the tests that must use
# the fixed paths /tmp/semd-UID and /run/semd without touching the
# machine's.  The caller has made a private mount namespace already
# (unshare --mount --propagation private).
#
# The trees the test runs from stay where they are, also when they live
# under /tmp or /run (CI may clone the repository into /tmp): the source
# and build trees ($SEMD_SRCDIR, $SEMD_BUILDDIR), the current directory
# and the directories in $SEMD_KEEP_DIRS (colon-separated) are opened
# before the tmpfs hide them and bound back in place from their open
# descriptors.
set -eu

n=3
kept=
old_ifs=$IFS
IFS=:
for d in "${SEMD_SRCDIR:-}" "${SEMD_BUILDDIR:-}" "$PWD" ${SEMD_KEEP_DIRS:-}; do
	IFS=$old_ifs
	[ -n "$d" ] && [ -d "$d" ] || continue
	case $d in
	/tmp | /tmp/ | /run | /run/)
		echo "fresh-tmp.sh: cannot keep $d itself" >&2
		exit 99 ;;
	/tmp/* | /run/*) ;;
	*) continue ;;
	esac
	if [ "$n" -gt 9 ]; then
		echo "fresh-tmp.sh: too many directories to keep" >&2
		exit 99
	fi
	eval "exec $n<\"\$d\""
	eval "keep_$n=\$d"
	kept="$kept $n"
	n=$((n + 1))
done
IFS=$old_ifs

mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run
for fd in $kept; do
	eval "d=\$keep_$fd"
	mkdir -p "$d"
	# -c: give the kernel the descriptor's own link, not its old name.
	mount -c --bind "/proc/self/fd/$fd" "$d"
	eval "exec $fd<&-"
done
# The current directory may have been hidden: enter its bound copy.
cd "$PWD" 2>/dev/null || cd /
exec "$@"
