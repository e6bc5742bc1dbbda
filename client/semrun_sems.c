/*
 * semrun_sems.c -- semrun's list of semaphores.
 *
 *	semrun [options] NAME [CAPACITY] [NAME [CAPACITY]]... -- CMD
 *
 * A CAPACITY is the all-digits word right after a NAME; a NAME followed
 * by another NAME or by "--" declares no capacity (it joins the
 * semaphore at its existing or configured capacity, or is rate only when
 * a rate is given).  Names are never all digits, so the grammar has no
 * ambiguity.
 *
 * Per-name settings are options, since a NAME may contain every
 * punctuation semd allows (. _ - : @ / +) but never '=':
 *
 *	-w N        --rate R        --burst B          every name
 *	-w NAME=N   --rate NAME=R   --burst NAME=B     that name only
 *
 * A NAME= setting overrides the every-name one for that name, and must
 * name one of the positional names.
 */

#include "config.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "semrun_sems.h"

#define SEMRUN_MAX_COUNT	2147483647UL

/* Is s a non-empty run of digits? */
static int
semrun_all_digits(const char *s)
{
	if (*s == '\0')
		return (0);
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9')
			return (0);
	}
	return (1);
}

/* Parse a count 1..SEMRUN_MAX_COUNT.  Returns 0 or -1. */
static int
semrun_parse_count(const char *s, uint32_t *out)
{
	unsigned long long	 v;
	char			*end;

	if (!semrun_all_digits(s))
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*end != '\0' || errno == ERANGE || v == 0 ||
	    v > SEMRUN_MAX_COUNT)
		return (-1);
	*out = (uint32_t)v;
	return (0);
}

/* Parse a rate: N[/s|/m|/min|/h], N a positive decimal.  0 or -1. */
int
semrun_parse_rate(const char *s, double *rate)
{
	double	 v, per = 1;
	char	*end;
	size_t	 num = strcspn(s, "/");

	/* Decimal digits and a point only: no hex, exponent, inf or nan. */
	if (num == 0 || strspn(s, "0123456789.") != num)
		return (-1);
	errno = 0;
	v = strtod(s, &end);
	if (end != s + num || errno == ERANGE)
		return (-1);
	if (*end == '/') {
		end++;
		if (strcmp(end, "s") == 0 || strcmp(end, "sec") == 0)
			per = 1;
		else if (strcmp(end, "m") == 0 || strcmp(end, "min") == 0)
			per = 60;
		else if (strcmp(end, "h") == 0)
			per = 3600;
		else
			return (-1);
	} else if (*end != '\0')
		return (-1);
	v /= per;
	if (!(v >= 1.0 / 86400) || v > 1000000.0 || !isfinite(v))
		return (-1);
	*rate = v;
	return (0);
}

/* Record one option; see semrun_sems.h. */
int
semrun_sems_option(struct semrun_sems *ss, int which, const char *arg,
    char *why, size_t len)
{
	struct semrun_setting	*set;
	size_t			*n;
	const char		*eq, *val = arg, *what;

	switch (which) {
	case 'w':
		set = ss->weights;
		n = &ss->nweights;
		what = "weight";
		break;
	case 'r':
		set = ss->rates;
		n = &ss->nrates;
		what = "rate";
		break;
	default:
		set = ss->bursts;
		n = &ss->nbursts;
		what = "burst";
		break;
	}
	if (*n == SEMRUN_MAX_SETTINGS) {
		snprintf(why, len, "too many --%s options", what);
		return (-1);
	}
	set += *n;
	memset(set, 0, sizeof *set);
	if ((eq = strchr(arg, '=')) != NULL) {
		if (eq == arg) {
			snprintf(why, len, "%s needs a NAME before '=': '%s'",
			    what, arg);
			return (-1);
		}
		set->name = arg;
		set->name_len = (size_t)(eq - arg);
		val = eq + 1;
	}
	if (which == 'r') {
		if (semrun_parse_rate(val, &set->rate) == -1) {
			snprintf(why, len, "rate must be a positive number "
			    "per second, such as 10/s, 0.5/s, 30/min or 100/h "
			    "(one a day to 1000000/s): '%s'", arg);
			return (-1);
		}
	} else if (semrun_parse_count(val, &set->value) == -1) {
		snprintf(why, len, "%s must be between 1 and %lu%s: '%s'",
		    what, SEMRUN_MAX_COUNT, set->name != NULL ? "" :
		    " (or NAME=N for one name)", arg);
		return (-1);
	}
	(*n)++;
	return (0);
}

/* Index of the name set->name names, or -1. */
static int
semrun_sems_find(const struct semrun_sems *ss,
    const struct semrun_setting *set)
{
	size_t	 i;

	for (i = 0; i < ss->n; i++) {
		if (strlen(ss->v[i].name) == set->name_len &&
		    memcmp(ss->v[i].name, set->name, set->name_len) == 0)
			return ((int)i);
	}
	return (-1);
}

/*
 * Apply the recorded settings of one kind, every-name ones first so a
 * NAME= one wins.  Returns 0, or -1 with why set.
 */
static int
semrun_sems_apply(struct semrun_sems *ss, const struct semrun_setting *set,
    size_t n, int which, char *why, size_t len)
{
	size_t	 pass, i, j;
	int	 k;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < n; i++) {
			if ((set[i].name != NULL) != (pass == 1))
				continue;
			for (j = 0; j < ss->n; j++) {
				if (pass == 1) {
					if ((k = semrun_sems_find(ss,
					    &set[i])) == -1) {
						snprintf(why, len, "'%.*s' is "
						    "not one of the semaphore "
						    "names given",
						    (int)set[i].name_len,
						    set[i].name);
						return (-1);
					}
					j = (size_t)k;
				}
				if (which == 'w')
					ss->v[j].weight = set[i].value;
				else if (which == 'r')
					ss->v[j].rate = set[i].rate;
				else
					ss->v[j].burst = set[i].value;
				if (pass == 1)
					break;
			}
		}
	}
	return (0);
}

/*
 * Add NAME a to ss (weight 1, no capacity yet) when it is a name, not
 * one too many and not named already.  Returns 0, or -1 with a sentence
 * in why.
 */
static int
semrun_sems_add(struct semrun_sems *ss, const char *a, char *why,
    size_t len)
{
	size_t	j;

	if (*a == '\0') {
		snprintf(why, len, "empty semaphore name");
		return (-1);
	}
	if (semrun_all_digits(a)) {
		snprintf(why, len, "'%s' is where a NAME should be (a CAPACITY "
		    "follows its NAME)", a);
		return (-1);
	}
	if (ss->n == SEMD_MAX_SEMS) {
		snprintf(why, len, "at most %d semaphore names",
		    SEMD_MAX_SEMS);
		return (-1);
	}
	for (j = 0; j < ss->n; j++) {
		if (strcmp(ss->v[j].name, a) == 0) {
			snprintf(why, len, "semaphore '%s' is named twice", a);
			return (-1);
		}
	}
	memset(&ss->v[ss->n], 0, sizeof ss->v[ss->n]);
	ss->v[ss->n].name = a;
	ss->v[ss->n].weight = 1;
	return (0);
}

/* Parse the names up to "--"; see semrun_sems.h. */
int
semrun_sems_parse(struct semrun_sems *ss, int argc, char **argv,
    int *optind, char *why, size_t len)
{
	size_t	i, used = 0;
	int	k = *optind;

	ss->n = 0;
	while (k < argc && strcmp(argv[k], "--") != 0) {
		if (semrun_sems_add(ss, argv[k++], why, len) == -1)
			return (-1);
		if (k < argc && semrun_all_digits(argv[k])) {
			if (semrun_parse_count(argv[k],
			    &ss->v[ss->n].capacity) == -1) {
				snprintf(why, len, "capacity must be between 1 "
				    "and %lu: '%s'", SEMRUN_MAX_COUNT,
				    argv[k]);
				return (-1);
			}
			k++;
		}
		ss->n++;
	}
	if (ss->n == 0) {
		snprintf(why, len, "missing NAME [CAPACITY] and -- CMD");
		return (-1);
	}
	*optind = k;
	if (semrun_sems_apply(ss, ss->weights, ss->nweights, 'w', why,
	    len) == -1 ||
	    semrun_sems_apply(ss, ss->rates, ss->nrates, 'r', why, len) == -1 ||
	    semrun_sems_apply(ss, ss->bursts, ss->nbursts, 'b', why,
	    len) == -1)
		return (-1);
	for (i = 0; i < ss->n; i++) {
		if (ss->v[i].burst != 0 && ss->v[i].rate == 0) {
			snprintf(why, len, "--burst needs --rate (for %s)",
			    ss->v[i].name);
			return (-1);
		}
		used += (size_t)snprintf(ss->label + used,
		    used < sizeof ss->label ? sizeof ss->label - used : 0,
		    "%s%s", i > 0 ? ", " : "", ss->v[i].name);
		if (used >= sizeof ss->label)
			used = sizeof ss->label;
	}
	return (0);
}
