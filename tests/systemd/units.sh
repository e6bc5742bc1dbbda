#!/bin/sh
# The systemd units as they will be installed: systemd-analyze verify
# accepts them, and the system service's exposure score stays within the
# hardening target (<= 2.0, see README).  Skipped, with the reason
# printed, where systemd-analyze is missing.
set -u

if ! command -v systemd-analyze >/dev/null 2>&1; then
	echo "SKIP: systemd-analyze is not installed (Debian package systemd)"
	exit 77
fi
: "${SEMD_BUILDDIR:?run through make check}"
: "${SEMD_BIN:?run through make check}"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/semd-units.XXXXXX") || exit 99
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# The generated units name the installed semd; point them at the one just
# built, which exists, so verify can check ExecStart= for real.
for kind in system user; do
	src=$SEMD_BUILDDIR/systemd
	[ "$kind" = user ] && src=$src/user
	mkdir -p "$tmp/$kind" "$tmp/rt-$kind"
	chmod 700 "$tmp/rt-$kind"
	for u in semd.socket semd.service; do
		[ -f "$src/$u" ] || fail "$src/$u was not generated"
		grep -q '@sbindir@' "$src/$u" && fail "$u: @sbindir@ not substituted"
		sed "s|^ExecStart=[^ ]*/semd|ExecStart=$SEMD_BIN|" "$src/$u" \
		    >"$tmp/$kind/$u"
	done
	flag=
	[ "$kind" = user ] && flag=--user
	# %t in the user units needs a runtime directory.
	if ! (cd "$tmp/$kind" && XDG_RUNTIME_DIR=$tmp/rt-$kind \
	    systemd-analyze $flag verify --man=no ./semd.socket \
	    ./semd.service) >"$tmp/verify.log" 2>&1; then
		cat "$tmp/verify.log" >&2
		fail "systemd-analyze verify rejects the $kind units"
	fi
	echo "ok - systemd-analyze verify: $kind units"
done

grep -q '^ListenStream=/run/semd/semd.sock$' "$tmp/system/semd.socket" ||
    fail "the system socket is not /run/semd/semd.sock"
grep -q '^ListenStream=/tmp/semd-%U/semd.sock$' "$tmp/user/semd.socket" ||
    fail "the user socket is not the per-user default path"
grep -q '^Type=notify$' "$tmp/system/semd.service" ||
    fail "the system service is not Type=notify"
for kind in system user; do
	grep -q '^RuntimeDirectory=semd-state$' "$tmp/$kind/semd.service" &&
	    grep -q '^RuntimeDirectoryPreserve=yes$' "$tmp/$kind/semd.service" ||
	    fail "the $kind service keeps no state directory across restarts"
done

# Off the network unless the cluster drop-in widens it, and only it.
grep -q '^RestrictAddressFamilies=AF_UNIX$' "$tmp/system/semd.service" ||
    fail "the system service is not restricted to AF_UNIX"
dropin=${SEMD_SRCDIR:-.}/systemd/semd-cluster.conf
grep -q '^RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6$' "$dropin" &&
    grep -q '^PrivateNetwork=no$' "$dropin" ||
    fail "the cluster drop-in does not let semd reach etcd"
mkdir -p "$tmp/dropin/semd.service.d"
cp "$tmp/system/semd.socket" "$tmp/system/semd.service" "$tmp/dropin/"
cp "$dropin" "$tmp/dropin/semd.service.d/cluster.conf"
if ! (cd "$tmp/dropin" && systemd-analyze verify --man=no ./semd.socket \
    ./semd.service) >"$tmp/verify.log" 2>&1; then
	cat "$tmp/verify.log" >&2
	fail "systemd-analyze verify rejects the units with the cluster drop-in"
fi
echo "ok - AF_UNIX only, widened only by the cluster drop-in"

# Exposure, as systemd-analyze rates it (0 = locked down, 10 = exposed).
out=$(systemd-analyze security --offline=true --no-pager \
    "$tmp/system/semd.service" 2>&1) || {
	echo "$out" >&2
	fail "systemd-analyze security failed"
}
score=$(printf '%s\n' "$out" | sed -n 's/.*Overall exposure level for semd.service: \([0-9.]*\).*/\1/p')
[ -n "$score" ] || { echo "$out" >&2; fail "no exposure score found"; }
echo "system service exposure: $score"
awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }' ||
    fail "exposure $score is above the 2.0 target"
echo "ok - systemd-analyze security: $score <= 2.0"
