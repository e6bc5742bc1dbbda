"""Build-time settings; `make install` rewrites SBINDIR to the configured
sbindir, where auto-start finds the installed semd last."""

SBINDIR = "/usr/local/sbin"
