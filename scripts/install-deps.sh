#!/bin/sh
# Install what semd needs to build, test and demo on a fresh Debian machine.
# Run as root (or with sudo available).  Safe to run again.
set -eu

pkgs="build-essential autoconf automake libtool pkg-config
      libevent-dev check libsystemd-dev systemd
      util-linux procps psmisc valgrind clang python3 make

      libinih-dev libjansson-dev
      etcd-server etcd-client
      python3-msgpack python3-pytest python3-setuptools python3-pip
      prometheus tmux curl passwd login"

# Round 2: libinih (semd -c), jansson (the etcd gateway client), a real
# etcd for the cluster tests, Debian's Python modules for the Python
# client and its tests (/usr/bin/python3), promtool (metrics), tmux
# (semdctl watch), curl (the metrics unit), useradd/su (access tests).

# msgpack-c: Debian 12 ships it in libmsgpack-dev (pkg-config "msgpack"),
# newer releases in libmsgpack-c-dev (pkg-config "msgpack-c").
if apt-cache show libmsgpack-c-dev >/dev/null 2>&1; then
	pkgs="$pkgs libmsgpack-c-dev"
else
	pkgs="$pkgs libmsgpack-dev"
fi

# libFuzzer (make fuzz) comes with compiler-rt, which clang only
# recommends; libclang-rt-dev is the one matching the default clang
# (libclang-rt-14-dev on Debian 12).
pkgs="$pkgs libclang-rt-dev"
# systemd.pc (configure's PKG_CHECK_VAR for the unit directories) is in
# the systemd package on Debian 12 and in systemd-dev from Debian 13 on;
# without it configure quietly installs no systemd units.
if apt-cache show systemd-dev >/dev/null 2>&1; then
	pkgs="$pkgs systemd-dev"
fi

SUDO=
if [ "$(id -u)" -ne 0 ]; then
	SUDO=sudo
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# shellcheck disable=SC2086
$SUDO apt-get install -y -q --no-install-recommends $pkgs
