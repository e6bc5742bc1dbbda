#!/bin/sh
# pkgconfig.sh -- install into a DESTDIR, build a tiny program against the
# installed libsemd with pkg-config alone, and run it against a real semd:
# acquire + release must succeed.  Needs SEMD_BUILDDIR and SEMD_BIN (make
# check sets them).

set -u

: "${SEMD_BUILDDIR:?SEMD_BUILDDIR must be set (run through make check)}"
: "${SEMD_BIN:?SEMD_BIN must be set (run through make check)}"

command -v pkg-config >/dev/null 2>&1 || {
	echo "SKIP: pkg-config is not installed"
	exit 77
}

tmp=$(mktemp -d /tmp/semd-pc.XXXXXX) || exit 99
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

# Install as a user would, under $tmp/root.  Drop the jobserver of the
# outer make: this is a separate make run.
dest=$tmp/root
env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} -s -C "$SEMD_BUILDDIR" \
    install DESTDIR="$dest" >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log"
	fail "make install DESTDIR=$dest failed"
}

pc=$(find "$dest" -name libsemd.pc | head -n 1)
[ -n "$pc" ] || fail "libsemd.pc was not installed"
pcdir=$(dirname "$pc")
lib=$(find "$dest" -name 'libsemd.so*' | head -n 1)
[ -n "$lib" ] || fail "libsemd.so was not installed"
libdir=$(dirname "$lib")
[ -f "$(find "$dest" -name semd.h | head -n 1)" ] ||
	fail "semd.h was not installed"

flags=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$dest \
    pkg-config --cflags --libs libsemd) || fail "pkg-config libsemd failed"
echo "pkg-config --cflags --libs libsemd: $flags"

cat >"$tmp/hello.c" <<'CEOF'
#include <stdio.h>
#include <semd.h>

int
main(void)
{
	struct semd_error	 err;
	struct semd		*sd;

	if ((sd = semd_open(NULL, "pkgconfig.sh", 0, &err)) == NULL) {
		fprintf(stderr, "open: %s\n", err.message);
		return (1);
	}
	if (semd_acquire(sd, "pkgconfig", 1, 1, SEMD_FOREVER, NULL, NULL,
	    &err) != SEMD_OK) {
		fprintf(stderr, "acquire: %s\n", err.message);
		return (1);
	}
	if (semd_release(sd, "pkgconfig", 1, &err) != SEMD_OK) {
		fprintf(stderr, "release: %s\n", err.message);
		return (1);
	}
	printf("ok %s %ld\n", semd_version(), (long)semd_server_pid(sd));
	semd_close(sd);
	return (0);
}
CEOF
# Under --enable-sanitizers the library needs the sanitizer runtimes.
# shellcheck disable=SC2086
${SEMD_TEST_CC:-cc} -o "$tmp/hello" "$tmp/hello.c" $flags \
    ${SEMD_TEST_SANFLAGS:-} || fail "cannot build against the installed libsemd"

# The installed library starts a per-user semd ($SEMD_BIN) in a private
# runtime directory; the program prints its pid so we can stop it.
mkdir -m 700 "$tmp/run" || exit 99
out=$(env -u SEMD_SOCKET -u SEMD_NO_AUTOSTART LD_LIBRARY_PATH="$libdir" \
    XDG_RUNTIME_DIR="$tmp/run" "$tmp/hello") ||
	fail "the program built with pkg-config failed"
echo "$out"
set -- $out
[ "$#" -eq 3 ] && [ "$1" = ok ] || fail "unexpected output: $out"
pid=$3
kill "$pid" || fail "no semd with pid $pid"
pid=
# The program must have used the installed library, not the build's.
LD_LIBRARY_PATH=$libdir ldd "$tmp/hello" 2>/dev/null |
    grep -q "$libdir/libsemd" ||
	fail "the program did not load $libdir/libsemd.so"
exit 0
