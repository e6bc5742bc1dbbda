# helpers.sh -- shell helpers shared by test directories (sourced; POSIX
# sh).  Prefix tl_, like the C library beside it (tl.h).  Nothing here
# starts a daemon: tests/tools/lib.sh does that for the shell tests.

# tl_test_user: make sure the unprivileged user semdtest exists (made
# once; useradd may race with a parallel run, hence the second look) and
# set TUSER to it.  Exits 99 when it cannot be made.
tl_test_user()
{
	TUSER=semdtest
	if ! id "$TUSER" >/dev/null 2>&1; then
		useradd --system --no-create-home --home-dir /nonexistent \
		    --shell /bin/sh "$TUSER" >/dev/null 2>&1
		id "$TUSER" >/dev/null 2>&1 ||
		    { echo "cannot make user $TUSER"; exit 99; }
	fi
}

# tl_copy_clients DIR: copy semdctl and semrun (the binaries, not the
# libtool wrappers) to DIR/bin and libsemd.so* to DIR/lib, readable by
# everyone, so that another user can run them from a tree it may not
# enter.  Returns 1 when a copy fails.
tl_copy_clients()
{
	mkdir -p "$1/bin" "$1/lib" || return 1
	for _p in semdctl semrun; do
		_real=$SEMD_BUILDDIR/client/$_p
		if [ -x "$SEMD_BUILDDIR/client/.libs/$_p" ]; then
			_real=$SEMD_BUILDDIR/client/.libs/$_p
		elif [ -x "$SEMD_BUILDDIR/client/.libs/lt-$_p" ]; then
			_real=$SEMD_BUILDDIR/client/.libs/lt-$_p
		fi
		cp "$_real" "$1/bin/$_p" || return 1
	done
	for _l in "$SEMD_BUILDDIR"/client/.libs/libsemd.so*; do
		[ -e "$_l" ] && cp -P "$_l" "$1/lib/"
	done
	chmod -R a+rX "$1/bin" "$1/lib"
}
