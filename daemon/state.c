/*
 * state.c -- the state file a daemon leaves for the next one; see
 * state.h.
 *
 * Layout (host byte order: the file never leaves the machine, and lives
 * on a tmpfs that a reboot empties):
 *
 *	one page:	struct state_hdr
 *	then:		nrecs x struct state_rec
 *
 * Which slots are free is known only to the running daemon (a stack of
 * slot numbers in its memory), rebuilt from the records' serials when a
 * daemon opens the file.
 */

#include "config.h"

#include <sys/types.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sem.h"
#include "state.h"
#include "token.h"

#define STATE_MAGIC		"semdst\0\1"
#define STATE_VERSION		2
#define STATE_HDR_SIZE		4096
#define STATE_INITIAL_RECS	256
#define STATE_MAX_RECS		(1U << 24)

/* The file's first page. */
struct state_hdr {
	char		 magic[8];
	uint32_t	 version;
	uint32_t	 rec_size;
	uint32_t	 nrecs;		/* records the file has room for */
	uint32_t	 pid;		/* of the daemon that last opened it */
	uint64_t	 key[2];	/* the token key */
	uint64_t	 next_serial;	/* no grant has this serial or more */
	uint64_t	 opens;		/* daemons that have used the file */
	char		 socket[108];	/* the socket it was made for */
};

/* One grant.  serial 0: a free slot. */
struct state_rec {
	volatile uint64_t serial;
	uint64_t	 token;
	uint32_t	 uid;
	uint32_t	 weight;
	uint32_t	 capacity;	/* 0: none (a rate only) */
	uint32_t	 name_len;
	double		 rate;		/* grants/s, 0: none */
	uint32_t	 burst;
	uint32_t	 pad;
	char		 name[PROTO_MAX_NAME];
};

struct state {
	int			 fd;
	char			*path;
	uint8_t			*map;
	size_t			 maplen;
	struct state_hdr	*hdr;
	struct state_rec	*recs;
	uint32_t		 nrecs;
	struct token_key	 key;

	uint32_t		*free;		/* stack of free slots */
	uint32_t		 nfree;
	size_t			 live;
	int			 full_warned;

	struct state_old	*old;
	size_t			 nold;
};

/* Write a sentence into cause and return NULL. */
static struct state *
state_fail(char *cause, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static struct state *
state_fail(char *cause, size_t len, const char *fmt, ...)
{
	va_list	 ap;

	if (cause != NULL && len > 0) {
		va_start(ap, fmt);
		vsnprintf(cause, len, fmt, ap);
		va_end(ap);
	}
	return (NULL);
}

/*
 * The path of the state file: dir/semd.state, $RUNTIME_DIRECTORY/
 * semd.state (first entry), or socket.state.  Returns 0, or -1 with
 * errno ENAMETOOLONG.
 */
int
state_path(char *buf, size_t len, const char *dir, const char *socket)
{
	const char	*rt;
	size_t		 n;
	int		 r;

	if (dir != NULL && *dir != '\0')
		r = snprintf(buf, len, "%s/semd.state", dir);
	else if ((rt = getenv("RUNTIME_DIRECTORY")) != NULL && *rt == '/') {
		n = strcspn(rt, ":");
		r = snprintf(buf, len, "%.*s/semd.state", (int)n, rt);
	} else
		r = snprintf(buf, len, "%s.state", socket);
	if (r < 0 || (size_t)r >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	return (0);
}

/* Map (or remap) the file for nrecs records.  Returns 0 or -1/errno. */
static int
state_map(struct state *st, uint32_t nrecs)
{
	size_t		 len = STATE_HDR_SIZE + (size_t)nrecs *
			    sizeof(struct state_rec);
	void		*p;

	if (st->map == NULL)
		p = mmap(NULL, len, PROT_READ|PROT_WRITE, MAP_SHARED, st->fd,
		    0);
	else
		p = mremap(st->map, st->maplen, len, MREMAP_MAYMOVE);
	if (p == MAP_FAILED)
		return (-1);
	st->map = p;
	st->maplen = len;
	st->hdr = (struct state_hdr *)st->map;
	st->recs = (struct state_rec *)(st->map + STATE_HDR_SIZE);
	st->nrecs = nrecs;
	return (0);
}

/* Does the header describe a file of ours for socket, of size size? */
static int
state_hdr_ok(const struct state_hdr *h, off_t size, const char *socket)
{
	if (memcmp(h->magic, STATE_MAGIC, sizeof h->magic) != 0 ||
	    h->version != STATE_VERSION ||
	    h->rec_size != sizeof(struct state_rec) ||
	    h->nrecs == 0 || h->nrecs > STATE_MAX_RECS ||
	    size != (off_t)(STATE_HDR_SIZE + (size_t)h->nrecs *
	    sizeof(struct state_rec)))
		return (0);
	if (strncmp(h->socket, socket, sizeof h->socket) != 0)
		return (0);
	return (1);
}

/* Fill a fresh header: new key, serial 1, no records. */
static void
state_hdr_init(struct state *st, const char *socket)
{
	struct state_hdr	*h = st->hdr;
	uint64_t		 k[2];
	struct timespec		 ts;

	memset(h, 0, sizeof *h);
	if (getrandom(k, sizeof k, 0) != (ssize_t)sizeof k) {
		/* Unguessable enough for a fallback; logged. */
		log_warn("getrandom: the token key falls back on the clock");
		clock_gettime(CLOCK_REALTIME, &ts);
		k[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL ^
		    (uint64_t)getpid();
		k[1] = (uint64_t)ts.tv_sec * 0xc2b2ae3d27d4eb4fULL ^
		    (uint64_t)(uintptr_t)st;
	}
	h->key[0] = k[0];
	h->key[1] = k[1];
	h->version = STATE_VERSION;
	h->rec_size = sizeof(struct state_rec);
	h->nrecs = st->nrecs;
	h->next_serial = 1;
	snprintf(h->socket, sizeof h->socket, "%s", socket);
	memset(st->recs, 0, (size_t)st->nrecs * sizeof(struct state_rec));
	/* Last, so that a torn initialisation reads as a foreign file. */
	memcpy(h->magic, STATE_MAGIC, sizeof h->magic);
}

/* Is rec a well-formed live record? */
static int
state_rec_ok(const struct state_rec *r)
{
	return (r->serial != 0 && r->weight != 0 &&
	    (r->capacity != 0 || r->rate > 0) && r->rate >= 0 &&
	    r->weight <= PROTO_MAX_CAPACITY &&
	    r->capacity <= PROTO_MAX_CAPACITY &&
	    proto_name_valid(r->name, r->name_len));
}

/*
 * Open and lock st->path, and check that it is a regular file of our
 * uid with mode 0600; its size in *size.  Returns 0, or -1 with a
 * sentence in cause.
 */
static int
state_file_open(struct state *st, off_t *size, char *cause, size_t causelen)
{
	struct stat	 sb;

	st->fd = open(st->path, O_RDWR|O_CREAT|O_CLOEXEC|O_NOFOLLOW, 0600);
	if (st->fd == -1) {
		state_fail(cause, causelen, "cannot open the state file %s: "
		    "%s", st->path, strerror(errno));
		return (-1);
	}
	if (flock(st->fd, LOCK_EX|LOCK_NB) == -1) {
		state_fail(cause, causelen, errno == EWOULDBLOCK ?
		    "the state file %s is in use by another semd" :
		    "cannot lock the state file %s: %s", st->path,
		    strerror(errno));
		return (-1);
	}
	if (fstat(st->fd, &sb) == -1) {
		state_fail(cause, causelen, "fstat %s: %s", st->path,
		    strerror(errno));
		return (-1);
	}
	if (!S_ISREG(sb.st_mode) || sb.st_uid != geteuid() ||
	    (sb.st_mode & 077) != 0) {
		state_fail(cause, causelen, "the state file %s is not a "
		    "regular file of uid %ld with mode 0600", st->path,
		    (long)geteuid());
		return (-1);
	}
	*size = sb.st_size;
	return (0);
}

/*
 * Map the open state file of size bytes: as it is if its header is ours
 * for socket, else (with a warning) afresh, STATE_INITIAL_RECS empty
 * records.  Then count this open in the header and load the token key.
 * Returns 0, or -1 with a sentence in cause.
 */
static int
state_file_map(struct state *st, off_t size, const char *socket,
    char *cause, size_t causelen)
{
	uint32_t	 nrecs;
	int		 fresh = 1;

	if (size >= STATE_HDR_SIZE) {
		if (state_map(st, (uint32_t)((size - STATE_HDR_SIZE) /
		    sizeof(struct state_rec))) == -1)
			goto map_fail;
		if (state_hdr_ok(st->hdr, size, socket))
			fresh = 0;
		else {
			log_warnx("state file %s is not one of ours for %s: "
			    "starting afresh", st->path, socket);
			munmap(st->map, st->maplen);
			st->map = NULL;
		}
	}
	if (fresh) {
		nrecs = STATE_INITIAL_RECS;
		if (ftruncate(st->fd, 0) == -1 ||
		    ftruncate(st->fd, (off_t)(STATE_HDR_SIZE + (size_t)nrecs *
		    sizeof(struct state_rec))) == -1) {
			state_fail(cause, causelen, "cannot size the state "
			    "file %s: %s", st->path, strerror(errno));
			return (-1);
		}
		if (state_map(st, nrecs) == -1)
			goto map_fail;
		state_hdr_init(st, socket);
	}
	st->hdr->pid = (uint32_t)getpid();
	st->hdr->opens++;
	token_key_init(&st->key, st->hdr->key);
	return (0);

map_fail:
	state_fail(cause, causelen, "cannot map the state file %s: %s",
	    st->path, strerror(errno));
	return (-1);
}

/*
 * Sort the mapped records: a damaged one is dropped (with a warning),
 * an empty one is a free slot, a live one becomes an old grant (in slot
 * order), and next_serial moves past every live serial.  Returns 0, or
 * -1 with a sentence in cause (out of memory).
 */
static int
state_collect(struct state *st, char *cause, size_t causelen)
{
	struct state_rec	*r;
	uint32_t		 i;

	if ((st->free = calloc(st->nrecs, sizeof *st->free)) == NULL ||
	    (st->old = calloc(st->nrecs, sizeof *st->old)) == NULL) {
		state_fail(cause, causelen, "out of memory");
		return (-1);
	}
	for (i = st->nrecs; i-- > 0;) {
		r = &st->recs[i];
		if (r->serial != 0 && !state_rec_ok(r)) {
			log_warnx("state file %s: record %u is damaged; "
			    "dropped", st->path, i);
			r->serial = 0;
		}
		if (r->serial == 0) {
			st->free[st->nfree++] = i;
			continue;
		}
		if (r->serial >= st->hdr->next_serial)
			st->hdr->next_serial = r->serial + 1;
		st->live++;
	}
	for (i = 0; i < st->nrecs; i++) {
		if (state_record(st, i, &st->old[st->nold]) == 0)
			st->nold++;
	}
	return (0);
}

/*
 * Open, lock, check and map the state file; collect the live records.
 * See state.h.
 */
struct state *
state_open(const char *path, const char *socket, char *cause,
    size_t causelen)
{
	struct state	*st;
	off_t		 size;

	if ((st = calloc(1, sizeof *st)) != NULL)
		st->fd = -1;
	if (st == NULL ||
	    (st->path = strdup(path)) == NULL) {
		free(st);
		return (state_fail(cause, causelen, "out of memory"));
	}
	if (state_file_open(st, &size, cause, causelen) == -1 ||
	    state_file_map(st, size, socket, cause, causelen) == -1 ||
	    state_collect(st, cause, causelen) == -1) {
		state_close(st);
		return (NULL);
	}
	return (st);
}

/* The records found live at open. */
const struct state_old *
state_old(struct state *st, size_t *n)
{
	*n = st->nold;
	return (st->old);
}

/* The serial the next grant gets: past every serial ever recorded. */
uint64_t
state_next_serial(struct state *st)
{
	return (st->hdr->next_serial);
}

/* The serial token decrypts to. */
uint64_t
state_token_serial(struct state *st, uint64_t token)
{
	return (token_serial(&st->key, token));
}

/* Double the file's room for records.  Returns 0 or -1/errno. */
static int
state_grow(struct state *st)
{
	uint32_t	 old = st->nrecs, nrecs, i, *nf;

	if (old >= STATE_MAX_RECS) {
		errno = ENOSPC;
		return (-1);
	}
	nrecs = old * 2;
	if ((nf = realloc(st->free, nrecs * sizeof *nf)) == NULL)
		return (-1);
	st->free = nf;
	if (ftruncate(st->fd, (off_t)(STATE_HDR_SIZE + (size_t)nrecs *
	    sizeof(struct state_rec))) == -1)
		return (-1);
	if (state_map(st, nrecs) == -1) {
		/* The old mapping stays valid; the file is just longer. */
		st->nrecs = old;
		return (-1);
	}
	/* New pages of a file read as zeros: free records. */
	st->hdr->nrecs = nrecs;
	for (i = nrecs; i-- > old;)
		st->free[st->nfree++] = i;
	return (0);
}

/* Copy the grant gi into record r, serial last. */
static void
state_rec_fill(struct state_rec *r, const struct sem_grant_info *gi)
{
	const struct sem	*s = gi->sem;

	r->serial = 0;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	r->token = gi->token;
	r->uid = sem_owner_uid(gi->owner);
	r->weight = gi->weight;
	r->capacity = sem_capacity(s);
	r->rate = sem_rate(s, &r->burst);
	r->name_len = (uint32_t)sem_name_len(s);
	memcpy(r->name, sem_name(s), r->name_len);
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	r->serial = gi->serial;
}

/*
 * Engine hook: a grant was made.  Its token becomes the cipher of its
 * serial, the next serial is noted, and the grant is recorded in a free
 * slot (cookie = slot + 1).  O(1); a system call only to grow.
 */
void
state_grant_new(struct sem_grant_info *gi, void *arg)
{
	struct state	*st = arg;
	uint32_t	 slot;

	gi->token = token_of(&st->key, gi->serial);
	if (gi->serial >= st->hdr->next_serial)
		st->hdr->next_serial = gi->serial + 1;
	gi->cookie = 0;
	if (st->nfree == 0 && state_grow(st) == -1) {
		if (!st->full_warned)
			log_warn("cannot grow the state file %s: grants "
			    "made now cannot be reclaimed after a restart",
			    st->path);
		st->full_warned = 1;
		return;
	}
	slot = st->free[--st->nfree];
	state_rec_fill(&st->recs[slot], gi);
	gi->cookie = (uint64_t)slot + 1;
	st->live++;
}

/* Engine hook: a grant's weight went down; so does its record's. */
void
state_grant_weight(const struct sem_grant_info *gi, void *arg)
{
	struct state	*st = arg;

	if (gi->cookie == 0 || gi->cookie > st->nrecs)
		return;
	st->recs[gi->cookie - 1].weight = gi->weight;
}

/* Free the record in slot. */
void
state_forget(struct state *st, uint32_t slot)
{
	if (slot >= st->nrecs || st->recs[slot].serial == 0)
		return;
	st->recs[slot].serial = 0;
	st->free[st->nfree++] = slot;
	st->live--;
}

/* Engine hook: a grant ended; its record is freed. */
void
state_grant_end(const struct sem_grant_info *gi, void *arg)
{
	struct state	*st = arg;

	if (gi->cookie == 0)
		return;
	state_forget(st, (uint32_t)(gi->cookie - 1));
}

/* Copy the live record in slot into *out: 0, or -1 if there is none. */
int
state_record(struct state *st, uint32_t slot, struct state_old *out)
{
	const struct state_rec	*r;

	if (slot >= st->nrecs || (r = &st->recs[slot])->serial == 0)
		return (-1);
	memset(out, 0, sizeof *out);
	out->serial = r->serial;
	out->token = r->token;
	out->uid = r->uid;
	out->weight = r->weight;
	out->capacity = r->capacity;
	out->rate = r->rate;
	out->burst = r->burst;
	out->slot = slot;
	out->name_len = r->name_len > PROTO_MAX_NAME ? PROTO_MAX_NAME :
	    r->name_len;
	memcpy(out->name, r->name, out->name_len);
	out->name[out->name_len] = '\0';
	return (0);
}

/* The number of live records. */
size_t
state_live(struct state *st)
{
	return (st->live);
}

/* Unmap, close (unlocking) and free; the file stays. */
void
state_close(struct state *st)
{
	if (st == NULL)
		return;
	if (st->map != NULL)
		munmap(st->map, st->maplen);
	if (st->fd != -1)
		close(st->fd);
	free(st->free);
	free(st->old);
	free(st->path);
	free(st);
}
