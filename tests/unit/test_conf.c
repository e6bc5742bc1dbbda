/*
 * test_conf.c -- unit tests of the configuration loader (daemon/config.c):
 * what a good file means, and that each kind of bad file is refused with
 * "FILE:LINE: message" naming the right line.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "unit.h"

/* Parse text as "t.conf"; the result must be a config. */
static struct config *
parse_ok(const char *text)
{
	struct config	*cf;
	char		 err[512];

	err[0] = '\0';
	cf = config_parse("t.conf", text, strlen(text), err, sizeof err);
	ck_assert_msg(cf != NULL, "refused: %s", err);
	return (cf);
}

/* Parse len bytes of text; it must be refused with exactly want. */
static void
parse_bad_len(const char *text, size_t len, const char *want)
{
	struct config	*cf;
	char		 err[512];

	err[0] = '\0';
	cf = config_parse("t.conf", text, len, err, sizeof err);
	ck_assert_msg(cf == NULL, "accepted: %s", text);
	ck_assert_msg(strncmp(err, want, strlen(want)) == 0,
	    "got \"%s\", wanted \"%s...\"", err, want);
}

static void
parse_bad(const char *text, const char *want)
{
	parse_bad_len(text, strlen(text), want);
}

/* A good file: every key, sorted lookup, lists, rates. */
START_TEST(test_conf_good)
{
	struct config		*cf;
	const struct config_sem	*s;
	gid_t			 g = 0;

	cf = parse_ok(
	    "; comment\n"
	    "# another\n"
	    "[semd]\n"
	    "undeclared = deny\n"
	    "grace = 2.5s\n"
	    "admin = root\n"
	    "max-sems = 10\n"
	    "max-output = 1M\n"
	    "\n"
	    "[sem zeta]\n"
	    "capacity = 3\n"
	    "rate = 30/min\n"
	    "burst = 5\n"
	    "allow = root, @root 4242\n"
	    "allow = @4243\n"
	    "admin = 1001\n"
	    "scope = local\n"
	    "[sem alpha]\n"
	    "capacity=1 ; inline comment\n");
	ck_assert_int_eq(cf->undeclared_deny, 1);
	ck_assert_uint_eq(cf->grace_ms, 2500);
	ck_assert(cf->has & CONFIG_HAS_GRACE);
	ck_assert(cf->has & CONFIG_HAS_MAX_SEMS);
	ck_assert_uint_eq(cf->max_sems, 10);
	ck_assert_uint_eq(cf->max_output, 1024 * 1024);
	ck_assert(!(cf->has & CONFIG_HAS_MAX_PENDING));
	ck_assert_uint_eq(cf->nsems, 2);
	ck_assert_str_eq(cf->sems[0].name, "alpha");
	s = config_find(cf, "zeta", 4);
	ck_assert_ptr_nonnull(s);
	ck_assert_uint_eq(s->line, 10);
	ck_assert_uint_eq(s->capacity, 3);
	ck_assert(s->has_rate);
	ck_assert_double_eq_tol(s->rate, 0.5, 1e-9);
	ck_assert_uint_eq(s->burst, 5);
	ck_assert(s->has_allow);
	ck_assert_uint_eq(s->allow.nuids, 2);		/* root, 4242 */
	ck_assert_uint_eq(s->allow.ngids, 2);		/* root, 4243 */
	ck_assert(config_who_match(&s->allow, 4242, 99, NULL, 0));
	ck_assert(config_who_match(&s->allow, 5, 4243, NULL, 0));
	g = 4243;
	ck_assert(config_who_match(&s->allow, 5, 99, &g, 1));
	ck_assert(!config_who_match(&s->allow, 5, 99, NULL, 0));
	ck_assert(config_who_match(&s->admin, 1001, 1, NULL, 0));
	ck_assert(config_who_match(&cf->admin, 0, 1, NULL, 0));
	s = config_find(cf, "alpha", 5);
	ck_assert_ptr_nonnull(s);
	ck_assert(!s->has_allow);
	config_free(cf);

	/* A rate alone: capacity 0 (no bound), or left out. */
	cf = parse_ok("[sem r0]\ncapacity = 0\nrate = 5/s\n"
	    "[sem r1]\nrate = 1/s\nburst = 3\n");
	s = config_find(cf, "r0", 2);
	ck_assert_uint_eq(s->capacity, 0);
	ck_assert_double_eq_tol(s->rate, 5, 1e-9);
	s = config_find(cf, "r1", 2);
	ck_assert_uint_eq(s->capacity, 0);
	ck_assert_uint_eq(s->burst, 3);
	ck_assert_ptr_null(config_find(cf, "alph", 4));
	ck_assert_ptr_null(config_find(cf, "zeta2", 5));
	config_free(cf);
}
END_TEST

/* [cluster] and scope = cluster. */
START_TEST(test_conf_cluster)
{
	struct config		*cf;
	const struct config_sem	*s;

	cf = parse_ok(
	    "[sem api-x]\n"
	    "capacity = 3\n"
	    "scope = cluster\n"
	    "[cluster]\n"
	    "endpoints = http://10.0.0.5:2379, http://10.0.0.6:2379\n"
	    "prefix = /semd-prod\n"
	    "lease-ttl = 15s\n"
	    "host-id = web1\n"
	    "names = api-\n");
	ck_assert(cf->cluster.present);
	ck_assert_str_eq(cf->cluster.endpoints,
	    "http://10.0.0.5:2379, http://10.0.0.6:2379");
	ck_assert_str_eq(cf->cluster.prefix, "/semd-prod");
	ck_assert_uint_eq(cf->cluster.lease_ttl, 15);
	ck_assert_str_eq(cf->cluster.host_id, "web1");
	ck_assert_str_eq(cf->cluster.names, "api-");
	s = config_find(cf, "api-x", 5);
	ck_assert_ptr_nonnull(s);
	ck_assert_int_eq(s->scope, CONFIG_SCOPE_CLUSTER);
	config_free(cf);
	cf = parse_ok("[cluster]\nendpoints = 127.0.0.1:2379\nlease-ttl = 4\n");
	ck_assert_uint_eq(cf->cluster.lease_ttl, 4);
	ck_assert_str_eq(cf->cluster.prefix, "");
	config_free(cf);
}
END_TEST

/* Rates: units, fractions, refusals. */
START_TEST(test_conf_rate)
{
	double	r;

	ck_assert_int_eq(config_parse_rate("10/s", &r), 0);
	ck_assert_double_eq_tol(r, 10, 1e-9);
	ck_assert_int_eq(config_parse_rate("0.5/s", &r), 0);
	ck_assert_double_eq_tol(r, 0.5, 1e-9);
	ck_assert_int_eq(config_parse_rate("30/min", &r), 0);
	ck_assert_double_eq_tol(r, 0.5, 1e-9);
	ck_assert_int_eq(config_parse_rate("36/h", &r), 0);
	ck_assert_double_eq_tol(r, 0.01, 1e-9);
	ck_assert_int_eq(config_parse_rate("7", &r), 0);
	ck_assert_int_eq(config_parse_rate("0/s", &r), -1);
	ck_assert_int_eq(config_parse_rate("1000001/s", &r), -1);
	ck_assert_int_eq(config_parse_rate("1/h", &r), 0);
	ck_assert_int_eq(config_parse_rate("0.001/h", &r), -1);
	ck_assert_int_eq(config_parse_rate("-1/s", &r), -1);
	ck_assert_int_eq(config_parse_rate("10/fortnight", &r), -1);
	ck_assert_int_eq(config_parse_rate("nan/s", &r), -1);
	ck_assert_int_eq(config_parse_rate("1e3/s", &r), -1);
	ck_assert_int_eq(config_parse_rate("", &r), -1);
}
END_TEST

/* Each bad file is refused with its line. */
START_TEST(test_conf_bad)
{
	char	 longline[400];

	parse_bad("[semd]\ncolour = blue\n",
	    "t.conf:2: unknown key 'colour' in [semd]");
	parse_bad("[sem a]\ncapacity = 1\nweight = 2\n",
	    "t.conf:3: unknown key 'weight' in [sem a]");
	parse_bad("[sem a]\ncapacity = 0\n", "t.conf:2: capacity 0 bounds "
	    "nothing");
	parse_bad("[sem a]\nallow = root\n\ncapacity = 0\n[sem b]\n",
	    "t.conf:4: capacity 0 bounds nothing");
	parse_bad("[sem a]\ncapacity = 1\nrate = 2000000/s\n",
	    "t.conf:3: rate must be");
	parse_bad("[sem a]\ncapacity = 2147483648\n", "t.conf:2: capacity");
	parse_bad("[sem a]\ncapacity = 1x\n", "t.conf:2: capacity");
	parse_bad("[sem a]\ncapacity = 1\ncapacity = 2\n",
	    "t.conf:3: capacity is set twice");
	parse_bad("[sem a]\ncapacity = 1\n\n[sem b]\ncapacity = 1\n"
	    "[sem a]\ncapacity = 1\n",
	    "t.conf:6: duplicate section [sem a] (first on line 1)");
	parse_bad("[semd]\n[semd]\n", "t.conf:2: duplicate section [semd]");
	parse_bad("[sem a]\n[sem b]\ncapacity = 1\n",
	    "t.conf:1: [sem a] has no capacity");
	parse_bad("[sem a]\ncapacity = 1\n[sem b]\n",
	    "t.conf:3: [sem b] has no capacity");
	parse_bad("[sem a]\ncapacity = -1\n", "t.conf:2: capacity must be");
	parse_bad("capacity = 1\n", "t.conf:1: 'capacity' is outside");
	parse_bad("[sems a]\n", "t.conf:1: unknown section [sems a]");
	parse_bad("[sem bad name!]\n", "t.conf:1: [sem bad name!]");
	parse_bad("[cluster]\n", "t.conf:1: [cluster] has no endpoints");
	parse_bad("[sem a]\ncapacity = 1\nscope = cluster\n",
	    "t.conf:1: [sem a] has scope = cluster but there is no [cluster]");
	parse_bad("[cluster]\nendpoints = http://h:1\n[cluster]\n",
	    "t.conf:3: duplicate section [cluster] (first on line 1)");
	parse_bad("[cluster]\nendpoints = http://h:1\nlease-ttl = 1s\n",
	    "t.conf:3: lease-ttl must be seconds from 2 to 3600");
	parse_bad("[cluster]\nendpoints = http://h:1\nhost-id = a/b\n",
	    "t.conf:3: host-id must be");
	parse_bad("[cluster]\nendpoints = http://h:1\nnames = bad name\n",
	    "t.conf:3: names must be");
	parse_bad("[cluster]\nendpoints = http://h:1\nttl = 3\n",
	    "t.conf:3: unknown key 'ttl' in [cluster]");
	parse_bad("[cluster]\nendpoints = a\nendpoints = b\n",
	    "t.conf:3: endpoints is set twice in [cluster]");
	parse_bad("[sem a]\ncapacity = 1\nscope = galaxy\n",
	    "t.conf:3: scope must be");
	parse_bad("[sem a]\ncapacity = 1\nrate = fast\n",
	    "t.conf:3: rate must be");
	parse_bad("[sem a]\ncapacity = 1\nburst = 3\n",
	    "t.conf:1: [sem a] has a burst but no rate");
	parse_bad("[sem a]\ncapacity = 1\nallow = nosuchuser-xyz\n",
	    "t.conf:3: allow: no user named 'nosuchuser-xyz'");
	parse_bad("[sem a]\ncapacity = 1\nadmin = @nosuchgroup-xyz\n",
	    "t.conf:3: admin: no group named 'nosuchgroup-xyz'");
	parse_bad("[semd]\nundeclared = maybe\n", "t.conf:2: undeclared must");
	parse_bad("[semd]\ngrace = soon\n", "t.conf:2: grace must");
	parse_bad("[semd]\nmax-frame = 10\n", "t.conf:2: max-frame must");
	parse_bad("[semd]\nthis is not ini\n", "t.conf:2: not a [section]");
	parse_bad("[sem a]\ncapacity = 1\n  [sem b]\n",
	    "t.conf:3: a [section] header must start");
	parse_bad_len("[semd]\nundeclared = allow\0\n", 27,
	    "t.conf:2: NUL byte");
	memset(longline, 'x', sizeof longline - 1);
	longline[sizeof longline - 1] = '\0';
	memcpy(longline, "[semd]\nadmin = ", 15);
	parse_bad(longline, "t.conf:2: line too long");
}
END_TEST

/* A file that cannot be read says so with its path. */
START_TEST(test_conf_load_missing)
{
	char	 err[512];

	ck_assert_ptr_null(config_load("/nonexistent/semd.conf", err,
	    sizeof err));
	ck_assert_str_eq(err, "/nonexistent/semd.conf: No such file or "
	    "directory");
}
END_TEST

Suite *
conf_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("conf");
	tc = tcase_create("parse");
	tcase_add_test(tc, test_conf_good);
	tcase_add_test(tc, test_conf_cluster);
	tcase_add_test(tc, test_conf_rate);
	tcase_add_test(tc, test_conf_bad);
	tcase_add_test(tc, test_conf_load_missing);
	suite_add_tcase(s, tc);
	return (s);
}
