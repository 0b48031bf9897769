/*
 * Diagnostic log.  See pc_log.h.
 */
#include <sys/stat.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "pc_log.h"
#include "pc_str.h"

#define LOG_PREFIX_MAX 64   /* program name shown on each line */
#define LOG_MSG_MAX    2048 /* one diagnostic line; longer ones are cut */

static char log_prog[LOG_PREFIX_MAX] = "portcullis";
static atomic_int log_level = LOG_INFO;
static atomic_int log_fd = 2;
static atomic_int log_plain = 0;
static atomic_int log_journal = 0; /* fd 2 is systemd's journal stream */
static __thread char *cap_buf;
static __thread size_t cap_size;

void
pc_log_capture(char *buf, size_t cap)
{
    cap_buf = buf;
    cap_size = cap;
    if (buf != NULL && cap > 0)
        buf[0] = '\0';
}

static void
capture(const char *msg, size_t len)
{
    size_t used = strlen(cap_buf), room;

    if (used + 3 >= cap_size)
        return;
    if (used != 0) {
        memcpy(cap_buf + used, "; ", 2);
        used += 2;
    }
    room = cap_size - used - 1;
    if (len > room)
        len = room;
    memcpy(cap_buf + used, msg, len);
    cap_buf[used + len] = '\0';
}

void
pc_log_set_plain(int plain)
{
    atomic_store(&log_plain, plain);
}

/*
 * Whether `fd` is the stream systemd connected to the journal: it says so in
 * JOURNAL_STREAM="DEV:INODE" (systemd.exec(5)), which children inherit even
 * when their stderr goes elsewhere, hence the comparison.
 */
static bool
is_journal_stream(int fd)
{
    const char *e = getenv("JOURNAL_STREAM"), *colon = NULL;
    uint64_t dev, ino;
    struct stat st;

    if (e != NULL)
        colon = strchr(e, ':');
    if (colon == NULL)
        return false;
    if (pc_parse_u64(e, (size_t)(colon - e), UINT64_MAX, &dev) != 0 ||
        pc_parse_u64(colon + 1, strlen(colon + 1), UINT64_MAX, &ino) != 0)
        return false;
    return fstat(fd, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

void
pc_log_init(const char *progname, int level)
{
    snprintf(log_prog, sizeof(log_prog), "%s", progname);
    atomic_store(&log_level, level);
    atomic_store(&log_journal, is_journal_stream(2));
}

void
pc_log_set_level(int level)
{
    atomic_store(&log_level, level);
}

void
pc_log_set_fd(int fd)
{
    atomic_store(&log_fd, fd);
}

int
pc_log_level_parse(const char *name)
{
    if (strcasecmp(name, "error") == 0)
        return LOG_ERR;
    if (strcasecmp(name, "warn") == 0 || strcasecmp(name, "warning") == 0)
        return LOG_WARNING;
    if (strcasecmp(name, "info") == 0)
        return LOG_INFO;
    if (strcasecmp(name, "debug") == 0)
        return LOG_DEBUG;
    return -1;
}

int
pc_log_enabled(int level)
{
    return level <= atomic_load_explicit(&log_level, memory_order_relaxed);
}

static const char *
level_name(int level)
{
    switch (level) {
    case LOG_EMERG:
    case LOG_ALERT:
    case LOG_CRIT:
    case LOG_ERR:
        return "error";
    case LOG_WARNING:
        return "warn";
    case LOG_NOTICE:
    case LOG_INFO:
        return "info";
    default:
        return "debug";
    }
}

void
pc_log(int level, const char *fmt, ...)
{
    char line[LOG_MSG_MAX];
    struct timespec ts;
    struct tm tm;
    va_list ap;
    size_t off, start;
    int n, saved = errno;

    if (!pc_log_enabled(level) && !(cap_buf != NULL && level <= LOG_ERR))
        return;
    if (atomic_load(&log_plain)) {
        off = 0;
        n = snprintf(line, sizeof(line), "%s: ", log_prog);
    } else if (atomic_load(&log_journal) && atomic_load(&log_fd) == 2) {
        /* sd-daemon(3) "<N>" prefix: the journal keeps the priority, time and pid itself */
        off = 0;
        n = snprintf(line, sizeof(line), "<%d>%s: ", level, level_name(level));
    } else {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        off = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
        n = snprintf(line + off, sizeof(line) - off, ".%03ldZ %s[%ld]: %s: ", ts.tv_nsec / 1000000,
                     log_prog, (long)getpid(), level_name(level));
    }
    if (n > 0)
        off += (size_t)n;
    start = off;
    va_start(ap, fmt);
    n = vsnprintf(line + off, sizeof(line) - off, fmt, ap);
    va_end(ap);
    if (n < 0)
        n = 0;
    off += (size_t)n;
    if (off > sizeof(line) - 2)
        off = sizeof(line) - 2; /* cut; keep room for the newline */
    if (cap_buf != NULL && level <= LOG_ERR)
        capture(line + start, off - start);
    if (!pc_log_enabled(level)) {
        errno = saved;
        return;
    }
    line[off++] = '\n';
    /* one write(2): lines from several threads do not interleave */
    if (write(atomic_load(&log_fd), line, off) < 0) {
        /* nowhere left to report it */
    }
    errno = saved;
}

const char *
pc_log_esc(char *dst, size_t dstlen, const char *src, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, o = 0;

    if (dstlen == 0)
        return dst;
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)src[i];
        size_t need = (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') ? 1 : 4;
        if (o + need + 4 > dstlen) { /* room for "..." and NUL */
            if (o + 4 <= dstlen) {
                memcpy(dst + o, "...", 3);
                o += 3;
            }
            break;
        }
        if (need == 1) {
            dst[o++] = (char)c;
        } else {
            dst[o++] = '\\';
            dst[o++] = 'x';
            dst[o++] = hex[c >> 4];
            dst[o++] = hex[c & 15];
        }
    }
    dst[o] = '\0';
    return dst;
}
