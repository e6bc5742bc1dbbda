/*
 * integ.h -- integration tests: a real semd on a temporary socket, driven
 * by blocking test clients built on proto.h.  tests/integration/main.c
 * runs every suite.
 *
 * Every helper that can fail the test takes the caller's file and line
 * (through the macro of the same name without _at), so a failure points
 * at the test, not at the harness.  Waits are bounded by generous
 * deadlines that only exist so that a broken daemon fails the test
 * instead of hanging it; no test asserts a duration.
 */

#ifndef SEMD_INTEG_H
#define SEMD_INTEG_H

#include <sys/types.h>

#include <check.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "tl.h"

#define INTEG_START_MS	TL_START_MS	/* daemon must accept within this */
#define INTEG_STOP_MS	TL_STOP_MS	/* daemon must exit after SIGTERM */
#define INTEG_REPLY_MS	10000	/* an expected reply must arrive */
#define INTEG_QUIET_MS	200	/* "nothing pending" absence check */
#define INTEG_TCASE_S	120	/* Check's per-test safety net */

/* A semd started by integ_start: one per test, on a fresh directory. */
struct integ_daemon {
	int		 used;
	struct tl_daemon tl;		/* its pid, socket path and log */
	char		 dir[96];	/* mkdtemp directory */
	struct tl_guard	 guard;		/* cleans up if the test dies */
};

/* A test client: one connection, non-blocking, with a reply buffer. */
struct tclient {
	int	 fd;
	int	 eof;
	uint8_t	*buf;
	size_t	 len;
	size_t	 cap;
	uint64_t aux_id;	/* ids for the harness's own requests */
};

/* A forked child process holding its own connection. */
struct tchild {
	pid_t	 pid;
	int	 rfd;		/* one byte (enum proto_op) per reply */
};

/* Fail the running test at file:line with a formatted message. */
void	integ_fail(const char *, int, const char *, ...)
	    __attribute__((noreturn, format(printf, 3, 4)));

/* Name the case a looped test runs, for failure messages (NULL: none). */
void	integ_context(const char *);

/* Describe a reply in one line ("QUEUED id=3 position=2"). */
const char *integ_reply_str(const struct proto_reply *, char *, size_t);

/* --- the daemon --- */

#define integ_start(...)	integ_start_at(__FILE__, __LINE__, __VA_ARGS__)
#define integ_alive(d)	integ_alive_at(__FILE__, __LINE__, d)
#define integ_stop(d)	integ_stop_at(__FILE__, __LINE__, d)

struct integ_daemon *integ_start_at(const char *, int, ...)
	    __attribute__((sentinel));
void	integ_alive_at(const char *, int, struct integ_daemon *);
void	integ_stop_at(const char *, int, struct integ_daemon *);

/* RLIMIT_NOFILE (soft and hard) of the next daemons; 0: inherit ours. */
void	integ_set_nofile(unsigned long);

/* --- test clients --- */

#define tc_connect(d)		tc_connect_at(__FILE__, __LINE__, d)
#define tc_send(c, r)		tc_send_at(__FILE__, __LINE__, c, r)
#define tc_send_raw(c, p, n)	tc_send_raw_at(__FILE__, __LINE__, c, p, n)
#define tc_send_body(c, p, n)	tc_send_body_at(__FILE__, __LINE__, c, p, n)
#define tc_recv(c, r)		tc_recv_at(__FILE__, __LINE__, c, r)
#define tc_next(c, r, ms)	tc_next_at(__FILE__, __LINE__, c, r, ms)
#define tc_expect(c, op, id, r)	tc_expect_at(__FILE__, __LINE__, c, op, id, r)
#define tc_expect_hello(c, id)	tc_expect_hello_at(__FILE__, __LINE__, c, id)
#define tc_expect_queued(c, id, pos) \
	tc_expect_queued_at(__FILE__, __LINE__, c, id, pos)
#define tc_expect_acquired(c, id, sem, w) \
	tc_expect_acquired_at(__FILE__, __LINE__, c, id, sem, w)
#define tc_expect_released(c, id, sem, w) \
	tc_expect_released_at(__FILE__, __LINE__, c, id, sem, w)
#define tc_expect_timeout(c, id) \
	tc_expect_timeout_at(__FILE__, __LINE__, c, id)
#define tc_expect_error(c, id, code) \
	tc_expect_error_at(__FILE__, __LINE__, c, id, code, NULL, 0)
#define tc_expect_error_msg(c, id, code, m, n) \
	tc_expect_error_at(__FILE__, __LINE__, c, id, code, m, n)
#define tc_expect_eof(c)	tc_expect_eof_at(__FILE__, __LINE__, c)
#define tc_expect_bad_frame_eof(c) \
	tc_expect_bad_frame_eof_at(__FILE__, __LINE__, c)
#define tc_expect_quiet(c)	tc_expect_quiet_at(__FILE__, __LINE__, c)
#define tc_expect_quiet_all(v, n, ms) \
	tc_expect_quiet_all_at(__FILE__, __LINE__, v, n, ms)

struct tclient	*tc_connect_at(const char *, int, struct integ_daemon *);
void	tc_close(struct tclient *);
void	tc_send_at(const char *, int, struct tclient *,
	    const struct proto_request *);
void	tc_send_raw_at(const char *, int, struct tclient *, const void *,
	    size_t);
void	tc_send_body_at(const char *, int, struct tclient *, const void *,
	    size_t);
int	tc_next_at(const char *, int, struct tclient *, struct proto_reply *,
	    int);
void	tc_recv_at(const char *, int, struct tclient *, struct proto_reply *);
void	tc_expect_at(const char *, int, struct tclient *, enum proto_op,
	    uint64_t, struct proto_reply *);
void	tc_expect_hello_at(const char *, int, struct tclient *, uint64_t);
void	tc_expect_queued_at(const char *, int, struct tclient *, uint64_t,
	    uint32_t);
void	tc_expect_acquired_at(const char *, int, struct tclient *, uint64_t,
	    const char *, uint32_t);
void	tc_expect_released_at(const char *, int, struct tclient *, uint64_t,
	    const char *, uint32_t);
void	tc_expect_timeout_at(const char *, int, struct tclient *, uint64_t);
void	tc_expect_error_at(const char *, int, struct tclient *, uint64_t,
	    enum proto_err, char *, size_t);
void	tc_expect_eof_at(const char *, int, struct tclient *);
void	tc_expect_bad_frame_eof_at(const char *, int, struct tclient *);
void	tc_expect_quiet_at(const char *, int, struct tclient *);
void	tc_expect_quiet_all_at(const char *, int, struct tclient **, size_t,
	    int);

/* Requests (send only).  capacity 0: absent; timeout_ms -1: absent. */
#define tc_hello(c, id, v)	tc_hello_at(__FILE__, __LINE__, c, id, v)
#define tc_acquire(c, id, sem, cap, w, t) \
	tc_acquire_at(__FILE__, __LINE__, c, id, sem, cap, w, t)
#define tc_release(c, id, sem, w) \
	tc_release_at(__FILE__, __LINE__, c, id, sem, w)
#define tc_withdraw(c, id)	tc_withdraw_at(__FILE__, __LINE__, c, id)

void	tc_hello_at(const char *, int, struct tclient *, uint64_t, uint32_t);
void	tc_acquire_at(const char *, int, struct tclient *, uint64_t,
	    const char *, uint32_t, uint32_t, int64_t);
void	tc_release_at(const char *, int, struct tclient *, uint64_t,
	    const char *, uint32_t);
void	tc_withdraw_at(const char *, int, struct tclient *, uint64_t);

/* Append one request frame to a buffer (to pipeline several). */
void	enc_acquire(struct proto_buf *, uint64_t, const char *, uint32_t,
	    uint32_t, int64_t);
void	enc_release(struct proto_buf *, uint64_t, const char *, uint32_t);
void	enc_status(struct proto_buf *, uint64_t, const char *);

/* Round trips. */
#define tc_acquire_ok(c, id, sem, cap, w) \
	tc_acquire_ok_at(__FILE__, __LINE__, c, id, sem, cap, w)
#define tc_acquire_queued(c, id, sem, cap, w, pos) \
	tc_acquire_queued_at(__FILE__, __LINE__, c, id, sem, cap, w, pos)
#define tc_release_ok(c, id, sem, w) \
	tc_release_ok_at(__FILE__, __LINE__, c, id, sem, w)
#define tc_hello_ok(c)		tc_hello_ok_at(__FILE__, __LINE__, c)
#define tc_status(c, sem, r)	tc_status_at(__FILE__, __LINE__, c, sem, r)
#define tc_check_status(c, sem, cap, held, waiting) \
	tc_check_status_at(__FILE__, __LINE__, c, sem, cap, held, waiting)
#define tc_check_gone(c, sem)	tc_check_gone_at(__FILE__, __LINE__, c, sem)
#define tc_wait_status(c, sem, held, waiting) \
	tc_wait_status_at(__FILE__, __LINE__, c, sem, held, waiting)

void	tc_acquire_ok_at(const char *, int, struct tclient *, uint64_t,
	    const char *, uint32_t, uint32_t);
void	tc_acquire_queued_at(const char *, int, struct tclient *, uint64_t,
	    const char *, uint32_t, uint32_t, uint32_t);
void	tc_release_ok_at(const char *, int, struct tclient *, uint64_t,
	    const char *, uint32_t);
void	tc_hello_ok_at(const char *, int, struct tclient *);
void	tc_status_at(const char *, int, struct tclient *, const char *,
	    struct proto_reply *);
const struct proto_sem_status *status_find(const struct proto_reply *,
	    const char *);
void	tc_check_status_at(const char *, int, struct tclient *, const char *,
	    uint32_t, uint32_t, uint32_t);
void	tc_check_gone_at(const char *, int, struct tclient *, const char *);
void	tc_wait_status_at(const char *, int, struct tclient *, const char *,
	    uint32_t, uint32_t);

/* --- child processes that hold a connection of their own --- */

#define child_acquire(d, ch, sem, cap, w) \
	child_acquire_at(__FILE__, __LINE__, d, ch, sem, cap, w)
#define child_expect(ch, op)	child_expect_at(__FILE__, __LINE__, ch, op)
#define child_kill(ch)		child_kill_at(__FILE__, __LINE__, ch)

void	child_acquire_at(const char *, int, struct integ_daemon *,
	    struct tchild *, const char *, uint32_t, uint32_t);
void	child_expect_at(const char *, int, struct tchild *, enum proto_op);
void	child_kill_at(const char *, int, struct tchild *);

/* --- raw MessagePack, for frames proto_encode_request cannot make --- */

void	mp_bytes(struct proto_buf *, const void *, size_t);
void	mp_map(struct proto_buf *, uint32_t);
void	mp_array(struct proto_buf *, uint32_t);
void	mp_str(struct proto_buf *, const char *);
void	mp_strn(struct proto_buf *, const char *, size_t);
void	mp_uint(struct proto_buf *, uint64_t);
void	mp_int(struct proto_buf *, int64_t);

/* The suites. */
Suite	*core_suite(void);
Suite	*hostile_suite(void);
Suite	*limits_suite(void);
Suite	*engine2_suite(void);

#endif /* SEMD_INTEG_H */
