/*
 * rules.c -- the configuration in force and the decisions made with it:
 * declaring semaphores in the table, allowing or denying acquires and
 * administration.  See rules.h.
 *
 * A reload builds the whole new config first (config_load) and swaps it
 * in only when it loaded; only then are the table's declarations brought
 * in line, which cannot fail but for memory (a semaphore that cannot be
 * created is logged and stays undeclared until the next reload).
 */

#include "config.h"

#include <sys/types.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "daemon.h"
#include "log.h"
#include "rules.h"
#include "sem.h"

static struct config	*rules_conf;

/* Load path; keep it as the config in force.  See rules.h. */
const struct config *
rules_load(const char *path, char *err, size_t errlen)
{
	struct config	*cf;

	if ((cf = config_load(path, err, errlen)) == NULL)
		return (NULL);
	config_free(rules_conf);
	rules_conf = cf;
	return (cf);
}

/* The path of the file in force, or NULL. */
const char *
rules_path(void)
{
	return (rules_conf != NULL ? rules_conf->path : NULL);
}

/*
 * Bring the table in line with cf, which replaces old (NULL at start):
 * declare (create or resize) every semaphore of cf, and undeclare those
 * of old that cf does not declare.  Returns how many could not be
 * declared for want of memory.
 */
static size_t
rules_sync(const struct config *old, const struct config *cf)
{
	const struct config_sem	*cs;
	struct sem		*s;
	uint64_t		 now = server_now_ms();
	size_t			 i, failed = 0;
	uint32_t		 burst;
	double			 rate;

	if (old != NULL) {
		for (i = 0; i < old->nsems; i++) {
			cs = &old->sems[i];
			if (config_find(cf, cs->name, cs->name_len) != NULL)
				continue;
			s = sem_lookup(server_table, cs->name, cs->name_len);
			if (s != NULL && sem_is_declared(s)) {
				log_info("%s: no longer declared", cs->name);
				sem_undeclare(server_table, s);
			}
		}
	}
	for (i = 0; cf != NULL && i < cf->nsems; i++) {
		cs = &cf->sems[i];
		/* Cluster semaphores live in etcd (cluster.c). */
		if (cs->scope == CONFIG_SCOPE_CLUSTER)
			continue;
		s = sem_lookup(server_table, cs->name, cs->name_len);
		if (s != NULL && sem_capacity(s) != cs->capacity)
			log_warnx("%s: capacity %" PRIu32 " -> %" PRIu32
			    " (%s)", cs->name, sem_capacity(s), cs->capacity,
			    cf->path);
		if (s != NULL && ((rate = sem_rate(s, &burst)) !=
		    (cs->has_rate ? cs->rate : 0) || (cs->has_rate && burst !=
		    (cs->has_burst ? cs->burst : 1))))
			log_warnx("%s: rate %g/s burst %" PRIu32 " -> %g/s "
			    "burst %" PRIu32 " (%s)", cs->name, rate, burst,
			    cs->has_rate ? cs->rate : 0,
			    cs->has_rate ? (cs->has_burst ? cs->burst : 1) :
			    0, cf->path);
		if (sem_declare(server_table, cs->name, cs->name_len,
		    cs->capacity, cs->has_rate ? cs->rate : 0,
		    cs->has_burst ? cs->burst : 1, now) == NULL) {
			log_warn("%s: cannot declare", cs->name);
			failed++;
		}
	}
	return (failed);
}

/* Declare the semaphores of the file loaded by rules_load. */
void
rules_apply(void)
{
	(void)rules_sync(NULL, rules_conf);
}

/* Reload the file in force; see rules.h. */
int
rules_reload(char *msg, size_t len)
{
	struct config	*cf, *old = rules_conf;
	char		 err[512];
	size_t		 failed;

	if (old == NULL) {
		snprintf(msg, len, "semd runs without a configuration file "
		    "(start it with -c FILE); nothing to reload");
		return (-1);
	}
	if ((cf = config_load(old->path, err, sizeof err)) == NULL) {
		snprintf(msg, len, "%s; the rules in force stay", err);
		return (-1);
	}
	rules_conf = cf;
	failed = rules_sync(old, cf);
	config_free(old);
	if (failed != 0)
		snprintf(msg, len, "reloaded %s, but %zu semaphores could not "
		    "be declared (out of memory)", cf->path, failed);
	else
		snprintf(msg, len, "reloaded %s: %zu semaphores declared, "
		    "undeclared names %s", cf->path, cf->nsems,
		    cf->undeclared_deny ? "denied" : "allowed");
	return (0);
}

/* May who acquire name?  See rules.h. */
int
rules_may_acquire(const struct rules_who *who, const char *name, size_t len,
    char *why, size_t whylen)
{
	const struct config_sem	*cs;
	char			 list[200];

	if (rules_conf == NULL)
		return (1);
	if ((cs = config_find(rules_conf, name, len)) == NULL) {
		if (!rules_conf->undeclared_deny)
			return (1);
		snprintf(why, whylen, "semaphore %.*s is not declared in %s, "
		    "which denies undeclared names (undeclared = deny)",
		    (int)len, name, rules_conf->path);
		return (0);
	}
	if (!cs->has_allow || config_who_match(&cs->allow, who->uid,
	    who->gid, who->groups, who->ngroups))
		return (1);
	snprintf(why, whylen, "uid %lu may not acquire %s: %s line %u allows "
	    "only %s", (unsigned long)who->uid, cs->name, rules_conf->path,
	    cs->line, config_who_str(&cs->allow, list, sizeof list)[0] !=
	    '\0' ? list : "nobody");
	return (0);
}

/* May who administer name (NULL: the daemon)?  See rules.h. */
int
rules_may_admin(const struct rules_who *who, const char *name, size_t len,
    char *why, size_t whylen)
{
	const struct config_sem	*cs = NULL;

	if (who->uid == 0 || who->uid == geteuid())
		return (1);
	if (rules_conf != NULL) {
		if (config_who_match(&rules_conf->admin, who->uid, who->gid,
		    who->groups, who->ngroups))
			return (1);
		if (name != NULL &&
		    (cs = config_find(rules_conf, name, len)) != NULL &&
		    config_who_match(&cs->admin, who->uid, who->gid,
		    who->groups, who->ngroups))
			return (1);
	}
	if (name == NULL)
		snprintf(why, whylen, "uid %lu may not administer semd: only "
		    "root, uid %lu and the [semd] admin list%s%s may",
		    (unsigned long)who->uid, (unsigned long)geteuid(),
		    rules_conf != NULL ? " of " : "",
		    rules_conf != NULL ? rules_conf->path : "");
	else if (cs != NULL)
		snprintf(why, whylen, "uid %lu may not administer %s: only "
		    "root, uid %lu and the admin lists of [semd] and of "
		    "[sem %s] (%s line %u) may", (unsigned long)who->uid,
		    cs->name, (unsigned long)geteuid(), cs->name,
		    rules_conf->path, cs->line);
	else
		snprintf(why, whylen, "uid %lu may not administer %.*s: only "
		    "root, uid %lu and the [semd] admin list%s%s may",
		    (unsigned long)who->uid, (int)len, name,
		    (unsigned long)geteuid(),
		    rules_conf != NULL ? " of " : "",
		    rules_conf != NULL ? rules_conf->path : "");
	return (0);
}

/* Is name declared by the file in force? */
int
rules_declared(const char *name, size_t len)
{
	return (config_find(rules_conf, name, len) != NULL);
}

/* The declared capacity of name, 0 if undeclared. */
uint32_t
rules_capacity(const char *name, size_t len)
{
	const struct config_sem	*cs;

	cs = config_find(rules_conf, name, len);
	return (cs != NULL ? cs->capacity : 0);
}

/* Does any allow or admin list name a group? */
int
rules_need_groups(void)
{
	size_t	 i;

	if (rules_conf == NULL)
		return (0);
	if (rules_conf->admin.ngids != 0)
		return (1);
	for (i = 0; i < rules_conf->nsems; i++) {
		if (rules_conf->sems[i].allow.ngids != 0 ||
		    rules_conf->sems[i].admin.ngids != 0)
			return (1);
	}
	return (0);
}

/* Free the configuration in force. */
void
rules_free(void)
{
	config_free(rules_conf);
	rules_conf = NULL;
}
