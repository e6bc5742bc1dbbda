#!/bin/sh
# cargo as a client of semrun --jobserver, in both styles: build scripts
# of six crates (each logs its start and end and sleeps) run at most
# CAPACITY at once, and CAPACITY at some point.  Skipped without cargo
# (Debian 12 packages one, CI does not install it).
. "$(dirname "$0")/lib.sh"

here=$(cd "$(dirname "$0")" && pwd)
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
if ! command -v cargo >/dev/null 2>&1; then
	echo "SKIP: cargo is not installed" >&2
	exit 77
fi
start_semd

# A workspace of six crates with a build script each, and one that uses
# them all; no dependency from a registry (--offline).
ws=$tmp/ws
members=
deps=
for i in 1 2 3 4 5 6; do
	mkdir -p "$ws/c$i/src"
	printf '[package]\nname = "c%s"\nversion = "0.1.0"\nedition = "2021"\n' \
	    "$i" >"$ws/c$i/Cargo.toml"
	echo 'pub fn f() {}' >"$ws/c$i/src/lib.rs"
	cat >"$ws/c$i/build.rs" <<RS
use std::io::Write;
fn log(kind: &str) {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    let mut f = std::fs::OpenOptions::new().append(true).create(true)
        .open(std::env::var("JSLOG").unwrap()).unwrap();
    f.write_all(format!("{} cargo c$i {}\n", kind, ns).as_bytes()).unwrap();
}
fn main() {
    log("S");
    std::thread::sleep(std::time::Duration::from_millis(300));
    log("E");
    println!("cargo:rerun-if-env-changed=JSLOG");
}
RS
	members="$members \"c$i\","
	deps="${deps}c$i = { path = \"../c$i\" }
"
done
mkdir -p "$ws/top/src"
printf '[package]\nname = "top"\nversion = "0.1.0"\nedition = "2021"\n[dependencies]\n%s' \
    "$deps" >"$ws/top/Cargo.toml"
echo 'fn main() {}' >"$ws/top/src/main.rs"
printf '[workspace]\nmembers = [%s "top"]\nresolver = "2"\n' "$members" \
    >"$ws/Cargo.toml"

for style in pipe fifo; do
	JSLOG=$tmp/log.$style
	export JSLOG
	CARGO_TARGET_DIR=$tmp/target.$style
	export CARGO_TARGET_DIR
	"$SEMRUN" --jobserver --jobserver-style=$style build 2 -- \
	    cargo build --offline --quiet --manifest-path "$ws/Cargo.toml" \
	    </dev/null >"$tmp/cargo.$style.out" 2>&1 ||
	    fail "cargo ($style) failed: $(cat "$tmp/cargo.$style.out")"
	"$PY" "$here/jobserver-check.py" "$JSLOG" 2 6 ||
	    fail "cargo ($style) broke the bound of 2"
	expect_state build 0 0
	ok "cargo, $style style: 6 build scripts, at most 2 at once"
done
exit 0
