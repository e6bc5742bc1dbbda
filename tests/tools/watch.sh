#!/bin/sh
# semdctl watch in a real terminal: tmux on a private server runs it; we
# read the screen with capture-pane.  It shows holders, waiters and the
# counters, redraws at a new size when the window is resized, quits on q
# and on ^C, and leaves the terminal as it was (the shell's screen back,
# echo on).  The last screen is saved for the README when
# SEMD_WATCH_CAPTURE names a file.
. "$(dirname "$0")/lib.sh"

if ! command -v tmux >/dev/null 2>&1; then
	echo "SKIP: tmux is not installed"
	exit 77
fi
start_semd

tsock=$tmp/tmux.sock
tm() { tmux -S "$tsock" "$@"; }
cleanup_tmux() { tm kill-server 2>/dev/null; cleanup; }
trap 'cleanup_tmux' EXIT

# A shell in a 100x30 window, with what watch needs in its environment.
tm -f /dev/null new-session -d -s w -x 100 -y 30 \
    "env -i PATH=/usr/bin:/bin TERM=screen HOME=$tmp SEMD_SOCKET=$SOCK \
    SEMD_NO_AUTOSTART=1 PS1= sh" || fail "cannot start tmux"
tm set-option -g status off >/dev/null
screen() { tm capture-pane -p -t w; }
# on_screen REGEX: wait until the screen shows it; on failure show the
# screen.
on_screen()
{
	_n=0
	while ! screen | grep -Eq -- "$1"; do
		_n=$((_n + 1))
		if [ "$_n" -gt $((DEADLINE * 20)) ]; then
			echo "--- the screen:" >&2
			screen >&2
			fail "gave up waiting until the screen shows '$1'"
		fi
		sleep 0.05
	done
}
# No prompt: it would race with what is typed, on the same line.
tm send-keys -t w "echo READY" Enter
on_screen '^READY$'

hold api-x 2
hold db 1
"$SEMRUN" db 1 -- true </dev/null &
bg_pids="$bg_pids $!"
wait_until "db has a waiter" is_state db 1 1
for i in 1 2 3; do "$SEMRUN" api-x 2 -- true || fail "semrun api-x"; done
expect_status 75 "a try refused" "$SEMRUN" -n -w 2 api-x 2 -- true

tm send-keys -t w "$SEMDCTL watch -n 0.2" Enter
on_screen '^SEMAPHORE +CAP +HELD +WAIT +GRANT/S'
on_screen '^api-x +2 +1 +0 +[0-9.]+ +4 +1 '
on_screen '^db +1 +1 +1 '
on_screen '^    holding +[0-9]+ .* sh -c'
on_screen '^    wait #1 +[0-9]+ '
on_screen 'grants/s +refresh 0.2s +q: quit'
ok "watch shows semaphores, counters, holders and waiters"

# A resize: lines are cut to the new width, and nothing runs past it.
tm resize-window -t w -x 50 -y 12 2>/dev/null ||
    tm resize-pane -t w -x 50 -y 12
on_screen '^SEMAPHORE +CAP +HELD +WAIT +GRANT/S *$'
[ "$(screen | awk '{ if (length($0) > 50) n++ } END { print n + 0 }')" = 0 ] ||
    fail "lines wider than the window: $(screen)"
tm resize-window -t w -x 100 -y 30 2>/dev/null ||
    tm resize-pane -t w -x 100 -y 30
on_screen '^SEMAPHORE +CAP +HELD +WAIT +GRANT/S +GRANTS +TIMEOUT +WAIT50'
ok "watch follows the window's size"

# For the README: some traffic (three workers taking turns on api-x,
# each job 0.8 s), then the screen as it is.
if [ -n "${SEMD_WATCH_CAPTURE:-}" ]; then
	workers=
	for i in 1 2 3; do
		(PATH=$(dirname "$SEMRUN"):$PATH
		end=$(($(date +%s) + 4)); while [ "$(date +%s)" -lt "$end" ]; do
			semrun api-x 2 -- sleep 0.8; done) </dev/null &
		workers="$workers $!"
	done
	bg_pids="$bg_pids $workers"
	unhold api-x
	sleep 3
	screen | sed -e "s|$tmp/sock|/run/user/1000/semd/semd.sock|g" \
	    -e "s|$tmp/hold.[a-z-]*|/tmp/job|g" \
	    -e "s|$SEMD_BUILDDIR/client/||g" -e 's/ *$//' \
	    >"$SEMD_WATCH_CAPTURE"
	# shellcheck disable=SC2086
	wait $workers
	hold api-x 2
fi

# q quits and gives the shell its screen back.
tm send-keys -t w q
on_screen '^READY$'
tm send-keys -t w "echo ECHO-\$((6*7))" Enter
on_screen '^ECHO-42$'
screen | grep -q SEMAPHORE && fail "the watch screen is still shown"
# Echo is on again: what is typed shows up before Enter.
tm send-keys -t w "typed-text"
on_screen 'typed-text$'
tm send-keys -t w C-u
ok "q quits and restores the terminal"

# ^C quits too, with the cursor shown again and echo on.
tm send-keys -t w "$SEMDCTL watch db; echo STATUS=\$?" Enter
on_screen '^db +1 +1 +1 '
tm send-keys -t w C-c
on_screen '^STATUS=0$'
tm send-keys -t w "typed-again"
on_screen 'typed-again$'
tm send-keys -t w C-u
ok "^C quits and restores the terminal"

# Not a terminal: a clear refusal.
expect_status 64 "watch without a terminal" "$SEMDCTL" watch
grep -q "needs a terminal" "$tmp/err" || fail "message: $(cat "$tmp/err")"
unhold api-x
unhold db
