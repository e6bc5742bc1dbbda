"""Run inside a private mount and pid namespace (test_autostart.py):
/tmp and /run are fresh tmpfs, nothing listens anywhere.  Start Python
clients and semrun processes at the same instant, all on the default
socket; print a JSON report: the daemons that exist afterwards and the
critical sections each client logged."""

import json
import os
import subprocess
import sys
import time

if sys.argv[1] == "system":
    # A system daemon runs: a Python client and semrun both reach it,
    # and nobody starts a per-user one.
    semrun = sys.argv[2]
    env = {k: v for k, v in os.environ.items()
           if k not in ("SEMD_SOCKET", "XDG_RUNTIME_DIR")}
    os.makedirs("/run/semd", 0o755)
    d = subprocess.Popen([os.environ["SEMD_BIN"], "-f", "-S",
                          "/run/semd/semd.sock"])
    while not os.path.exists("/run/semd/semd.sock"):
        time.sleep(0.01)
    hold = subprocess.Popen([semrun, "sysx", "1", "--", "sleep", "60"],
                            env=env)
    import semd
    while True:
        st = semd.sync.status("sysx", socket="/run/semd/semd.sock")
        if st.get("sysx") is not None:
            break
        time.sleep(0.01)
    os.environ.pop("SEMD_SOCKET", None)
    info = semd.sync.ping()
    try:
        semd.sync.Semaphore("sysx", 1, timeout=0).acquire()
        busy = False
    except semd.Timeout:
        busy = True
    hold.kill()
    hold.wait()
    print(json.dumps({"path": info["path"], "pid": info["pid"],
                      "daemon": d.pid, "busy": busy,
                      "user_dir": os.path.exists(
                          f"/tmp/semd-{os.geteuid()}/semd.sock")}))
    d.terminate()
    d.wait()
    sys.exit(0)

semrun = sys.argv[1]
n = int(sys.argv[2])
log = "/tmp/sections"
env = {k: v for k, v in os.environ.items()
       if k not in ("SEMD_SOCKET", "XDG_RUNTIME_DIR", "SEMD_NO_AUTOSTART")}
section = (
    "import os, time\n"
    "def w(s):\n"
    "    fd = os.open(%r, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)\n"
    "    os.write(fd, s.encode()); os.close(fd)\n"
    "w('start %%d\\n' %% os.getpid()); time.sleep(0.1)\n"
    "w('end %%d\\n' %% os.getpid())\n" % log)
py_client = (
    "import semd, sys\n"
    "with semd.sync.Semaphore('together', 1, timeout=60):\n"
    "    exec(sys.argv[1])\n"
    "print(semd.sync.ping()['pid'])\n")

go = time.monotonic() + 0.5
procs = []
for i in range(2 * n):
    if i % 2 == 0:
        argv = [sys.executable, "-c", py_client, section]
    else:
        argv = [semrun, "-t", "60", "together", "1", "--",
                sys.executable, "-c", section]
    procs.append(subprocess.Popen(
        [sys.executable, "-c",
         "import os, sys, time; time.sleep(max(0, float(sys.argv[1]) - "
         "time.monotonic())); os.execv(sys.argv[2], sys.argv[2:])",
         repr(go), *argv], env=env, stdout=subprocess.PIPE))
results = [(p.wait(120), p.stdout.read().decode().strip()) for p in procs]

daemons = []
for pid in os.listdir("/proc"):
    if not pid.isdigit():
        continue
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            argv = f.read().split(b"\0")
    except OSError:
        continue
    if os.path.basename(argv[0]) in (b"semd", b"lt-semd"):
        daemons.append([pid] + [a.decode() for a in argv if a])
sections = open(log).read().split("\n") if os.path.exists(log) else []
print(json.dumps({"results": results, "daemons": daemons,
                  "sections": [s for s in sections if s],
                  "user_dir": sorted(os.listdir(f"/tmp/semd-{os.geteuid()}"))
                  }))
