#!/bin/sh
# Every semd_* name that semd.h's comments or libsemd(3) mention exists:
# declared in semd.h as a function, struct, enum or type (a comment once
# told users to call semd_withdraw, which never existed).
set -u
src=${SEMD_SRCDIR:?run through make check}
hdr=$src/client/semd.h
man=$src/man/libsemd.3
fail=0

# The declared names: functions "name(", "struct name", "enum name".
decl=$(sed -n 's/.*[ *]\(semd_[a-z0-9_]*\)(.*/\1/p; s/.*\(struct\|enum\) \(semd_[a-z0-9_]*\).*/\2/p' "$hdr" | sort -u)

for name in $(grep -o 'semd_[a-z0-9_]*' "$hdr" "$man" | sed 's/^[^:]*://' |
    sort -u); do
	case $name in
	semd_h|semd_submit_|semd_)	continue ;;	# semd_submit_*(), SEMD_H
	esac
	if ! printf '%s\n' "$decl" | grep -qx "$name"; then
		echo "FAIL: $name is mentioned but not declared in semd.h" \
		    "($(grep -l "$name" "$hdr" "$man" | tr '\n' ' '))"
		fail=1
	fi
done
[ "$fail" -eq 0 ] && echo "ok - every semd_* name in semd.h and libsemd(3) is declared"
exit "$fail"
