#!/bin/sh
# Socket activation for real: systemd-socket-activate creates the
# listening socket and execs semd with LISTEN_FDS=1; semd serves clients
# on it, and leaves the socket file (systemd's) in place at exit.  Sockets
# semd cannot serve (TCP, datagram) are refused with a clear message.
. "${SEMD_SRCDIR:?run through make check}/tests/tools/lib.sh"

if ! command -v systemd-socket-activate >/dev/null 2>&1; then
	echo "SKIP: systemd-socket-activate is not installed (Debian package systemd)"
	exit 77
fi

# systemd-socket-activate execs semd: its pid is semd's.
systemd-socket-activate -l "$SOCK" "$SEMD_BIN" -f -v \
    >"$tmp/semd.log" 2>&1 &
semd_pid=$!
wait_until "semd answers on the activated socket" "$SEMDCTL" ping
grep -q "listening on $SOCK" "$tmp/semd.log" ||
    fail "semd did not report the activated socket's path"
ok "semd started by socket activation answers ping"

expect_status 0 "semrun through the activated socket" "$SEMRUN" act 1 -- true
hold act 1
expect_state act 1 0
expect_status 75 "a second holder is refused (-n)" "$SEMRUN" -n act 1 -- true
unhold act
wait_until "act is released" is_state act 0 0
ok "clients are served on the activated socket"

kill -TERM "$semd_pid"
wait "$semd_pid"
st=$?
semd_pid=
[ "$st" -eq 0 ] || fail "semd exited $st on SIGTERM"
[ -S "$SOCK" ] || fail "semd removed the socket file systemd owns"
ok "SIGTERM: exit 0, systemd's socket file left in place"

# A datagram socket is not what semd serves: refuse, say why, exit 1.
systemd-socket-activate --datagram -l "$tmp/dgram" "$SEMD_BIN" -f \
    >"$tmp/dgram.log" 2>&1 &
p=$!
# The activator execs semd on the first datagram: send one.
wait_until "the datagram socket exists" test -S "$tmp/dgram"
python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.sendto(b"hello", sys.argv[1])
' "$tmp/dgram" || fail "cannot send a datagram"
wait "$p"
st=$?
[ "$st" -eq 1 ] || fail "semd on a datagram socket exited $st, wanted 1"
grep -q "not a listening AF_UNIX stream socket" "$tmp/dgram.log" ||
    fail "no clear message for a datagram socket: $(cat "$tmp/dgram.log")"
ok "a datagram socket is refused: $(grep -o 'socket activation passed.*' "$tmp/dgram.log")"
