/*
 * The head of an upstream's HTTP/1.1 response: parsed by picohttpparser
 * (bundled in libh2o), then judged here: status, framing of the body,
 * whether the connection can be kept.  Pure functions over bytes, so the
 * fuzz target (tests/fuzz/fuzz_uhead.c) drives exactly what the gateway
 * runs on every upstream response.
 */
#ifndef GW_UHEAD_H
#define GW_UHEAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define GW_UHEAD_MAX         (64 * 1024) /* bytes of a response head; 502 above */
#define GW_UHEAD_MAX_HEADERS 100         /* response header fields; 502 above */

/* picohttpparser's public declarations (h2o v2.2.5 deps/picohttpparser);
 * Debian's libh2o exports the functions but does not install the header. */
struct phr_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
};
struct phr_chunked_decoder {
    size_t bytes_left_in_chunk;
    char consume_trailer;
    char _hex_count;
    char _state;
};
int phr_parse_response(const char *buf, size_t len, int *minor_version, int *status,
                       const char **msg, size_t *msg_len, struct phr_header *headers,
                       size_t *num_headers, size_t last_len);
ssize_t phr_decode_chunked(struct phr_chunked_decoder *decoder, char *buf, size_t *bufsz);

enum gw_uframing {
    GW_UBODY_NONE,    /* HEAD, 204, 304: no body whatever the fields say */
    GW_UBODY_LENGTH,  /* Content-Length bytes */
    GW_UBODY_CHUNKED, /* Transfer-Encoding: chunked */
    GW_UBODY_CLOSE,   /* until the upstream closes (HTTP/1.0 style) */
};

struct gw_uhead {
    int minor; /* HTTP/1.minor */
    int status;
    const char *msg; /* reason phrase, points into the buffer */
    size_t msglen;
    struct phr_header h[GW_UHEAD_MAX_HEADERS]; /* point into the buffer */
    size_t nh;
    enum gw_uframing framing;
    uint64_t clen; /* when have_len */
    bool have_len;
    bool keepalive; /* the connection may serve another request */
};

/**
 * Parse the response head at buf (1xx interim responses are skipped).
 * Returns the bytes of the head (interim ones included) when complete, -2
 * when more bytes are needed, -1 when the head is unusable (*why says why:
 * invalid syntax, status 101 or out of range, a transfer coding other than
 * chunked, conflicting Content-Length values).
 */
int gw_uhead_parse(const char *buf, size_t len, bool head_method, struct gw_uhead *out,
                   const char **why);

/** A response field about the upstream connection rather than the response. */
bool gw_uhead_is_hop_by_hop(const char *name, size_t len);

#endif
