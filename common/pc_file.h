/*
 * Bounded file reads and atomic file writes.
 */
#ifndef PC_FILE_H
#define PC_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Read the whole regular file `path` into a new NUL-terminated buffer
 * (*out, *len without the NUL; free() it).  Refuses files above `max`
 * bytes (PC_ERR_TOO_LARGE) and non-regular files.  Logs the reason.
 */
int pc_file_read(const char *path, size_t max, char **out, size_t *len);

/*
 * Write `len` bytes to `path` atomically: a temporary file in the same
 * directory (mkstemp), fchmod(mode), write, fsync, rename over `path`,
 * fsync of the directory.  A crash at any point leaves either the old or
 * the new content, never a mix.  Logs the reason on failure.
 */
int pc_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode);

/*
 * Create `path` with `mode` and `len` bytes unless it exists (then
 * PC_ERR_EXISTS): written and fsynced under a temporary name, then link(2)ed
 * into place, so the file appears complete or not at all.  Used for keys
 * that must never be overwritten.  Logs the reason on failure.
 */
int pc_file_write_new(const char *path, const void *data, size_t len, mode_t mode);

#endif
