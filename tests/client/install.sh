#!/bin/sh
# `make install` into the real root, as a new user does after building:
# the installed semdctl must run at once, without "libsemd.so.0: cannot
# open shared object file" (the install hook runs ldconfig).  The install
# happens in a private mount namespace, with an empty tmpfs on /usr/local
# and a copy of /etc (where ldconfig writes its cache), and every
# installation directory under /usr/local (the systemd unit directories
# are absolute otherwise), so the machine's own files are never touched.
# Needs root.
set -u
: "${SEMD_BUILDDIR:?run through make check}"
if [ -z "${SEMD_INSTALL_INNER:-}" ]; then
	if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null 2>&1 ||
	    ! unshare --mount --propagation private true 2>/dev/null; then
		echo "SKIP: needs root and a private mount namespace"
		exit 77
	fi
	SEMD_INSTALL_INNER=1 exec unshare --mount --propagation private \
	    sh "$0"
	exit 99
fi

fail() { echo "FAIL: $*" >&2; exit 1; }
work=$(mktemp -d /var/tmp/semd-install.XXXXXX) || exit 99
trap 'umount /usr/local /etc 2>/dev/null; rm -rf "$work"' EXIT
cp -a /etc "$work/etc" || fail "cannot copy /etc"
mount --bind "$work/etc" /etc || fail "cannot bind a copy of /etc"
mount -t tmpfs tmpfs /usr/local || fail "cannot mount a tmpfs on /usr/local"
mkdir -p /usr/local/lib /usr/local/bin /usr/local/sbin

env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} -s -C "$SEMD_BUILDDIR" \
    install prefix=/usr/local \
    systemdsystemunitdir=/usr/local/lib/systemd/system \
    systemduserunitdir=/usr/local/lib/systemd/user \
    >"$work/install.log" 2>&1 || {
	cat "$work/install.log"
	fail "make install failed"
}
grep -q "^ldconfig" "$work/install.log" ||
    fail "the install did not run ldconfig: $(cat "$work/install.log")"
out=$(env -u LD_LIBRARY_PATH /usr/local/bin/semdctl --version 2>&1) ||
    fail "the installed semdctl does not run: $out"
echo "ok - installed semdctl runs at once: $out"
exit 0
