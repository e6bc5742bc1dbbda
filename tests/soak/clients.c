/*
 * clients.c -- the clients of the soak test, each run in its own process
 * until soak_conf.end_ns:
 *
 *  - workers: many libsemd connections in one event loop, doing random
 *    acquires (waiting forever, trying, or with a daemon-side timeout),
 *    releases, withdrawals, disconnects and reconnects on a few small
 *    semaphores, checking every reply against what they asked;
 *  - the FIFO prober: a few connections on a semaphore of its own, one
 *    serialised step at a time, each step's outcome predicted by a model
 *    of the strict FIFO grant rule and checked exactly (replies, queue
 *    positions, who is granted next, STATUS), with weights 1 and 2 so
 *    that a newcomer overtaking a heavy head would show;
 *  - lanes: real semrun processes on the workers' semaphores, some left
 *    to finish, some given SIGTERM, some killed with SIGKILL, and some
 *    whose CMD is killed with SIGKILL;
 *  - the CMD those semruns run: this binary again (soak --cmd), which
 *    logs its grant and release and sleeps.
 *
 * Every client logs grants and releases to the event log (see soak.h).
 */

#include "config.h"

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "semd.h"
#include "soak.h"

#define WORKER_MAX_HOLDS	3
#define WORKER_MAX_CONNS	64
#define WORKER_RING		8

#define FIFO_CONNS		5

/* ---- Workers ---- */

/* One grant a worker connection holds. */
struct whold {
	int		 sem;
	uint32_t	 weight;
	char		 tag[SOAK_TAG_MAX];
};

/* One connection of a worker and what it has asked for. */
struct wconn {
	struct semd	*sd;		/* NULL while disconnected */
	int		 idx;
	uint64_t	 acq_id;	/* the ACQUIRE in flight, 0 if none */
	int		 acq_sem;
	uint32_t	 acq_weight;
	int		 acq_try;	/* it was a try (timeout 0) */
	int		 acq_withdrawn;
	uint64_t	 withdrawn[WORKER_RING];	/* ids withdrawn lately */
	unsigned int	 nwithdrawn;
	unsigned int	 releases;	/* RELEASEs not answered yet */
	struct whold	 holds[WORKER_MAX_HOLDS];
	int		 nholds;
	int64_t		 next_ns;	/* when to act next */
	unsigned int	 seq;		/* for tags */
};

struct worker {
	int			 idx;
	struct soak_rng		 rng;
	struct soak_stats	*stats;
	struct wconn		 c[WORKER_MAX_CONNS];
	int			 nconns;
};

/* Open a connection for a client; a failure is a violation. */
static struct semd *
client_open(struct soak_stats *stats, const char *who)
{
	struct semd_error	 err;
	struct semd		*sd;

	sd = semd_open(soak_conf.sock, who, SEMD_OPEN_NO_AUTOSTART, &err);
	if (sd == NULL)
		soak_violation(stats, "cannot connect: %s", err.message);
	return (sd);
}

/* Close c, logging the release of everything it holds first. */
static void
worker_drop(struct worker *w, struct wconn *c)
{
	int	i;

	for (i = 0; i < c->nholds; i++)
		soak_log('R', soak_sems[c->holds[i].sem].name,
		    c->holds[i].weight, c->holds[i].tag);
	c->nholds = 0;
	semd_close(c->sd);
	c->sd = NULL;
	c->acq_id = 0;
	c->releases = 0;
	c->nwithdrawn = 0;
}

/* Was id withdrawn lately on c? */
static int
worker_was_withdrawn(struct wconn *c, uint64_t id)
{
	unsigned int	i;

	for (i = 0; i < WORKER_RING && i < c->nwithdrawn; i++) {
		if (c->withdrawn[i] == id)
			return (1);
	}
	return (0);
}

/* Handle one reply on c. */
static void
worker_event(struct worker *w, struct wconn *c, struct semd_event *ev)
{
	struct soak_stats	*st = w->stats;
	const struct soak_sem	*s;
	struct whold		*h;

	switch (ev->type) {
	case SEMD_EV_QUEUED:
		if (ev->id != c->acq_id)
			soak_violation(st, "QUEUED for id %" PRIu64 ", not the "
			    "pending ACQUIRE %" PRIu64, ev->id, c->acq_id);
		else if (c->acq_try)
			soak_violation(st, "a try (timeout 0) was queued");
		else if (ev->position == 0)
			soak_violation(st, "QUEUED at position 0");
		break;
	case SEMD_EV_ACQUIRED:
		if (ev->id != c->acq_id) {
			soak_violation(st, "ACQUIRED for id %" PRIu64 ", not "
			    "the pending ACQUIRE %" PRIu64, ev->id, c->acq_id);
			break;
		}
		s = &soak_sems[c->acq_sem];
		if (ev->name == NULL || strcmp(ev->name, s->name) != 0 ||
		    ev->weight != c->acq_weight)
			soak_violation(st, "ACQUIRED %s/%u, asked %s/%u",
			    ev->name != NULL ? ev->name : "?", ev->weight,
			    s->name, c->acq_weight);
		h = &c->holds[c->nholds++];
		h->sem = c->acq_sem;
		h->weight = c->acq_weight;
		snprintf(h->tag, sizeof h->tag, "w%d.%d.%u", w->idx, c->idx,
		    c->seq++);
		soak_log('G', s->name, h->weight, h->tag);
		c->acq_id = 0;
		st->grants++;
		break;
	case SEMD_EV_TIMEOUT:
		if (ev->id != c->acq_id) {
			soak_violation(st, "TIMEOUT for id %" PRIu64 ", not "
			    "the pending ACQUIRE %" PRIu64, ev->id, c->acq_id);
			break;
		}
		if (c->acq_try)
			st->try_fails++;
		else
			st->timeouts++;
		c->acq_id = 0;
		break;
	case SEMD_EV_RELEASED:
		if (c->releases == 0)
			soak_violation(st, "RELEASED id %" PRIu64 " without a "
			    "RELEASE", ev->id);
		else
			c->releases--;
		break;
	case SEMD_EV_ERROR:
		if (ev->error.code == SEMD_E_NOT_PENDING &&
		    worker_was_withdrawn(c, ev->id))
			break;
		soak_violation(st, "ERROR for id %" PRIu64 ": %s (%s)",
		    ev->id, ev->error.message,
		    semd_strerror(ev->error.code));
		break;
	case SEMD_EV_STATUS:
		semd_status_free(ev->status);
		/* FALLTHROUGH */
	default:
		soak_violation(st, "unexpected reply type %d", (int)ev->type);
		break;
	}
}

/* Read what c has; a lost connection is a violation. */
static void
worker_read(struct worker *w, struct wconn *c)
{
	struct semd_event	ev;
	struct semd_error	err;
	int			r;

	while ((r = semd_process(c->sd, &ev, &err)) == 1)
		worker_event(w, c, &ev);
	if (r == -1) {
		soak_violation(w->stats, "connection %d lost: %s", c->idx,
		    err.message);
		worker_drop(w, c);
	}
}

/* Queue an ACQUIRE on c for a random semaphore, weight and timeout. */
static void
worker_acquire(struct worker *w, struct wconn *c)
{
	const struct soak_sem	*s;
	struct semd_error	 err;
	int64_t			 timeout;
	uint32_t		 r;

	c->acq_sem = (int)soak_below(&w->rng, (uint32_t)soak_nsems);
	s = &soak_sems[c->acq_sem];
	c->acq_weight = 1;
	if (s->max_weight > 1 && soak_below(&w->rng, 2) == 0)
		c->acq_weight = 1 + soak_below(&w->rng, s->max_weight);
	r = soak_below(&w->rng, 100);
	if (r < 45)
		timeout = SEMD_FOREVER;
	else if (r < 65)
		timeout = SEMD_TRY;
	else
		timeout = 1 + soak_below(&w->rng, 60);
	c->acq_try = timeout == SEMD_TRY;
	c->acq_withdrawn = 0;
	if (semd_submit_acquire(c->sd, &c->acq_id, s->name, s->capacity,
	    c->acq_weight, timeout, &err) == -1) {
		soak_violation(w->stats, "cannot send ACQUIRE: %s",
		    err.message);
		worker_drop(w, c);
		return;
	}
	w->stats->requests++;
}

/* Do one random thing on c. */
static void
worker_act(struct worker *w, struct wconn *c)
{
	struct semd_error	 err;
	struct whold		*h;
	uint32_t		 r;
	int			 i;

	c->next_ns = tl_now_ns() + (int64_t)soak_below(&w->rng, 20) *
	    1000000;
	if (c->sd == NULL) {
		c->sd = client_open(w->stats, "soak-worker");
		w->stats->requests++;
		return;
	}
	r = soak_below(&w->rng, 100);
	if (r < 3) {
		if (c->nholds > 0 || c->acq_id != 0)
			w->stats->disconnects++;
		worker_drop(w, c);
		return;
	}
	if (c->acq_id != 0 && !c->acq_withdrawn && r < 20) {
		if (semd_submit_withdraw(c->sd, c->acq_id, &err) == -1) {
			soak_violation(w->stats, "cannot withdraw: %s",
			    err.message);
			worker_drop(w, c);
			return;
		}
		c->acq_withdrawn = 1;
		c->withdrawn[c->nwithdrawn++ % WORKER_RING] = c->acq_id;
		w->stats->requests++;
		w->stats->withdrawals++;
		return;
	}
	if (c->nholds > 0 && r < 60) {
		i = (int)soak_below(&w->rng, (uint32_t)c->nholds);
		h = &c->holds[i];
		/* Logged before it is sent: the daemon releases later. */
		soak_log('R', soak_sems[h->sem].name, h->weight, h->tag);
		if (semd_submit_release(c->sd, NULL, soak_sems[h->sem].name,
		    h->weight, &err) == -1) {
			soak_violation(w->stats, "cannot send RELEASE: %s",
			    err.message);
			c->holds[i] = c->holds[--c->nholds];
			worker_drop(w, c);
			return;
		}
		c->holds[i] = c->holds[--c->nholds];
		c->releases++;
		w->stats->requests++;
		return;
	}
	if (c->acq_id == 0 && c->nholds < WORKER_MAX_HOLDS)
		worker_acquire(w, c);
}

/*
 * A worker: soak_conf.conns connections in one poll loop, each acting at
 * random moments until the end, then closing.
 */
void
soak_worker(int idx, struct soak_stats *stats)
{
	struct worker	 w;
	struct pollfd	 pfd[WORKER_MAX_CONNS];
	struct wconn	*map[WORKER_MAX_CONNS];
	struct semd_error err;
	int64_t		 now, next;
	int		 i, n, timeout;

	memset(&w, 0, sizeof w);
	w.idx = idx;
	w.stats = stats;
	w.nconns = soak_conf.conns;
	if (w.nconns > WORKER_MAX_CONNS)
		w.nconns = WORKER_MAX_CONNS;
	soak_rng_init(&w.rng, soak_conf.seed + 1000 + (uint64_t)idx);
	for (i = 0; i < w.nconns; i++) {
		w.c[i].idx = i;
		w.c[i].sd = client_open(stats, "soak-worker");
		stats->requests++;
	}

	while ((now = tl_now_ns()) < soak_conf.end_ns) {
		next = soak_conf.end_ns;
		for (i = 0; i < w.nconns; i++) {
			if (w.c[i].next_ns <= now)
				worker_act(&w, &w.c[i]);
			if (w.c[i].next_ns < next)
				next = w.c[i].next_ns;
		}
		n = 0;
		for (i = 0; i < w.nconns; i++) {
			if (w.c[i].sd == NULL)
				continue;
			pfd[n].fd = semd_fd(w.c[i].sd);
			pfd[n].events = POLLIN;
			if (semd_want_write(w.c[i].sd))
				pfd[n].events |= POLLOUT;
			pfd[n].revents = 0;
			map[n++] = &w.c[i];
		}
		now = tl_now_ns();
		timeout = next > now ? (int)((next - now + 999999) / 1000000) :
		    0;
		if (poll(pfd, n, timeout) == -1 && errno != EINTR) {
			soak_violation(stats, "poll: %s", strerror(errno));
			break;
		}
		for (i = 0; i < n; i++) {
			if (map[i]->sd == NULL)
				continue;
			if ((pfd[i].revents & POLLOUT) &&
			    semd_flush(map[i]->sd, &err) == -1) {
				soak_violation(stats, "cannot write: %s",
				    err.message);
				worker_drop(&w, map[i]);
				continue;
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))
				worker_read(&w, map[i]);
		}
	}
	for (i = 0; i < w.nconns; i++) {
		if (w.c[i].sd != NULL)
			worker_drop(&w, &w.c[i]);
	}
}

/* ---- The FIFO prober ---- */

/*
 * The prober alone uses soak_fifo_sem, with requests of weight 1 and 2,
 * and takes one step at a time, waiting for all of its effects, so a
 * model of the grant rule predicts every reply: whether an ACQUIRE is
 * granted or queued and at which position, and whom a release, a
 * withdrawal or a close grants next (strict FIFO: from the head while
 * the head fits, so a heavy head is not overtaken by lighter requests).
 */
#define FIFO_MAX_HOLDS	3	/* the capacity, in holds of weight >= 1 */

struct fhold {
	uint32_t	 weight;
	char		 tag[SOAK_TAG_MAX];	/* set once ACQUIRED arrives */
};

struct fconn {
	struct semd	*sd;
	struct fhold	 holds[FIFO_MAX_HOLDS];
	int		 nholds;
	uint64_t	 pending;	/* a waiting ACQUIRE, 0 if none */
	unsigned int	 seq;
};

/* A reply the model expects. */
struct fexp {
	int			 conn;
	enum semd_event_type	 type;
	uint64_t		 id;
	uint32_t		 position;	/* QUEUED */
	int			 hold;		/* ACQUIRED: index in holds */
	int			 got;
};

struct fifo {
	struct soak_rng		 rng;
	struct soak_stats	*stats;
	struct fconn		 c[FIFO_CONNS];
	struct semd		*st;	/* for STATUS */
	uint32_t		 held;
	struct {
		int		 conn;
		uint64_t	 id;
		uint32_t	 weight;
	}			 q[FIFO_CONNS];
	int			 qlen;
	struct fexp		 exp[2 * FIFO_CONNS + 2];
	int			 nexp;
	int			 broken;
};

/* The name of a reply type, for messages. */
static const char *
fifo_type_name(enum semd_event_type type)
{
	switch (type) {
	case SEMD_EV_HELLO:
		return ("HELLO");
	case SEMD_EV_QUEUED:
		return ("QUEUED");
	case SEMD_EV_ACQUIRED:
		return ("ACQUIRED");
	case SEMD_EV_TIMEOUT:
		return ("TIMEOUT");
	case SEMD_EV_RELEASED:
		return ("RELEASED");
	case SEMD_EV_STATUS:
		return ("STATUS");
	case SEMD_EV_STATS:
		return ("STATS");
	case SEMD_EV_ERROR:
		return ("ERROR");
	case SEMD_EV_REVOKED:
		return ("REVOKED");
	}
	return ("?");
}

/* Expect a reply. */
static void
fifo_expect(struct fifo *f, int conn, enum semd_event_type type,
    uint64_t id, uint32_t position, int hold)
{
	struct fexp	*e = &f->exp[f->nexp++];

	e->conn = conn;
	e->type = type;
	e->id = id;
	e->position = position;
	e->hold = hold;
	e->got = 0;
}

/* The model grants a hold of weight to conn: expect ACQUIRED for id. */
static void
fifo_grant(struct fifo *f, int conn, uint64_t id, uint32_t weight)
{
	struct fconn	*c = &f->c[conn];

	c->holds[c->nholds].weight = weight;
	c->holds[c->nholds].tag[0] = '\0';
	fifo_expect(f, conn, SEMD_EV_ACQUIRED, id, 0, c->nholds);
	c->nholds++;
	f->held += weight;
}

/* Match one reply on conn against the expected ones. */
static void
fifo_event(struct fifo *f, int conn, struct semd_event *ev)
{
	struct fconn	*c = &f->c[conn];
	struct fhold	*h;
	struct fexp	*e;
	int		 i;

	if (ev->type == SEMD_EV_STATUS)
		semd_status_free(ev->status);
	for (i = 0; i < f->nexp; i++) {
		e = &f->exp[i];
		if (e->got || e->conn != conn || e->type != ev->type ||
		    e->id != ev->id)
			continue;
		if (e->type == SEMD_EV_QUEUED && e->position != ev->position)
			soak_violation(f->stats, "FIFO: queued at position %u, "
			    "the model says %u", ev->position, e->position);
		if (e->type == SEMD_EV_ACQUIRED) {
			h = &c->holds[e->hold];
			if (ev->weight != h->weight)
				soak_violation(f->stats, "FIFO: granted weight "
				    "%u, asked %u", ev->weight, h->weight);
			snprintf(h->tag, sizeof h->tag, "f%d.%u", conn,
			    c->seq++);
			soak_log('G', soak_fifo_sem.name, h->weight, h->tag);
			f->stats->grants++;
			f->stats->fifo_grants++;
		}
		e->got = 1;
		return;
	}
	soak_violation(f->stats, "FIFO: connection %d got %s%s%s for id %"
	    PRIu64 ", which the model of strict FIFO does not expect", conn,
	    fifo_type_name(ev->type), ev->type == SEMD_EV_ERROR ? " " : "",
	    ev->type == SEMD_EV_ERROR ? ev->error.message : "", ev->id);
}

/*
 * Wait until every expected reply has come (a safety net of
 * SOAK_DEADLINE_NS), checking each reply that comes.  Returns 0, or -1
 * after a violation.
 */
static int
fifo_wait(struct fifo *f)
{
	struct pollfd		pfd[FIFO_CONNS];
	struct semd_event	ev;
	struct semd_error	err;
	int64_t			deadline = tl_now_ns() + SOAK_DEADLINE_NS;
	int			map[FIFO_CONNS];
	int			i, n, r, all;

	for (;;) {
		for (i = 0; i < FIFO_CONNS; i++) {
			if (f->c[i].sd == NULL)
				continue;
			while ((r = semd_process(f->c[i].sd, &ev, &err)) == 1)
				fifo_event(f, i, &ev);
			if (r == -1) {
				soak_violation(f->stats, "FIFO: connection "
				    "lost: %s", err.message);
				return (-1);
			}
		}
		all = 1;
		for (i = 0; i < f->nexp; i++)
			all = all && f->exp[i].got;
		if (all) {
			f->nexp = 0;
			return (0);
		}
		if (tl_now_ns() > deadline) {
			for (i = 0; i < f->nexp; i++) {
				if (!f->exp[i].got)
					soak_violation(f->stats, "FIFO: no %s "
					    "for id %" PRIu64 " on connection "
					    "%d", fifo_type_name(
					    f->exp[i].type), f->exp[i].id,
					    f->exp[i].conn);
			}
			return (-1);
		}
		n = 0;
		for (i = 0; i < FIFO_CONNS; i++) {
			if (f->c[i].sd == NULL)
				continue;
			pfd[n].fd = semd_fd(f->c[i].sd);
			pfd[n].events = POLLIN;
			if (semd_want_write(f->c[i].sd))
				pfd[n].events |= POLLOUT;
			pfd[n].revents = 0;
			map[n++] = i;
		}
		if (poll(pfd, n, 100) == -1 && errno != EINTR)
			return (-1);
		for (i = 0; i < n; i++) {
			if ((pfd[i].revents & POLLOUT) &&
			    semd_flush(f->c[map[i]].sd, &err) == -1) {
				soak_violation(f->stats, "FIFO: cannot write: "
				    "%s", err.message);
				return (-1);
			}
		}
	}
}

/*
 * Compare the daemon's STATUS of the prober's semaphore with the model:
 * held, the number waiting, and the weights of the waiters in order.
 * Returns 1 when it matches, 0 when not (and *why says how).
 */
static int
fifo_matches(struct fifo *f, char *why, size_t len)
{
	struct semd_status	*st = NULL;
	struct semd_sem_status	*s = NULL;
	struct semd_error	 err;
	uint32_t		 held = 0, waiting = 0;
	int			 i, ok;

	if (semd_status(f->st, soak_fifo_sem.name, &st, &err) != SEMD_OK) {
		snprintf(why, len, "STATUS failed: %s", err.message);
		return (0);
	}
	if (st->nsems > 0) {
		s = &st->sems[0];
		held = s->held;
		waiting = s->waiting;
	}
	ok = held == f->held && waiting == (uint32_t)f->qlen;
	if (!ok)
		snprintf(why, len, "daemon says held %u waiting %u, the model "
		    "%u and %d", held, waiting, f->held, f->qlen);
	for (i = 0; ok && s != NULL && i < f->qlen &&
	    (size_t)i < s->nwaiters; i++) {
		if (s->waiters[i].weight != f->q[i].weight) {
			snprintf(why, len, "waiter %d weighs %u, the model "
			    "says %u", i + 1, s->waiters[i].weight,
			    f->q[i].weight);
			ok = 0;
		}
	}
	semd_status_free(st);
	return (ok);
}

/*
 * Check STATUS against the model: at once, or (settle) until it matches,
 * for steps whose effect the daemon applies on its own time (a close).
 */
static void
fifo_check(struct fifo *f, int settle)
{
	int64_t	deadline = tl_now_ns() + SOAK_DEADLINE_NS;
	char	why[1024];

	while (!fifo_matches(f, why, sizeof why)) {
		if (!settle || tl_now_ns() > deadline) {
			soak_violation(f->stats, "FIFO: %s", why);
			f->broken = 1;
			return;
		}
		tl_nap_ms(2);
	}
}

/* The grant rule: grant from the head while the head fits. */
static int
fifo_grant_heads(struct fifo *f)
{
	int	conn, n = 0;

	while (f->qlen > 0 &&
	    f->held + f->q[0].weight <= soak_fifo_sem.capacity) {
		conn = f->q[0].conn;
		fifo_grant(f, conn, f->q[0].id, f->q[0].weight);
		f->c[conn].pending = 0;
		memmove(&f->q[0], &f->q[1], (size_t)(f->qlen - 1) *
		    sizeof f->q[0]);
		f->qlen--;
		n++;
	}
	return (n);
}

/* Remove conn's waiting request from the model's queue. */
static void
fifo_unqueue(struct fifo *f, int conn)
{
	int	i;

	for (i = 0; i < f->qlen; i++) {
		if (f->q[i].conn == conn) {
			memmove(&f->q[i], &f->q[i + 1],
			    (size_t)(f->qlen - i - 1) * sizeof f->q[0]);
			f->qlen--;
			break;
		}
	}
	f->c[conn].pending = 0;
}

/* One random step of the prober, with its predicted outcome checked. */
static void
fifo_step(struct fifo *f)
{
	const struct soak_sem	*s = &soak_fifo_sem;
	struct semd_error	 err;
	struct fconn		*c;
	struct fhold		*h;
	uint64_t		 id;
	uint32_t		 weight;
	int			 conn, try, settle = 0, r;

	conn = (int)soak_below(&f->rng, FIFO_CONNS);
	c = &f->c[conn];
	r = (int)soak_below(&f->rng, 100);
	f->stats->fifo_steps++;

	if (c->sd == NULL) {
		c->sd = client_open(f->stats, "soak-fifo");
		f->stats->requests++;
		if (c->sd == NULL)
			f->broken = 1;
		return;
	}
	if (r < 4) {
		/* Close: its slots and its place in line are given back. */
		while (c->nholds > 0) {
			h = &c->holds[--c->nholds];
			soak_log('R', s->name, h->weight, h->tag);
			f->held -= h->weight;
		}
		if (c->pending != 0)
			fifo_unqueue(f, conn);
		semd_close(c->sd);
		c->sd = NULL;
		f->stats->disconnects++;
		/*
		 * The daemon handles the close on its own time: with no
		 * grant to wait for, STATUS is polled until it agrees.
		 */
		settle = fifo_grant_heads(f) == 0;
	} else if (c->pending != 0 && r < 25) {
		/* Withdraw: it leaves the line, which may let others in. */
		if (semd_submit_withdraw(c->sd, c->pending, &err) == -1)
			goto fail;
		fifo_expect(f, conn, SEMD_EV_TIMEOUT, c->pending, 0, 0);
		fifo_unqueue(f, conn);
		fifo_grant_heads(f);
		f->stats->requests++;
		f->stats->withdrawals++;
	} else if (c->nholds > 0 && r < 60) {
		/* Release: the line moves while its head fits. */
		h = &c->holds[--c->nholds];
		soak_log('R', s->name, h->weight, h->tag);
		if (semd_submit_release(c->sd, &id, s->name, h->weight,
		    &err) == -1)
			goto fail;
		f->held -= h->weight;
		fifo_expect(f, conn, SEMD_EV_RELEASED, id, 0, 0);
		fifo_grant_heads(f);
		f->stats->requests++;
	} else if (c->pending == 0 && c->nholds < FIFO_MAX_HOLDS) {
		/* Acquire: granted at once only if nobody waits. */
		try = soak_below(&f->rng, 4) == 0;
		weight = soak_below(&f->rng, 3) == 0 ? 2 : 1;
		if (semd_submit_acquire(c->sd, &id, s->name, s->capacity,
		    weight, try ? SEMD_TRY : SEMD_FOREVER, &err) == -1)
			goto fail;
		f->stats->requests++;
		if (f->qlen == 0 && f->held + weight <= s->capacity)
			fifo_grant(f, conn, id, weight);
		else if (try) {
			fifo_expect(f, conn, SEMD_EV_TIMEOUT, id, 0, 0);
			f->stats->try_fails++;
		} else {
			fifo_expect(f, conn, SEMD_EV_QUEUED, id,
			    (uint32_t)f->qlen + 1, 0);
			f->q[f->qlen].conn = conn;
			f->q[f->qlen].id = id;
			f->q[f->qlen].weight = weight;
			f->qlen++;
			c->pending = id;
		}
	} else
		return;
	if (fifo_wait(f) == -1) {
		f->broken = 1;
		return;
	}
	fifo_check(f, settle);
	return;

fail:
	soak_violation(f->stats, "FIFO: cannot send: %s", err.message);
	f->broken = 1;
}

/*
 * The FIFO prober: serialised random steps on its own semaphore until
 * the end (or the first violation: the model is then of no more use).
 */
void
soak_fifo(struct soak_stats *stats)
{
	struct fifo	 f;
	struct fhold	*h;
	int		 i;

	memset(&f, 0, sizeof f);
	f.stats = stats;
	soak_rng_init(&f.rng, soak_conf.seed + 2000);
	if ((f.st = client_open(stats, "soak-fifo-status")) == NULL)
		return;
	for (i = 0; i < FIFO_CONNS; i++) {
		if ((f.c[i].sd = client_open(stats, "soak-fifo")) == NULL)
			return;
	}
	while (!f.broken && tl_now_ns() < soak_conf.end_ns) {
		fifo_step(&f);
		tl_nap_ms(1);
	}
	for (i = 0; i < FIFO_CONNS; i++) {
		while (f.c[i].nholds > 0) {
			h = &f.c[i].holds[--f.c[i].nholds];
			/* A grant still in flight was never logged. */
			if (h->tag[0] != '\0')
				soak_log('R', soak_fifo_sem.name, h->weight,
				    h->tag);
		}
		semd_close(f.c[i].sd);
	}
	semd_close(f.st);
}

/* ---- Lanes: real semrun processes ---- */

enum lane_fate {
	FATE_NORMAL,		/* wait forever, CMD finishes */
	FATE_TIMEOUT,		/* -t: CMD runs or 75 */
	FATE_NOWAIT,		/* -n: CMD runs or 75 */
	FATE_SIGTERM,		/* SIGTERM to semrun at a random moment */
	FATE_KILL_SEMRUN,	/* SIGKILL to semrun at a random moment */
	FATE_KILL_CMD,		/* SIGKILL to CMD once it runs */
};

struct lane {
	int			 idx;
	struct soak_rng		 rng;
	struct soak_stats	*stats;
	int			 errfd;		/* semrun's stderr */
	unsigned int		 jobs;
};

/*
 * Wait for pid (our child) until deadline.  Returns its wait status, or
 * -1 if it is still running at the deadline (it is then killed).
 */
static int
lane_wait(pid_t pid, int64_t deadline)
{
	int	status;
	pid_t	w;

	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return (status);
		if (w == -1 && errno != EINTR)
			return (-2);
		if (tl_now_ns() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return (-1);
		}
		tl_nap_ms(2);
	}
}

/*
 * Read CMD's pid from the pipe it writes to when it runs.  Returns the
 * pid, 0 if the pipe was closed without one (CMD never ran), or -1 at
 * the deadline.
 */
static pid_t
lane_read_pid(int fd, int64_t deadline)
{
	struct pollfd	pfd;
	char		buf[32];
	size_t		len = 0;
	ssize_t		n;
	int		left;

	for (;;) {
		left = (int)((deadline - tl_now_ns()) / 1000000);
		if (left <= 0)
			return (-1);
		pfd.fd = fd;
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		n = read(fd, buf + len, sizeof buf - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (0);
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n') != NULL)
			return ((pid_t)strtol(buf, NULL, 10));
		if (len == sizeof buf - 1)
			return (0);
	}
}

/* Describe a wait status in buf. */
static const char *
lane_status_str(int status, char *buf, size_t len)
{
	if (status == -1)
		snprintf(buf, len, "still running at the deadline");
	else if (WIFEXITED(status))
		snprintf(buf, len, "exit %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "signal %d", WTERMSIG(status));
	else
		snprintf(buf, len, "status 0x%x", (unsigned int)status);
	return (buf);
}

/* Was status an exit with code? */
static int
lane_exited(int status, int code)
{
	return (status >= 0 && WIFEXITED(status) &&
	    WEXITSTATUS(status) == code);
}

/* Was status a death by signo? */
static int
lane_signaled(int status, int signo)
{
	return (status >= 0 && WIFSIGNALED(status) &&
	    WTERMSIG(status) == signo);
}

/* Run one semrun with a random fate and check how it ends. */
static void
lane_job(struct lane *l)
{
	const struct soak_sem	*s;
	enum lane_fate		 fate;
	char			 wbuf[16], cbuf[16], msbuf[32], fdbuf[16];
	char			 tag[SOAK_TAG_MAX], sbuf[64];
	const char		*argv[32];
	int64_t			 deadline;
	uint32_t		 weight, r;
	long			 ms;
	int			 pp[2], argc = 0, status, ok;
	pid_t			 pid, cmd;

	r = soak_below(&l->rng, 100);
	if (r < 35)
		fate = FATE_NORMAL;
	else if (r < 45)
		fate = FATE_TIMEOUT;
	else if (r < 55)
		fate = FATE_NOWAIT;
	else if (r < 67)
		fate = FATE_SIGTERM;
	else if (r < 84)
		fate = FATE_KILL_SEMRUN;
	else
		fate = FATE_KILL_CMD;
	s = &soak_sems[soak_below(&l->rng, (uint32_t)soak_nsems)];
	weight = 1 + soak_below(&l->rng, s->max_weight);
	/* A CMD that never ends is only ever ended by SIGKILL. */
	ms = (long)soak_below(&l->rng, 40);
	if (fate == FATE_KILL_CMD ||
	    (fate == FATE_KILL_SEMRUN && soak_below(&l->rng, 2) == 0))
		ms = -1;
	snprintf(wbuf, sizeof wbuf, "%u", weight);
	snprintf(cbuf, sizeof cbuf, "%u", s->capacity);
	snprintf(msbuf, sizeof msbuf, "%ld", ms);
	snprintf(tag, sizeof tag, "l%d.%u", l->idx, l->jobs++);

	if (pipe2(pp, O_CLOEXEC) == -1) {
		soak_violation(l->stats, "pipe: %s", strerror(errno));
		return;
	}
	snprintf(fdbuf, sizeof fdbuf, "%d", pp[1]);
	argv[argc++] = soak_conf.semrun;
	argv[argc++] = "-S";
	argv[argc++] = soak_conf.sock;
	if (fate == FATE_TIMEOUT) {
		argv[argc++] = "-t";
		argv[argc++] = soak_below(&l->rng, 2) ? "0.01" : "0.1";
	} else if (fate == FATE_NOWAIT)
		argv[argc++] = "-n";
	argv[argc++] = "-w";
	argv[argc++] = wbuf;
	argv[argc++] = s->name;
	argv[argc++] = cbuf;
	argv[argc++] = "--";
	argv[argc++] = soak_conf.self;
	argv[argc++] = "--cmd";
	argv[argc++] = soak_conf.events;
	argv[argc++] = s->name;
	argv[argc++] = wbuf;
	argv[argc++] = tag;
	argv[argc++] = msbuf;
	argv[argc++] = fdbuf;
	argv[argc] = NULL;

	pid = fork();
	if (pid == -1) {
		soak_violation(l->stats, "fork: %s", strerror(errno));
		close(pp[0]);
		close(pp[1]);
		return;
	}
	if (pid == 0) {
		/* The write end goes to CMD through semrun. */
		fcntl(pp[1], F_SETFD, 0);
		dup2(l->errfd, 2);
		execv(soak_conf.semrun, (char *const *)argv);
		_exit(127);
	}
	close(pp[1]);
	l->stats->semruns++;
	deadline = tl_now_ns() + SOAK_DEADLINE_NS;

	switch (fate) {
	case FATE_NORMAL:
	case FATE_TIMEOUT:
	case FATE_NOWAIT:
		status = lane_wait(pid, deadline);
		ok = lane_exited(status, 0) ||
		    (fate != FATE_NORMAL && lane_exited(status, 75));
		break;
	case FATE_SIGTERM:
		tl_nap_ms((long)soak_below(&l->rng, 40));
		kill(pid, SIGTERM);
		l->stats->sigterms++;
		status = lane_wait(pid, deadline);
		/* Withdrawn, forwarded to CMD, too early, or too late. */
		ok = lane_exited(status, 0) || lane_exited(status, 143) ||
		    lane_signaled(status, SIGTERM);
		break;
	case FATE_KILL_SEMRUN:
		tl_nap_ms((long)soak_below(&l->rng, 40));
		kill(pid, SIGKILL);
		l->stats->semrun_kills++;
		status = lane_wait(pid, deadline);
		ok = lane_signaled(status, SIGKILL) || lane_exited(status, 0);
		/* CMD, if it runs, is now our child (a subreaper). */
		cmd = lane_read_pid(pp[0], deadline);
		if (cmd > 0 && ms < 0) {
			tl_nap_ms((long)soak_below(&l->rng, 20));
			soak_log('R', s->name, weight, tag);
			kill(cmd, SIGKILL);
			l->stats->cmd_kills++;
		}
		if (cmd > 0)
			lane_wait(cmd, deadline);
		else if (cmd == -1)
			soak_violation(l->stats, "%s: CMD of a killed semrun "
			    "neither ran nor failed to", tag);
		break;
	case FATE_KILL_CMD:
		cmd = lane_read_pid(pp[0], deadline);
		if (cmd > 0) {
			tl_nap_ms((long)soak_below(&l->rng, 30));
			soak_log('R', s->name, weight, tag);
			kill(cmd, SIGKILL);
			l->stats->cmd_kills++;
		}
		status = lane_wait(pid, deadline);
		ok = cmd > 0 && lane_exited(status, 128 + SIGKILL);
		break;
	}
	if (!ok)
		soak_violation(l->stats, "%s: semrun (fate %d, %s weight %u) "
		    "ended with %s", tag, (int)fate, s->name, weight,
		    lane_status_str(status, sbuf, sizeof sbuf));
	close(pp[0]);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		continue;
}

/* A lane: one semrun after another until the end. */
void
soak_lane(int idx, struct soak_stats *stats)
{
	struct lane	l;
	char		path[4200];

	memset(&l, 0, sizeof l);
	l.idx = idx;
	l.stats = stats;
	soak_rng_init(&l.rng, soak_conf.seed + 3000 + (uint64_t)idx);
	/* Orphaned CMDs (their semrun killed) become our children. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1) == -1)
		soak_violation(stats, "PR_SET_CHILD_SUBREAPER: %s",
		    strerror(errno));
	snprintf(path, sizeof path, "%s/lane%d.err", soak_conf.dir, idx);
	l.errfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
	    0600);
	if (l.errfd == -1) {
		soak_violation(stats, "%s: %s", path, strerror(errno));
		return;
	}
	while (tl_now_ns() < soak_conf.end_ns)
		lane_job(&l);
	close(l.errfd);
}

/* ---- CMD ---- */

/*
 * soak --cmd EVENTS SEM WEIGHT TAG MS FD: what a lane's semrun runs once
 * granted.  Logs G, writes its pid to FD, then waits MS milliseconds (-1:
 * until killed) or for SIGTERM (forwarded by semrun), logs R and exits 0
 * (143 after SIGTERM).  SIGTERM is blocked before G is logged, so it can
 * only end CMD through the path that logs R.
 */
int
soak_cmd(int argc, char **argv)
{
	struct timespec	 ts;
	sigset_t	 set;
	char		 buf[32];
	const char	*sem, *tag;
	uint32_t	 weight;
	long		 ms;
	int		 fd, sig;

	if (argc != 7) {
		fprintf(stderr, "soak --cmd: wrong arguments\n");
		return (2);
	}
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	soak_role = "cmd";
	snprintf(soak_conf.events, sizeof soak_conf.events, "%s", argv[1]);
	soak_conf.events_fd = open(argv[1], O_WRONLY | O_APPEND | O_CLOEXEC);
	if (soak_conf.events_fd == -1) {
		fprintf(stderr, "soak --cmd: %s: %s\n", argv[1],
		    strerror(errno));
		return (2);
	}
	sem = argv[2];
	weight = (uint32_t)strtoul(argv[3], NULL, 10);
	tag = argv[4];
	ms = strtol(argv[5], NULL, 10);
	fd = atoi(argv[6]);

	soak_log('G', sem, weight, tag);
	snprintf(buf, sizeof buf, "%ld\n", (long)getpid());
	if (write(fd, buf, strlen(buf)) < 0) {
		/* The lane went away; carry on all the same. */
	}
	close(fd);

	for (;;) {
		ts.tv_sec = ms < 0 ? 3600 : ms / 1000;
		ts.tv_nsec = ms < 0 ? 0 : (ms % 1000) * 1000000L;
		sig = sigtimedwait(&set, NULL, &ts);
		if (sig == SIGTERM) {
			soak_log('R', sem, weight, tag);
			_exit(143);
		}
		if (sig == -1 && errno == EINTR)
			continue;
		if (ms >= 0)
			break;
	}
	soak_log('R', sem, weight, tag);
	_exit(0);
}
