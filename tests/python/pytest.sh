#!/bin/sh
# The Python client's tests (python/tests, pytest) against the build
# tree's semd and semrun: make check runs them when configure found a
# Python with msgpack and pytest ($SEMD_PYTHON).  Writes nothing into the
# source tree (no bytecode, no pytest cache).  A hang fails after 15
# minutes (the suite takes about one) instead of stalling make check.
set -eu
: "${SEMD_SRCDIR:?run me from make check}"
PYTHONDONTWRITEBYTECODE=1
export PYTHONDONTWRITEBYTECODE
exec timeout -k 10 900 "${SEMD_PYTHON:-/usr/bin/python3}" -m pytest -q \
    -p no:cacheprovider -o addopts= "$SEMD_SRCDIR/python/tests"
