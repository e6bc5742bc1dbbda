#!/bin/sh
# Declared semaphores and access rules (semd -c FILE): real users made
# with useradd, real groups with groupadd, one real semd on a 0666
# socket.  allow by user, by primary group, by supplementary group;
# undeclared = deny; capacity left out joins the declared one, another
# one is CAPACITY_MISMATCH; DENIED is exit 77 and names the rule; a bad
# file is refused with FILE:LINE and the rules in force stay (SIGHUP and
# semdctl reload); reload changes capacity online; ADMIN by a non-admin
# is DENIED.  Creating users needs root: without it the test is skipped.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/../lib/helpers.sh"

if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: this test creates users and groups (useradd), which needs root"
	exit 77
fi
for _c in useradd groupadd userdel groupdel setpriv; do
	if ! command -v $_c >/dev/null 2>&1; then
		echo "SKIP: $_c is needed"
		exit 77
	fi
done

# Unique names: other tests may run at the same time.
sfx=$$
U1=sa$sfx	# allowed by name
U2=sb$sfx	# allowed through its primary group
U3=sc$sfx	# allowed through a supplementary group
U4=sd$sfx	# allowed nowhere, admin of nothing
GP=gp$sfx	# U2's primary group
GS=gs$sfx	# U3's supplementary group
GA=ga$sfx	# admins of "team"
made_users=
made_groups=
drop_accounts()
{
	for _u in $made_users; do userdel "$_u" 2>/dev/null; done
	for _g in $made_groups; do groupdel "$_g" 2>/dev/null; done
}
trap 'drop_accounts; cleanup' EXIT
for _g in $GP $GS $GA; do
	groupadd "$_g" || fail "groupadd $_g"
	made_groups="$made_groups $_g"
done
useradd -M -N -g "$GP" "$U2" || fail "useradd $U2"
made_users="$made_users $U2"
for _u in $U1 $U3 $U4; do
	useradd -M -N -g nogroup "$_u" 2>/dev/null ||
	    useradd -M -N "$_u" || fail "useradd $_u"
	made_users="$made_users $_u"
done
usermod -a -G "$GS" "$U3" || fail "usermod -G $GS $U3"
usermod -a -G "$GA" "$U4" || fail "usermod -G $GA $U4"

# The users run copies of the tools from the test's directory (the build
# tree may be in a home directory they cannot read).
chmod 755 "$tmp"
tl_copy_clients "$tmp" || fail "cannot copy the clients to $tmp"

# as USER COMMAND [ARG]...: run COMMAND as USER with that user's groups
# (initgroups), the way login would.
as()
{
	_u=$1
	shift
	setpriv --reuid="$_u" --regid="$(id -g "$_u")" --init-groups \
	    env LD_LIBRARY_PATH="$tmp/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" \
	    SEMD_SOCKET="$SOCK" SEMD_NO_AUTOSTART=1 "$@"
}

cat >"$tmp/semd.conf" <<EOF
; semd configuration for the access test
[semd]
undeclared = deny

[sem byname]
capacity = 2
allow = $U1

[sem byprimary]
capacity = 2
allow = @$GP

[sem bysupp]
capacity = 2
allow = @$GS

[sem team]
capacity = 1
allow = $U1 @$GP @$GS @$GA
admin = @$GA

[sem open]
capacity = 3
EOF
"$SEMD_BIN" -f -S "$SOCK" --socket-mode 0666 -c "$tmp/semd.conf" \
    >"$tmp/semd.log" 2>&1 &
semd_pid=$!
wait_until "semd answers on $SOCK" "$SEMDCTL" ping

S=$tmp/bin/semrun
C=$tmp/bin/semdctl

# 1. allow by user, primary group, supplementary group.
expect_status 0 "$U1 takes byname (allowed by name)" as $U1 "$S" -n byname -- true
expect_status 77 "$U2 is refused byname" as $U2 "$S" -n byname -- true
grep -q "allows only $U1" "$tmp/err" || fail "DENIED does not name the rule: $(cat "$tmp/err")"
grep -q "semd.conf line 5" "$tmp/err" || fail "DENIED does not name the file and line: $(cat "$tmp/err")"
expect_status 0 "$U2 takes byprimary (primary group $GP)" as $U2 "$S" -n byprimary -- true
expect_status 77 "$U3 is refused byprimary" as $U3 "$S" -n byprimary -- true
expect_status 0 "$U3 takes bysupp (supplementary group $GS)" as $U3 "$S" -n bysupp -- true
expect_status 77 "$U2 is refused bysupp" as $U2 "$S" -n bysupp -- true
expect_status 77 "$U4 is refused byname" as $U4 "$S" -n byname -- true
expect_status 0 "anyone takes open (no allow)" as $U4 "$S" -n open -- true

# 2. undeclared = deny, for everyone but root alike.
expect_status 77 "an undeclared name is refused" as $U1 "$S" -n nothere 1 -- true
grep -q "undeclared = deny" "$tmp/err" || fail "DENIED does not name the rule: $(cat "$tmp/err")"
expect_status 77 "root too" "$SEMRUN" -n nothere 1 -- true

# 3. The declared capacity: left out, it is used; another one is refused.
expect_status 0 "capacity left out" as $U1 "$S" -n byname -- true
expect_status 0 "the declared capacity repeated" as $U1 "$S" -n byname 2 -- true
expect_status 65 "another capacity" as $U1 "$S" -n byname 5 -- true
grep -q "capacity 2" "$tmp/err" || fail "mismatch does not say the capacity: $(cat "$tmp/err")"
[ "$(st "sem('byname')['capacity']")" = 2 ] || fail "byname lost its capacity"
[ "$(st "sem('byname')['declared']")" = true ] || fail "byname is not shown as declared"

# 4. A bad file is refused with its line; the rules in force stay.
cp "$tmp/semd.conf" "$tmp/good.conf"
printf '[sem byname]\ncapacity = 2\nallow = %s\ncolour = blue\n' "$U1" \
    >"$tmp/semd.conf"
expect_status 1 "semdctl reload of a bad file fails" "$SEMDCTL" reload
grep -q "semd.conf:4: unknown key 'colour'" "$tmp/err" ||
    fail "reload refusal does not name FILE:LINE: $(cat "$tmp/err")"
kill -HUP "$semd_pid"
wait_until "semd logs the refused SIGHUP" grep -q "SIGHUP: reload refused: .*semd.conf:4:" "$tmp/semd.log"
expect_status 0 "the old rules stay: open still declared" as $U4 "$S" -n open -- true
expect_status 77 "the old rules stay: undeclared still denied" as $U1 "$S" -n nothere 1 -- true
printf '[semd]\nundeclared = deny\n[sem open]\ncapacity = 3\n[sem open]\ncapacity = 4\n' \
    >"$tmp/semd.conf"
expect_status 1 "a duplicate section is refused" "$SEMDCTL" reload
grep -q "semd.conf:5: duplicate section \[sem open\] (first on line 3)" "$tmp/err" ||
    fail "duplicate section: $(cat "$tmp/err")"
printf '[sem x]\ncapacity = many\n' >"$tmp/semd.conf"
expect_status 1 "a bad value is refused" "$SEMDCTL" reload
grep -q "semd.conf:2: capacity must be a number" "$tmp/err" || fail "bad value: $(cat "$tmp/err")"
expect_status 1 "semd -c refuses a bad file at start" "$SEMD_BIN" -f -S "$tmp/other.sock" -c "$tmp/semd.conf"
grep -q "semd.conf:2:" "$tmp/err" || fail "start refusal: $(cat "$tmp/err")"

# 5. Reload: capacity changes online; a name no longer declared is
# allowed again only if undeclared = allow.
hold open 3
sed 's/^capacity = 3$/capacity = 5/' "$tmp/good.conf" >"$tmp/semd.conf"
expect_status 0 "reload of a good file" "$SEMDCTL" reload
grep -q "reloaded" "$tmp/out" || fail "reload said: $(cat "$tmp/out")"
[ "$(st "sem('open')['capacity']")" = 5 ] || fail "open was not resized online"
[ "$(held open)" = 1 ] || fail "the holder of open lost its slot"
unhold open

# 6. Administration: a non-admin is DENIED (77), an admin group member
# and root may.
expect_status 77 "$U1 may not resize team" as $U1 "$C" resize team 3
grep -q "may not administer team" "$tmp/err" || fail "admin refusal: $(cat "$tmp/err")"
expect_status 77 "$U1 may not reload" as $U1 "$C" reload
expect_status 77 "$U1 may not drain" as $U1 "$C" drain team
expect_status 0 "$U4 (in @$GA) may resize team" as $U4 "$C" resize team 3
[ "$(st "sem('team')['capacity']")" = 3 ] || fail "team was not resized"
expect_status 77 "$U4 may not resize open" as $U4 "$C" resize open 1
expect_status 0 "anyone may list" as $U1 "$C" list
grep -q "declared" "$tmp/out" || fail "list does not show declared: $(cat "$tmp/out")"
expect_status 0 "root may" "$SEMDCTL" resize team 1
grep -q "refused: uid" "$tmp/semd.log" || fail "refusals are not logged"
grep -q "resize team from 1 to 3" "$tmp/semd.log" || fail "the resize is not logged with who did it"

kill -0 "$semd_pid" || fail "semd died"
exit 0
