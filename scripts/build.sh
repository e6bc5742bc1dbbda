#!/bin/sh
# Configure and build semd out of tree.
#   scripts/build.sh [--sanitizers] [extra configure args...]
# Builds in _build/ (or _build-asan/ with --sanitizers).  The build's
# output goes to stderr; stdout gets one line, the build directory.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$top/_build
args="--enable-werror"
if [ "${1:-}" = "--sanitizers" ]; then
	shift
	dir=$top/_build-asan
	args="$args --enable-sanitizers"
fi

if [ ! -x "$top/configure" ] || [ "$top/configure.ac" -nt "$top/configure" ]; then
	(cd "$top" && autoreconf -fi) >&2
fi
mkdir -p "$dir"
cd "$dir"
if [ ! -f Makefile ]; then
	# shellcheck disable=SC2086
	"$top/configure" $args "$@" >&2
fi
make -j"$(nproc)" >&2
echo "$dir"
