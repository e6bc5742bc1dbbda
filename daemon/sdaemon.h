/*
 * sdaemon.h -- semd as a systemd service: socket activation, readiness
 * and status notification.  With libsystemd (configure --with-systemd)
 * these use sd-daemon; without it they report "not activated" and notify
 * nobody, so semd still builds and runs everywhere.
 */

#ifndef SEMD_SDAEMON_H
#define SEMD_SDAEMON_H

#include <stddef.h>

/*
 * Take the listening socket systemd passed (LISTEN_FDS/LISTEN_PID).
 * Returns the fd (>= 0), -1 when semd was not socket-activated, or -2
 * when it was but the passed descriptors are unusable (more than one, or
 * not an AF_UNIX stream socket in listening state; built without
 * libsystemd): *cause then holds a sentence for the log.
 * The LISTEN_* variables are removed from the environment.
 */
int	sdaemon_listen_fd(char *cause, size_t causelen);

/* Was semd started by systemd with a notification socket? */
int	sdaemon_notifying(void);

/* Tell systemd semd is ready (READY=1), with a STATUS= line. */
void	sdaemon_ready(const char *status);

/* Tell systemd semd is stopping (STOPPING=1). */
void	sdaemon_stopping(void);

/* Update the one-line STATUS= summary shown by systemctl status. */
void	sdaemon_status(const char *status);

#endif /* SEMD_SDAEMON_H */
