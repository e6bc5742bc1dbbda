/*
 * path.c -- where the socket is, for libsemd: the shared resolution of
 * proto/sockpath.c (DESIGN.md, "One limiter per caller"), with its errors
 * turned into struct semd_error.
 */

#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "semd-int.h"
#include "sockpath.h"

/*
 * Find the socket path: path when not NULL, else $SEMD_SOCKET when set and
 * not empty, else the system daemon's socket when it accepts, else the
 * per-user default, whose directory is created or checked here.  Writes
 * it to buf (len bytes) and sets *is_default to 1 for the per-user
 * default (where auto-start applies), else 0.  Returns 0, or -1 with err
 * filled.
 */
int
libsemd_resolve(const char *path, char *buf, size_t len, int *is_default,
    struct semd_error *err)
{
	enum sockpath_kind	 kind;
	char			 cause[512];

	*is_default = 0;
	if (buf == NULL || len == 0) {
		libsemd_seterr(err, SEMD_E_USAGE, EINVAL,
		    "no buffer for the socket path");
		return (-1);
	}
	if (sockpath_resolve(path, buf, len, &kind, cause, sizeof cause) ==
	    -1) {
		libsemd_seterr(err, errno == EINVAL || errno == ENAMETOOLONG ?
		    SEMD_E_USAGE : SEMD_E_SYSTEM, errno, "%s", cause);
		return (-1);
	}
	*is_default = (kind == SOCKPATH_KIND_USER);
	return (0);
}

/*
 * The path semd_open(NULL, ...) would use, written to buf; *is_default
 * tells whether it is the per-user default.  Creates the per-user
 * directory if needed.  Returns 0, or -1 with err filled.
 */
int
semd_default_path(char *buf, size_t len, int *is_default,
    struct semd_error *err)
{
	int	dflt;

	if (libsemd_resolve(NULL, buf, len, &dflt, err) == -1)
		return (-1);
	if (is_default != NULL)
		*is_default = dflt;
	return (0);
}
