#!/bin/sh
# Who may talk to semd: the socket is 0600 by default (the per-user
# directory, 0700, is tested in resolve.sh), so another uid cannot connect (EACCES) and semd keeps
# serving its user; with --socket-mode 0660 --socket-group G the members
# of G can.  The other-uid parts need root (to become uid 65534 with
# setpriv); without it they are skipped (exit 77) after the parts that
# any user can check.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/helpers.sh"

# mode PATH: the permission bits of PATH in octal, e.g. 700.
mode()
{
	stat -c %a "$1"
}

# 1. The per-user default (/tmp/semd-UID: directory 0700, socket 0600,
# a world-writable directory refused) is tested in resolve.sh, in a
# private /tmp.

# 3. An explicit socket is 0600 by default.
start_semd
[ "$(mode "$SOCK")" = 600 ] || fail "socket has mode $(mode "$SOCK"), wanted 600"
ok "default socket mode 0600"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: connecting as another uid needs root (setpriv to uid 65534)"
	exit 77
fi
if ! command -v setpriv >/dev/null 2>&1; then
	echo "SKIP: setpriv (util-linux) is needed to run as uid 65534"
	exit 77
fi
OTHER=65534	# nobody: an existing unprivileged uid, no user is created
GROUP=4242	# a group number nobody belongs to by default

# The other uid cannot be expected to reach the build tree (it may lie
# in a private home directory): it runs copies of the tools, and of
# libsemd when they link it dynamically, from the test's directory.
chmod 755 "$tmp"
tl_copy_clients "$tmp" || fail "cannot copy the clients to $tmp"
O_SEMDCTL=$tmp/bin/semdctl
O_SEMRUN=$tmp/bin/semrun

# as [SETPRIV-OPTION]... -- COMMAND [ARG]...: run COMMAND as uid $OTHER.
as()
{
	_opts=
	while [ "$1" != -- ]; do
		_opts="$_opts $1"
		shift
	done
	shift
	# shellcheck disable=SC2086
	setpriv --reuid=$OTHER $_opts \
	    env LD_LIBRARY_PATH="$tmp/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	    "$@"
}

if ! as --regid=$OTHER --clear-groups -- "$O_SEMDCTL" --version >/dev/null 2>&1; then
	echo "SKIP: uid $OTHER cannot run a copy of semdctl in $tmp/bin"
	exit 77
fi

# connect_errno [SETPRIV-OPTION]...: as uid $OTHER, connect to $SOCK and
# print OK or the errno name.  Empty when no python3 runs as that uid.
PY=
for _p in /usr/bin/python3 /usr/local/bin/python3; do
	if [ -x "$_p" ] && as --regid=$OTHER --clear-groups -- "$_p" -c '' 2>/dev/null; then
		PY=$_p
		break
	fi
done
connect_errno()
{
	[ -n "$PY" ] || return 0
	as "$@" -- "$PY" -c '
import errno, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    s.connect(sys.argv[1])
    print("OK")
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno))
' "$SOCK"
}

# 4. Socket 0600 owned by root: uid 65534 cannot connect (EACCES), and
# the daemon goes on serving its user, who keeps the slot it holds.
hold x 1
r=$(connect_errno --regid=$OTHER --clear-groups)
if [ -n "$PY" ]; then
	[ "$r" = EACCES ] || fail "connect as uid $OTHER: $r, wanted EACCES"
	ok "connect(2) as uid $OTHER fails with EACCES"
else
	echo "note: no python3 runs as uid $OTHER; errno checked through messages only"
fi
expect_status 69 "semdctl as uid $OTHER on a 0600 socket" \
    as --regid=$OTHER --clear-groups -- "$O_SEMDCTL" ping
grep -q "Permission denied" "$tmp/err" ||
    fail "the message does not say why: $(cat "$tmp/err")"
# A semd runs there: semdctl must not say there is none (as semrun does).
grep -q "no semd running" "$tmp/err" &&
    fail "semdctl says no semd runs where one refuses us: $(cat "$tmp/err")"
grep -q "check the permissions" "$tmp/err" ||
    fail "semdctl gives no hint on permissions: $(cat "$tmp/err")"
expect_status 69 "semrun as uid $OTHER on a 0600 socket" \
    as --regid=$OTHER --clear-groups -- "$O_SEMRUN" -n x 1 -- true
grep -q "Permission denied" "$tmp/err" ||
    fail "the message does not say why: $(cat "$tmp/err")"
expect_status 69 "uid $OTHER in group $GROUP, socket not in it" \
    as --regid=$OTHER --groups=$GROUP -- "$O_SEMDCTL" ping
"$SEMDCTL" ping >/dev/null || fail "semd stopped serving after refused connections"
expect_state x 1 0
expect_status 75 "the holder keeps its slot" "$SEMRUN" -n x 1 -- true
unhold x
expect_status 0 "semd still serves its user" "$SEMRUN" -n x 1 -- true
kill -0 "$semd_pid" || fail "semd died"
ok "0600: another uid gets EACCES, semd keeps serving"

# 5. --socket-mode 0660 --socket-group G: members of G connect (as a
# supplementary or as the primary group), others still cannot.
kill -TERM "$semd_pid"
wait "$semd_pid"
"$SEMD_BIN" -f -S "$SOCK" --socket-mode 0660 --socket-group $GROUP \
    >"$tmp/semd.log" 2>&1 &
semd_pid=$!
wait_until "semd answers on $SOCK" "$SEMDCTL" ping
[ "$(stat -c %a:%u:%g "$SOCK")" = "660:0:$GROUP" ] ||
    fail "socket is $(stat -c %a:%u:%g "$SOCK"), wanted 660:0:$GROUP"
r=$(connect_errno --regid=$OTHER --clear-groups)
[ -z "$PY" ] || [ "$r" = EACCES ] || fail "connect outside the group: $r, wanted EACCES"
expect_status 69 "uid $OTHER outside group $GROUP" \
    as --regid=$OTHER --clear-groups -- "$O_SEMDCTL" ping
grep -q "Permission denied" "$tmp/err" ||
    fail "the message does not say why: $(cat "$tmp/err")"
r=$(connect_errno --regid=$OTHER --groups=$GROUP)
[ -z "$PY" ] || [ "$r" = OK ] || fail "connect as a member of $GROUP: $r"
expect_status 0 "uid $OTHER, supplementary group $GROUP" \
    as --regid=$OTHER --groups=$GROUP -- "$O_SEMDCTL" ping
expect_status 0 "uid $OTHER, primary group $GROUP" \
    as --regid=$GROUP --clear-groups -- "$O_SEMDCTL" ping

# A member holds a slot; the daemon sees its uid; root waits behind it.
mkdir "$tmp/other"
chown $OTHER "$tmp/other"
as --regid=$OTHER --groups=$GROUP -- "$O_SEMRUN" g 1 -- sh -c \
    'echo $$ >"$1/g.pid"; while [ ! -e "$1/g.go" ]; do sleep 0.05; done' \
    sh "$tmp/other" </dev/null &
member=$!
bg_pids="$bg_pids $member"
wait_until "the member holds g" test -s "$tmp/other/g.pid"
[ "$(st "[h['uid'] for h in sem('g')['holders']]")" = "[$OTHER]" ] ||
    fail "the holder of g is not uid $OTHER: $(st "sem('g')['holders']")"
expect_status 75 "root waits behind the member" "$SEMRUN" -n g 1 -- true
touch "$tmp/other/g.go"
wait "$member" || fail "the member's semrun failed"
expect_state g 0 0
ok "0660 + group: members connect and hold, others get EACCES"

exit 0
