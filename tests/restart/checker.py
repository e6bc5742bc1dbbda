"""checker.py -- the independent checker of "never more than C running":
reads the lines CMDs append to a log ("start KEY SECONDS" when they
begin, "end KEY SECONDS" when they finish; SECONDS from the CMD's own
clock, date +%s.%N) and works out how many ran at once.  It knows
nothing of semd: only what the commands themselves saw."""


def intervals(path):
    """Return {key: [start, end or None]} from the log at path."""
    runs = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) != 3:
                continue
            what, key, t = parts[0], parts[1], float(parts[2])
            if what == "start":
                runs.setdefault(key, [None, None])[0] = t
            elif what == "end":
                runs.setdefault(key, [None, None])[1] = t
    return runs


def max_running(runs, until=None):
    """The most intervals open at once.  An end at the same instant as a
    start counts first (the slot was given back before it was taken);
    an interval with no end is open until `until` (or forever)."""
    ev = []
    for key, (s, e) in runs.items():
        if s is None:
            continue
        ev.append((s, 1, key))
        if e is not None:
            ev.append((e, -1, key))
        elif until is not None:
            ev.append((until, -1, key))
    ev.sort(key=lambda x: (x[0], x[1]))
    n = most = 0
    at = None
    for t, d, _ in ev:
        n += d
        if n > most:
            most, at = n, t
    return most, at


def cmd(log, seconds):
    """A shell command line for semrun: log start and end around a
    sleep; the key is semrun's pid ($PPID of the shell)."""
    return ["sh", "-c",
            'echo "start $PPID $(date +%%s.%%N)" >>"%s"; sleep %s; '
            'echo "end $PPID $(date +%%s.%%N)" >>"%s"' % (log, seconds, log)]
