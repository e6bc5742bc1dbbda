#!/bin/sh
# semd under valgrind, for `make check-valgrind`: the integration tests
# start this as $SEMD_BIN.  exec keeps the pid, so the tests still see
# semd's own pid in HELLO and signal the right process.  With
# --error-exitcode, a memory error or a definite leak turns semd's exit
# status 0 at SIGTERM into 99, which the tests report with the daemon's
# log, where valgrind writes what it found.
: "${SEMD_VALGRIND_BIN:?SEMD_VALGRIND_BIN must name the semd binary}"
: "${SEMD_VALGRIND:=valgrind -q --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite --error-exitcode=99}"
# shellcheck disable=SC2086
exec $SEMD_VALGRIND "$SEMD_VALGRIND_BIN" "$@"
