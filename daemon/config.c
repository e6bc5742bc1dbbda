/*
 * config.c -- load the configuration file: libinih reads the INI syntax,
 * this file gives it meaning and refuses anything it does not understand
 * with "FILE:LINE: message".
 *
 * libinih calls a handler for each "key = value" but says nothing about
 * section headers, and passes no line numbers (Debian's build has
 * INI_HANDLER_LINENO off).  So the file is fed to ini_parse_stream()
 * through our own line reader, which counts lines, sees every section
 * header (an empty or repeated section is an error too) and refuses
 * lines libinih would silently split (longer than its buffer) or cut
 * (a NUL byte).  libinih reads one line, handles it, then reads the
 * next, so when the handler runs the reader's count is its line.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/stat.h>

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <ini.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"

/* What libinih's line buffer holds, its terminator and "\r\n" included. */
#define CONFIG_INI_LINE		200
#define CONFIG_MAX_GRACE_MS	86400000ULL	/* a day */

/* Keys seen in the current section, to refuse repeats. */
#define SEEN_CAPACITY		0x0001
#define SEEN_RATE		0x0002
#define SEEN_BURST		0x0004
#define SEEN_SCOPE		0x0008
#define SEEN_UNDECLARED		0x0010
#define SEEN_ENDPOINTS		0x0020
#define SEEN_PREFIX		0x0040
#define SEEN_TTL		0x0080
#define SEEN_HOST		0x0100
#define SEEN_NAMES		0x0200

enum config_section {
	SECTION_NONE,		/* before the first header */
	SECTION_SEMD,
	SECTION_SEM,
	SECTION_CLUSTER,
	SECTION_BAD,		/* refused already */
};

struct config_parser {
	struct config		*cf;
	const char		*path;
	const char		*buf;
	size_t			 len;
	size_t			 off;
	unsigned int		 line;		/* lines handed to libinih */
	int			 failed;
	unsigned int		 err_line;
	char			 err[256];

	enum config_section	 section;
	struct config_sem	*sem;		/* SECTION_SEM */
	int			 sem_has_capacity;
	unsigned int		 sem_capacity_line;
	unsigned int		 seen;		/* SEEN_* in this section */
	unsigned int		 seen_limits;	/* CONFIG_HAS_* here */
	unsigned int		 semd_line;	/* of [semd], 0 if none yet */
	size_t			 cap;		/* room in cf->sems */
};

static void	config_fail(struct config_parser *, const char *, ...)
		    __attribute__((__format__(__printf__, 2, 3)));

/* Record the first error of the file, at the current line. */
static void
config_fail(struct config_parser *p, const char *fmt, ...)
{
	va_list	 ap;

	if (p->failed)
		return;
	p->failed = 1;
	p->err_line = p->line;
	va_start(ap, fmt);
	vsnprintf(p->err, sizeof p->err, fmt, ap);
	va_end(ap);
}

/* Free the lists of a who. */
static void
config_who_free(struct config_who *w)
{
	free(w->uids);
	free(w->gids);
	memset(w, 0, sizeof *w);
}

/* Free a config and everything it owns. */
void
config_free(struct config *cf)
{
	size_t	 i;

	if (cf == NULL)
		return;
	for (i = 0; i < cf->nsems; i++) {
		config_who_free(&cf->sems[i].allow);
		config_who_free(&cf->sems[i].admin);
	}
	free(cf->sems);
	config_who_free(&cf->admin);
	free(cf->path);
	free(cf);
}

/* Does s hold only decimal digits (at least one)? */
static int
config_all_digits(const char *s)
{
	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return (0);
	}
	return (1);
}

/*
 * Parse a decimal number from min to max, with K, M, G (powers of 1024)
 * when suffixes is set; see conf.h.
 */
int
config_parse_number(const char *s, uint64_t min, uint64_t max, int suffixes,
    uint64_t *out)
{
	unsigned long long	 v;
	uint64_t		 mult = 1;
	char			*end;

	if (!isdigit((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0)
		return (-1);
	if (suffixes && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'K': case 'k':
			mult = 1024;
			break;
		case 'M': case 'm':
			mult = 1024 * 1024;
			break;
		case 'G': case 'g':
			mult = 1024 * 1024 * 1024;
			break;
		default:
			return (-1);
		}
		end++;
	}
	if (*end != '\0' || v > max / mult)
		return (-1);
	v *= mult;
	if (v < min || v > max)
		return (-1);
	*out = v;
	return (0);
}

/*
 * Is [s, end) a plain decimal number, digits and at most one point (no
 * sign, exponent, hex, inf or nan, which strtod would take)?
 */
static int
config_plain_number(const char *s, const char *end)
{
	int	 points = 0;

	if (s == end)
		return (0);
	for (; s < end; s++) {
		if (*s == '.')
			points++;
		else if (!isdigit((unsigned char)*s))
			return (0);
	}
	return (points <= 1);
}

/*
 * Parse a duration: a number of seconds (fractions allowed) or one with
 * a unit, ms, s, min, m or h.  Returns 0 with *ms set, or -1.
 */
static int
config_duration(const char *s, uint64_t max_ms, uint64_t *ms)
{
	double	 v, mult = 1000.0;
	char	*end;

	if (!isdigit((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || !config_plain_number(s, end) || !(v >= 0))
		return (-1);
	while (*end == ' ' || *end == '\t')
		end++;
	if (strcmp(end, "ms") == 0)
		mult = 1.0;
	else if (strcmp(end, "s") == 0 || *end == '\0')
		mult = 1000.0;
	else if (strcmp(end, "min") == 0 || strcmp(end, "m") == 0)
		mult = 60000.0;
	else if (strcmp(end, "h") == 0)
		mult = 3600000.0;
	else
		return (-1);
	v *= mult;
	if (v > (double)max_ms)
		return (-1);
	*ms = (uint64_t)ceil(v);
	return (0);
}

/*
 * Parse a rate: "10/s", "0.5/s", "30/min", "2/h", "10/second", or a
 * plain number of grants per second.  Returns 0 with *rate set (grants
 * per second, above 0), or -1.
 */
int
config_parse_rate(const char *s, double *rate)
{
	double	 v, per = 1.0;
	char	*end;

	if (!isdigit((unsigned char)*s))
		return (-1);
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || !config_plain_number(s, end) || !(v > 0))
		return (-1);
	while (*end == ' ' || *end == '\t')
		end++;
	if (*end == '/') {
		end++;
		while (*end == ' ' || *end == '\t')
			end++;
		if (strcmp(end, "s") == 0 || strcmp(end, "sec") == 0 ||
		    strcmp(end, "second") == 0)
			per = 1.0;
		else if (strcmp(end, "min") == 0 || strcmp(end, "m") == 0 ||
		    strcmp(end, "minute") == 0)
			per = 60.0;
		else if (strcmp(end, "h") == 0 || strcmp(end, "hour") == 0)
			per = 3600.0;
		else
			return (-1);
	} else if (*end != '\0')
		return (-1);
	v /= per;
	if (!(v >= PROTO_MIN_RATE) || v > PROTO_MAX_RATE)
		return (-1);
	*rate = v;
	return (0);
}

/* Append v to the array *a of *n elements (size bytes each); 0 or -1. */
static int
config_append(void **a, size_t *n, const void *v, size_t size)
{
	void	*p;

	/* Grow in powers of two: sizes 1, 2, 4, ... */
	if ((*n & (*n - 1)) == 0) {
		p = reallocarray(*a, *n == 0 ? 1 : *n * 2, size);
		if (p == NULL)
			return (-1);
		*a = p;
	}
	memcpy((char *)*a + *n * size, v, size);
	(*n)++;
	return (0);
}

/*
 * Add one name of a list to w: "@group" or a user, each by name or by
 * number.  Returns 0, or -1 after config_fail.
 */
static int
config_who_add(struct config_parser *p, const char *key, const char *tok,
    struct config_who *w)
{
	struct passwd	*pw;
	struct group	*gr;
	uint64_t	 n;
	uid_t		 uid;
	gid_t		 gid;

	if (tok[0] == '@') {
		if (tok[1] == '\0') {
			config_fail(p, "%s: '@' without a group name", key);
			return (-1);
		}
		errno = 0;
		if ((gr = getgrnam(tok + 1)) != NULL)
			gid = gr->gr_gid;
		else if (config_all_digits(tok + 1) &&
		    config_parse_number(tok + 1, 0, (gid_t)-2, 0, &n) == 0)
			gid = (gid_t)n;
		else {
			config_fail(p, "%s: no group named '%s'", key,
			    tok + 1);
			return (-1);
		}
		if (config_append((void **)&w->gids, &w->ngids, &gid,
		    sizeof gid) == -1)
			goto nomem;
		return (0);
	}
	if ((pw = getpwnam(tok)) != NULL)
		uid = pw->pw_uid;
	else if (config_all_digits(tok) &&
	    config_parse_number(tok, 0, (uid_t)-2, 0, &n) == 0)
		uid = (uid_t)n;
	else {
		config_fail(p, "%s: no user named '%s' (write groups as "
		    "@name)", key, tok);
		return (-1);
	}
	if (config_append((void **)&w->uids, &w->nuids, &uid,
	    sizeof uid) == -1)
		goto nomem;
	return (0);

nomem:
	config_fail(p, "out of memory");
	return (-1);
}

/*
 * Add the names in value (users, @groups, numbers; separated by spaces
 * or commas) to w.  Returns 0, or -1 after config_fail.
 */
static int
config_who_parse(struct config_parser *p, const char *key, const char *value,
    struct config_who *w)
{
	char		 tok[256];
	const char	*s = value, *start;
	size_t		 len;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (*s == '\0')
			return (0);
		start = s;
		while (*s != '\0' && *s != ' ' && *s != '\t' && *s != ',')
			s++;
		len = (size_t)(s - start);
		if (len >= sizeof tok) {
			config_fail(p, "%s: a name of %zu bytes is too long",
			    key, len);
			return (-1);
		}
		memcpy(tok, start, len);
		tok[len] = '\0';
		if (w->nuids + w->ngids >= CONFIG_MAX_WHO) {
			config_fail(p, "%s: more than %d names", key,
			    CONFIG_MAX_WHO);
			return (-1);
		}
		if (config_who_add(p, key, tok, w) == -1)
			return (-1);
	}
}

/*
 * The numeric keys of [semd]: their range, whether K, M or G may follow,
 * where the value goes in struct config (a uint32_t or a uint64_t), and
 * the CONFIG_HAS_* bit that says the file set it.
 */
#define CONFIG_FIELD(f)	offsetof(struct config, f), \
			sizeof(((struct config *)0)->f)
static const struct config_numkey {
	const char	*key;
	unsigned int	 flag;
	uint64_t	 min, max;
	int		 suffixes;
	size_t		 off, size;
} config_numkeys[] = {
	{ "max-connections", CONFIG_HAS_MAX_CONNECTIONS, 0, 1000000, 0,
	    CONFIG_FIELD(max_connections) },
	{ "max-pending", CONFIG_HAS_MAX_PENDING, 0, UINT32_MAX, 0,
	    CONFIG_FIELD(max_pending) },
	{ "max-holds", CONFIG_HAS_MAX_HOLDS, 0, UINT32_MAX, 0,
	    CONFIG_FIELD(max_holds) },
	{ "max-pending-per-uid", CONFIG_HAS_MAX_PENDING_PER_UID, 0,
	    UINT32_MAX, 0, CONFIG_FIELD(max_pending_per_uid) },
	{ "max-holds-per-uid", CONFIG_HAS_MAX_HOLDS_PER_UID, 0,
	    UINT32_MAX, 0, CONFIG_FIELD(max_holds_per_uid) },
	{ "max-sems", CONFIG_HAS_MAX_SEMS, 0, UINT32_MAX, 0,
	    CONFIG_FIELD(max_sems) },
	{ "max-frame", CONFIG_HAS_MAX_FRAME, 64, PROTO_MAX_FRAME, 0,
	    CONFIG_FIELD(max_frame) },
	{ "max-output", CONFIG_HAS_MAX_OUTPUT,
	    PROTO_HDR_LEN + PROTO_MAX_FRAME, SIZE_MAX / 2, 1,
	    CONFIG_FIELD(max_output) },
	{ "idle-exit", CONFIG_HAS_IDLE_EXIT, 0, 100000000, 0,
	    CONFIG_FIELD(idle_exit) },
	{ "max-output-total", CONFIG_HAS_MAX_OUTPUT_TOTAL,
	    PROTO_HDR_LEN + PROTO_MAX_FRAME, SIZE_MAX / 2, 1,
	    CONFIG_FIELD(max_output_total) },
	{ "max-connections-per-uid", CONFIG_HAS_MAX_CONNECTIONS_PER_UID, 0,
	    1000000, 0, CONFIG_FIELD(max_connections_per_uid) },
	{ NULL, 0, 0, 0, 0, 0, 0 }
};

/*
 * Note key, bit flag of *seen, as set in [semd]; -1 after saying so if it
 * was set already.
 */
static int
config_semd_once(struct config_parser *p, unsigned int *seen,
    unsigned int flag, const char *key)
{
	if (*seen & flag) {
		config_fail(p, "%s is set twice in [semd]", key);
		return (-1);
	}
	*seen |= flag;
	return (0);
}

/* Handle a numeric key nk = value in [semd]: once, in range. */
static void
config_semd_number(struct config_parser *p, const struct config_numkey *nk,
    const char *value)
{
	char		*field = (char *)p->cf + nk->off;
	uint64_t	 v;
	uint32_t	 v32;

	if (config_semd_once(p, &p->seen_limits, nk->flag, nk->key) == -1)
		return;
	if (config_parse_number(value, nk->min, nk->max, nk->suffixes,
	    &v) == -1) {
		config_fail(p, "%s must be a number from %llu to %llu%s, not "
		    "'%s'", nk->key, (unsigned long long)nk->min,
		    (unsigned long long)nk->max,
		    nk->suffixes ? " (K, M, G allowed)" : "", value);
		return;
	}
	p->cf->has |= nk->flag;
	v32 = (uint32_t)v;
	if (nk->size == sizeof v32)
		memcpy(field, &v32, sizeof v32);
	else
		memcpy(field, &v, sizeof v);
}

/* Handle "undeclared = allow|deny" in [semd]. */
static void
config_semd_undeclared(struct config_parser *p, const char *value)
{
	if (config_semd_once(p, &p->seen, SEEN_UNDECLARED, "undeclared") == -1)
		return;
	if (strcmp(value, "allow") == 0)
		p->cf->undeclared_deny = 0;
	else if (strcmp(value, "deny") == 0)
		p->cf->undeclared_deny = 1;
	else
		config_fail(p, "undeclared must be 'allow' or 'deny', not "
		    "'%s'", value);
}

/* Handle "grace = DURATION" in [semd]. */
static void
config_semd_grace(struct config_parser *p, const char *value)
{
	if (config_semd_once(p, &p->seen_limits, CONFIG_HAS_GRACE,
	    "grace") == -1)
		return;
	if (config_duration(value, CONFIG_MAX_GRACE_MS,
	    &p->cf->grace_ms) == -1) {
		config_fail(p, "grace must be a duration such as 5s, 500ms or "
		    "1min (at most a day), not '%s'", value);
		return;
	}
	p->cf->has |= CONFIG_HAS_GRACE;
}

/* Handle "key = value" in [semd]. */
static void
config_semd_key(struct config_parser *p, const char *key, const char *value)
{
	const struct config_numkey	*nk;

	if (strcmp(key, "undeclared") == 0) {
		config_semd_undeclared(p, value);
		return;
	}
	if (strcmp(key, "admin") == 0) {
		(void)config_who_parse(p, key, value, &p->cf->admin);
		return;
	}
	if (strcmp(key, "grace") == 0) {
		config_semd_grace(p, value);
		return;
	}
	for (nk = config_numkeys; nk->key != NULL; nk++) {
		if (strcmp(key, nk->key) == 0) {
			config_semd_number(p, nk, value);
			return;
		}
	}
	config_fail(p, "unknown key '%s' in [semd]", key);
}

/* Handle "key = value" in [sem NAME]. */
static void
config_sem_key(struct config_parser *p, const char *key, const char *value)
{
	struct config_sem	*s = p->sem;
	uint64_t		 v;

#define ONCE(flag) do {							\
	if (p->seen & (flag)) {						\
		config_fail(p, "%s is set twice in [sem %s]", key,	\
		    s->name);						\
		return;							\
	}								\
	p->seen |= (flag);						\
} while (0)

	if (strcmp(key, "capacity") == 0) {
		ONCE(SEEN_CAPACITY);
		if (config_parse_number(value, 0, PROTO_MAX_CAPACITY, 0,
		    &v) == -1) {
			config_fail(p, "capacity must be a number from 1 to "
			    "%u (0 with a rate), not '%s'", PROTO_MAX_CAPACITY,
			    value);
			return;
		}
		s->capacity = (uint32_t)v;
		p->sem_has_capacity = 1;
		p->sem_capacity_line = p->line;
	} else if (strcmp(key, "rate") == 0) {
		ONCE(SEEN_RATE);
		if (config_parse_rate(value, &s->rate) == -1) {
			config_fail(p, "rate must be grants per time, such as "
			    "10/s, 0.5/s, 30/min or 2/h (at most %g/s, at "
			    "least 1/day), not '%s'", PROTO_MAX_RATE, value);
			return;
		}
		s->has_rate = 1;
	} else if (strcmp(key, "burst") == 0) {
		ONCE(SEEN_BURST);
		if (config_parse_number(value, 1, PROTO_MAX_CAPACITY, 0,
		    &v) == -1) {
			config_fail(p, "burst must be a number from 1 to %u, "
			    "not '%s'", PROTO_MAX_CAPACITY, value);
			return;
		}
		s->burst = (uint32_t)v;
		s->has_burst = 1;
	} else if (strcmp(key, "allow") == 0) {
		s->has_allow = 1;
		(void)config_who_parse(p, key, value, &s->allow);
	} else if (strcmp(key, "admin") == 0) {
		(void)config_who_parse(p, key, value, &s->admin);
	} else if (strcmp(key, "scope") == 0) {
		ONCE(SEEN_SCOPE);
		if (strcmp(value, "local") == 0)
			s->scope = CONFIG_SCOPE_LOCAL;
		else if (strcmp(value, "cluster") == 0)
			s->scope = CONFIG_SCOPE_CLUSTER;
		else
			config_fail(p, "scope must be 'local' or 'cluster', "
			    "not '%s'", value);
	} else
		config_fail(p, "unknown key '%s' in [sem %s]", key, s->name);
#undef ONCE
}

/* Handle "key = value" in [cluster]. */
static void
config_cluster_key(struct config_parser *p, const char *key,
    const char *value)
{
	struct config_cluster	*c = &p->cf->cluster;
	uint64_t		 v;
	size_t			 len = strlen(value);
	const char		*unit;

#define ONCE(flag) do {							\
	if (p->seen & (flag)) {						\
		config_fail(p, "%s is set twice in [cluster]", key);	\
		return;							\
	}								\
	p->seen |= (flag);						\
} while (0)

	if (strcmp(key, "endpoints") == 0) {
		ONCE(SEEN_ENDPOINTS);
		if (len == 0 || len >= sizeof c->endpoints) {
			config_fail(p, "endpoints must be 1 to %zu bytes of "
			    "http://HOST:PORT, comma-separated",
			    sizeof c->endpoints - 1);
			return;
		}
		memcpy(c->endpoints, value, len + 1);
	} else if (strcmp(key, "prefix") == 0) {
		ONCE(SEEN_PREFIX);
		if (len == 0 || len >= sizeof c->prefix) {
			config_fail(p, "prefix must be 1 to %zu bytes",
			    sizeof c->prefix - 1);
			return;
		}
		memcpy(c->prefix, value, len + 1);
	} else if (strcmp(key, "lease-ttl") == 0) {
		ONCE(SEEN_TTL);
		unit = len > 0 && value[len - 1] == 's' ? "s" : "";
		if (len == 0 || len - strlen(unit) > 10) {
			config_fail(p, "lease-ttl must be seconds from 2 to "
			    "3600 (such as 10s), not '%s'", value);
			return;
		}
		{
			char	 num[16];

			memcpy(num, value, len - strlen(unit));
			num[len - strlen(unit)] = '\0';
			if (config_parse_number(num, 2, 3600, 0, &v) == -1) {
				config_fail(p, "lease-ttl must be seconds from "
				    "2 to 3600 (such as 10s), not '%s'", value);
				return;
			}
		}
		c->lease_ttl = (uint32_t)v;
	} else if (strcmp(key, "host-id") == 0) {
		ONCE(SEEN_HOST);
		if (len == 0 || len >= sizeof c->host_id ||
		    strchr(value, '/') != NULL) {
			config_fail(p, "host-id must be 1 to %zu bytes "
			    "without '/'", sizeof c->host_id - 1);
			return;
		}
		memcpy(c->host_id, value, len + 1);
	} else if (strcmp(key, "names") == 0) {
		ONCE(SEEN_NAMES);
		if (!proto_name_valid(value, len)) {
			config_fail(p, "names must be the start of a "
			    "semaphore name (1 to %d bytes of A-Z a-z 0-9 . _ "
			    "- : @ / +), not '%s'", PROTO_MAX_NAME, value);
			return;
		}
		memcpy(c->names, value, len + 1);
	} else
		config_fail(p, "unknown key '%s' in [cluster] (endpoints, "
		    "prefix, lease-ttl, host-id, names)", key);
#undef ONCE
}

/* The handler libinih calls for each "key = value". */
static int
config_handler(void *arg, const char *section, const char *key,
    const char *value)
{
	struct config_parser	*p = arg;

	if (p->failed)
		return (0);
	switch (p->section) {
	case SECTION_NONE:
		config_fail(p, "'%s' is outside any section; put it under "
		    "[semd] or [sem NAME]", key);
		break;
	case SECTION_SEMD:
		config_semd_key(p, key, value);
		break;
	case SECTION_SEM:
		config_sem_key(p, key, value);
		break;
	case SECTION_CLUSTER:
		config_cluster_key(p, key, value);
		break;
	case SECTION_BAD:
		break;
	}
	return (p->failed ? 0 : 1);
}

/* The section that just ended: check what it must have. */
static void
config_end_section(struct config_parser *p)
{
	unsigned int	 line = p->line;

	if (p->section == SECTION_SEM && !p->sem_has_capacity &&
	    !p->sem->has_rate) {
		p->line = p->sem->line;
		config_fail(p, "[sem %s] has no capacity (nor rate)",
		    p->sem->name);
		p->line = line;
	}
	if (p->section == SECTION_SEM && p->sem_has_capacity &&
	    p->sem->capacity == 0 && !p->sem->has_rate) {
		p->line = p->sem_capacity_line;
		config_fail(p, "capacity 0 bounds nothing: give [sem %s] a "
		    "rate too, or a capacity of at least 1", p->sem->name);
		p->line = line;
	}
	if (p->section == SECTION_SEM && p->sem->has_burst &&
	    !p->sem->has_rate) {
		p->line = p->sem->line;
		config_fail(p, "[sem %s] has a burst but no rate",
		    p->sem->name);
		p->line = line;
	}
	if (p->section == SECTION_CLUSTER &&
	    p->cf->cluster.endpoints[0] == '\0') {
		p->line = p->cf->cluster.line;
		config_fail(p, "[cluster] has no endpoints");
		p->line = line;
	}
	p->section = SECTION_NONE;
	p->sem = NULL;
}

/* Open [semd] (once).  Returns the section the lines below are in. */
static enum config_section
config_semd_section(struct config_parser *p)
{
	if (p->semd_line != 0) {
		config_fail(p, "duplicate section [semd] (first on line %u)",
		    p->semd_line);
		return (SECTION_BAD);
	}
	p->semd_line = p->line;
	return (SECTION_SEMD);
}

/*
 * Open [sem NAME] for name (nlen bytes): a new declared semaphore, at
 * most CONFIG_MAX_SEMS of them.  Returns the section the lines below
 * are in.
 */
static enum config_section
config_sem_section(struct config_parser *p, const char *name, size_t nlen)
{
	struct config_sem	*sem;
	void			*q;

	if (!proto_name_valid(name, nlen)) {
		config_fail(p, "[sem %.*s]: a name is 1 to %d bytes of A-Z a-z "
		    "0-9 . _ - : @ / +", (int)nlen, name, PROTO_MAX_NAME);
		return (SECTION_BAD);
	}
	if (p->cf->nsems >= CONFIG_MAX_SEMS) {
		config_fail(p, "more than %d [sem] sections", CONFIG_MAX_SEMS);
		return (SECTION_BAD);
	}
	if (p->cf->nsems == p->cap) {
		q = reallocarray(p->cf->sems, p->cap == 0 ? 16 : p->cap * 2,
		    sizeof *p->cf->sems);
		if (q == NULL) {
			config_fail(p, "out of memory");
			return (SECTION_BAD);
		}
		p->cf->sems = q;
		p->cap = p->cap == 0 ? 16 : p->cap * 2;
	}
	sem = &p->cf->sems[p->cf->nsems++];
	memset(sem, 0, sizeof *sem);
	memcpy(sem->name, name, nlen);
	sem->name_len = nlen;
	sem->line = p->line;
	sem->scope = CONFIG_SCOPE_LOCAL;
	p->sem = sem;
	return (SECTION_SEM);
}

/* Open [cluster] (once).  Returns the section the lines below are in. */
static enum config_section
config_cluster_section(struct config_parser *p)
{
	if (p->cf->cluster.present) {
		config_fail(p, "duplicate section [cluster] (first on line %u)",
		    p->cf->cluster.line);
		return (SECTION_BAD);
	}
	p->cf->cluster.present = 1;
	p->cf->cluster.line = p->line;
	return (SECTION_CLUSTER);
}

/*
 * A section header on the current line: [semd], [sem NAME] or [cluster]
 * opens the section the lines below are in.  s points after '[' and the
 * line holds a ']' (libinih refuses it otherwise).
 */
static void
config_header(struct config_parser *p, const char *s)
{
	const char	*end, *name;
	size_t		 len;

	config_end_section(p);
	p->seen = 0;
	p->seen_limits = 0;
	p->sem_has_capacity = 0;
	while (*s == ' ' || *s == '\t')
		s++;
	if ((end = strchr(s, ']')) == NULL)
		return;		/* libinih reports it */
	while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	len = (size_t)(end - s);

	if (len == 4 && memcmp(s, "semd", 4) == 0)
		p->section = config_semd_section(p);
	else if (len > 4 && memcmp(s, "sem", 3) == 0 &&
	    (s[3] == ' ' || s[3] == '\t')) {
		name = s + 4;
		while (*name == ' ' || *name == '\t')
			name++;
		p->section = config_sem_section(p, name,
		    (size_t)(end - name));
	} else if (len == 7 && memcmp(s, "cluster", 7) == 0)
		p->section = config_cluster_section(p);
	else {
		config_fail(p, "unknown section [%.*s]; sections are [semd], "
		    "[sem NAME] and [cluster]", (int)(len > 64 ? 64 : len), s);
		p->section = SECTION_BAD;
	}
}

/*
 * libinih's line reader: the next line of the buffer into str (at most
 * num - 1 bytes and a NUL).  Counts lines, handles section headers,
 * refuses NUL bytes and lines too long for libinih's buffer.
 */
static char *
config_reader(char *str, int num, void *arg)
{
	struct config_parser	*p = arg;
	const char		*s, *nl;
	size_t			 n, room;

	if (p->off >= p->len || p->failed)
		return (NULL);
	s = p->buf + p->off;
	nl = memchr(s, '\n', p->len - p->off);
	n = nl != NULL ? (size_t)(nl - s) + 1 : p->len - p->off;
	p->line++;
	room = num > 1 ? (size_t)num - 1 : 0;
	if (n > room) {
		config_fail(p, "line too long (at most %zu bytes; continue a "
		    "long list on another '%s' line)", room > 3 ? room - 3 : 0,
		    "allow =");
		return (NULL);
	}
	if (memchr(s, '\0', n) != NULL) {
		config_fail(p, "NUL byte in the line");
		return (NULL);
	}
	memcpy(str, s, n);
	str[n] = '\0';
	p->off += n;

	/* A UTF-8 BOM on the first line, then blanks, then '['? */
	if (p->line == 1 && n >= 3 && memcmp(str, "\xef\xbb\xbf", 3) == 0)
		s = str + 3;
	else
		s = str;
	if (*s == '[' && strchr(s, ']') != NULL)
		config_header(p, s + 1);
	else if (*s == ' ' || *s == '\t') {
		/*
		 * libinih reads an indented line after a key as more of its
		 * value, so an indented header would mean two things.
		 */
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '[') {
			config_fail(p, "a [section] header must start at the "
			    "beginning of its line");
			return (NULL);
		}
	}
	return (str);
}

/* Order declared semaphores by name, for bsearch. */
static int
config_sem_cmp(const void *a, const void *b)
{
	const struct config_sem	*x = a, *y = b;
	size_t			 n;
	int			 c;

	n = x->name_len < y->name_len ? x->name_len : y->name_len;
	if ((c = memcmp(x->name, y->name, n)) != 0)
		return (c);
	if (x->name_len != y->name_len)
		return (x->name_len < y->name_len ? -1 : 1);
	/* Same name: keep file order, so the later one is reported. */
	return (x->line < y->line ? -1 : x->line > y->line);
}

/*
 * Parse len bytes of buf as the file path; see config.h.  Returns a new
 * config, or NULL with "PATH:LINE: message" in err.
 */
struct config *
config_parse(const char *path, const char *buf, size_t len, char *err,
    size_t errlen)
{
	struct config_parser	 p;
	struct config_sem	*a, *b;
	size_t			 i;
	int			 r;

	memset(&p, 0, sizeof p);
	p.path = path;
	p.buf = buf;
	p.len = len;
	if ((p.cf = calloc(1, sizeof *p.cf)) == NULL ||
	    (p.cf->path = strdup(path)) == NULL) {
		config_free(p.cf);
		snprintf(err, errlen, "%s: out of memory", path);
		return (NULL);
	}
	if (len > CONFIG_MAX_FILE) {
		snprintf(err, errlen, "%s: larger than %d bytes", path,
		    CONFIG_MAX_FILE);
		config_free(p.cf);
		return (NULL);
	}

	r = ini_parse_stream(config_reader, &p, config_handler, &p);
	if (!p.failed)
		config_end_section(&p);
	if (r > 0 && (!p.failed || (unsigned int)r < p.err_line)) {
		/* libinih's own complaint, on a line we did not refuse. */
		p.failed = 0;
		p.line = (unsigned int)r;
		config_fail(&p, "not a [section] header nor a 'key = value' "
		    "line");
	} else if (r < 0 && !p.failed)
		config_fail(&p, "out of memory");

	if (!p.failed && p.cf->nsems > 1) {
		qsort(p.cf->sems, p.cf->nsems, sizeof *p.cf->sems,
		    config_sem_cmp);
		for (i = 1; i < p.cf->nsems; i++) {
			a = &p.cf->sems[i - 1];
			b = &p.cf->sems[i];
			if (a->name_len == b->name_len &&
			    memcmp(a->name, b->name, a->name_len) == 0) {
				p.line = b->line;
				config_fail(&p, "duplicate section [sem %s] "
				    "(first on line %u)", b->name, a->line);
				break;
			}
		}
	}
	for (i = 0; !p.failed && !p.cf->cluster.present && i < p.cf->nsems;
	    i++) {
		if (p.cf->sems[i].scope == CONFIG_SCOPE_CLUSTER) {
			p.line = p.cf->sems[i].line;
			config_fail(&p, "[sem %s] has scope = cluster but there "
			    "is no [cluster] section with the etcd endpoints",
			    p.cf->sems[i].name);
		}
	}
	if (p.failed) {
		snprintf(err, errlen, "%s:%u: %s", path, p.err_line, p.err);
		config_free(p.cf);
		return (NULL);
	}
	return (p.cf);
}

/*
 * Read the file at path (at most CONFIG_MAX_FILE bytes) and parse it.
 * Returns a new config, or NULL with a message in err.
 */
struct config *
config_load(const char *path, char *err, size_t errlen)
{
	struct config	*cf;
	struct stat	 st;
	char		*buf;
	size_t		 len = 0;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", path, errno != 0 &&
		    !S_ISREG(st.st_mode) ? "not a regular file" :
		    strerror(errno));
		close(fd);
		return (NULL);
	}
	if ((buf = malloc(CONFIG_MAX_FILE + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return (NULL);
	}
	for (;;) {
		n = read(fd, buf + len, CONFIG_MAX_FILE + 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			free(buf);
			close(fd);
			return (NULL);
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > CONFIG_MAX_FILE)
			break;
	}
	close(fd);
	cf = config_parse(path, buf, len, err, errlen);
	free(buf);
	return (cf);
}

/* The declared semaphore name (len bytes), or NULL.  O(log n). */
const struct config_sem *
config_find(const struct config *cf, const char *name, size_t len)
{
	size_t	 lo = 0, hi, mid, n;
	int	 c;

	if (cf == NULL || len == 0 || len > PROTO_MAX_NAME)
		return (NULL);
	hi = cf->nsems;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		n = cf->sems[mid].name_len < len ? cf->sems[mid].name_len : len;
		c = memcmp(cf->sems[mid].name, name, n);
		if (c == 0 && cf->sems[mid].name_len != len)
			c = cf->sems[mid].name_len < len ? -1 : 1;
		if (c == 0)
			return (&cf->sems[mid]);
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return (NULL);
}

/* Is (uid, gid, groups) on the list w? */
int
config_who_match(const struct config_who *w, uid_t uid, gid_t gid,
    const gid_t *groups, size_t ngroups)
{
	size_t	 i, j;

	for (i = 0; i < w->nuids; i++) {
		if (w->uids[i] == uid)
			return (1);
	}
	for (i = 0; i < w->ngids; i++) {
		if (w->gids[i] == gid)
			return (1);
		for (j = 0; j < ngroups; j++) {
			if (groups[j] == w->gids[i])
				return (1);
		}
	}
	return (0);
}

/* Write the list w as names ("alice @deploy 1001") into buf. */
char *
config_who_str(const struct config_who *w, char *buf, size_t len)
{
	struct passwd	*pw;
	struct group	*gr;
	size_t		 i, off = 0;
	int		 n;

	if (len == 0)
		return (buf);
	buf[0] = '\0';
	for (i = 0; i < w->nuids + w->ngids && off < len; i++) {
		if (i < w->nuids) {
			pw = getpwuid(w->uids[i]);
			if (pw != NULL)
				n = snprintf(buf + off, len - off, "%s%s",
				    i > 0 ? " " : "", pw->pw_name);
			else
				n = snprintf(buf + off, len - off, "%s%lu",
				    i > 0 ? " " : "",
				    (unsigned long)w->uids[i]);
		} else {
			gr = getgrgid(w->gids[i - w->nuids]);
			if (gr != NULL)
				n = snprintf(buf + off, len - off, "%s@%s",
				    i > 0 ? " " : "", gr->gr_name);
			else
				n = snprintf(buf + off, len - off, "%s@%lu",
				    i > 0 ? " " : "",
				    (unsigned long)w->gids[i - w->nuids]);
		}
		if (n < 0)
			break;
		off += (size_t)n;
	}
	if (off >= len && len > 4)
		memcpy(buf + len - 4, "...", 4);
	return (buf);
}
