#!/bin/sh
# One limiter per caller (DESIGN.md): whichever way one user's callers
# are started -- a login shell, cron (env -i), su/runuser, root -- they
# reach the same daemon, and different users share the system daemon
# when it runs.  semd itself resolves the same path as the clients, re-
# binds its socket when a tmp cleaner removes it, and `semd --system`
# (the semd(8) example) works on a fresh /run.
#
# The per-user and system paths are fixed (/tmp/semd-UID, /run/semd), so
# the whole test runs in a private mount namespace with empty tmpfs on
# /tmp and /run: it never touches the machine's paths or other tests'.
# Needs root (unshare, and a second user made with useradd).

if [ -z "${SEMD_RESOLVE_INNER:-}" ]; then
	if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1 ||
	    ! command -v runuser >/dev/null 2>&1; then
		echo "SKIP: needs root, unshare and runuser"
		exit 77
	fi
	if ! unshare --mount --propagation private true 2>/dev/null; then
		echo "SKIP: cannot make a private mount namespace"
		exit 77
	fi
	# A second, unprivileged user.
	. "$(dirname "$0")/../lib/helpers.sh"
	tl_test_user
	SEMD_RESOLVE_INNER=1 TUSER=$TUSER exec unshare --mount \
	    --propagation private \
	    sh "$(dirname "$0")/../lib/fresh-tmp.sh" sh "$0"
	exit 99
fi

TMPDIR=/tmp
export TMPDIR
. "$(dirname "$0")/lib.sh"
unset SEMD_SOCKET SEMD_NO_AUTOSTART XDG_RUNTIME_DIR

TUID=$(id -u "$TUSER")
chmod 755 "$tmp"
mkdir -m 1777 "$tmp/u"

# Every semd in this mount namespace (the test started them all): kill
# them at the end.
ns_semds()
{
	_me=$(readlink /proc/self/ns/mnt)
	for _d in /proc/[0-9]*; do
		[ "$(readlink "$_d/ns/mnt" 2>/dev/null)" = "$_me" ] || continue
		[ "$(cat "$_d/comm" 2>/dev/null)" = semd ] || continue
		tr '\0' ' ' <"$_d/cmdline" | grep -q -- "$1" || continue
		echo "${_d#/proc/}"
	done
}
ns_cleanup()
{
	for _p in $(ns_semds semd); do
		kill -9 "$_p" 2>/dev/null
	done
	cleanup
}
trap 'ns_cleanup' EXIT

# The environments of a caller: a login shell (XDG_RUNTIME_DIR set, a
# full PATH) and cron (nothing but a few variables).  SEMD_BIN is passed
# to both so that auto-start finds the daemon under test.
login_root="env XDG_RUNTIME_DIR=/run/user/0 HOME=/root LOGNAME=root USER=root SHELL=/bin/sh PATH=/usr/bin:/bin SEMD_BIN=$SEMD_BIN"
cron_root="env -i HOME=/root LOGNAME=root SHELL=/bin/sh PATH=/usr/bin:/bin SEMD_BIN=$SEMD_BIN"
login_user="runuser -u $TUSER -- env XDG_RUNTIME_DIR=/run/user/$TUID HOME=/nonexistent LOGNAME=$TUSER USER=$TUSER PATH=/usr/bin:/bin SEMD_BIN=$SEMD_BIN"
cron_user="runuser -u $TUSER -- env -i HOME=/nonexistent LOGNAME=$TUSER SHELL=/bin/sh PATH=/usr/bin:/bin SEMD_BIN=$SEMD_BIN"
su_user="su -s /bin/sh $TUSER -c"
mkdir -p -m 700 /run/user/0 "/run/user/$TUID"
chown "$TUSER" "/run/user/$TUID"

# uhold CTX NAME: a semrun in context CTX (a command prefix) holding a
# slot of NAME (capacity 1) until uunhold NAME; returns once it holds.
uhold()
{
	rm -f "$tmp/u/$2.go" "$tmp/u/$2.pid"
	$1 "$SEMRUN" "$2" 1 -- sh -c \
	    'echo $$ >"$1.pid"; while [ ! -e "$1.go" ]; do sleep 0.05; done' \
	    sh "$tmp/u/$2" </dev/null >"$tmp/u/$2.out" 2>&1 &
	echo $! >"$tmp/u/$2.semrun"
	bg_pids="$bg_pids $!"
	wait_until "the holder of $2 runs" test -s "$tmp/u/$2.pid"
}
uunhold()
{
	touch "$tmp/u/$1.go"
	wait "$(cat "$tmp/u/$1.semrun")" ||
	    fail "the holder of $1 failed: $(cat "$tmp/u/$1.out")"
}

# 0. The per-user directory must be ours alone: semd refuses one that
# others may write to, and names it.
mkdir -m 777 /tmp/semd-0
chmod 777 /tmp/semd-0
expect_status 1 "semd refuses a world-writable per-user directory" \
    $cron_root "$SEMD_BIN" -f
grep -q "/tmp/semd-0" "$tmp/err" || fail "the refusal does not name the directory: $(cat "$tmp/err")"
rmdir /tmp/semd-0

# semdctl never starts a daemon, not even at the per-user default,
# whatever SEMD_NO_AUTOSTART says; no per-user daemon holds nothing, so
# status reports that and succeeds (a monitoring script must not see a
# failure), while a socket named explicitly that nobody serves is 69.
expect_status 0 "semdctl status, per-user default, no daemon" \
    $cron_root "$SEMDCTL" status
grep -q "^no semaphores in use$" "$tmp/out" || fail "status: $(cat "$tmp/out")"
expect_status 0 "semdctl status --json, per-user default, no daemon" \
    $cron_root "$SEMDCTL" status --json
[ "$(cat "$tmp/out")" = '{"sems":[],"truncated":false}' ] ||
    fail "status --json: $(cat "$tmp/out")"
expect_status 0 "semdctl status NAME, per-user default, no daemon" \
    $cron_root "$SEMDCTL" status nightly
grep -q "^nightly: not in use$" "$tmp/out" || fail "status NAME: $(cat "$tmp/out")"
expect_status 69 "semdctl ping, per-user default, no daemon" \
    $cron_root "$SEMDCTL" ping
expect_status 69 "semdctl status -S PATH that nobody serves" \
    $cron_root "$SEMDCTL" -S /tmp/semd-0/semd.sock status
expect_status 69 "semdctl status, SEMD_SOCKET that nobody serves" \
    $cron_root SEMD_SOCKET=/tmp/semd-0/semd.sock "$SEMDCTL" status
[ -e /tmp/semd-0/semd.sock ] && fail "semdctl started a daemon"

# 1. Root, no system daemon: a login shell and cron share one per-user
# daemon at /tmp/semd-0 (today: $XDG_RUNTIME_DIR/semd vs /tmp/semd-0,
# and semd itself chose /run/semd for root).
uhold "$login_root" nightly
[ -S /tmp/semd-0/semd.sock ] || fail "root's daemon is not at /tmp/semd-0/semd.sock"
[ "$(stat -c %a /tmp/semd-0)" = 700 ] || fail "/tmp/semd-0 is not 0700"
[ "$(stat -c %a /tmp/semd-0/semd.sock)" = 600 ] || fail "the per-user socket is not 0600"
expect_status 75 "root: cron waits for the login shell's slot" \
    $cron_root "$SEMRUN" -n nightly 1 -- true
[ "$($cron_root SEMD_NO_AUTOSTART=1 "$SEMDCTL" status --json |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["sems"][0]["held"])')" = 1 ] ||
    fail "root: semdctl from cron does not see the held slot"
ok "root: one daemon for login and cron"

# 2. semd started by hand (cron-like) listens where the tools look.
uunhold nightly
for _p in $(ns_semds semd); do kill -TERM "$_p"; done
wait_until "root's daemon is gone" sh -c '! '"$SEMDCTL"' ping 2>/dev/null'
$cron_root "$SEMD_BIN" || fail "semd as root did not start"
[ -S /tmp/semd-0/semd.sock ] || fail "semd as root does not listen on /tmp/semd-0/semd.sock"
expect_status 0 "root: semdctl finds semd started by hand" \
    $login_root SEMD_NO_AUTOSTART=1 "$SEMDCTL" ping

# 3. A tmp cleaner removes the socket (and its directory): the daemon
# binds it again, and keeps its state.
uhold "$cron_root" kept
rm -rf /tmp/semd-0
wait_until "the daemon binds its socket again" test -S /tmp/semd-0/semd.sock
[ "$(stat -c %a /tmp/semd-0)" = 700 ] || fail "the remade directory is not 0700"
expect_status 75 "root: after the cleaner, the same daemon (slot still held)" \
    $login_root SEMD_NO_AUTOSTART=1 "$SEMRUN" -n kept 1 -- true
uunhold kept
ok "the daemon survives a tmp cleaner"

# 4. Another user: runuser with a login environment, runuser with cron's
# and su all reach that user's one daemon (and not root's).
uhold "$login_user" user1
[ -S "/tmp/semd-$TUID/semd.sock" ] || fail "the user's daemon is not at /tmp/semd-$TUID"
expect_status 75 "user: cron-like runuser waits for the login slot" \
    $cron_user "$SEMRUN" -n user1 1 -- true
expect_status 75 "user: su waits for the login slot" \
    $su_user "SEMD_BIN=$SEMD_BIN $SEMRUN -n user1 1 -- true"
expect_status 0 "root has a daemon of its own without a system daemon" \
    $cron_root SEMD_NO_AUTOSTART=1 "$SEMRUN" -n user1 1 -- true
uunhold user1

# 5. The system daemon, as the semd(8) example starts it on a fresh boot
# (no /run/semd yet): every caller without -S uses it, root and users.
[ ! -e /run/semd ] || fail "/run/semd exists before the test"
expect_status 0 "semd --system on a fresh /run" $cron_root "$SEMD_BIN" --system
[ "$(stat -c %a /run/semd)" = 755 ] || fail "/run/semd is not 0755"
[ "$(stat -c %a /run/semd/semd.sock)" = 666 ] || fail "the system socket is not 0666"
uhold "$cron_root" shared
expect_status 75 "user: the system daemon is shared with root" \
    $cron_user "$SEMRUN" -n shared 1 -- true
expect_status 75 "root login: the system daemon first" \
    $login_root "$SEMRUN" -n shared 1 -- true
expect_status 0 "-S still chooses another daemon" \
    "$SEMRUN" -S /tmp/semd-0/semd.sock -n shared 1 -- true
uunhold shared
ok "the system daemon serves everyone"

# 6. A system socket that nobody accepts on (a dead daemon's file) is
# passed over: back to the per-user daemon.
for _p in $(ns_semds -- --system); do kill -9 "$_p"; done
no_system() { [ -z "$(ns_semds -- --system)" ]; }
wait_until "the system daemon is dead" no_system
[ -S /run/semd/semd.sock ] || fail "the stale system socket is gone"
uhold "$cron_root" stale
[ "$($cron_root SEMD_NO_AUTOSTART=1 "$SEMDCTL" -v ping)" = \
    "semd at /tmp/semd-0/semd.sock is alive" ] ||
    fail "a stale system socket is not passed over"
uunhold stale
ok "a stale system socket is passed over"
exit 0
