/*
 * Names of enum pc_err values.
 */
#include "pc_err.h"

const char *
pc_strerror(int err)
{
    switch (err) {
    case PC_OK:
        return "ok";
    case PC_ERR_IO:
        return "I/O error";
    case PC_ERR_PARSE:
        return "malformed input";
    case PC_ERR_TOO_LARGE:
        return "too large";
    case PC_ERR_INVALID:
        return "invalid";
    case PC_ERR_DENIED:
        return "denied";
    case PC_ERR_NOT_FOUND:
        return "not found";
    case PC_ERR_CRYPTO:
        return "cryptographic failure";
    case PC_ERR_EXISTS:
        return "already exists";
    case PC_ERR_BUSY:
        return "busy";
    case PC_ERR_TIMEOUT:
        return "timed out";
    case PC_ERR_INTERNAL:
        return "internal error";
    case PC_ERR_CANCELLED:
        return "cancelled";
    default:
        return "unknown error";
    }
}
