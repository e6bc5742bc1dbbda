/*
 * jobserver.c -- semrun and the GNU make jobserver protocol.
 *
 * The protocol (GNU make manual, "Job Slots"; the same in ninja >= 1.13
 * and Rust's jobserver crate): every process of a build may run one job
 * for free (its implicit slot); for each further job it reads one byte,
 * a token, from a shared pipe, and writes it back when the job is done.
 * The pipe reaches the children through MAKEFLAGS:
 *
 *	-jN --jobserver-auth=R,W	inherited descriptors (make 4.2, 4.3;
 *					4.2 spelled it --jobserver-fds)
 *	-jN --jobserver-auth=fifo:PATH	a named pipe to open (make 4.4)
 *
 * The top (semrun --jobserver NAME CAPACITY -- CMD).  semrun holds one
 * slot of NAME for CMD's implicit job, creates the pipe and keeps at most
 * ONE spare token in it, backed by one more slot of NAME.  When CMD
 * takes the spare, semrun asks semd for another slot and writes a new
 * spare when it is granted; when CMD writes a token back, the pipe holds
 * two and semrun reads one out and releases its slot.  So every token in
 * the pipe or in a job's hands is a held slot, and all builds started
 * this way together run at most CAPACITY jobs, while a build that has no
 * more work to run holds at most one slot it does not use.
 *
 * Nothing tells a pipe's writer that a byte was read, so semrun looks at
 * the number of bytes in the pipe (FIONREAD) on a short timer: every
 * JOBSERVER_TICK_MIN ms while tokens move, backing off to
 * JOBSERVER_TICK_MAX ms while nothing changes.  That is the latency of a
 * new job start, small next to a compiler run.
 *
 * All the slots are grants of weight 1 on semrun's one connection: the
 * daemon allows any number of grants of one name per connection (its
 * max-holds limit counts names), at most one ACQUIRE of ours is pending
 * at a time (max-pending is never near), and closing the connection
 * gives everything back at once.  The connection is inherited by CMD as
 * in plain semrun, so if semrun is killed the slots stay held while the
 * build runs (no new tokens appear; the ones in circulation go on
 * circulating).  When CMD exits, semrun releases every slot, also when
 * CMD was killed: the tokens CMD's jobs held are given back.
 *
 * The client (semrun inside a recipe).  A recipe runs on one of make's
 * job slots.  If MAKEFLAGS names a jobserver that this process can use
 * and semrun has to wait for its semd slot, it writes one token into the
 * pipe (lends its job slot back to make, so other recipes can run) and
 * reads one again once the slot is granted, before CMD starts, or before
 * it exits without running CMD.  make 4.3 passes the descriptors only to
 * recipes it knows to be recursive (marked `+' or naming $(MAKE)); the
 * descriptors named in MAKEFLAGS are used only if they are the two ends
 * of one pipe, so an unrelated file at those numbers is never written.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jobserver.h"
#include "monoclock.h"

#define JOBSERVER_TICK_MIN	1	/* ms between looks while busy */
#define JOBSERVER_TICK_MAX	10	/* ms between looks while idle */
#define JOBSERVER_TOKEN		'+'	/* what make writes */

#define JOBSERVER_TOP		0
#define JOBSERVER_CLIENT	1

struct jobserver {
	int		 role;		/* JOBSERVER_TOP or _CLIENT */
	int		 style;		/* JOBSERVER_PIPE or _FIFO */
	int		 verbose;

	int		 fds[2];	/* the pipe CMD inherits (top, pipe) */
	int		 rfd;		/* where we read tokens, non-blocking */
	int		 wfd;		/* where we write tokens */
	char		*dir;		/* top, fifo: our private directory */
	char		*path;		/* fifo: its path */

	/* Top. */
	const char	*name;		/* the semaphore */
	uint32_t	 capacity;
	int		 pending;	/* an ACQUIRE of ours is outstanding */
	uint64_t	 pending_id;
	uint32_t	 extra;		/* slots held for tokens */
	int		 last_n;	/* bytes in the pipe at the last look */
	int		 tick_ms;
	int		 stopped;	/* semd refused us: no more acquires */

	/* Client. */
	int		 lent;		/* we wrote a token we must take back */
};

/* Print a jobserver message (only with -v, or when warn is set). */
static void
jobserver_msg(const struct jobserver *js, int warn, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
jobserver_msg(const struct jobserver *js, int warn, const char *fmt, ...)
{
	va_list	ap;

	if (!warn && !js->verbose)
		return;
	va_start(ap, fmt);
	fputs("semrun: jobserver: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

/* A new structure with no descriptors, or NULL. */
static struct jobserver *
jobserver_new(int role, int style, int verbose)
{
	struct jobserver	*js;

	if ((js = calloc(1, sizeof *js)) == NULL)
		return (NULL);
	js->role = role;
	js->style = style;
	js->verbose = verbose;
	js->fds[0] = js->fds[1] = js->rfd = js->wfd = -1;
	js->tick_ms = JOBSERVER_TICK_MIN;
	return (js);
}

/*
 * Move fd to a number above 2 (semrun may start with stdio closed; a
 * token pipe on fd 1 would take CMD's output).  Returns the new fd (the
 * old one closed), or -1.
 */
static int
jobserver_above_stdio(int fd)
{
	int	nfd;

	if (fd > 2)
		return (fd);
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return (nfd);
}

/*
 * A private, non-blocking read end of the pipe fd: reopening it through
 * /proc gives a file description of our own, so O_NONBLOCK there does not
 * change how make reads its end.  Returns the new fd, or -1.
 */
static int
jobserver_reopen(int fd)
{
	char	path[64];

	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return (open(path, O_RDONLY|O_NONBLOCK|O_CLOEXEC));
}

/* Bytes in the pipe now (FIONREAD), or -1. */
static int
jobserver_count(const struct jobserver *js)
{
	int	n;

	if (ioctl(js->rfd, FIONREAD, &n) == -1)
		return (-1);
	return (n);
}

/* Write one token.  Returns 0 or -1 with errno set. */
static int
jobserver_put(struct jobserver *js)
{
	char	c = JOBSERVER_TOKEN;
	ssize_t	n;

	do
		n = write(js->wfd, &c, 1);
	while (n == -1 && errno == EINTR);
	return (n == 1 ? 0 : -1);
}

/*
 * Read one token without blocking.  Returns 1 when one was read, 0 when
 * none was there (someone else was faster), -1 on error.
 */
static int
jobserver_get(struct jobserver *js)
{
	char	c;
	ssize_t	n;

	do
		n = read(js->rfd, &c, 1);
	while (n == -1 && errno == EINTR);
	if (n == 1)
		return (1);
	if (n == 0 || errno == EAGAIN || errno == EWOULDBLOCK)
		return (0);
	return (-1);
}

/*
 * Create the top of a jobserver for the semaphore name of capacity
 * capacity (both must stay valid as long as the jobserver), in style
 * JOBSERVER_PIPE or JOBSERVER_FIFO.  A fifo lives in a private directory
 * under $TMPDIR (else /tmp), removed by jobserver_free().  Returns the
 * jobserver, or NULL with a sentence in cause.
 */
struct jobserver *
jobserver_create(int style, const char *name, uint32_t capacity,
    int verbose, char *cause, size_t causelen)
{
	struct jobserver	*js;
	const char		*tmp;
	size_t			 len;

	if ((js = jobserver_new(JOBSERVER_TOP, style, verbose)) == NULL) {
		snprintf(cause, causelen, "jobserver: %s", strerror(errno));
		return (NULL);
	}
	js->name = name;
	js->capacity = capacity;

	if (style == JOBSERVER_PIPE) {
		if (pipe2(js->fds, O_CLOEXEC) == -1 ||
		    (js->fds[0] = jobserver_above_stdio(js->fds[0])) == -1 ||
		    (js->fds[1] = jobserver_above_stdio(js->fds[1])) == -1) {
			snprintf(cause, causelen, "jobserver pipe: %s",
			    strerror(errno));
			goto fail;
		}
		/* Without /proc, read our end as it is, after FIONREAD. */
		if ((js->rfd = jobserver_reopen(js->fds[0])) == -1)
			js->rfd = js->fds[0];
		js->wfd = js->fds[1];
		return (js);
	}

	if ((tmp = getenv("TMPDIR")) == NULL || *tmp != '/')
		tmp = "/tmp";
	len = strlen(tmp) + sizeof "/semrun-jobserver.XXXXXX";
	if ((js->dir = malloc(len)) == NULL ||
	    (js->path = malloc(len + sizeof "/fifo")) == NULL) {
		snprintf(cause, causelen, "jobserver: %s", strerror(errno));
		goto fail;
	}
	snprintf(js->dir, len, "%s/semrun-jobserver.XXXXXX", tmp);
	if (mkdtemp(js->dir) == NULL) {
		snprintf(cause, causelen, "jobserver: cannot create a "
		    "directory in %s: %s", tmp, strerror(errno));
		free(js->dir);
		js->dir = NULL;
		goto fail;
	}
	snprintf(js->path, len + sizeof "/fifo", "%s/fifo", js->dir);
	if (mkfifo(js->path, 0600) == -1) {
		snprintf(cause, causelen, "jobserver: mkfifo %s: %s", js->path,
		    strerror(errno));
		goto fail;
	}
	/* O_RDWR: opening a fifo so never waits, and it never sees EOF. */
	if ((js->rfd = open(js->path, O_RDWR|O_NONBLOCK|O_CLOEXEC)) == -1 ||
	    (js->rfd = jobserver_above_stdio(js->rfd)) == -1) {
		snprintf(cause, causelen, "jobserver: %s: %s", js->path,
		    strerror(errno));
		goto fail;
	}
	js->wfd = js->rfd;
	return (js);

fail:
	jobserver_free(js);
	return (NULL);
}

/* Is word a MAKEFLAGS word that says how many jobs or which jobserver? */
static int
jobserver_word(const char *w, size_t len)
{
	static const char	*drop[] = { "-j", "--jobs", "--jobserver-auth=",
	    "--jobserver-fds=", "--jobserver-style=" };
	size_t			 i, n;

	for (i = 0; i < sizeof drop / sizeof drop[0]; i++) {
		n = strlen(drop[i]);
		if (len >= n && strncmp(w, drop[i], n) == 0)
			return (1);
	}
	return (0);
}

/*
 * The MAKEFLAGS for CMD: the words of the inherited one that name no job
 * count and no jobserver, ours, then the variables after " -- ".
 * Returns it (the caller frees it), or NULL (ENOMEM).
 */
static char *
jobserver_makeflags(const struct jobserver *js)
{
	const char	*old, *tail, *p, *end;
	char		*buf, auth[64], jobs[16];
	size_t		 len, off, wl;

	/* Capacity omitted (a declared semaphore): a bare -j. */
	if (js->capacity != 0)
		snprintf(jobs, sizeof jobs, "-j%u", (unsigned)js->capacity);
	else
		snprintf(jobs, sizeof jobs, "-j");
	if (js->style == JOBSERVER_PIPE) {
		snprintf(auth, sizeof auth, "%s --jobserver-auth=%d,%d", jobs,
		    js->fds[0], js->fds[1]);
		len = strlen(auth);
	} else
		len = strlen(js->path) + 48;
	if ((old = getenv("MAKEFLAGS")) == NULL)
		old = "";
	/* Variables on make's command line follow " -- " (or lead "-- "). */
	if (strncmp(old, "-- ", 3) == 0)
		tail = old;
	else if ((tail = strstr(old, " -- ")) != NULL)
		tail++;
	else
		tail = old + strlen(old);

	if ((buf = malloc(strlen(old) + len + 3)) == NULL)
		return (NULL);
	off = 0;
	for (p = old; p < tail; p = end) {
		while (p < tail && *p == ' ')
			p++;
		if (p == tail)
			break;
		for (end = p; end < tail && *end != ' '; end++)
			continue;
		wl = (size_t)(end - p);
		if (jobserver_word(p, wl))
			continue;
		memcpy(buf + off, p, wl);
		off += wl;
		buf[off++] = ' ';
	}
	if (js->style == JOBSERVER_PIPE)
		off += (size_t)sprintf(buf + off, "%s", auth);
	else
		off += (size_t)sprintf(buf + off, "%s --jobserver-auth=fifo:%s",
		    jobs, js->path);
	if (*tail != '\0')
		off += (size_t)sprintf(buf + off, " %s", tail);
	buf[off] = '\0';
	return (buf);
}

/*
 * Put our jobserver into MAKEFLAGS for CMD and let CMD inherit the pipe.
 * Words of an inherited MAKEFLAGS that name a job count or another
 * jobserver are dropped, the rest (flags, and variables after " -- ")
 * kept in order.  Call jobserver_spawned() once CMD is started.  Returns
 * 0, or -1 with a sentence in cause.
 */
int
jobserver_export(struct jobserver *js, char *cause, size_t causelen)
{
	char	*buf;
	int	 i, fl, e;

	if ((buf = jobserver_makeflags(js)) == NULL)
		goto fail;
	e = setenv("MAKEFLAGS", buf, 1);
	free(buf);
	if (e == -1)
		goto fail;
	/* make 4.4 reads MFLAGS too, but only MAKEFLAGS names a jobserver. */

	for (i = 0; i < 2 && js->style == JOBSERVER_PIPE; i++) {
		if ((fl = fcntl(js->fds[i], F_GETFD)) == -1 ||
		    fcntl(js->fds[i], F_SETFD, fl & ~FD_CLOEXEC) == -1)
			goto fail;
	}
	jobserver_msg(js, 0, "MAKEFLAGS=%s", getenv("MAKEFLAGS"));
	return (0);

fail:
	snprintf(cause, causelen, "jobserver: %s", strerror(errno));
	return (-1);
}

/* CMD has started: semrun's children from now on do not get the pipe. */
void
jobserver_spawned(struct jobserver *js)
{
	int	i;

	for (i = 0; i < 2; i++) {
		if (js->fds[i] != -1)
			fcntl(js->fds[i], F_SETFD, FD_CLOEXEC);
	}
}

/*
 * How long (ms) the caller may sleep before calling jobserver_tick()
 * again: short while tokens move, longer while nothing changes.
 */
int
jobserver_timeout(struct jobserver *js)
{
	return (js->tick_ms);
}

/* Ask semd for the slot behind a new spare token (at most one pending). */
static void
jobserver_want(struct jobserver *js, struct semd *semd)
{
	struct semd_error	err;

	if (js->pending || js->stopped)
		return;
	memset(&err, 0, sizeof err);
	if (semd_submit_acquire(semd, &js->pending_id, js->name, js->capacity,
	    1, SEMD_FOREVER, &err) != SEMD_OK) {
		jobserver_msg(js, 1, "cannot ask for a slot of %s: %s",
		    js->name, err.message[0] != '\0' ? err.message :
		    semd_strerror(err.code));
		js->stopped = 1;
		return;
	}
	js->pending = 1;
}

/* Give one slot back to semd. */
static void
jobserver_give(struct jobserver *js, struct semd *semd)
{
	struct semd_error	err;
	uint64_t		id;

	memset(&err, 0, sizeof err);
	js->extra--;
	if (semd_submit_release(semd, &id, js->name, 1, &err) != SEMD_OK)
		jobserver_msg(js, 1, "cannot release a slot of %s: %s",
		    js->name, err.message[0] != '\0' ? err.message :
		    semd_strerror(err.code));
}

/*
 * Look at the pipe and keep its one spare: tokens beyond one are read
 * back and their slots released; an empty pipe (the spare was taken)
 * asks semd for another slot.  Call it after every wake-up while CMD
 * runs and semd is connected.  Cost: one ioctl, plus a read and a
 * request per token that moved.
 */
void
jobserver_tick(struct jobserver *js, struct semd *semd)
{
	int	n, changed = 0;

	if ((n = jobserver_count(js)) == -1)
		return;
	if (n != js->last_n)
		changed = 1;
	/* Returned tokens: keep one as the spare, give back the rest. */
	while (n > 1 && js->extra > 0) {
		if (jobserver_get(js) != 1)
			break;
		jobserver_give(js, semd);
		n--;
		changed = 1;
	}
	if (n == 0)
		jobserver_want(js, semd);
	js->last_n = jobserver_count(js);
	if (changed)
		js->tick_ms = JOBSERVER_TICK_MIN;
	else if (js->tick_ms < JOBSERVER_TICK_MAX)
		js->tick_ms *= 2;
	if (js->tick_ms > JOBSERVER_TICK_MAX)
		js->tick_ms = JOBSERVER_TICK_MAX;
}

/*
 * A reply from semd while CMD runs.  ACQUIRED for our pending request:
 * the slot becomes the spare token, unless a token came back in the
 * meantime, then it goes back at once.  An ERROR for it stops asking
 * (with a warning): the build goes on with the tokens it has.
 */
void
jobserver_event(struct jobserver *js, struct semd *semd,
    const struct semd_event *ev)
{
	if (ev->type == SEMD_EV_ERROR && ev->id != 0 &&
	    !(js->pending && ev->id == js->pending_id)) {
		/* A RELEASE of ours was refused: say so, nothing else. */
		jobserver_msg(js, 1, "%s", ev->error.message);
		return;
	}
	if (!js->pending || ev->id != js->pending_id)
		return;
	switch (ev->type) {
	case SEMD_EV_ACQUIRED:
		js->pending = 0;
		js->extra++;
		if (jobserver_count(js) > 0 || jobserver_put(js) == -1)
			jobserver_give(js, semd);
		js->tick_ms = JOBSERVER_TICK_MIN;
		js->last_n = jobserver_count(js);
		break;
	case SEMD_EV_TIMEOUT:
		js->pending = 0;
		break;
	case SEMD_EV_ERROR:
		js->pending = 0;
		js->stopped = 1;
		jobserver_msg(js, 1, "no more slots of %s for the build: %s",
		    js->name, ev->error.message);
		break;
	default:
		break;
	}
}

/*
 * CMD has exited: stop asking for slots, and with release give back the
 * slots behind tokens (the caller releases the implicit one).  An
 * ACQUIRE still pending is withdrawn and its answer awaited (a few
 * seconds at most), so that a grant that raced the withdrawal is given
 * back too.  Blocks for the replies.
 */
void
jobserver_finish(struct jobserver *js, struct semd *semd, int release)
{
	struct semd_event	ev;
	struct semd_error	err;
	struct pollfd		pfd;
	int			n, tries;

	js->stopped = 1;
	memset(&err, 0, sizeof err);
	if (js->pending &&
	    semd_submit_withdraw(semd, js->pending_id, &err) != SEMD_OK)
		js->pending = 0;
	for (tries = 0; js->pending && tries < 50; tries++) {
		pfd.fd = semd_fd(semd);
		pfd.events = POLLIN;
		if (semd_want_write(semd))
			pfd.events |= POLLOUT;
		pfd.revents = 0;
		if (poll(&pfd, 1, 100) == -1 && errno != EINTR)
			break;
		if ((pfd.revents & POLLOUT) && semd_flush(semd, &err) != 0)
			break;
		while ((n = semd_process(semd, &ev, &err)) == 1) {
			if (ev.type == SEMD_EV_STATUS)
				semd_status_free(ev.status);
			if (ev.id != js->pending_id)
				continue;
			if (ev.type == SEMD_EV_ACQUIRED)
				js->extra++;
			if (ev.type == SEMD_EV_ACQUIRED ||
			    ev.type == SEMD_EV_TIMEOUT ||
			    ev.type == SEMD_EV_ERROR)
				js->pending = 0;
		}
		if (n == -1)
			break;
	}
	/* By name: a release by name takes the newest grants first. */
	if (release && js->extra > 0 &&
	    semd_release(semd, js->name, js->extra, &err) != SEMD_OK &&
	    err.code != SEMD_E_INTERRUPTED && err.code != SEMD_E_DISCONNECTED)
		jobserver_msg(js, 1, "could not release the slots of %s: %s",
		    js->name, err.message[0] != '\0' ? err.message :
		    semd_strerror(err.code));
	else if (release)
		js->extra = 0;
}

/*
 * semrun reconnected to a new daemon and reclaimed every grant (the
 * slots behind tokens included: libsemd reclaims each by its token), but
 * not a request that was waiting: forget it, so that the next look at
 * the pipe asks again.
 */
void
jobserver_reconnected(struct jobserver *js)
{
	js->pending = 0;
	js->tick_ms = JOBSERVER_TICK_MIN;
}

/*
 * Does cmd look like make given its own job count (-j, -jN, --jobs, or
 * -j in a group of short flags)?  Such a make ignores an inherited
 * jobserver.  Arguments after "--" are not looked at.
 */
int
jobserver_make_j(char **cmd)
{
	const char	*base, *a;
	size_t		 len;
	int		 i;

	if ((base = strrchr(cmd[0], '/')) != NULL)
		base++;
	else
		base = cmd[0];
	len = strlen(base);
	if (len < 4 || strcmp(base + len - 4, "make") != 0)
		return (0);
	for (i = 1; cmd[i] != NULL; i++) {
		a = cmd[i];
		if (strcmp(a, "--") == 0)
			break;
		if (strncmp(a, "--jobs", 6) == 0)
			return (1);
		if (a[0] != '-' || a[1] == '-')
			continue;
		/* Flags without an argument may come before j: -kj4. */
		for (a++; *a != '\0' && strchr("beikLnpqrRsStw", *a); a++)
			continue;
		if (*a == 'j')
			return (1);
	}
	return (0);
}

/*
 * jobserver_find's "fifo:PATH" (the len bytes at auth): make's named
 * pipe, if this process can open it.  Returns NULL when not (with -v,
 * says why).
 */
static struct jobserver *
jobserver_find_fifo(const char *auth, size_t len, int verbose)
{
	struct jobserver	*js;
	struct stat		 st;
	char			*path;

	if (len <= 5 || (path = strndup(auth + 5, len - 5)) == NULL)
		return (NULL);
	if ((js = jobserver_new(JOBSERVER_CLIENT, JOBSERVER_FIFO,
	    verbose)) == NULL) {
		free(path);
		return (NULL);
	}
	js->path = path;
	js->rfd = open(path, O_RDWR|O_NONBLOCK|O_CLOEXEC);
	if (js->rfd == -1 || fstat(js->rfd, &st) == -1 ||
	    !S_ISFIFO(st.st_mode)) {
		jobserver_msg(js, 0, "cannot use the fifo %s in MAKEFLAGS: %s",
		    path, js->rfd == -1 ? strerror(errno) : "not a fifo");
		jobserver_free(js);
		return (NULL);
	}
	js->wfd = js->rfd;
	return (js);
}

/*
 * jobserver_find's "R,W" at auth: two inherited descriptors, if they are
 * the read and write ends of one pipe.  Returns NULL when not (with -v,
 * says why).
 */
static struct jobserver *
jobserver_find_pipe(const char *auth, int verbose)
{
	struct jobserver	*js;
	struct stat		 st[2];
	const char		*p;
	char			*end;
	long			 fd[2];
	int			 fl[2], i;

	errno = 0;
	fd[0] = strtol(auth, &end, 10);
	if (end == auth || *end != ',' || errno != 0)
		return (NULL);
	p = end + 1;
	fd[1] = strtol(p, &end, 10);
	if (end == p || (*end != ' ' && *end != '\0') || errno != 0 ||
	    fd[0] < 0 || fd[1] < 0 || fd[0] > INT_MAX || fd[1] > INT_MAX)
		return (NULL);
	for (i = 0; i < 2; i++) {
		if (fstat((int)fd[i], &st[i]) == -1 ||
		    !S_ISFIFO(st[i].st_mode) ||
		    (fl[i] = fcntl((int)fd[i], F_GETFL)) == -1)
			break;
	}
	if (i < 2 || st[0].st_ino != st[1].st_ino ||
	    st[0].st_dev != st[1].st_dev ||
	    (fl[0] & O_ACCMODE) == O_WRONLY ||
	    (fl[1] & O_ACCMODE) == O_RDONLY) {
		if (verbose)
			fprintf(stderr, "semrun: jobserver: MAKEFLAGS names "
			    "descriptors %ld,%ld but they are not make's "
			    "pipe (make 4.3 passes them only to recipes "
			    "marked '+'): no job slot is lent while "
			    "waiting\n", fd[0], fd[1]);
		return (NULL);
	}
	if ((js = jobserver_new(JOBSERVER_CLIENT, JOBSERVER_PIPE,
	    verbose)) == NULL)
		return (NULL);
	js->wfd = (int)fd[1];
	/* Without /proc, poll and read make's end (it may block a while). */
	if ((js->rfd = jobserver_reopen((int)fd[0])) == -1)
		js->rfd = (int)fd[0];
	else
		js->fds[0] = js->rfd;	/* ours: close it in jobserver_free */
	return (js);
}

/*
 * The jobserver named by the last --jobserver-auth= (or make 4.2's
 * --jobserver-fds=) in MAKEFLAGS, if this process can use it: a fifo
 * it can open, or two inherited descriptors that are the read and write
 * ends of one pipe.  Call it before semrun opens any descriptor, so that
 * its own pipes cannot be mistaken for make's.  Returns NULL when there
 * is none (with -v, says why).
 */
struct jobserver *
jobserver_find(int verbose)
{
	const char	*mf, *p, *auth = NULL;

	if ((mf = getenv("MAKEFLAGS")) == NULL)
		return (NULL);
	for (p = mf; (p = strstr(p, "--jobserver-")) != NULL; p++) {
		if (strncmp(p, "--jobserver-auth=", 17) == 0)
			auth = p + 17;
		else if (strncmp(p, "--jobserver-fds=", 16) == 0)
			auth = p + 16;
	}
	if (auth == NULL)
		return (NULL);
	if (strncmp(auth, "fifo:", 5) == 0)
		return (jobserver_find_fifo(auth, strcspn(auth, " "), verbose));
	return (jobserver_find_pipe(auth, verbose));
}

/*
 * Lend our job slot back to make: write one token.  Returns 0, or -1
 * (nothing lent).
 */
int
jobserver_lend(struct jobserver *js)
{
	if (js->lent)
		return (0);
	if (jobserver_put(js) == -1) {
		jobserver_msg(js, 1, "cannot lend the job slot: %s",
		    strerror(errno));
		return (-1);
	}
	js->lent = 1;
	jobserver_msg(js, 0, "waiting: job slot lent back to make");
	return (0);
}

/* Is a lent token still to be taken back? */
int
jobserver_lent(const struct jobserver *js)
{
	return (js->lent);
}

/*
 * Take back the token lent by jobserver_lend(): wait until one can be
 * read, at most timeout_ms (-1: no limit), or until sigfd (-1: none)
 * is readable.  Returns 1 when taken back (or nothing was lent), 0 on
 * timeout, -1 when sigfd became readable, -2 on error (errno set).
 */
int
jobserver_take(struct jobserver *js, int sigfd, int timeout_ms)
{
	struct pollfd	pfd[2];
	int64_t		deadline = 0, now;
	int		n, left;

	if (!js->lent)
		return (1);
	if (timeout_ms >= 0)
		deadline = monoclock_ms() + timeout_ms;
	for (;;) {
		if ((n = jobserver_get(js)) == 1) {
			js->lent = 0;
			jobserver_msg(js, 0, "job slot taken back from make");
			return (1);
		}
		if (n == -1)
			return (-2);
		left = -1;
		if (timeout_ms >= 0) {
			now = monoclock_ms();
			if (now >= deadline)
				return (0);
			left = (int)(deadline - now);
		}
		pfd[0].fd = js->rfd;
		pfd[0].events = POLLIN;
		pfd[0].revents = 0;
		pfd[1].fd = sigfd;
		pfd[1].events = POLLIN;
		pfd[1].revents = 0;
		n = poll(pfd, sigfd != -1 ? 2 : 1, left);
		if (n == -1 && errno != EINTR)
			return (-2);
		if (n > 0 && sigfd != -1 && (pfd[1].revents & POLLIN))
			return (-1);
	}
}

/*
 * Give up a lent token without taking it back (semrun is interrupted):
 * make keeps one token too many, which matters only if it goes on.
 */
void
jobserver_abandon(struct jobserver *js)
{
	if (js->lent)
		jobserver_msg(js, 0, "job slot not taken back (interrupted)");
	js->lent = 0;
}

/*
 * Free js: close our descriptors (not make's), remove a fifo we created.
 * A client that still has a token lent is freed as it is: make then has
 * one token too many (say so).
 */
void
jobserver_free(struct jobserver *js)
{
	if (js == NULL)
		return;
	if (js->lent)
		jobserver_msg(js, 1, "could not take back the lent job slot");
	if (js->role == JOBSERVER_TOP) {
		if (js->rfd != -1 && js->rfd != js->fds[0])
			close(js->rfd);
		if (js->fds[0] != -1)
			close(js->fds[0]);
		if (js->fds[1] != -1)
			close(js->fds[1]);
		if (js->path != NULL && js->dir != NULL)
			unlink(js->path);
		if (js->dir != NULL)
			rmdir(js->dir);
	} else {
		if (js->style == JOBSERVER_FIFO && js->rfd != -1)
			close(js->rfd);
		else if (js->fds[0] != -1)
			close(js->fds[0]);
	}
	free(js->path);
	free(js->dir);
	free(js);
}
