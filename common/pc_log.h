/*
 * Diagnostic log: one line per event on stderr (the journal under systemd)
 * or a file, written with a single write(2) so lines from threads never
 * interleave.  Levels are syslog's (LOG_ERR, LOG_WARNING, LOG_INFO,
 * LOG_DEBUG).  When stderr is systemd's journal stream ($JOURNAL_STREAM,
 * checked by pc_log_init), lines carry an sd-daemon(3) "<N>" priority prefix
 * instead of the time and pid, so `journalctl -p warning` works.  Never pass secrets; pass
 * untrusted strings through pc_log_esc().  The access log is separate (gateway/gw_accesslog.c).
 */
#ifndef PC_LOG_H
#define PC_LOG_H

#include <stddef.h>
#include <syslog.h>

/** Set the program name shown on each line and the lowest level printed. */
void pc_log_init(const char *progname, int level);

/** Change the lowest level printed (thread-safe: one atomic store). */
void pc_log_set_level(int level);

/** Redirect diagnostics to `fd` (default 2). The caller keeps ownership. */
void pc_log_set_fd(int fd);

/**
 * Plain style for command-line tools: "prog: message" without the time,
 * pid and level (config checks print "prog: file:line:col: message").
 */
void pc_log_set_plain(int plain);

/*
 * While a capture is set on the calling thread, every line it logs at
 * LOG_ERR or worse is also appended (without the prefix, "; "-separated)
 * to `buf` (capacity cap, NUL-terminated, cut when full).  NULL stops it.
 * Used to hand the reasons of a refused reload back to the operator.
 */
void pc_log_capture(char *buf, size_t cap);

/** Parse "error", "warn", "info", "debug"; -1 when unknown. */
int pc_log_level_parse(const char *name);

/** Whether a message at `level` would be printed. */
int pc_log_enabled(int level);

/** Print one line at `level`. */
void pc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Copy `len` untrusted bytes from `src` into `dst` (size `dstlen` > 0) as
 * printable ASCII: bytes outside 0x20..0x7e and '"' and '\' become \xNN.
 * The result is always NUL-terminated and cut (with "...") when too long.
 * Returns dst.
 */
const char *pc_log_esc(char *dst, size_t dstlen, const char *src, size_t len);

#endif
