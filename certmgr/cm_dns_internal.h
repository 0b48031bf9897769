/*
 * certmgr DNS internals shared by certmgr/cm_dns_*.c, the unit tests and the
 * fuzz target.  Not for other modules: they use certmgr/cm_dns.h.
 *
 *   cm_dns_wire.c   names, message building and parsing, the TXT answer check
 *   cm_dns_tsig.c   TSIG (RFC 8945): sign a request, verify an answer
 *   cm_dns_net.c    server addresses, one UDP/TCP question-and-answer
 *   cm_dns.c        the public API: cm_dns_wait_txt(), cm_rfc2136_txt()
 *
 * Names travel in uncompressed wire form (length-prefixed labels ending with
 * the root label, at most CM_DNS_NAME_MAX bytes).  Messages are (ptr, len);
 * every offset read from a message is checked against len before use.
 * Functions with (err, errlen) write a one-line reason there on failure
 * (err may be NULL when errlen is 0).
 */
#ifndef CM_DNS_INTERNAL_H
#define CM_DNS_INTERNAL_H

#include <sys/socket.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "certmgr/cm_dns.h"

/* --- protocol constants and limits ----------------------------------------- */
#define CM_DNS_HDR_LEN        12    /* RFC 1035 4.1.1 */
#define CM_DNS_NAME_MAX       255   /* wire name, root label included (RFC 1035 2.3.4) */
#define CM_DNS_LABEL_LEN_MAX  63    /* one label (RFC 1035 2.3.4) */
#define CM_DNS_PTR_MAX        32    /* compression pointers followed for one name */
#define CM_DNS_CNAME_MAX      8     /* CNAME links followed in one answer */
#define CM_DNS_MSG_MAX        65535 /* a message (the TCP length prefix is 16 bits) */
#define CM_DNS_UDP_QUERY_MAX  512   /* longer messages of ours go over TCP at once */
#define CM_DNS_UPDATE_MAX     2048  /* our signed UPDATE (a 512-byte value, 255-byte names) */
#define CM_DNS_TXT_STR_MAX    255   /* one <character-string> */
#define CM_DNS_TSIG_MAC_MAX   64    /* HMAC-SHA512 */
#define CM_DNS_TSIG_OTHER_MAX 6     /* TSIG other data: only BADTIME's 48-bit server time */
#define CM_DNS_REASON_MAX     256   /* one internal reason line */

#define CM_DNS_T_CNAME 5
#define CM_DNS_T_SOA   6
#define CM_DNS_T_TXT   16
#define CM_DNS_T_OPT   41
#define CM_DNS_T_TSIG  250

#define CM_DNS_C_IN   1
#define CM_DNS_C_NONE 254
#define CM_DNS_C_ANY  255

#define CM_DNS_F_QR          0x8000
#define CM_DNS_F_OPCODE      0x7800
#define CM_DNS_F_TC          0x0200
#define CM_DNS_F_RD          0x0100
#define CM_DNS_F_RCODE       0x000f
#define CM_DNS_OPCODE(f)     (((f)&CM_DNS_F_OPCODE) >> 11)
#define CM_DNS_OPCODE_QUERY  0
#define CM_DNS_OPCODE_UPDATE 5

#define CM_DNS_R_NOERROR  0
#define CM_DNS_R_FORMERR  1
#define CM_DNS_R_SERVFAIL 2
#define CM_DNS_R_NXDOMAIN 3
#define CM_DNS_R_NOTIMP   4
#define CM_DNS_R_REFUSED  5
#define CM_DNS_R_YXDOMAIN 6
#define CM_DNS_R_YXRRSET  7
#define CM_DNS_R_NXRRSET  8
#define CM_DNS_R_NOTAUTH  9
#define CM_DNS_R_NOTZONE  10
#define CM_DNS_R_BADSIG   16 /* TSIG error field values (RFC 8945 5.2) */
#define CM_DNS_R_BADKEY   17
#define CM_DNS_R_BADTIME  18
#define CM_DNS_R_BADTRUNC 22

/* --- bounded writing and reading of big-endian fields ----------------------- */

/** A bounded output buffer: writes past cap set `over` and are dropped. */
struct cm_dns_wr {
    uint8_t *p;
    size_t len;
    size_t cap;
    bool over;
};

static inline void
cm_dns_put(struct cm_dns_wr *w, const void *d, size_t n)
{
    if (w->over || n > w->cap - w->len) {
        w->over = true;
        return;
    }
    if (n > 0)
        memcpy(w->p + w->len, d, n);
    w->len += n;
}

static inline void
cm_dns_put16(struct cm_dns_wr *w, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)(v >> 8), (uint8_t)v};
    cm_dns_put(w, b, sizeof(b));
}

static inline void
cm_dns_put32(struct cm_dns_wr *w, uint32_t v)
{
    uint8_t b[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    cm_dns_put(w, b, sizeof(b));
}

/** Read 16 bits at p; the caller has checked that 2 bytes are there. */
static inline uint16_t
cm_dns_get16(const uint8_t *p)
{
    return (uint16_t)((p[0] << 8) | p[1]);
}

static inline uint32_t
cm_dns_get32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* --- names (cm_dns_wire.c) ------------------------------------------------- */

/*
 * Encode the text name `s` (labels of [A-Za-z0-9_-], separated by '.', one
 * trailing '.' allowed) into out (CM_DNS_NAME_MAX bytes).  Refuses the empty
 * name and the root, empty labels, labels over 63 bytes, names over 255 wire
 * bytes, and every other byte, '\' escapes included.  PC_OK / PC_ERR_INVALID.
 */
int cm_dns_name_from_text(const char *s, uint8_t *out, size_t *outlen);

/** Case-insensitive (ASCII) equality of two wire names. */
bool cm_dns_name_eq(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen);

/** True when wire name `name` is `zone` or a name below it (case-insensitive). */
bool cm_dns_name_is_under(const uint8_t *name, size_t nlen, const uint8_t *zone, size_t zlen);

/** Lower-case the ASCII letters of a wire name in place (RFC 4034 6.2 canonical form). */
void cm_dns_name_lower(uint8_t *name, size_t len);

/*
 * Read the possibly compressed name at msg[*off] and advance *off past it.
 * Pointers must point strictly before themselves (no forward or self
 * pointers), at most CM_DNS_PTR_MAX of them; labels of types 01/10 are
 * refused; the expanded name must fit CM_DNS_NAME_MAX.  When out is not NULL
 * (CM_DNS_NAME_MAX bytes) the expanded name is written there and its length
 * in *outlen.  PC_OK / PC_ERR_PARSE.
 */
int cm_dns_name_read(const uint8_t *msg, size_t len, size_t *off, uint8_t *out, size_t *outlen);

/* --- messages (cm_dns_wire.c) ---------------------------------------------- */

/** One resource record inside a message; every offset is within the message. */
struct cm_dns_rr {
    size_t owner; /* offset of the owner name */
    uint16_t type;
    uint16_t rclass;
    uint32_t ttl;
    size_t rdata;   /* offset of RDATA */
    uint16_t rdlen; /* rdata + rdlen <= message length */
    size_t next;    /* offset just past this record */
};

/** Read the resource record at msg[off]. PC_OK / PC_ERR_PARSE. */
int cm_dns_rr_read(const uint8_t *msg, size_t len, size_t off, struct cm_dns_rr *rr);

/** A parsed message: the header and where its sections are. */
struct cm_dns_msg {
    const uint8_t *buf;
    size_t len;
    uint16_t id;
    uint16_t flags;
    uint16_t count[4]; /* question (zone), answer (prerequisite), authority (update), additional */
    size_t sec[4];     /* offset of each section's first entry (when parsed) */
    size_t tsig;       /* offset of the TSIG record (the last additional one), 0: none */
};

/*
 * Check the message buf[0..len) (not copied: m points into it).  At most one
 * question.  Unless head_only, every record of every section is walked and
 * checked (names, RDATA within the message), no byte may follow the last
 * one, and a TSIG record may only be the last additional record.  With
 * head_only (a truncated answer) only the header and the question are
 * checked.  PC_OK / PC_ERR_PARSE with the reason in err.
 */
int cm_dns_msg_parse(const uint8_t *buf, size_t len, bool head_only, struct cm_dns_msg *m,
                     char *err, size_t errlen);

/*
 * Build a recursive (RD) query for `qname` TXT IN with id `id` into out
 * (cap bytes).  PC_OK / PC_ERR_TOO_LARGE.
 */
int cm_dns_query_build(uint16_t id, const uint8_t *qname, size_t qlen, uint8_t *out, size_t cap,
                       size_t *outlen);

/*
 * Build an RFC 2136 UPDATE of `zone` (zone section: zone SOA IN, no
 * prerequisites) with one update record: add `fqdn` CM_DNS_UPDATE_TTL IN TXT
 * value, or (add=false) delete that record (class NONE, TTL 0).  The owner
 * name is compressed against the zone name.  `value` (1 to
 * CM_DNS_TXT_VALUE_MAX bytes) is split into 255-byte character-strings.
 * No TSIG yet (cm_dns_tsig_sign).  PC_OK / PC_ERR_TOO_LARGE / PC_ERR_INVALID.
 */
int cm_dns_update_build(uint16_t id, const uint8_t *zone, size_t zlen, const uint8_t *fqdn,
                        size_t flen, const char *value, size_t vlen, bool add, uint8_t *out,
                        size_t cap, size_t *outlen);

enum cm_dns_txt_state {
    CM_DNS_TXT_ABSENT,    /* a valid answer without the value (rcode tells NXDOMAIN etc.) */
    CM_DNS_TXT_FOUND,     /* a TXT record at the name (or its CNAME target) has the value */
    CM_DNS_TXT_TRUNCATED, /* TC set: ask again over TCP */
};

/*
 * Check that resp[0..len) answers our query (id, QR, opcode QUERY, the same
 * question qname TXT IN) and say whether it holds a TXT record equal to
 * value[0..vlen) (strings of one record joined) at qname or at the end of a
 * CNAME chain (at most CM_DNS_CNAME_MAX links) starting there.  *state and
 * *rcode are set on PC_OK.  PC_ERR_PARSE when it is no valid answer.
 */
int cm_dns_txt_check(const uint8_t *resp, size_t len, uint16_t id, const uint8_t *qname,
                     size_t qlen, const char *value, size_t vlen, enum cm_dns_txt_state *state,
                     int *rcode, char *err, size_t errlen);

/** "NOERROR", "NOTAUTH", "BADSIG"...; others "RCODE<n>", written into buf. Never NULL. */
const char *cm_dns_rcode_name(int rcode, char *buf, size_t buflen);

/** snprintf into err (nothing when err is NULL or errlen 0). */
void cm_dns_err_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* --- TSIG (cm_dns_tsig.c) -------------------------------------------------- */

struct cm_dns_tsig_alg {
    const char *name;    /* "hmac-sha256" */
    const uint8_t *wire; /* "\x0bhmac-sha256\x00" */
    size_t wire_len;
    const char *digest; /* OpenSSL digest name */
    size_t mac_len;     /* full MAC length, bytes */
};

/** A TSIG key: the name and algorithm are ours, the secret is borrowed (not copied). */
struct cm_dns_tsig_key {
    uint8_t name[CM_DNS_NAME_MAX]; /* canonical (lower-case) wire form */
    size_t name_len;
    const struct cm_dns_tsig_alg *alg;
    const unsigned char *secret;
    size_t secret_len;
};

/*
 * Fill *k from the key name text, the algorithm name ("hmac-sha256",
 * "hmac-sha384", "hmac-sha512", case-insensitive, trailing dot allowed) and
 * the secret (1 to CM_DNS_TSIG_SECRET_MAX bytes, borrowed: it must outlive
 * k).  PC_OK / PC_ERR_INVALID / PC_ERR_TOO_LARGE.
 */
int cm_dns_tsig_key_init(struct cm_dns_tsig_key *k, const char *name, const char *alg,
                         const unsigned char *secret, size_t secret_len, char *err, size_t errlen);

/*
 * Sign the request msg[0..*len) (cap bytes of room): compute the MAC with
 * time signed `now`, fudge CM_DNS_TSIG_FUDGE, append the TSIG record and
 * count it in ARCOUNT.  The MAC is copied to mac (CM_DNS_TSIG_MAC_MAX bytes)
 * for checking the answer.  PC_OK / PC_ERR_TOO_LARGE / PC_ERR_CRYPTO.
 */
int cm_dns_tsig_sign(uint8_t *msg, size_t *len, size_t cap, const struct cm_dns_tsig_key *k,
                     uint64_t now, uint8_t *mac, size_t *maclen);

/** What the TSIG record of an answer said. */
struct cm_dns_tsig_result {
    bool present;      /* the answer has a TSIG record */
    bool mac_ok;       /* its MAC is ours, full length and correct */
    uint16_t error;    /* its error field (BADSIG, BADKEY, BADTIME...) */
    uint64_t time;     /* its time signed */
    uint64_t srv_time; /* BADTIME: the server's clock (other data), else 0 */
};

/*
 * Verify the TSIG of the answer m (parsed by cm_dns_msg_parse) to a request
 * whose MAC was req_mac[0..req_mac_len): the record must use our key name
 * and algorithm, carry a full-length MAC over the request MAC, the answer
 * (ARCOUNT less one, the original ID) and the TSIG variables, and its time
 * must be within CM_DNS_TSIG_FUDGE of `now`.  Fills *res whatever the
 * outcome.  PC_OK only when all holds and the error field is 0; otherwise
 * PC_ERR_CRYPTO (missing, unsigned, bad MAC, time) or PC_ERR_PARSE (a
 * malformed record), with the reason in err.
 */
int cm_dns_tsig_verify(const struct cm_dns_msg *m, const struct cm_dns_tsig_key *k,
                       const uint8_t *req_mac, size_t req_mac_len, uint64_t now,
                       struct cm_dns_tsig_result *res, char *err, size_t errlen);

/* --- transport (cm_dns_net.c) ---------------------------------------------- */

struct cm_dns_server {
    struct sockaddr_storage sa;
    socklen_t salen;
    char text[CM_DNS_ADDR_MAX + 1]; /* as given, for messages */
};

/*
 * Parse "IPv4:port", "[IPv6]:port", "IPv4" or "[IPv6]"/"IPv6" (port 53).
 * Ports 1-65535.  No host names (no resolver is asked to find the
 * resolver).  PC_OK / PC_ERR_INVALID / PC_ERR_TOO_LARGE.
 */
int cm_dns_server_parse(const char *s, struct cm_dns_server *srv, char *err, size_t errlen);

/** CLOCK_MONOTONIC in milliseconds. */
uint64_t cm_dns_now_ms(void);

/*
 * Send the message q[0..qlen) to srv and receive its answer into resp
 * (CM_DNS_MSG_MAX bytes): UDP, CM_DNS_TRY_MS per try, CM_DNS_UDP_TRIES tries,
 * all before deadline_ms (cm_dns_now_ms() clock); datagrams that do not
 * carry our ID, QR and question are ignored.  When the answer has TC set the
 * question is asked again over TCP (CM_DNS_TCP_TIMEOUT_MS, also bounded by
 * the deadline) and *via_tcp is set; a message over CM_DNS_UDP_QUERY_MAX
 * bytes goes over TCP at once.  PC_OK / PC_ERR_TIMEOUT / PC_ERR_IO /
 * PC_ERR_PARSE (a TCP answer that is not ours), with the reason in err.
 */
int cm_dns_exchange(const struct cm_dns_server *srv, const uint8_t *q, size_t qlen,
                    uint64_t deadline_ms, uint8_t *resp, size_t *rlen, bool *via_tcp, char *err,
                    size_t errlen);

/* --- the update answer (cm_dns.c) ------------------------------------------ */

/*
 * Judge the answer resp[0..len) to our UPDATE (id, zone, signed with k,
 * request MAC req_mac) at time `now`.  PC_OK only for a NOERROR answer with
 * a valid TSIG; otherwise the PC_ERR_* of cm_rfc2136_txt() and its reason.
 */
int cm_dns_update_check(const uint8_t *resp, size_t len, uint16_t id, const uint8_t *zone,
                        size_t zlen, const struct cm_dns_tsig_key *k, const uint8_t *req_mac,
                        size_t req_mac_len, uint64_t now, char *err, size_t errlen);

#endif
