/*
 * fuzz_config.c -- libFuzzer target for the configuration loader
 * (daemon/config.c over libinih): the input is the file.
 *
 * Whatever the bytes, config_parse must return a config or refuse it
 * with one line "fuzz.conf:LINE: message" (or "fuzz.conf: message"),
 * never crash, never leak (LeakSanitizer), never read past the input
 * (AddressSanitizer; the input is copied into a buffer of exactly its
 * size).  An accepted config must be consistent: names valid and
 * sorted without duplicates, each found by config_find, every capacity
 * and burst in range, every rate positive.  A violation aborts.
 */

#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "proto.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Report a broken promise and abort: libFuzzer keeps the input. */
static void
fuzz_fail(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_config: %s: %s\n", what, detail);
	abort();
}

/* Check what config_parse promises about an accepted file. */
static void
fuzz_check(const struct config *cf)
{
	const struct config_sem	*s, *prev = NULL;
	size_t			 i;

	for (i = 0; i < cf->nsems; i++) {
		s = &cf->sems[i];
		if (!proto_name_valid(s->name, s->name_len) ||
		    s->name[s->name_len] != '\0')
			fuzz_fail("a declared name is not valid", s->name);
		if (prev != NULL && (prev->name_len == s->name_len &&
		    memcmp(prev->name, s->name, s->name_len) == 0))
			fuzz_fail("a name is declared twice", s->name);
		if (config_find(cf, s->name, s->name_len) != s)
			fuzz_fail("config_find does not find", s->name);
		if ((s->capacity == 0 && !s->has_rate) ||
		    s->capacity > PROTO_MAX_CAPACITY)
			fuzz_fail("capacity out of range", s->name);
		if (s->has_rate && !(s->rate >= PROTO_MIN_RATE &&
		    s->rate <= PROTO_MAX_RATE))
			fuzz_fail("rate out of range", s->name);
		if (s->has_burst && (s->burst == 0 || !s->has_rate))
			fuzz_fail("burst without rate or 0", s->name);
		if (s->line == 0)
			fuzz_fail("no line", s->name);
		prev = s;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config	*cf;
	char		*buf, err[512];

	/* Exactly size bytes, so that ASan sees any read past the end. */
	if ((buf = malloc(size > 0 ? size : 1)) == NULL)
		return (0);
	memcpy(buf, data, size);
	err[0] = '\0';
	cf = config_parse("fuzz.conf", buf, size, err, sizeof err);
	if (cf == NULL) {
		if (strncmp(err, "fuzz.conf:", 10) != 0 ||
		    strchr(err, '\n') != NULL)
			fuzz_fail("a refusal is not one FILE:LINE line", err);
	} else
		fuzz_check(cf);
	config_free(cf);
	free(buf);
	return (0);
}
