/*
 * Error codes shared by every Portcullis module.
 *
 * Functions return 0 (PC_OK) on success and a negative enum pc_err on
 * failure; predicates return bool.  The reason has been logged where the
 * cause was known, so callers only propagate.
 */
#ifndef PC_ERR_H
#define PC_ERR_H

enum pc_err {
    PC_OK = 0,
    PC_ERR_IO = -1,         /* read/write/open failed (errno logged) */
    PC_ERR_PARSE = -2,      /* malformed input */
    PC_ERR_TOO_LARGE = -3,  /* input above its named cap */
    PC_ERR_INVALID = -4,    /* well-formed but not acceptable */
    PC_ERR_DENIED = -5,     /* policy said no */
    PC_ERR_NOT_FOUND = -6,  /* no such item */
    PC_ERR_CRYPTO = -7,     /* OpenSSL failure */
    PC_ERR_EXISTS = -8,     /* refusing to overwrite */
    PC_ERR_BUSY = -9,       /* lock held elsewhere, try again */
    PC_ERR_TIMEOUT = -10,   /* deadline passed */
    PC_ERR_INTERNAL = -11,  /* broken invariant; a bug */
    PC_ERR_CANCELLED = -12, /* given up on request (the daemon is stopping) */
};

/** A short constant English name for `err` ("too large"). Never NULL. */
const char *pc_strerror(int err);

#endif
