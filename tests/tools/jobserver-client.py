#!/usr/bin/python3
"""A small GNU make jobserver client, for testing semrun --jobserver.

It speaks both styles of the protocol as the GNU make manual describes
them ("Sharing Job Slots with GNU make"), written from the manual and
not from make: it finds the last --jobserver-auth= in MAKEFLAGS, which
is either R,W (inherited descriptors, make 4.3) or fifo:PATH (a named
pipe to open for reading and writing, make 4.4).

    jobserver-client.py DIR TAKE

Steps, each one reported by creating a file in DIR and gated by a file
the test creates, so that the test can look at semd in every state:
  ready        found the jobserver   (DIR/auth holds its description)
  wait start   then read TAKE tokens, one at a time (blocking)
  took         holds TAKE tokens     (DIR/tokens holds their bytes)
  wait give    then write them back
  gave
  wait end     then exit 0
A token that cannot be read within 30 s is a failure (exit 1).
"""

import os
import select
import sys
import time


def touch(d, name, text=""):
    with open(os.path.join(d, name + ".tmp"), "w") as f:
        f.write(text)
    os.rename(os.path.join(d, name + ".tmp"), os.path.join(d, name))


def wait_for(d, name):
    deadline = time.monotonic() + 60
    while not os.path.exists(os.path.join(d, name)):
        if time.monotonic() > deadline:
            sys.exit("jobserver-client: gave up waiting for " + name)
        time.sleep(0.02)


def find_auth():
    auth = None
    for word in os.environ.get("MAKEFLAGS", "").split():
        if word.startswith("--jobserver-auth="):
            auth = word[len("--jobserver-auth="):]
    if auth is None:
        sys.exit("jobserver-client: no --jobserver-auth in MAKEFLAGS")
    if auth.startswith("fifo:"):
        fd = os.open(auth[5:], os.O_RDWR)
        return auth, fd, fd
    r, w = (int(x) for x in auth.split(","))
    os.fstat(r)
    os.fstat(w)
    return auth, r, w


def main():
    d, take = sys.argv[1], int(sys.argv[2])
    auth, r, w = find_auth()
    touch(d, "ready", auth)
    wait_for(d, "start")
    tokens = b""
    while len(tokens) < take:
        ready, _, _ = select.select([r], [], [], 30)
        if not ready:
            sys.exit("jobserver-client: no token within 30 s")
        tokens += os.read(r, 1)
    touch(d, "took", tokens.decode("latin-1"))
    wait_for(d, "give")
    for b in tokens:
        os.write(w, bytes([b]))
    touch(d, "gave")
    wait_for(d, "end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
