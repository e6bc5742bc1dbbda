/*
 * semd-libevent.c -- libsemd's event-loop API driven by libevent.
 *
 *	semd-libevent [-S SOCKET] [NAME [CAPACITY [HOLD_MS]]]
 *
 * Connects (the per-user daemon is started if needed), asks for one slot
 * of NAME (default "example", capacity 1) without blocking the loop,
 * prints each reply as it arrives (QUEUED, ACQUIRED), holds the slot for
 * HOLD_MS milliseconds (default 200), releases it, prints RELEASED and
 * exits 0.  Any error exits 1.
 *
 * The pattern for any event loop: watch semd_fd() for reading and call
 * semd_process() until it returns 0; when semd_want_write() says so,
 * watch it for writing too and call semd_flush().
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "semd.h"

struct example {
	struct event_base	*base;
	struct semd		*sd;
	struct event		*rd;		/* semd_fd readable */
	struct event		*wr;		/* semd_fd writable */
	struct event		*hold;		/* end of the hold */
	const char		*name;
	uint64_t		 acquire_id;
	long			 hold_ms;
	int			 status;	/* exit status */
};

static void	example_fail(struct example *, const char *,
		    const struct semd_error *);
static void	example_want_write(struct example *);
static void	example_read_cb(evutil_socket_t, short, void *);
static void	example_write_cb(evutil_socket_t, short, void *);
static void	example_hold_cb(evutil_socket_t, short, void *);

/* Report an error and stop the loop with exit status 1. */
static void
example_fail(struct example *ex, const char *what,
    const struct semd_error *err)
{
	fprintf(stderr, "semd-libevent: %s: %s\n", what, err->message);
	ex->status = 1;
	event_base_loopbreak(ex->base);
}

/* Watch for writability while libsemd has output queued. */
static void
example_want_write(struct example *ex)
{
	if (semd_want_write(ex->sd) && !event_pending(ex->wr, EV_WRITE, NULL))
		event_add(ex->wr, NULL);
}

/* The socket is writable: send what is queued. */
static void
example_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct example		*ex = arg;
	struct semd_error	 err;

	if (semd_flush(ex->sd, &err) == -1) {
		example_fail(ex, "flush", &err);
		return;
	}
	example_want_write(ex);
}

/* The hold is over: give the slot back. */
static void
example_hold_cb(evutil_socket_t fd, short what, void *arg)
{
	struct example		*ex = arg;
	struct semd_error	 err;

	if (semd_submit_release(ex->sd, NULL, ex->name, 1, &err) == -1) {
		example_fail(ex, "release", &err);
		return;
	}
	example_want_write(ex);
}

/* Replies have arrived: handle every whole one. */
static void
example_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct example		*ex = arg;
	struct semd_event	 ev;
	struct semd_error	 err;
	struct timeval		 tv;
	int			 r;

	while ((r = semd_process(ex->sd, &ev, &err)) == 1) {
		switch (ev.type) {
		case SEMD_EV_QUEUED:
			printf("QUEUED id=%llu position=%u\n",
			    (unsigned long long)ev.id, ev.position);
			break;
		case SEMD_EV_ACQUIRED:
			printf("ACQUIRED id=%llu sem=%s weight=%u\n",
			    (unsigned long long)ev.id, ev.name, ev.weight);
			tv.tv_sec = ex->hold_ms / 1000;
			tv.tv_usec = (ex->hold_ms % 1000) * 1000;
			evtimer_add(ex->hold, &tv);
			break;
		case SEMD_EV_RELEASED:
			printf("RELEASED id=%llu sem=%s weight=%u\n",
			    (unsigned long long)ev.id, ev.name, ev.weight);
			event_base_loopexit(ex->base, NULL);
			break;
		case SEMD_EV_TIMEOUT:
			printf("TIMEOUT id=%llu\n", (unsigned long long)ev.id);
			ex->status = 1;
			event_base_loopexit(ex->base, NULL);
			break;
		case SEMD_EV_ERROR:
			example_fail(ex, semd_strerror(ev.error.code),
			    &ev.error);
			break;
		case SEMD_EV_STATUS:
			semd_status_free(ev.status);
			break;
		case SEMD_EV_REVOKED:
			/* An administrator wants the slot back: a real
			 * program would stop its work and release now. */
			printf("REVOKED sem=%s\n", ev.name);
			break;
		case SEMD_EV_STATS:
			semd_stats_free(ev.stats);
			break;
		case SEMD_EV_HELLO:
			break;
		}
		fflush(stdout);
	}
	if (r == -1)
		example_fail(ex, "connection", &err);
}

int
main(int argc, char **argv)
{
	struct example		 ex;
	struct semd_error	 err;
	const char		*sock = NULL;
	uint32_t		 capacity = 1;
	int			 c;

	memset(&ex, 0, sizeof ex);
	ex.name = "example";
	ex.hold_ms = 200;
	while ((c = getopt(argc, argv, "S:")) != -1) {
		switch (c) {
		case 'S':
			sock = optarg;
			break;
		default:
			fprintf(stderr, "usage: semd-libevent [-S SOCKET] "
			    "[NAME [CAPACITY [HOLD_MS]]]\n");
			return (2);
		}
	}
	argc -= optind;
	argv += optind;
	if (argc > 0)
		ex.name = argv[0];
	if (argc > 1)
		capacity = (uint32_t)strtoul(argv[1], NULL, 10);
	if (argc > 2)
		ex.hold_ms = strtol(argv[2], NULL, 10);

	if ((ex.sd = semd_open(sock, "semd-libevent", 0, &err)) == NULL) {
		fprintf(stderr, "semd-libevent: %s\n", err.message);
		return (1);
	}
	if ((ex.base = event_base_new()) == NULL) {
		fprintf(stderr, "semd-libevent: event_base_new failed\n");
		return (1);
	}
	ex.rd = event_new(ex.base, semd_fd(ex.sd), EV_READ | EV_PERSIST,
	    example_read_cb, &ex);
	ex.wr = event_new(ex.base, semd_fd(ex.sd), EV_WRITE,
	    example_write_cb, &ex);
	ex.hold = evtimer_new(ex.base, example_hold_cb, &ex);
	if (ex.rd == NULL || ex.wr == NULL || ex.hold == NULL) {
		fprintf(stderr, "semd-libevent: event_new failed\n");
		return (1);
	}
	event_add(ex.rd, NULL);

	if (semd_submit_acquire(ex.sd, &ex.acquire_id, ex.name, capacity, 1,
	    SEMD_FOREVER, &err) == -1) {
		fprintf(stderr, "semd-libevent: %s\n", err.message);
		return (1);
	}
	printf("SUBMITTED id=%llu sem=%s\n",
	    (unsigned long long)ex.acquire_id, ex.name);
	fflush(stdout);
	example_want_write(&ex);

	event_base_dispatch(ex.base);

	event_free(ex.hold);
	event_free(ex.wr);
	event_free(ex.rd);
	event_base_free(ex.base);
	semd_close(ex.sd);
	return (ex.status);
}
