/*
 * tool.h -- what semrun and semdctl share: which library errors mean
 * "semd cannot be reached" (exit status EX_UNAVAILABLE in both).
 */

#ifndef SEMD_TOOL_H
#define SEMD_TOOL_H

#include <errno.h>

#include "semd.h"

/* Does err mean there is no daemon to talk to (gone, refused, denied)? */
static inline int
tool_unreachable(const struct semd_error *err)
{
	if (err->code == SEMD_E_UNREACHABLE ||
	    err->code == SEMD_E_DISCONNECTED)
		return (1);
	if (err->code != SEMD_E_SYSTEM)
		return (0);
	switch (err->sys_errno) {
	case ENOENT:
	case ECONNREFUSED:
	case ECONNRESET:
	case EPIPE:
	case ENOTCONN:
	case EACCES:
	case EPERM:
		return (1);
	default:
		return (0);
	}
}

#endif /* SEMD_TOOL_H */
