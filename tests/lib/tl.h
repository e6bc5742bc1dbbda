/*
 * tl.h -- the shared test library (tests/lib/, libtl.la): clocks, temp
 * directories, Unix sockets, a real semd started and stopped on a
 * temporary socket, and a scripted fake daemon for the libsemd tests.
 *
 * Prefix: tl_ (test library).  semd_ is only the public API of
 * client/semd.h; the tests' own helpers keep their file's prefix
 * (integ_, tc_, soak_, bench_).
 *
 * No function here fails a test or exits: each returns -1 (or 0 for a
 * predicate) and says why in errno or the object's error buffer, so the
 * same code serves Check tests, the soak and the benchmarks.  Waits have
 * generous deadlines that exist only so that a broken daemon fails a
 * test instead of hanging it; nothing asserts a duration.
 */

#ifndef SEMD_TL_H
#define SEMD_TL_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#define TL_START_MS	30000	/* a daemon must accept within this */
#define TL_STOP_MS	30000	/* a daemon must exit after SIGTERM */
#define TL_ERROR_LEN	2048

/* --- clocks --- */

/* Milliseconds, nanoseconds of CLOCK_MONOTONIC (one clock for all). */
int64_t	tl_now_ms(void);
int64_t	tl_now_ns(void);

/* Sleep ms milliseconds, through signals. */
void	tl_nap_ms(long);

/*
 * Poll cond(arg) every few milliseconds until it returns non-zero or
 * timeout_ms pass.  Returns 1 when it held, 0 at the deadline.
 */
int	tl_wait_until(int (*)(void *), void *, int);

/* --- temporary directories --- */

/*
 * Make a fresh directory $TMPDIR/NAME.XXXXXX (/tmp when $TMPDIR is unset
 * or too long for a socket path below it) into buf.  0, or -1 with errno.
 */
int	tl_tmpdir(char *, size_t, const char *);

/* Remove path and everything below it (no links followed).  0 or -1. */
int	tl_rmtree(const char *);

/*
 * A guard for a temporary directory, for tests that may die before they
 * clean up (Check's fork mode ends a failed test with _exit, and kills
 * the test's process group).  tl_guard_start forks a process, in a
 * process group of its own, that waits until every copy of g->fd is
 * closed -- tl_guard_release closes ours; else the test and its children
 * died -- and then, if dir is still there, says so, copies log (when
 * not NULL) to stderr and removes dir.  0, or -1 with errno.
 */
struct tl_guard {
	pid_t	 pid;		/* 0: none */
	int	 fd;		/* the write end; close it in children
				   that must not keep the guard waiting */
};

int	tl_guard_start(struct tl_guard *, const char *, const char *);

/* All went well: close our end and reap the guard (dir is left alone). */
void	tl_guard_release(struct tl_guard *);

/* --- Unix stream sockets --- */

/* Connect to path: a blocking, close-on-exec fd, or -1 with errno. */
int	tl_dial(const char *);

/* Can a client connect to path right now? */
int	tl_can_dial(const char *);

/*
 * Bind and listen on path (removed first), with extra socket type flags
 * (SOCK_NONBLOCK, ...).  A close-on-exec fd, or -1 with errno.
 */
int	tl_listen(const char *, int);

/* --- a real semd --- */

/*
 * Fill the "in" fields (zero means the default), then tl_daemon_start.
 * The daemon runs `BIN -f -S PATH ARGS...` as our child, with an empty
 * signal mask, default SIGPIPE, no descriptor of ours above 2, and it
 * dies with the process that started it (PR_SET_PDEATHSIG).
 */
struct tl_daemon {
	/* in */
	const char	*bin;		/* NULL: $SEMD_BIN */
	char		 path[108];	/* the socket (fits sun_path) */
	char		 log[160];	/* stdout+stderr (stdin /dev/null);
					   "": inherited */
	const char	*env[8];	/* in the child: "NAME=value" sets,
					   "NAME" unsets; NULL ends */
	unsigned long	 nofile;	/* RLIMIT_NOFILE; 0: ours */
	/* out */
	pid_t		 pid;		/* -1 once reaped */
	int		 status;	/* its wait status, once reaped */
	char		 error[TL_ERROR_LEN];	/* why a call failed */
};

/*
 * Fork and exec the daemon with args (NULL-terminated, may be NULL), and
 * do not wait.  0, or -1 with d->error.
 */
int	tl_daemon_spawn(struct tl_daemon *, const char *const *);

/*
 * Wait until the daemon accepts on d->path (timeout_ms; 0: TL_START_MS).
 * 0, or -1 with d->error (it exited: its status and log tail; or it did
 * not accept in time).
 */
int	tl_daemon_wait(struct tl_daemon *, int);

/* tl_daemon_spawn, then tl_daemon_wait with the default time. */
int	tl_daemon_start(struct tl_daemon *, const char *const *);

/* Has the daemon exited?  Reaps it (d->status); 1 yes, 0 it runs. */
int	tl_daemon_exited(struct tl_daemon *);

/*
 * SIGTERM the daemon and reap it (timeout_ms, 0: TL_STOP_MS; then
 * SIGKILL).  0 when it exited with status 0, else -1 with d->error.
 * Nothing to do (0) when it is not running.
 */
int	tl_daemon_stop(struct tl_daemon *, int);

/* SIGKILL the daemon and reap it (for the tests of a daemon's death). */
void	tl_daemon_kill(struct tl_daemon *);

/* Describe a wait status ("exited with status 1") into buf. */
const char *tl_wait_str(int, char *, size_t);

/* The last len - 1 bytes of a file into buf ("" when unreadable). */
const char *tl_file_tail(const char *, char *, size_t);

/* --- over libsemd (tl_semd.c; for the programs that link libsemd) --- */

struct semd;
struct semd_event;
struct semd_error;

/*
 * The next event of an event-loop connection, waiting for it (writing
 * queued requests meanwhile) at most timeout_ms.  1 with the event, 0
 * when none came in time, -1 with the error.
 */
int	tl_semd_next(struct semd *, struct semd_event *, int,
	    struct semd_error *);

/* --- a scripted fake daemon (tl_fake.c; links libsemproto) --- */

/*
 * One step of a fake daemon's script.  The fake serves one connection
 * at a time, from a process of its own; it reads real frames and
 * decodes them with proto_decode_request, so a client's wrong bytes
 * fail the script.
 */
enum tl_fake_act {
	TL_FAKE_END = 0,	/* the script is done: close and exit 0 */
	TL_FAKE_ACCEPT,		/* accept the next connection */
	TL_FAKE_EXPECT,		/* read one request; its op must be .op,
				   its sem .sem (when given), its id that
				   of request .ref (when > 0) */
	TL_FAKE_REPLY,		/* answer request .ref with op .op */
	TL_FAKE_UNKNOWN_OP,	/* a reply {op: .text, id} to .ref */
	TL_FAKE_ERROR_NAMED,	/* {op: "ERROR", id, code: .name,
				   message: .text} to .ref */
	TL_FAKE_RAW,		/* write .text's .len bytes as they are */
	TL_FAKE_CLOSE,		/* close the connection */
	TL_FAKE_WAIT_EOF,	/* read (and drop) until the client closes */
	TL_FAKE_HANG,		/* answer nothing: read until EOF, no reply */
};

struct tl_fake_step {
	enum tl_fake_act act;
	int		 op;		/* enum proto_op */
	int		 ref;		/* 0: the last request read; n > 0:
					   the n-th of this connection */
	const char	*sem;		/* EXPECT: the name; REPLY: sem */
	const char	*text;		/* RAW, UNKNOWN_OP; ERROR: message */
	const char	*name;		/* ERROR_NAMED: the code's name */
	int		 poke;		/* EXPECT: send this signal to the
					   client's process (SO_PEERCRED)
					   every 20 ms until it writes */
	size_t		 len;		/* RAW */
	int		 code;		/* REPLY ERROR: enum proto_err */
	uint32_t	 num;		/* REPLY QUEUED: position; ACQUIRED,
					   RELEASED: weight (0: 1) */
};

struct tl_fake {
	char	 dir[96];	/* a temp directory of its own */
	char	 path[108];	/* where it listens */
	pid_t	 pid;
	int	 rfd;		/* the child's report */
	char	 error[TL_ERROR_LEN];
};

/*
 * Listen on a fresh socket and fork the fake to play script (which must
 * outlive the call only until the fork: the child has its copy).  A
 * client may connect as soon as this returns.  0, or -1 with f->error.
 */
int	tl_fake_start(struct tl_fake *, const struct tl_fake_step *);

/*
 * Wait (TL_STOP_MS at the most, then SIGKILL) for the fake to end its
 * script, and remove its directory.  0 when the script ran to the end,
 * else -1 with f->error saying which step failed and why.
 */
int	tl_fake_finish(struct tl_fake *);

#endif /* SEMD_TL_H */
