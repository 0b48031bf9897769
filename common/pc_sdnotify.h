/*
 * systemd's readiness protocol (sd_notify(3)) without libsystemd: one
 * AF_UNIX datagram of "KEY=VALUE" lines to the socket named by
 * $NOTIFY_SOCKET.  Under `Type=notify` systemd waits for "READY=1" before it
 * calls the unit started, shows "STATUS=..." in `systemctl status`, and
 * tracks "RELOADING=1" ... "READY=1" around a reload and "STOPPING=1".
 * Outside systemd (no NOTIFY_SOCKET) every call is a no-op.
 * docs/internals/SDNOTIFY.md has the details.
 *
 * Thread safety: every call opens, sends on and closes its own socket; any
 * thread may call.  Nothing is kept between calls.
 */
#ifndef PC_SDNOTIFY_H
#define PC_SDNOTIFY_H

#define PC_SDNOTIFY_MSG_MAX 1024 /* one notification, bytes: "STATUS=" lines are short */

/**
 * Send `state` (one or more "KEY=VALUE" lines separated by '\n', e.g.
 * "READY=1\nSTATUS=serving") to `addr`: an absolute socket path, or "@name"
 * for a Linux abstract socket.  Never blocks: a full receive queue is a
 * failure.  Returns PC_OK when the datagram was sent; PC_ERR_INVALID for an
 * address that is neither form or an empty state; PC_ERR_TOO_LARGE when the
 * address does not fit a sockaddr_un or state is over PC_SDNOTIFY_MSG_MAX;
 * PC_ERR_IO when the socket or the send failed.  Failures are logged (a
 * warning: the daemon keeps running, systemd then times it out).
 */
int pc_sdnotify_send_to(const char *addr, const char *state);

/**
 * pc_sdnotify_send_to($NOTIFY_SOCKET, state).  Returns PC_OK without doing
 * anything when NOTIFY_SOCKET is unset or empty (not started by systemd).
 */
int pc_sdnotify_send(const char *state);

/** pc_sdnotify_send() of a printf-formatted state (cut at PC_SDNOTIFY_MSG_MAX: TOO_LARGE). */
int pc_sdnotify_sendf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * "RELOADING=1" with "MONOTONIC_USEC=" the current CLOCK_MONOTONIC time in
 * microseconds (systemd >= 253 needs it to match the reload; older ones
 * ignore it), plus "STATUS=<status>" when status is not NULL.  Follow it with
 * "READY=1" once the reload is over, whatever its result.
 */
int pc_sdnotify_reloading(const char *status);

#endif
