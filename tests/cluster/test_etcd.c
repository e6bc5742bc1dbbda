/*
 * test_etcd.c -- the etcd client (daemon/etcd.c) against a real etcd:
 * one single-member etcd for most tests and a 3-member cluster for
 * failover, both started by tests/cluster/etcd.sh on loopback ports in a
 * temporary directory.  Skipped (exit 77) only when /usr/bin/etcd is
 * missing.  Every test runs a real libevent loop until its callbacks are
 * done, with a generous time limit.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd.h"
#include "log.h"

static char	 t_dir[256];		/* single member */
static char	 t_dir3[256];		/* 3-member cluster */
static char	 t_eps[256];
static char	 t_eps3[512];
static char	 t_script[512];
static pid_t	 t_runner;		/* the process that started etcd */

struct t_call {
	int			 done;
	enum etcd_status	 st;
	json_t			*reply;		/* owned copy */
};

static struct event_base *t_base;

/* Run the loop until *flag is set or secs pass; fail on the latter. */
static void
t_run_until(int *flag, int secs)
{
	struct timeval	 tv = { 0, 20000 };
	int		 i;

	for (i = 0; i < secs * 50 && !*flag; i++) {
		event_base_loopexit(t_base, &tv);
		event_base_dispatch(t_base);
	}
	ck_assert_msg(*flag, "timed out after %d s", secs);
}

/* Run the loop for ms milliseconds. */
static void
t_run_for(int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(t_base, &tv);
	event_base_dispatch(t_base);
}

static void
t_call_cb(enum etcd_status st, json_t *reply, void *arg)
{
	struct t_call	*c = arg;

	c->done = 1;
	c->st = st;
	c->reply = reply != NULL ? json_deep_copy(reply) : NULL;
}

/* Call method with body (stolen) and wait for the answer. */
static void
t_call(struct etcd *e, const char *method, json_t *body, int timeout_ms,
    struct t_call *c)
{
	memset(c, 0, sizeof *c);
	ck_assert_ptr_nonnull(etcd_call(e, method, body, timeout_ms,
	    t_call_cb, c));
	json_decref(body);
	t_run_until(&c->done, 30);
}

/* A new client for eps; fails the test on error. */
static struct etcd *
t_client(const char *eps)
{
	struct etcd	*e;
	char		*cause;

	e = etcd_new(t_base, eps, &cause);
	ck_assert_msg(e != NULL, "etcd_new: %s", cause);
	return (e);
}

/* Put key=value (strings) and return the revision. */
static int64_t
t_put(struct etcd *e, const char *key, const char *value)
{
	struct t_call	 c;
	int64_t		 rev;

	t_call(e, "kv/put", json_pack("{s:o,s:o}",
	    "key", etcd_json_b64(key, strlen(key)),
	    "value", etcd_json_b64(value, strlen(value))), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	rev = etcd_json_int(json_object_get(c.reply, "header"), "revision");
	json_decref(c.reply);
	ck_assert_int_gt(rev, 0);
	return (rev);
}

/* Run the etcd.sh helper; returns its exit status. */
static int
t_script_run(const char *args)
{
	char	 cmd[2048];
	int	 st;

	snprintf(cmd, sizeof cmd, "sh '%s' %s", t_script, args);
	st = system(cmd);
	return (WIFEXITED(st) ? WEXITSTATUS(st) : 128);
}

/* Put, read back and delete a binary key; a Txn that creates only once. */
START_TEST(test_kv)
{
	struct etcd	*e = t_client(t_eps);
	struct t_call	 c;
	const char	 key[] = "kv/\0\xff\x01k";
	const char	 val[] = "v\0\xfe";
	json_t		*kv, *cmp, *txn;
	char		*got;
	size_t		 len;

	t_call(e, "kv/put", json_pack("{s:o,s:o}",
	    "key", etcd_json_b64(key, sizeof key - 1),
	    "value", etcd_json_b64(val, sizeof val - 1)), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	json_decref(c.reply);

	t_call(e, "kv/range", json_pack("{s:o}",
	    "key", etcd_json_b64(key, sizeof key - 1)), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	kv = json_array_get(json_object_get(c.reply, "kvs"), 0);
	ck_assert_ptr_nonnull(kv);
	got = etcd_json_bytes(kv, "key", &len);
	ck_assert_uint_eq(len, sizeof key - 1);
	ck_assert(memcmp(got, key, len) == 0);
	free(got);
	got = etcd_json_bytes(kv, "value", &len);
	ck_assert_uint_eq(len, sizeof val - 1);
	ck_assert(memcmp(got, val, len) == 0);
	free(got);
	json_decref(c.reply);

	/* Create-if-absent: the first Txn succeeds, the same again fails. */
	for (int i = 0; i < 2; i++) {
		cmp = json_pack("[{s:s,s:s,s:s,s:o}]", "target", "CREATE",
		    "result", "EQUAL", "create_revision", "0",
		    "key", etcd_json_b64("kv/once", 7));
		txn = json_pack("{s:o,s:[{s:{s:o,s:o}}]}", "compare", cmp,
		    "success", "request_put", "key",
		    etcd_json_b64("kv/once", 7), "value",
		    etcd_json_b64("1", 1));
		t_call(e, "kv/txn", txn, 20000, &c);
		ck_assert_int_eq(c.st, ETCD_OK);
		ck_assert_int_eq(json_is_true(json_object_get(c.reply,
		    "succeeded")), i == 0);
		json_decref(c.reply);
	}

	t_call(e, "kv/deleterange", json_pack("{s:o,s:o}",
	    "key", etcd_json_b64("kv/", 3), "range_end",
	    etcd_json_b64("kv0", 3)), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	ck_assert_int_eq(etcd_json_int(c.reply, "deleted"), 2);
	json_decref(c.reply);
	etcd_free(e);
}
END_TEST

/* Grant a lease, attach a key, keep it alive, revoke it: the key goes. */
START_TEST(test_lease)
{
	struct etcd	*e = t_client(t_eps);
	struct t_call	 c;
	int64_t		 id;
	char		 ids[32];

	t_call(e, "lease/grant", json_pack("{s:i}", "TTL", 30), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	id = etcd_json_int(c.reply, "ID");
	ck_assert_int_gt(id, 0);
	ck_assert_int_eq(etcd_json_int(c.reply, "TTL"), 30);
	json_decref(c.reply);
	snprintf(ids, sizeof ids, "%" PRId64, id);

	t_call(e, "kv/put", json_pack("{s:o,s:o,s:s}",
	    "key", etcd_json_b64("lease/k", 7), "value",
	    etcd_json_b64("", 0), "lease", ids), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	json_decref(c.reply);

	t_call(e, "lease/keepalive", json_pack("{s:s}", "ID", ids), 20000,
	    &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	ck_assert_int_gt(etcd_json_int(json_object_get(c.reply, "result"),
	    "TTL"), 0);
	json_decref(c.reply);

	t_call(e, "lease/revoke", json_pack("{s:s}", "ID", ids), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	json_decref(c.reply);

	t_call(e, "kv/range", json_pack("{s:o}",
	    "key", etcd_json_b64("lease/k", 7)), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	ck_assert_int_eq(etcd_json_int(c.reply, "count"), 0);
	json_decref(c.reply);

	/* A keepalive of a gone lease answers without a TTL. */
	t_call(e, "lease/keepalive", json_pack("{s:s}", "ID", ids), 20000,
	    &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	ck_assert_int_eq(etcd_json_int(json_object_get(c.reply, "result"),
	    "TTL"), 0);
	json_decref(c.reply);

	/* Revoking it again is etcd's error, final, with its message. */
	t_call(e, "lease/revoke", json_pack("{s:s}", "ID", ids), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_ERROR);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(
	    c.reply, "message")), "lease not found"));
	json_decref(c.reply);
	etcd_free(e);
}
END_TEST

/* A dead first endpoint: the call goes to the next one. */
START_TEST(test_failover)
{
	char		 eps[600];
	struct etcd	*e;
	struct t_call	 c;

	/* Port 1 on loopback: connection refused. */
	snprintf(eps, sizeof eps, "http://127.0.0.1:1,%s", t_eps);
	e = t_client(eps);
	ck_assert_str_eq(etcd_endpoint(e), "http://127.0.0.1:1");
	t_call(e, "kv/range", json_pack("{s:o}", "key",
	    etcd_json_b64("x", 1)), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	json_decref(c.reply);
	ck_assert_str_eq(etcd_endpoint(e), t_eps);
	ck_assert(etcd_reachable(e));
	etcd_free(e);
}
END_TEST

/* Nothing answers: the call times out at its deadline, not before. */
START_TEST(test_timeout)
{
	struct etcd	*e = t_client("http://127.0.0.1:1,127.0.0.1:2");
	struct t_call	 c;
	struct timespec	 a, b;
	long		 ms;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t_call(e, "kv/range", json_pack("{s:o}", "key",
	    etcd_json_b64("x", 1)), 700, &c);
	clock_gettime(CLOCK_MONOTONIC, &b);
	ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
	ck_assert_int_eq(c.st, ETCD_TIMEOUT);
	ck_assert_ptr_null(c.reply);
	ck_assert_int_ge(ms, 300);	/* backoff stops short of it */
	ck_assert(!etcd_reachable(e));
	etcd_free(e);
}
END_TEST

/* Bad endpoint lists are refused with a message. */
START_TEST(test_endpoints)
{
	char	*cause;

	ck_assert_ptr_null(etcd_new(t_base, "", &cause));
	ck_assert_ptr_nonnull(strstr(cause, "no etcd endpoint"));
	free(cause);
	ck_assert_ptr_null(etcd_new(t_base, "https://127.0.0.1:2379",
	    &cause));
	ck_assert_ptr_nonnull(strstr(cause, "no TLS"));
	free(cause);
	ck_assert_ptr_null(etcd_new(t_base, "http://", &cause));
	ck_assert_ptr_nonnull(strstr(cause, "bad etcd endpoint"));
	free(cause);
}
END_TEST

/* base64 both ways, and prefix range ends. */
START_TEST(test_b64)
{
	const char	*in[] = { "", "f", "fo", "foo", "foob", "fooba",
			    "foobar" };
	const char	*out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==",
			    "Zm9vYmE=", "Zm9vYmFy" };
	char		*s, end[4];
	size_t		 len;

	for (size_t i = 0; i < sizeof in / sizeof in[0]; i++) {
		s = etcd_b64_encode(in[i], strlen(in[i]));
		ck_assert_str_eq(s, out[i]);
		free(s);
		s = etcd_b64_decode(out[i], &len);
		ck_assert_uint_eq(len, strlen(in[i]));
		ck_assert(memcmp(s, in[i], len) == 0);
		free(s);
	}
	ck_assert_ptr_null(etcd_b64_decode("Zm9*", &len));
	etcd_prefix_end("ab/", 3, end);
	ck_assert(memcmp(end, "ab0", 3) == 0);
	etcd_prefix_end("a\xff\xff", 3, end);
	ck_assert(end[0] == 'b');
}
END_TEST

struct t_watch {
	int		 created, broken, compacted;
	int		 nev;
	int64_t		 revs[64];
	int		 puts[64];	/* 1 PUT, 0 DELETE */
};

static void
t_watch_cb(struct etcd_watch *w, enum etcd_watch_kind kind, json_t *msg,
    void *arg)
{
	struct t_watch	*t = arg;
	json_t		*ev;
	size_t		 i;

	switch (kind) {
	case ETCD_WATCH_CREATED:
		t->created++;
		break;
	case ETCD_WATCH_BROKEN:
		t->broken++;
		break;
	case ETCD_WATCH_COMPACTED:
		t->compacted++;
		break;
	case ETCD_WATCH_EVENTS:
		json_array_foreach(json_object_get(msg, "events"), i, ev) {
			ck_assert_int_lt(t->nev, 64);
			t->revs[t->nev] = etcd_json_int(json_object_get(ev,
			    "kv"), "mod_revision");
			t->puts[t->nev] = json_object_get(ev, "type") ==
			    NULL;
			t->nev++;
		}
		break;
	}
}

/* Events under a prefix arrive in revision order, puts and deletes. */
START_TEST(test_watch)
{
	struct etcd		*e = t_client(t_eps);
	struct etcd_watch	*w;
	struct t_watch		 t;
	struct t_call		 c;
	char			 end[3];
	int64_t			 r1, r2, r3;

	memset(&t, 0, sizeof t);
	etcd_prefix_end("w/", 2, end);
	w = etcd_watch_new(e, "w/", 2, end, 2, 0, t_watch_cb, &t);
	t_run_until(&t.created, 30);
	r1 = t_put(e, "w/a", "1");
	r2 = t_put(e, "w/b", "2");
	t_put(e, "x/outside", "3");
	t_call(e, "kv/deleterange", json_pack("{s:o}", "key",
	    etcd_json_b64("w/a", 3)), 20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	r3 = etcd_json_int(json_object_get(c.reply, "header"), "revision");
	json_decref(c.reply);
	while (t.nev < 3)
		t_run_for(20);
	t_run_for(200);
	ck_assert_int_eq(t.nev, 3);
	ck_assert_int_eq(t.revs[0], r1);
	ck_assert_int_eq(t.revs[1], r2);
	ck_assert_int_eq(t.revs[2], r3);
	ck_assert(t.puts[0] && t.puts[1] && !t.puts[2]);
	ck_assert_int_eq(etcd_watch_revision(w), r3 + 1);
	/* Idle longer than the attempt timeout: the stream stays. */
	t_run_for(ETCD_ATTEMPT_TIMEOUT_MS + 1500);
	ck_assert_int_eq(t.broken, 0);
	ck_assert_int_eq(t.created, 1);
	t_put(e, "w/c", "4");
	while (t.nev < 4)
		t_run_for(20);
	etcd_watch_free(w);
	t_run_for(50);
	etcd_free(e);
}
END_TEST

/*
 * etcd restarted under a watch: the stream breaks, resumes from the next
 * revision, and delivers what was written after, once each.
 */
START_TEST(test_watch_restart)
{
	struct etcd		*e = t_client(t_eps);
	struct etcd_watch	*w;
	struct t_watch		 t;
	char			 end[3], args[600];
	int64_t			 r1, r2, r3;

	memset(&t, 0, sizeof t);
	etcd_prefix_end("r/", 2, end);
	r1 = t_put(e, "r/a", "1");
	w = etcd_watch_new(e, "r/", 2, end, 2, r1, t_watch_cb, &t);
	t_run_until(&t.created, 30);
	while (t.nev < 1)
		t_run_for(20);
	snprintf(args, sizeof args, "kill '%s' 1", t_dir);
	ck_assert_int_eq(t_script_run(args), 0);
	t_run_until(&t.broken, 30);
	snprintf(args, sizeof args, "restart '%s' 1", t_dir);
	ck_assert_int_eq(t_script_run(args), 0);
	r2 = t_put(e, "r/b", "2");
	r3 = t_put(e, "r/c", "3");
	while (t.nev < 3)
		t_run_for(20);
	t_run_for(300);
	ck_assert_int_eq(t.nev, 3);
	ck_assert_int_eq(t.revs[0], r1);
	ck_assert_int_eq(t.revs[1], r2);
	ck_assert_int_eq(t.revs[2], r3);
	ck_assert_int_ge(t.created, 2);
	etcd_watch_free(w);
	t_run_for(50);
	etcd_free(e);
}
END_TEST

/*
 * 3 members: the watch's member is killed while writes go on through the
 * others; the watch resumes on another member and misses nothing.  Unary
 * calls fail over too.
 */
START_TEST(test_watch_failover)
{
	struct etcd		*e = t_client(t_eps3);
	struct etcd		*writer;
	struct etcd_watch	*w;
	struct t_watch		 t;
	char			 end[3], args[600], *p;
	int64_t			 revs[8];
	int			 i;

	memset(&t, 0, sizeof t);
	/* The writer avoids member 1, which is killed. */
	p = strchr(t_eps3, ',');
	writer = t_client(p + 1);
	etcd_prefix_end("f/", 2, end);
	w = etcd_watch_new(e, "f/", 2, end, 2, 0, t_watch_cb, &t);
	t_run_until(&t.created, 30);
	revs[0] = t_put(writer, "f/0", "x");
	while (t.nev < 1)
		t_run_for(20);
	snprintf(args, sizeof args, "kill '%s' 1", t_dir3);
	ck_assert_int_eq(t_script_run(args), 0);
	for (i = 1; i < 8; i++) {
		char	 k[8];

		snprintf(k, sizeof k, "f/%d", i);
		revs[i] = t_put(writer, k, "x");
	}
	while (t.nev < 8)
		t_run_for(20);
	t_run_for(300);
	ck_assert_int_eq(t.nev, 8);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(t.revs[i], revs[i]);
	ck_assert_int_ge(t.broken, 1);
	/* Unary calls on the same client go to a live member. */
	t_put(e, "f/after", "x");
	ck_assert(etcd_reachable(e));
	snprintf(args, sizeof args, "restart '%s' 1", t_dir3);
	ck_assert_int_eq(t_script_run(args), 0);
	etcd_watch_free(w);
	t_run_for(50);
	etcd_free(writer);
	etcd_free(e);
}
END_TEST

/* A watch from a compacted revision ends with ETCD_WATCH_COMPACTED. */
START_TEST(test_watch_compacted)
{
	struct etcd		*e = t_client(t_eps);
	struct etcd_watch	*w;
	struct t_watch		 t;
	struct t_call		 c;
	char			 end[3], rev[32];
	int64_t			 r;

	memset(&t, 0, sizeof t);
	t_put(e, "c/a", "1");
	r = t_put(e, "c/a", "2");
	snprintf(rev, sizeof rev, "%" PRId64, r);
	t_call(e, "kv/compaction", json_pack("{s:s}", "revision", rev),
	    20000, &c);
	ck_assert_int_eq(c.st, ETCD_OK);
	json_decref(c.reply);
	etcd_prefix_end("c/", 2, end);
	w = etcd_watch_new(e, "c/", 2, end, 2, r - 1, t_watch_cb, &t);
	t_run_until(&t.compacted, 30);
	etcd_watch_free(w);
	t_run_for(50);
	etcd_free(e);
}
END_TEST

/* Each test (a forked process) gets an event base of its own. */
static void
t_setup(void)
{
	t_base = event_base_new();
}

static void
t_teardown(void)
{
	event_base_free(t_base);
}

/* Stop the test clusters (at exit of the runner). */
static void
t_stop(void)
{
	char	 args[600];

	/* Check's test processes are forks: they exit through here too. */
	if (getpid() != t_runner)
		return;
	if (t_dir[0] != '\0') {
		snprintf(args, sizeof args, "stop '%s'", t_dir);
		t_script_run(args);
		snprintf(args, sizeof args, "rm -rf '%s'", t_dir);
		if (system(args) == -1)
			return;
	}
	if (t_dir3[0] != '\0') {
		snprintf(args, sizeof args, "stop '%s'", t_dir3);
		t_script_run(args);
		snprintf(args, sizeof args, "rm -rf '%s'", t_dir3);
		if (system(args) == -1)
			return;
	}
}

/* Start an etcd of n members in a new temp dir; 77 if etcd is missing. */
static int
t_start(char *dir, size_t dirlen, int n, char *eps, size_t epslen)
{
	char	 cmd[2048];
	FILE	*f;
	int	 st;

	snprintf(dir, dirlen, "%s/semd-etcd-XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return (1);
	}
	snprintf(cmd, sizeof cmd, "sh '%s' start '%s' %d >/dev/null", t_script,
	    dir, n);
	st = system(cmd);
	st = WIFEXITED(st) ? WEXITSTATUS(st) : 1;
	if (st != 0)
		return (st);
	snprintf(cmd, sizeof cmd, "%s/endpoints", dir);
	if ((f = fopen(cmd, "r")) == NULL || fgets(eps, (int)epslen, f) ==
	    NULL) {
		perror(cmd);
		return (1);
	}
	fclose(f);
	eps[strcspn(eps, "\n")] = '\0';
	return (0);
}

int
main(void)
{
	Suite	*s;
	TCase	*tc;
	SRunner	*sr;
	int	 failed, st;

	snprintf(t_script, sizeof t_script, "%s/tests/cluster/etcd.sh",
	    getenv("SEMD_SRCDIR") != NULL ? getenv("SEMD_SRCDIR") : ".");
	if (access("/usr/bin/etcd", X_OK) != 0 && getenv("ETCD") == NULL) {
		printf("SKIP: /usr/bin/etcd is missing (Debian package "
		    "etcd-server)\n");
		return (77);
	}
	signal(SIGPIPE, SIG_IGN);
	log_init(LOG_DEST_STDERR, LOG_VERBOSE_WARN);
	t_runner = getpid();
	atexit(t_stop);
	if ((st = t_start(t_dir, sizeof t_dir, 1, t_eps, sizeof t_eps)) != 0 ||
	    (st = t_start(t_dir3, sizeof t_dir3, 3, t_eps3,
	    sizeof t_eps3)) != 0)
		return (st);
	s = suite_create("etcd");
	tc = tcase_create("client");
	tcase_add_checked_fixture(tc, t_setup, t_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_b64);
	tcase_add_test(tc, test_endpoints);
	tcase_add_test(tc, test_kv);
	tcase_add_test(tc, test_lease);
	tcase_add_test(tc, test_failover);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_watch);
	tcase_add_test(tc, test_watch_compacted);
	tcase_add_test(tc, test_watch_restart);
	tcase_add_test(tc, test_watch_failover);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE);
}
