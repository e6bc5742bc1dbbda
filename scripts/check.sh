#!/bin/sh
# Build semd and run the whole test suite (make check).
#   scripts/check.sh                 warnings as errors
#   scripts/check.sh --sanitizers    the same under ASan + UBSan
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
dir=$("$top/scripts/build.sh" "$@")
cd "$dir"
if ! make -j"$(nproc)" check; then
	# Show what failed, so CI logs say why.
	for f in $(find . -name '*.log' ! -name config.log ! -name test-suite.log); do
		if grep -qE '^:test-result: (FAIL|ERROR)' "${f%.log}.trs" 2>/dev/null; then
			echo "==== $f"; tail -n 80 "$f"
		fi
	done
	exit 1
fi
