/*
 * timer.h -- periodic timers on timerfds, off libevent's timer heap.
 *
 * While libevent's heap holds a timer, every epoll_wait carries a
 * timeout and each one that blocks arms and cancels a kernel hrtimer;
 * with one busy client semd blocks once per request.  A timerfd watched
 * for EV_READ costs nothing until it fires, so the daemon's periodic
 * work (the socket-file watch, the systemd status line) ticks here and
 * epoll_wait waits with -1 in steady state.
 */

#ifndef SEMD_TIMER_H
#define SEMD_TIMER_H

#include <event2/event.h>

/*
 * An event on server_base that calls cb(fd, EV_READ, arg) every
 * interval_ms; cb must call timer_clear(fd).  Returns the event, or NULL
 * with errno set.  Free with timer_free().
 */
struct event	*timer_every(unsigned int interval_ms, event_callback_fn cb,
		    void *arg);

/* Take the tick of a timer_every() event's fd. */
void		 timer_clear(evutil_socket_t fd);

/* Stop and free a timer_every() event (NULL: nothing). */
void		 timer_free(struct event *);

#endif /* SEMD_TIMER_H */
