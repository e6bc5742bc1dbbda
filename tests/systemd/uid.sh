#!/bin/sh
# A client's real uid reaches the system daemon through the namespace
# options of the shipped unit.  With PrivateUsers=yes, every uid but
# root's and the service's own is 65534 inside the service: status shows
# everyone as nobody and the --max-*-per-uid limits become one bucket
# shared by all users.  Where systemd does not run (here), the unit's
# PrivateUsers= is emulated: the daemon runs in a user namespace that maps
# only root, as systemd's would.  Then another user (made with useradd)
# takes a slot, and status must show that user's uid.
set -u
: "${SEMD_BUILDDIR:?run through make check}"
: "${SEMD_BIN:?run through make check}"
UNIT=$SEMD_BUILDDIR/systemd/semd.service
SEMRUN=$SEMD_BUILDDIR/client/semrun
SEMDCTL=$SEMD_BUILDDIR/client/semdctl
[ -f "$UNIT" ] || { echo "missing $UNIT"; exit 99; }
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1 ||
    ! command -v runuser >/dev/null 2>&1; then
	echo "SKIP: needs root, unshare and runuser"
	exit 77
fi
# shellcheck disable=SC1091
. "$(dirname "$0")/../lib/helpers.sh"
tl_test_user
TUID=$(id -u "$TUSER")

tmp=$(mktemp -d /var/tmp/semd-uid.XXXXXX) || exit 99
chmod 755 "$tmp"
mkdir -m 1777 "$tmp/u"
pids=
cleanup()
{
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; [ -f "$tmp/semd.log" ] && tail "$tmp/semd.log" >&2; exit 1; }

# The unit's user-namespace setting, as systemd would read it.
private=$(sed -n 's/^PrivateUsers=//p' "$UNIT" | tail -n 1)
case "$private" in
yes|true|on|1|self)
	echo "the unit has PrivateUsers=$private: emulating it"
	wrap="unshare --user --map-root-user" ;;
identity)
	wrap="unshare --user --map-users=0:0:65536 --map-groups=0:0:65536" ;;
*)
	wrap= ;;
esac

$wrap "$SEMD_BIN" -f -S "$tmp/semd.sock" --socket-mode 0666 \
    >"$tmp/semd.log" 2>&1 &
pids="$pids $!"
n=0
until "$SEMDCTL" -S "$tmp/semd.sock" ping 2>/dev/null; do
	n=$((n + 1))
	[ $n -lt 600 ] || fail "semd does not answer"
	sleep 0.05
done

runuser -u "$TUSER" -- "$SEMRUN" -S "$tmp/semd.sock" uid 1 -- sh -c \
    'echo $$ >"$0.pid"; while [ ! -e "$0.go" ]; do sleep 0.05; done' \
    "$tmp/u/hold" </dev/null &
pids="$pids $!"
holder=$!
n=0
until [ -s "$tmp/u/hold.pid" ]; do
	n=$((n + 1))
	[ $n -lt 600 ] || fail "the other user's semrun does not run"
	sleep 0.05
done
"$SEMDCTL" -S "$tmp/semd.sock" status --json >"$tmp/status.json" ||
    fail "semdctl status failed"
got=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sems"][0]["holders"][0]["uid"])' "$tmp/status.json")
touch "$tmp/u/hold.go"
wait "$holder"
[ "$got" = "$TUID" ] ||
    fail "the daemon sees uid $got for $TUSER (uid $TUID)"
echo "ok - uid $TUID of $TUSER reaches the daemon under the unit's namespace options"

# The unit keeps a memory ceiling (the daemon bounds its own output too).
grep -q '^MemoryMax=' "$UNIT" || fail "the unit sets no MemoryMax="
echo "ok - MemoryMax= is set"
exit 0
