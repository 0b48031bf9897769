/*
 * certmgr/cm_dns_*.c: DNS names, messages, the TXT answer check, TSIG and
 * the update answer.  Byte-exact vectors come from two independent tools:
 *   - dnspython 2.3 (python3-dnspython): UPDATE requests and signed answers
 *     with the time pinned (the generator is in docs/internals/DNS.md);
 *   - knsupdate 3.2 (knot-dnsutils): a request captured off the wire.
 * The secret of both is the 32 bytes 0x01..0x20, key "portcullis-key.".
 * No network here: tests/integration/6x-dns-*.t talk to a real knotd.
 */
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "certmgr/cm_dns.h"
#include "certmgr/cm_dns_internal.h"
#include "common/pc_err.h"

#define T_REQ  1700000000ULL /* time signed of the dnspython requests */
#define T_RESP 1700000001ULL /* and of its answers */
#define VALUE  "LoqXcYV8q5ONbJQxbmR7SCTNo3tiAXDfowyjxAjEuX0" /* RFC 8555 8.4 */
#define FQDN   "_acme-challenge.example.test"

/* --- vectors: dnspython ---------------------------------------------------- */
static const uint8_t vec_add_sha256[189] = {
    0x12, 0x34, 0x28, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x07, 0x65, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x06, 0x00, 0x01, 0x0f, 0x5f,
    0x61, 0x63, 0x6d, 0x65, 0x2d, 0x63, 0x68, 0x61, 0x6c, 0x6c, 0x65, 0x6e, 0x67, 0x65, 0xc0, 0x0c,
    0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x2c, 0x2b, 0x4c, 0x6f, 0x71, 0x58, 0x63,
    0x59, 0x56, 0x38, 0x71, 0x35, 0x4f, 0x4e, 0x62, 0x4a, 0x51, 0x78, 0x62, 0x6d, 0x52, 0x37, 0x53,
    0x43, 0x54, 0x4e, 0x6f, 0x33, 0x74, 0x69, 0x41, 0x58, 0x44, 0x66, 0x6f, 0x77, 0x79, 0x6a, 0x78,
    0x41, 0x6a, 0x45, 0x75, 0x58, 0x30, 0x0e, 0x70, 0x6f, 0x72, 0x74, 0x63, 0x75, 0x6c, 0x6c, 0x69,
    0x73, 0x2d, 0x6b, 0x65, 0x79, 0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3d,
    0x0b, 0x68, 0x6d, 0x61, 0x63, 0x2d, 0x73, 0x68, 0x61, 0x32, 0x35, 0x36, 0x00, 0x00, 0x00, 0x65,
    0x53, 0xf1, 0x00, 0x01, 0x2c, 0x00, 0x20, 0xce, 0xb5, 0x96, 0xfd, 0xcd, 0xce, 0xa4, 0xb8, 0xf3,
    0x42, 0x44, 0x5d, 0xba, 0x6e, 0xd7, 0x1f, 0xa2, 0x7e, 0x0f, 0x98, 0xf5, 0x94, 0x32, 0x2e, 0x97,
    0x62, 0x6e, 0x01, 0x51, 0x0f, 0x25, 0xed, 0x12, 0x34, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t vec_add_sha256_resp[117] = {
    0x12, 0x34, 0xa8, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65, 0x78,
    0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x06, 0x00, 0x01,
    0x0e, 0x70, 0x6f, 0x72, 0x74, 0x63, 0x75, 0x6c, 0x6c, 0x69, 0x73, 0x2d, 0x6b, 0x65, 0x79,
    0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3d, 0x0b, 0x68, 0x6d, 0x61,
    0x63, 0x2d, 0x73, 0x68, 0x61, 0x32, 0x35, 0x36, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x01,
    0x01, 0x2c, 0x00, 0x20, 0xa2, 0xbc, 0xcf, 0x07, 0x03, 0x77, 0x64, 0x8f, 0x5f, 0xcd, 0xb3,
    0x1f, 0x1b, 0x48, 0x7a, 0xbe, 0xcb, 0x0d, 0x01, 0x08, 0xe6, 0x22, 0xe2, 0x49, 0xbd, 0xa3,
    0xc5, 0x46, 0xa4, 0x82, 0xe5, 0xc3, 0x12, 0x34, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t vec_add_sha256_refused[117] = {
    0x12, 0x34, 0xa8, 0x05, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65, 0x78,
    0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x06, 0x00, 0x01,
    0x0e, 0x70, 0x6f, 0x72, 0x74, 0x63, 0x75, 0x6c, 0x6c, 0x69, 0x73, 0x2d, 0x6b, 0x65, 0x79,
    0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3d, 0x0b, 0x68, 0x6d, 0x61,
    0x63, 0x2d, 0x73, 0x68, 0x61, 0x32, 0x35, 0x36, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x01,
    0x01, 0x2c, 0x00, 0x20, 0xaa, 0x69, 0x0c, 0x6b, 0x34, 0xd2, 0x45, 0x08, 0x1f, 0x4b, 0xd6,
    0x89, 0x43, 0xe9, 0x3a, 0x70, 0x2c, 0x5e, 0x3c, 0xd0, 0x0b, 0x15, 0x6a, 0xaf, 0x18, 0x06,
    0x32, 0x9f, 0x35, 0xc9, 0x9e, 0x14, 0x12, 0x34, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t vec_del_sha512[221] = {
    0xbe, 0xef, 0x28, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x07, 0x65, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x06, 0x00, 0x01, 0x0f, 0x5f,
    0x61, 0x63, 0x6d, 0x65, 0x2d, 0x63, 0x68, 0x61, 0x6c, 0x6c, 0x65, 0x6e, 0x67, 0x65, 0xc0, 0x0c,
    0x00, 0x10, 0x00, 0xfe, 0x00, 0x00, 0x00, 0x00, 0x00, 0x2c, 0x2b, 0x4c, 0x6f, 0x71, 0x58, 0x63,
    0x59, 0x56, 0x38, 0x71, 0x35, 0x4f, 0x4e, 0x62, 0x4a, 0x51, 0x78, 0x62, 0x6d, 0x52, 0x37, 0x53,
    0x43, 0x54, 0x4e, 0x6f, 0x33, 0x74, 0x69, 0x41, 0x58, 0x44, 0x66, 0x6f, 0x77, 0x79, 0x6a, 0x78,
    0x41, 0x6a, 0x45, 0x75, 0x58, 0x30, 0x0e, 0x70, 0x6f, 0x72, 0x74, 0x63, 0x75, 0x6c, 0x6c, 0x69,
    0x73, 0x2d, 0x6b, 0x65, 0x79, 0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d,
    0x0b, 0x68, 0x6d, 0x61, 0x63, 0x2d, 0x73, 0x68, 0x61, 0x35, 0x31, 0x32, 0x00, 0x00, 0x00, 0x65,
    0x53, 0xf1, 0x00, 0x01, 0x2c, 0x00, 0x40, 0xba, 0x2d, 0xc0, 0xbf, 0x33, 0xd8, 0xdd, 0x61, 0x8c,
    0x32, 0x1b, 0xd4, 0xea, 0xff, 0x85, 0xfd, 0x35, 0x04, 0x4c, 0xbd, 0xaf, 0x5b, 0x0b, 0xee, 0xbc,
    0x79, 0xdf, 0x3d, 0xa4, 0xdd, 0x4d, 0x81, 0x7a, 0xf3, 0xff, 0xfb, 0x08, 0x95, 0x84, 0xb5, 0xd6,
    0x7e, 0x01, 0x6e, 0xe6, 0xf8, 0x54, 0x31, 0x22, 0x1b, 0xdc, 0xa9, 0xde, 0xc8, 0x18, 0x76, 0xb6,
    0xd6, 0xb9, 0xde, 0x47, 0xab, 0xdb, 0xfc, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t vec_del_sha512_resp[149] = {
    0xbe, 0xef, 0xa8, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65, 0x78,
    0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x06, 0x00, 0x01,
    0x0e, 0x70, 0x6f, 0x72, 0x74, 0x63, 0x75, 0x6c, 0x6c, 0x69, 0x73, 0x2d, 0x6b, 0x65, 0x79,
    0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x5d, 0x0b, 0x68, 0x6d, 0x61,
    0x63, 0x2d, 0x73, 0x68, 0x61, 0x35, 0x31, 0x32, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x01,
    0x01, 0x2c, 0x00, 0x40, 0xfa, 0xb1, 0xaf, 0x26, 0xa2, 0x23, 0x96, 0x0e, 0x42, 0xe0, 0x92,
    0x1f, 0x26, 0x21, 0xd6, 0x68, 0xb4, 0xd3, 0xd0, 0xf5, 0x0b, 0xd1, 0x73, 0xb6, 0xe9, 0xd7,
    0xc1, 0xf6, 0xa2, 0xc7, 0xb9, 0xc4, 0x46, 0xf5, 0x46, 0x57, 0x6b, 0x25, 0xf2, 0x4e, 0xa9,
    0x37, 0xcb, 0xd5, 0x27, 0xb3, 0x5a, 0x4c, 0x89, 0x7f, 0xf8, 0x80, 0x13, 0xba, 0xdb, 0xd8,
    0xc3, 0xfb, 0x0b, 0xfa, 0x8d, 0x52, 0xc9, 0xb9, 0xbe, 0xef, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t vec_add_sha384[205] = {
    0x00, 0x01, 0x28, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x07, 0x65, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x06, 0x00, 0x01, 0x0f, 0x5f,
    0x61, 0x63, 0x6d, 0x65, 0x2d, 0x63, 0x68, 0x61, 0x6c, 0x6c, 0x65, 0x6e, 0x67, 0x65, 0xc0, 0x0c,
    0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x2c, 0x2b, 0x4c, 0x6f, 0x71, 0x58, 0x63,
    0x59, 0x56, 0x38, 0x71, 0x35, 0x4f, 0x4e, 0x62, 0x4a, 0x51, 0x78, 0x62, 0x6d, 0x52, 0x37, 0x53,
    0x43, 0x54, 0x4e, 0x6f, 0x33, 0x74, 0x69, 0x41, 0x58, 0x44, 0x66, 0x6f, 0x77, 0x79, 0x6a, 0x78,
    0x41, 0x6a, 0x45, 0x75, 0x58, 0x30, 0x0e, 0x70, 0x6f, 0x72, 0x74, 0x63, 0x75, 0x6c, 0x6c, 0x69,
    0x73, 0x2d, 0x6b, 0x65, 0x79, 0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d,
    0x0b, 0x68, 0x6d, 0x61, 0x63, 0x2d, 0x73, 0x68, 0x61, 0x33, 0x38, 0x34, 0x00, 0x00, 0x00, 0x65,
    0x53, 0xf1, 0x00, 0x01, 0x2c, 0x00, 0x30, 0x92, 0x35, 0x7e, 0x61, 0xb1, 0xe7, 0xa7, 0xcf, 0x32,
    0xb8, 0x54, 0xfb, 0x86, 0x42, 0x62, 0x70, 0x85, 0x66, 0xff, 0xe3, 0x6e, 0x32, 0x6f, 0x7f, 0x03,
    0x52, 0x0f, 0xa4, 0x71, 0x04, 0x05, 0x7f, 0xeb, 0xac, 0x13, 0x73, 0x8f, 0x45, 0x6b, 0x86, 0x53,
    0xe7, 0x34, 0xca, 0x51, 0xa7, 0xc0, 0xb6, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
};
static const uint8_t vec_add_sha384_resp[133] = {
    0x00, 0x01, 0xa8, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x07, 0x65, 0x78,
    0x61, 0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x06, 0x00, 0x01,
    0x0e, 0x70, 0x6f, 0x72, 0x74, 0x63, 0x75, 0x6c, 0x6c, 0x69, 0x73, 0x2d, 0x6b, 0x65, 0x79,
    0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x4d, 0x0b, 0x68, 0x6d, 0x61,
    0x63, 0x2d, 0x73, 0x68, 0x61, 0x33, 0x38, 0x34, 0x00, 0x00, 0x00, 0x65, 0x53, 0xf1, 0x01,
    0x01, 0x2c, 0x00, 0x30, 0x94, 0x23, 0xe4, 0x57, 0xed, 0x6a, 0x78, 0xec, 0x6a, 0x5d, 0xbb,
    0xa4, 0xd4, 0x4a, 0x5f, 0x1a, 0xfc, 0x05, 0xb6, 0x9a, 0x4c, 0x3e, 0x56, 0x1e, 0xcb, 0x31,
    0x64, 0x47, 0xd1, 0x21, 0x64, 0xb1, 0xa9, 0xf3, 0x6c, 0x79, 0xdb, 0x00, 0xc2, 0x41, 0xe0,
    0x49, 0xef, 0xd7, 0xd8, 0x2e, 0xb9, 0xc0, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
};

/* --- vector: knsupdate (knot-dnsutils 3.2), captured off the wire ----------- */

static const uint8_t vec_knsupdate[189] = {
    0x12, 0x8d, 0x28, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x07, 0x65, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x04, 0x74, 0x65, 0x73, 0x74, 0x00, 0x00, 0x06, 0x00, 0x01, 0x0f, 0x5f,
    0x61, 0x63, 0x6d, 0x65, 0x2d, 0x63, 0x68, 0x61, 0x6c, 0x6c, 0x65, 0x6e, 0x67, 0x65, 0xc0, 0x0c,
    0x00, 0x10, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x2c, 0x2b, 0x4c, 0x6f, 0x71, 0x58, 0x63,
    0x59, 0x56, 0x38, 0x71, 0x35, 0x4f, 0x4e, 0x62, 0x4a, 0x51, 0x78, 0x62, 0x6d, 0x52, 0x37, 0x53,
    0x43, 0x54, 0x4e, 0x6f, 0x33, 0x74, 0x69, 0x41, 0x58, 0x44, 0x66, 0x6f, 0x77, 0x79, 0x6a, 0x78,
    0x41, 0x6a, 0x45, 0x75, 0x58, 0x30, 0x0e, 0x70, 0x6f, 0x72, 0x74, 0x63, 0x75, 0x6c, 0x6c, 0x69,
    0x73, 0x2d, 0x6b, 0x65, 0x79, 0x00, 0x00, 0xfa, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x3d,
    0x0b, 0x68, 0x6d, 0x61, 0x63, 0x2d, 0x73, 0x68, 0x61, 0x32, 0x35, 0x36, 0x00, 0x00, 0x00, 0x6b,
    0x07, 0x62, 0x7a, 0x01, 0x2c, 0x00, 0x20, 0x3d, 0x3d, 0x3c, 0x9d, 0xef, 0x0b, 0x72, 0x86, 0xe7,
    0xdb, 0x85, 0x5a, 0x72, 0x79, 0xf7, 0xb3, 0x40, 0x59, 0xe1, 0xde, 0xde, 0x82, 0x20, 0xad, 0xc1,
    0x9c, 0x92, 0xdf, 0x28, 0xea, 0xeb, 0x04, 0x12, 0x8d, 0x00, 0x00, 0x00, 0x00,
};

/* --- helpers --------------------------------------------------------------- */

static const unsigned char secret[32] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                         12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                         23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

static void
key_for(struct cm_dns_tsig_key *k, const char *alg)
{
    assert_int_equal(
        cm_dns_tsig_key_init(k, "portcullis-key", alg, secret, sizeof(secret), NULL, 0), PC_OK);
}

static size_t
wire(const char *text, uint8_t *out)
{
    size_t len = 0;

    assert_int_equal(cm_dns_name_from_text(text, out, &len), PC_OK);
    return len;
}

/* Build and sign an UPDATE of FQDN=VALUE and compare it with `vec`. */
static void
check_update_vector(uint16_t id, bool add, const char *alg, uint64_t t, const uint8_t *vec,
                    size_t veclen, uint8_t *mac, size_t *maclen)
{
    uint8_t zone[CM_DNS_NAME_MAX], name[CM_DNS_NAME_MAX], msg[CM_DNS_UPDATE_MAX];
    size_t zl = wire("example.test", zone), nl = wire(FQDN, name), len = 0;
    struct cm_dns_tsig_key k;

    key_for(&k, alg);
    assert_int_equal(cm_dns_update_build(id, zone, zl, name, nl, VALUE, strlen(VALUE), add, msg,
                                         sizeof(msg), &len),
                     PC_OK);
    assert_int_equal(cm_dns_tsig_sign(msg, &len, sizeof(msg), &k, t, mac, maclen), PC_OK);
    assert_int_equal(len, veclen);
    assert_memory_equal(msg, vec, veclen);
}

/* Judge `resp` as the answer to the request vector (id, key alg, request MAC). */
static int
judge(const uint8_t *resp, size_t len, uint16_t id, const char *alg, const uint8_t *mac,
      size_t maclen, uint64_t now, char *err, size_t errlen)
{
    uint8_t zone[CM_DNS_NAME_MAX];
    size_t zl = wire("example.test", zone);
    struct cm_dns_tsig_key k;

    key_for(&k, alg);
    return cm_dns_update_check(resp, len, id, zone, zl, &k, mac, maclen, now, err, errlen);
}

/* The request MAC of vec_add_sha256 (recomputed: the request is byte-exact). */
static size_t
add_sha256_mac(uint8_t *mac)
{
    size_t maclen = 0;

    check_update_vector(0x1234, true, "hmac-sha256", T_REQ, vec_add_sha256, sizeof(vec_add_sha256),
                        mac, &maclen);
    return maclen;
}

/* A message builder for answers to the query FQDN TXT IN (id 0xabcd). */
struct mb {
    uint8_t b[2048];
    struct cm_dns_wr w;
};

static void
mb_start(struct mb *m, uint16_t flags, uint16_t an, uint16_t ar)
{
    uint8_t q[CM_DNS_NAME_MAX];
    size_t ql = wire(FQDN, q);

    m->w = (struct cm_dns_wr){m->b, 0, sizeof(m->b), false};
    cm_dns_put16(&m->w, 0xabcd);
    cm_dns_put16(&m->w, flags);
    cm_dns_put16(&m->w, 1);
    cm_dns_put16(&m->w, an);
    cm_dns_put16(&m->w, 0);
    cm_dns_put16(&m->w, ar);
    cm_dns_put(&m->w, q, ql);
    cm_dns_put16(&m->w, CM_DNS_T_TXT);
    cm_dns_put16(&m->w, CM_DNS_C_IN);
}

static void
mb_rr(struct mb *m, const char *owner, uint16_t type, uint16_t rclass, const void *rdata,
      size_t rdlen)
{
    uint8_t o[CM_DNS_NAME_MAX];
    size_t ol;

    if (owner == NULL) {
        cm_dns_put16(&m->w, 0xc00c); /* the question's name */
    } else {
        ol = wire(owner, o);
        cm_dns_put(&m->w, o, ol);
    }
    cm_dns_put16(&m->w, type);
    cm_dns_put16(&m->w, rclass);
    cm_dns_put32(&m->w, 60);
    cm_dns_put16(&m->w, (uint16_t)rdlen);
    cm_dns_put(&m->w, rdata, rdlen);
    assert_false(m->w.over);
}

/* TXT RDATA of one string */
static size_t
txt1(uint8_t *out, const char *s)
{
    out[0] = (uint8_t)strlen(s);
    memcpy(out + 1, s, strlen(s));
    return strlen(s) + 1;
}

static int
txt_check(const struct mb *m, enum cm_dns_txt_state *st, int *rcode)
{
    uint8_t q[CM_DNS_NAME_MAX];
    size_t ql = wire(FQDN, q);
    char why[CM_DNS_REASON_MAX];

    return cm_dns_txt_check(m->b, m->w.len, 0xabcd, q, ql, VALUE, strlen(VALUE), st, rcode, why,
                            sizeof(why));
}

/* --- names ----------------------------------------------------------------- */

static void
test_name_encoding_byte_exact(void **state)
{
    uint8_t out[CM_DNS_NAME_MAX];
    size_t len = 0;

    (void)state;
    assert_int_equal(cm_dns_name_from_text(FQDN, out, &len), PC_OK);
    assert_int_equal(len, 30);
    assert_memory_equal(out,
                        "\x0f_acme-challenge\x07"
                        "example\x04test\x00",
                        30);
    assert_int_equal(cm_dns_name_from_text(FQDN ".", out, &len), PC_OK);
    assert_int_equal(len, 30); /* a trailing dot changes nothing */
    assert_int_equal(cm_dns_name_from_text("A", out, &len), PC_OK);
    assert_memory_equal(out,
                        "\x01"
                        "A\x00",
                        3); /* case kept */
}

static void
test_name_label_and_length_limits(void **state)
{
    char name[300];
    uint8_t out[CM_DNS_NAME_MAX];
    size_t len = 0;

    (void)state;
    memset(name, 'a', 63);
    strcpy(name + 63, ".test");
    assert_int_equal(cm_dns_name_from_text(name, out, &len), PC_OK);
    memset(name, 'a', 64);
    strcpy(name + 64, ".test");
    assert_int_equal(cm_dns_name_from_text(name, out, &len), PC_ERR_INVALID);
    /* 4 labels of 63 + "a": 253 text bytes, 255 wire bytes: the largest name */
    memset(name, 'b', sizeof(name));
    name[63] = name[127] = name[191] = '.';
    name[255] = '.';
    name[253] = '\0';
    name[251] = '.';
    assert_int_equal(strlen(name), 253);
    assert_int_equal(cm_dns_name_from_text(name, out, &len), PC_OK);
    assert_int_equal(len, 255);
    name[253] = '.'; /* with the trailing dot still fine */
    name[254] = '\0';
    assert_int_equal(cm_dns_name_from_text(name, out, &len), PC_OK);
    name[253] = 'c'; /* 254 text bytes: 256 wire bytes */
    assert_int_equal(cm_dns_name_from_text(name, out, &len), PC_ERR_INVALID);
    memset(name, 'd', sizeof(name) - 1);
    name[sizeof(name) - 1] = '\0';
    assert_int_equal(cm_dns_name_from_text(name, out, &len), PC_ERR_INVALID);
}

static void
test_name_bad_text_refused(void **state)
{
    static const char *const bad[] = {
        "",
        ".",
        "..",
        "a..b",
        ".a",
        "a...",
        "a\\.b",
        "a\\065b",
        "\\",
        "a b",
        "*.example.test",
        "a/b",
        "a\tb",
        "a\nb",
        "caf\xc3\xa9.test",
        "a@b",
        "a:53",
        "a,b",
        "\"a\"",
    };
    uint8_t out[CM_DNS_NAME_MAX];
    size_t len = 0, i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(cm_dns_name_from_text(bad[i], out, &len), PC_ERR_INVALID);
}

static void
test_name_compare_and_zone(void **state)
{
    uint8_t a[CM_DNS_NAME_MAX], b[CM_DNS_NAME_MAX], z[CM_DNS_NAME_MAX];
    size_t al, bl, zl;

    (void)state;
    al = wire("_ACME-Challenge.Example.TEST", a);
    bl = wire(FQDN, b);
    assert_true(cm_dns_name_eq(a, al, b, bl));
    zl = wire("example.test", z);
    assert_true(cm_dns_name_is_under(a, al, z, zl));
    assert_true(cm_dns_name_is_under(z, zl, z, zl));
    bl = wire("xexample.test", b);
    assert_false(cm_dns_name_is_under(b, bl, z, zl)); /* labels, not bytes */
    bl = wire("test", b);
    assert_false(cm_dns_name_is_under(b, bl, z, zl));
    bl = wire("a.example.org", b);
    assert_false(cm_dns_name_is_under(b, bl, z, zl));
    bl = wire("example.test.org", b);
    assert_false(cm_dns_name_is_under(b, bl, z, zl));
    cm_dns_name_lower(a, al);
    assert_memory_equal(a,
                        "\x0f_acme-challenge\x07"
                        "example\x04test\x00",
                        30);
}

/* A message of a header and then `body`; name_read at `off`. */
static int
read_at(const char *body, size_t blen, size_t off, uint8_t *out, size_t *outlen, size_t *end)
{
    uint8_t msg[600];
    size_t o = off;
    int rc;

    memset(msg, 0, CM_DNS_HDR_LEN);
    memcpy(msg + CM_DNS_HDR_LEN, body, blen);
    rc = cm_dns_name_read(msg, CM_DNS_HDR_LEN + blen, &o, out, outlen);
    *end = o;
    return rc;
}

static void
test_name_read_compression(void **state)
{
    /* 12: "example.test"; 26: "_acme-challenge" + ptr 12; 44: ptr 26 */
    static const char body[] = "\x07"
                               "example\x04test\x00"
                               "\x0f_acme-challenge\xc0\x0c"
                               "\xc0\x1a";
    uint8_t out[CM_DNS_NAME_MAX];
    size_t len = 0, end = 0;

    (void)state;
    assert_int_equal(read_at(body, sizeof(body) - 1, 26, out, &len, &end), PC_OK);
    assert_int_equal(len, 30);
    assert_memory_equal(out,
                        "\x0f_acme-challenge\x07"
                        "example\x04test\x00",
                        30);
    assert_int_equal(end, 44); /* past the pointer, not past the target */
    assert_int_equal(read_at(body, sizeof(body) - 1, 44, out, &len, &end), PC_OK);
    assert_int_equal(len, 30);
    assert_int_equal(end, 46);
    assert_int_equal(read_at(body, sizeof(body) - 1, 12, NULL, NULL, &end), PC_OK);
    assert_int_equal(end, 26);
}

static void
test_name_read_malicious_refused(void **state)
{
    uint8_t out[CM_DNS_NAME_MAX], big[600];
    size_t len, end, i, n;

    (void)state;
    /* forward pointer (12 -> 14), self pointer, pointer into the header */
    assert_int_equal(read_at("\xc0\x0e\x00", 3, 12, out, &len, &end), PC_ERR_PARSE);
    assert_int_equal(read_at("\xc0\x0c", 2, 12, out, &len, &end), PC_ERR_PARSE);
    assert_int_equal(read_at("\xc0\x02", 2, 12, out, &len, &end), PC_ERR_PARSE);
    /* a loop through an earlier label: "a" then a pointer back to "a" */
    assert_int_equal(read_at("\x01"
                             "a\xc0\x0c",
                             4, 12, out, &len, &end),
                     PC_ERR_PARSE);
    /* two pointers pointing at each other: 12 -> 14 is forward already; 14 -> 12 -> 14 */
    assert_int_equal(read_at("\xc0\x0e\xc0\x0c", 4, 14, out, &len, &end), PC_ERR_PARSE);
    /* label types 01 and 10 */
    assert_int_equal(read_at("\x41"
                             "a\x00",
                             3, 12, out, &len, &end),
                     PC_ERR_PARSE);
    assert_int_equal(read_at("\x81"
                             "a\x00",
                             3, 12, out, &len, &end),
                     PC_ERR_PARSE);
    /* truncated: label past the end, no root label, half a pointer */
    assert_int_equal(read_at("\x05"
                             "ab",
                             3, 12, out, &len, &end),
                     PC_ERR_PARSE);
    assert_int_equal(read_at("\x02"
                             "ab",
                             3, 12, out, &len, &end),
                     PC_ERR_PARSE);
    assert_int_equal(read_at("\x01"
                             "a\xc0",
                             3, 12, out, &len, &end),
                     PC_ERR_PARSE);
    assert_int_equal(read_at("", 0, 12, out, &len, &end), PC_ERR_PARSE);
    /* over 255 bytes once expanded: 5 labels of 63 chained by pointers */
    n = 0;
    for (i = 0; i < 5; i++) {
        big[n] = 63;
        memset(big + n + 1, 'x', 63);
        if (i == 0) {
            big[n + 64] = 0;
            n += 65;
        } else {
            big[n + 64] = 0xc0;
            big[n + 65] = (uint8_t)(CM_DNS_HDR_LEN + (i - 1) * 66 + (i == 1 ? 0 : 1));
            n += 66;
        }
    }
    /* the last name is 5 x 64 + 1 = 321 bytes expanded */
    assert_int_equal(read_at((const char *)big, n, CM_DNS_HDR_LEN + n - 66, out, &len, &end),
                     PC_ERR_PARSE);
    /* a chain of CM_DNS_PTR_MAX + 1 strictly backward pointers */
    big[0] = 0;
    for (i = 1; i <= CM_DNS_PTR_MAX + 1; i++) {
        big[2 * i - 1] = 0xc0;
        big[2 * i] = (uint8_t)(CM_DNS_HDR_LEN + (i == 1 ? 0 : 2 * i - 3));
    }
    n = 2 * (CM_DNS_PTR_MAX + 1) + 1;
    assert_int_equal(read_at((const char *)big, n, CM_DNS_HDR_LEN + n - 2, out, &len, &end),
                     PC_ERR_PARSE);
    assert_int_equal(read_at((const char *)big, n, CM_DNS_HDR_LEN + n - 4, out, &len, &end),
                     PC_OK); /* one pointer fewer is fine */
}

/* --- building -------------------------------------------------------------- */

static void
test_query_build_byte_exact(void **state)
{
    /* hand-computed: RFC 1035 4.1.1 header (RD), one question FQDN TXT IN */
    static const uint8_t want[] = "\xab\xcd\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
                                  "\x0f_acme-challenge\x07"
                                  "example\x04test\x00"
                                  "\x00\x10\x00\x01";
    uint8_t q[CM_DNS_NAME_MAX], out[CM_DNS_UDP_QUERY_MAX];
    size_t ql = wire(FQDN, q), len = 0;

    (void)state;
    assert_int_equal(cm_dns_query_build(0xabcd, q, ql, out, sizeof(out), &len), PC_OK);
    assert_int_equal(len, sizeof(want) - 1);
    assert_memory_equal(out, want, len);
    assert_int_equal(cm_dns_query_build(0xabcd, q, ql, out, len - 1, &len), PC_ERR_TOO_LARGE);
}

static void
test_update_add_sha256_matches_dnspython(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX];
    size_t maclen = 0;

    (void)state;
    check_update_vector(0x1234, true, "hmac-sha256", T_REQ, vec_add_sha256, sizeof(vec_add_sha256),
                        mac, &maclen);
    assert_int_equal(maclen, 32);
}

static void
test_update_delete_sha512_matches_dnspython(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX];
    size_t maclen = 0;

    (void)state;
    check_update_vector(0xbeef, false, "hmac-sha512", T_REQ, vec_del_sha512, sizeof(vec_del_sha512),
                        mac, &maclen);
    assert_int_equal(maclen, 64);
}

static void
test_update_add_sha384_matches_dnspython(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX];
    size_t maclen = 0;

    (void)state;
    check_update_vector(0x0001, true, "HMAC-SHA384.", T_REQ, vec_add_sha384, sizeof(vec_add_sha384),
                        mac, &maclen);
    assert_int_equal(maclen, 48);
}

static void
test_update_matches_knsupdate_capture(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX];
    size_t maclen = 0;
    /* the ID and time signed knsupdate chose (offsets 0 and 0x8d) */
    uint16_t id = cm_dns_get16(vec_knsupdate);
    uint64_t t =
        ((uint64_t)cm_dns_get16(vec_knsupdate + 0x8d) << 32) | cm_dns_get32(vec_knsupdate + 0x8f);

    (void)state;
    check_update_vector(id, true, "hmac-sha256", t, vec_knsupdate, sizeof(vec_knsupdate), mac,
                        &maclen);
}

static void
test_update_build_long_value_split(void **state)
{
    uint8_t zone[CM_DNS_NAME_MAX], name[CM_DNS_NAME_MAX], msg[CM_DNS_UPDATE_MAX];
    char value[CM_DNS_TXT_VALUE_MAX + 2];
    size_t zl = wire("example.test", zone), nl = wire("example.test", name), len = 0, off;

    (void)state;
    memset(value, 'v', sizeof(value));
    assert_int_equal(
        cm_dns_update_build(1, zone, zl, name, nl, value, 300, true, msg, sizeof(msg), &len),
        PC_OK);
    /* the zone apex itself: the owner is only the pointer */
    off = CM_DNS_HDR_LEN + zl + 4;
    assert_memory_equal(msg + off, "\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c\x01\x2e", 12);
    assert_int_equal(msg[off + 12], 255);
    assert_int_equal(msg[off + 12 + 256], 45);
    assert_int_equal(len, off + 12 + 302);
    assert_int_equal(cm_dns_update_build(1, zone, zl, name, nl, value, CM_DNS_TXT_VALUE_MAX, true,
                                         msg, sizeof(msg), &len),
                     PC_OK);
    assert_int_equal(cm_dns_update_build(1, zone, zl, name, nl, value, CM_DNS_TXT_VALUE_MAX + 1,
                                         true, msg, sizeof(msg), &len),
                     PC_ERR_TOO_LARGE);
    assert_int_equal(
        cm_dns_update_build(1, zone, zl, name, nl, value, 0, true, msg, sizeof(msg), &len),
        PC_ERR_TOO_LARGE);
    assert_int_equal(cm_dns_update_build(1, zone, zl, name, nl, value, 300, true, msg, 100, &len),
                     PC_ERR_TOO_LARGE);
    nl = wire("example.org", name);
    assert_int_equal(
        cm_dns_update_build(1, zone, zl, name, nl, value, 10, true, msg, sizeof(msg), &len),
        PC_ERR_INVALID);
}

/* --- TSIG and the update answer -------------------------------------------- */

static void
test_tsig_key_init_checks(void **state)
{
    struct cm_dns_tsig_key k;
    char err[CM_DNS_REASON_MAX];
    unsigned char big[CM_DNS_TSIG_SECRET_MAX + 1] = {0};

    (void)state;
    assert_int_equal(
        cm_dns_tsig_key_init(&k, "Key.Name.", "hmac-sha512", secret, 1, err, sizeof(err)), PC_OK);
    assert_memory_equal(k.name, "\x03key\x04name\x00", 10); /* canonical: lower case */
    assert_int_equal(k.alg->mac_len, 64);
    assert_int_equal(cm_dns_tsig_key_init(&k, "k", "hmac-md5", secret, 32, err, sizeof(err)),
                     PC_ERR_INVALID);
    assert_non_null(strstr(err, "hmac-sha256"));
    assert_int_equal(cm_dns_tsig_key_init(&k, "k", "hmac-sha1", secret, 32, err, sizeof(err)),
                     PC_ERR_INVALID);
    assert_int_equal(cm_dns_tsig_key_init(&k, "k", "hmac-sha2566", secret, 32, err, sizeof(err)),
                     PC_ERR_INVALID);
    assert_int_equal(cm_dns_tsig_key_init(&k, "k", NULL, secret, 32, err, sizeof(err)),
                     PC_ERR_INVALID);
    assert_int_equal(cm_dns_tsig_key_init(&k, "k", "", secret, 32, err, sizeof(err)),
                     PC_ERR_INVALID);
    assert_int_equal(
        cm_dns_tsig_key_init(&k, "bad key", "hmac-sha256", secret, 32, err, sizeof(err)),
        PC_ERR_INVALID);
    assert_int_equal(cm_dns_tsig_key_init(&k, NULL, "hmac-sha256", secret, 32, err, sizeof(err)),
                     PC_ERR_INVALID);
    assert_int_equal(cm_dns_tsig_key_init(&k, "k", "hmac-sha256", secret, 0, err, sizeof(err)),
                     PC_ERR_INVALID);
    assert_int_equal(cm_dns_tsig_key_init(&k, "k", "hmac-sha256", NULL, 32, err, sizeof(err)),
                     PC_ERR_INVALID);
    assert_int_equal(
        cm_dns_tsig_key_init(&k, "k", "hmac-sha256", big, sizeof(big), err, sizeof(err)),
        PC_ERR_TOO_LARGE);
    assert_int_equal(
        cm_dns_tsig_key_init(&k, "k", "hmac-sha256", big, sizeof(big) - 1, err, sizeof(err)),
        PC_OK);
}

static void
test_answer_dnspython_signed_accepted(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX];
    size_t maclen;
    char err[CM_DNS_REASON_MAX] = "";

    (void)state;
    maclen = add_sha256_mac(mac);
    assert_int_equal(judge(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1234, "hmac-sha256",
                           mac, maclen, T_RESP, err, sizeof(err)),
                     PC_OK);
    /* the fudge both ways */
    assert_int_equal(judge(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1234, "hmac-sha256",
                           mac, maclen, T_RESP + 300, err, sizeof(err)),
                     PC_OK);
    assert_int_equal(judge(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1234, "hmac-sha256",
                           mac, maclen, T_RESP - 300, err, sizeof(err)),
                     PC_OK);
    check_update_vector(0xbeef, false, "hmac-sha512", T_REQ, vec_del_sha512, sizeof(vec_del_sha512),
                        mac, &maclen);
    assert_int_equal(judge(vec_del_sha512_resp, sizeof(vec_del_sha512_resp), 0xbeef, "hmac-sha512",
                           mac, maclen, T_RESP, err, sizeof(err)),
                     PC_OK);
    check_update_vector(0x0001, true, "hmac-sha384", T_REQ, vec_add_sha384, sizeof(vec_add_sha384),
                        mac, &maclen);
    assert_int_equal(judge(vec_add_sha384_resp, sizeof(vec_add_sha384_resp), 0x0001, "hmac-sha384",
                           mac, maclen, T_RESP, err, sizeof(err)),
                     PC_OK);
}

/*
 * Whether flipping `bit` of byte i of vec_add_sha256_resp changes only the
 * case of a letter of the TSIG key name (bytes 30-45) or algorithm name
 * (56-68): the MAC covers their canonical (lower-case) form (RFC 8945 4.3.3),
 * so that answer means the same and still verifies.
 */
static bool
is_case_flip_in_tsig_names(size_t i, unsigned bit)
{
    uint8_t c = vec_add_sha256_resp[i] | 0x20;

    return bit == 5 && c >= 'a' && c <= 'z' && ((i >= 30 && i < 46) || (i >= 56 && i < 69));
}

static void
test_answer_every_bit_flip_refused(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX], r[sizeof(vec_add_sha256_resp)];
    size_t maclen, i;
    unsigned bit, same = 0;
    char err[CM_DNS_REASON_MAX];
    int rc;

    (void)state;
    maclen = add_sha256_mac(mac);
    assert_memory_equal(vec_add_sha256_resp + 30, "\x0eportcullis-key\x00", 16);
    assert_memory_equal(vec_add_sha256_resp + 56, "\x0bhmac-sha256\x00", 13);
    for (i = 0; i < sizeof(r); i++) {
        for (bit = 0; bit < 8; bit++) {
            memcpy(r, vec_add_sha256_resp, sizeof(r));
            r[i] ^= (uint8_t)(1u << bit);
            rc = judge(r, sizeof(r), 0x1234, "hmac-sha256", mac, maclen, T_RESP, err, sizeof(err));
            if (is_case_flip_in_tsig_names(i, bit)) {
                assert_int_equal(rc, PC_OK);
                same++;
            } else if (rc == PC_OK) {
                fail_msg("flipping bit %u of byte %zu went unnoticed", bit, i);
            }
        }
    }
    assert_int_equal(same, 13 + 7); /* the letters of "portcullis" "key" "hmac" "sha" */
}

static void
test_answer_every_truncation_refused(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX];
    size_t maclen, n;
    char err[CM_DNS_REASON_MAX];

    (void)state;
    maclen = add_sha256_mac(mac);
    for (n = 0; n < sizeof(vec_add_sha256_resp); n++)
        assert_int_not_equal(judge(vec_add_sha256_resp, n, 0x1234, "hmac-sha256", mac, maclen,
                                   T_RESP, err, sizeof(err)),
                             PC_OK);
}

static void
test_answer_wrong_key_time_or_request_refused(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX], zone[CM_DNS_NAME_MAX];
    size_t maclen, zl = wire("example.test", zone);
    struct cm_dns_tsig_key k;
    unsigned char other[32];
    char err[CM_DNS_REASON_MAX];

    (void)state;
    maclen = add_sha256_mac(mac);
    assert_int_equal(judge(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1234, "hmac-sha256",
                           mac, maclen, T_RESP + 301, err, sizeof(err)),
                     PC_ERR_CRYPTO);
    assert_non_null(strstr(err, "time"));
    assert_int_equal(judge(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1234, "hmac-sha256",
                           mac, maclen, T_RESP - 301, err, sizeof(err)),
                     PC_ERR_CRYPTO);
    /* another secret */
    memcpy(other, secret, sizeof(other));
    other[31] ^= 1;
    assert_int_equal(
        cm_dns_tsig_key_init(&k, "portcullis-key", "hmac-sha256", other, sizeof(other), NULL, 0),
        PC_OK);
    assert_int_equal(cm_dns_update_check(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1234,
                                         zone, zl, &k, mac, maclen, T_RESP, err, sizeof(err)),
                     PC_ERR_CRYPTO);
    assert_non_null(strstr(err, "does not verify"));
    /* another key name, another algorithm */
    assert_int_equal(
        cm_dns_tsig_key_init(&k, "other-key", "hmac-sha256", secret, sizeof(secret), NULL, 0),
        PC_OK);
    assert_int_equal(cm_dns_update_check(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1234,
                                         zone, zl, &k, mac, maclen, T_RESP, err, sizeof(err)),
                     PC_ERR_CRYPTO);
    assert_int_equal(judge(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1234, "hmac-sha512",
                           mac, maclen, T_RESP, err, sizeof(err)),
                     PC_ERR_CRYPTO);
    /* an answer to another request (the request MAC is part of the answer's MAC) */
    mac[0] ^= 1;
    assert_int_equal(judge(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1234, "hmac-sha256",
                           mac, maclen, T_RESP, err, sizeof(err)),
                     PC_ERR_CRYPTO);
    mac[0] ^= 1;
    /* another ID, another zone */
    assert_int_equal(judge(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1235, "hmac-sha256",
                           mac, maclen, T_RESP, err, sizeof(err)),
                     PC_ERR_PARSE);
    key_for(&k, "hmac-sha256");
    zl = wire("example.org", zone);
    assert_int_equal(cm_dns_update_check(vec_add_sha256_resp, sizeof(vec_add_sha256_resp), 0x1234,
                                         zone, zl, &k, mac, maclen, T_RESP, err, sizeof(err)),
                     PC_ERR_PARSE);
}

static void
test_answer_unsigned_noerror_refused(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX], r[sizeof(vec_add_sha256_resp)];
    size_t maclen, n = CM_DNS_HDR_LEN + 14 + 4; /* header + zone section */
    char err[CM_DNS_REASON_MAX];

    (void)state;
    maclen = add_sha256_mac(mac);
    memcpy(r, vec_add_sha256_resp, n);
    r[11] = 0; /* ARCOUNT 0: the TSIG record is gone */
    assert_int_equal(judge(r, n, 0x1234, "hmac-sha256", mac, maclen, T_RESP, err, sizeof(err)),
                     PC_ERR_CRYPTO);
    assert_non_null(strstr(err, "not signed"));
    r[3] = CM_DNS_R_REFUSED; /* unsigned REFUSED: still a failure, said plainly */
    assert_int_equal(judge(r, n, 0x1234, "hmac-sha256", mac, maclen, T_RESP, err, sizeof(err)),
                     PC_ERR_DENIED);
    assert_non_null(strstr(err, "REFUSED"));
    assert_non_null(strstr(err, "not authenticated"));
}

static void
test_answer_signed_refused_mapped(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX];
    size_t maclen;
    char err[CM_DNS_REASON_MAX];

    (void)state;
    maclen = add_sha256_mac(mac);
    assert_int_equal(judge(vec_add_sha256_refused, sizeof(vec_add_sha256_refused), 0x1234,
                           "hmac-sha256", mac, maclen, T_RESP, err, sizeof(err)),
                     PC_ERR_DENIED);
    assert_string_equal(err, "update refused: REFUSED (the server's policy refused it: is the key "
                             "allowed to update this zone?)");
}

/*
 * An answer as servers send it for a TSIG error: RCODE NOTAUTH, a TSIG
 * record with our key, no MAC, the error, and for BADTIME the server time.
 */
static size_t
tsig_error_answer(uint8_t *out, size_t cap, uint16_t error, uint64_t srv_time, uint16_t maclen)
{
    uint8_t zone[CM_DNS_NAME_MAX];
    size_t zl = wire("example.test", zone);
    struct cm_dns_wr w = {out, 0, cap, false};
    uint8_t fake_mac[CM_DNS_TSIG_MAC_MAX] = {0};

    cm_dns_put16(&w, 0x1234);
    cm_dns_put16(&w, 0xa800 | CM_DNS_R_NOTAUTH);
    cm_dns_put16(&w, 1);
    cm_dns_put16(&w, 0);
    cm_dns_put16(&w, 0);
    cm_dns_put16(&w, 1);
    cm_dns_put(&w, zone, zl);
    cm_dns_put16(&w, CM_DNS_T_SOA);
    cm_dns_put16(&w, CM_DNS_C_IN);
    cm_dns_put(&w, "\x0eportcullis-key\x00", 16);
    cm_dns_put16(&w, CM_DNS_T_TSIG);
    cm_dns_put16(&w, CM_DNS_C_ANY);
    cm_dns_put32(&w, 0);
    cm_dns_put16(&w, (uint16_t)(13 + 10 + maclen + 6 + (srv_time != 0 ? 6 : 0)));
    cm_dns_put(&w, "\x0bhmac-sha256\x00", 13);
    cm_dns_put16(&w, 0);
    cm_dns_put32(&w, (uint32_t)T_REQ);
    cm_dns_put16(&w, 300);
    cm_dns_put16(&w, maclen);
    cm_dns_put(&w, fake_mac, maclen);
    cm_dns_put16(&w, 0x1234);
    cm_dns_put16(&w, error);
    cm_dns_put16(&w, srv_time != 0 ? 6 : 0);
    if (srv_time != 0) {
        cm_dns_put16(&w, (uint16_t)(srv_time >> 32));
        cm_dns_put32(&w, (uint32_t)srv_time);
    }
    assert_false(w.over);
    return w.len;
}

static void
test_answer_tsig_errors_mapped(void **state)
{
    uint8_t mac[CM_DNS_TSIG_MAC_MAX], r[512];
    size_t maclen, n;
    char err[CM_DNS_REASON_MAX];

    (void)state;
    maclen = add_sha256_mac(mac);
    n = tsig_error_answer(r, sizeof(r), CM_DNS_R_BADSIG, 0, 0);
    assert_int_equal(judge(r, n, 0x1234, "hmac-sha256", mac, maclen, T_REQ, err, sizeof(err)),
                     PC_ERR_DENIED);
    assert_string_equal(err, "TSIG BADSIG: the server could not verify our signature (wrong "
                             "secret?)");
    n = tsig_error_answer(r, sizeof(r), CM_DNS_R_BADKEY, 0, 0);
    assert_int_equal(judge(r, n, 0x1234, "hmac-sha256", mac, maclen, T_REQ, err, sizeof(err)),
                     PC_ERR_DENIED);
    assert_non_null(strstr(err, "TSIG BADKEY"));
    n = tsig_error_answer(r, sizeof(r), CM_DNS_R_BADTIME, T_REQ + 1000, 0);
    assert_int_equal(judge(r, n, 0x1234, "hmac-sha256", mac, maclen, T_REQ, err, sizeof(err)),
                     PC_ERR_DENIED);
    assert_string_equal(err, "TSIG BADTIME: the server's clock is 1000 s from ours (fudge 300 s)");
    /* no TSIG error but no MAC: NOTAUTH, not authenticated */
    n = tsig_error_answer(r, sizeof(r), 0, 0, 0);
    assert_int_equal(judge(r, n, 0x1234, "hmac-sha256", mac, maclen, T_REQ, err, sizeof(err)),
                     PC_ERR_DENIED);
    assert_string_equal(err, "update refused: NOTAUTH (the server is not authoritative for the "
                             "zone or does not accept the key) [answer not authenticated]");
    /* a truncated MAC (16 of 32 bytes) is not accepted as a signature */
    n = tsig_error_answer(r, sizeof(r), 0, 0, 16);
    r[3] = 0xa800 & 0xff; /* NOERROR */
    assert_int_equal(judge(r, n, 0x1234, "hmac-sha256", mac, maclen, T_REQ, err, sizeof(err)),
                     PC_ERR_CRYPTO);
    assert_non_null(strstr(err, "16 bytes"));
    /* other data longer than BADTIME's 6 bytes: malformed */
    n = tsig_error_answer(r, sizeof(r), CM_DNS_R_BADTIME, T_REQ, 0);
    r[n - 8] = 7;
    assert_int_equal(judge(r, n, 0x1234, "hmac-sha256", mac, maclen, T_REQ, err, sizeof(err)),
                     PC_ERR_PARSE);
}

/* --- parsing --------------------------------------------------------------- */

static void
test_msg_parse_structure_checked(void **state)
{
    struct mb m;
    struct cm_dns_msg msg;
    uint8_t rd[64];
    char err[CM_DNS_REASON_MAX];

    (void)state;
    mb_start(&m, 0x8180, 1, 0);
    mb_rr(&m, NULL, CM_DNS_T_TXT, CM_DNS_C_IN, rd, txt1(rd, VALUE));
    assert_int_equal(cm_dns_msg_parse(m.b, m.w.len, false, &msg, err, sizeof(err)), PC_OK);
    assert_int_equal(msg.count[1], 1);
    assert_int_equal(msg.sec[1], CM_DNS_HDR_LEN + 30 + 4);
    /* a trailing byte */
    assert_int_equal(cm_dns_msg_parse(m.b, m.w.len + 1, false, &msg, err, sizeof(err)),
                     PC_ERR_PARSE);
    /* a count larger than the records */
    m.b[7] = 2;
    assert_int_equal(cm_dns_msg_parse(m.b, m.w.len, false, &msg, err, sizeof(err)), PC_ERR_PARSE);
    m.b[7] = 1;
    /* two questions */
    m.b[5] = 2;
    assert_int_equal(cm_dns_msg_parse(m.b, m.w.len, false, &msg, err, sizeof(err)), PC_ERR_PARSE);
    m.b[5] = 1;
    /* RDLENGTH past the end */
    m.b[m.w.len - 45] = 45;
    assert_int_equal(cm_dns_msg_parse(m.b, m.w.len, false, &msg, err, sizeof(err)), PC_ERR_PARSE);
    /* a TSIG that is not the last record */
    mb_start(&m, 0x8180, 0, 2);
    mb_rr(&m, "k", CM_DNS_T_TSIG, CM_DNS_C_ANY, "", 0);
    mb_rr(&m, NULL, CM_DNS_T_TXT, CM_DNS_C_IN, rd, txt1(rd, "x"));
    assert_int_equal(cm_dns_msg_parse(m.b, m.w.len, false, &msg, err, sizeof(err)), PC_ERR_PARSE);
    assert_non_null(strstr(err, "TSIG"));
    /* in the answer section */
    mb_start(&m, 0x8180, 1, 0);
    mb_rr(&m, "k", CM_DNS_T_TSIG, CM_DNS_C_ANY, "", 0);
    assert_int_equal(cm_dns_msg_parse(m.b, m.w.len, false, &msg, err, sizeof(err)), PC_ERR_PARSE);
    assert_int_equal(cm_dns_msg_parse(m.b, 11, false, &msg, err, sizeof(err)), PC_ERR_PARSE);
}

static void
test_txt_answer_byte_exact_found(void **state)
{
    /* hand-computed answer: question, then c00c TXT IN TTL 60, one 43-byte string */
    static const uint8_t resp[] = "\xab\xcd\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00"
                                  "\x0f_acme-challenge\x07"
                                  "example\x04test\x00"
                                  "\x00\x10\x00\x01"
                                  "\xc0\x0c\x00\x10\x00\x01\x00\x00\x00\x3c\x00\x2c"
                                  "\x2b" VALUE;
    uint8_t q[CM_DNS_NAME_MAX];
    size_t ql = wire(FQDN, q), n;
    enum cm_dns_txt_state st = CM_DNS_TXT_ABSENT;
    int rcode = -1;
    char why[CM_DNS_REASON_MAX];

    (void)state;
    assert_int_equal(cm_dns_txt_check(resp, sizeof(resp) - 1, 0xabcd, q, ql, VALUE, strlen(VALUE),
                                      &st, &rcode, why, sizeof(why)),
                     PC_OK);
    assert_int_equal(st, CM_DNS_TXT_FOUND);
    assert_int_equal(rcode, 0);
    /* another value: a valid answer without it */
    assert_int_equal(cm_dns_txt_check(resp, sizeof(resp) - 1, 0xabcd, q, ql, "other", 5, &st,
                                      &rcode, why, sizeof(why)),
                     PC_OK);
    assert_int_equal(st, CM_DNS_TXT_ABSENT);
    /* a prefix of the value is not the value, nor is a longer one */
    assert_int_equal(cm_dns_txt_check(resp, sizeof(resp) - 1, 0xabcd, q, ql, VALUE, 42, &st, &rcode,
                                      why, sizeof(why)),
                     PC_OK);
    assert_int_equal(st, CM_DNS_TXT_ABSENT);
    assert_int_equal(cm_dns_txt_check(resp, sizeof(resp) - 1, 0xabcd, q, ql, VALUE "x", 44, &st,
                                      &rcode, why, sizeof(why)),
                     PC_OK);
    assert_int_equal(st, CM_DNS_TXT_ABSENT);
    /* every truncation is refused */
    for (n = 0; n < sizeof(resp) - 1; n++)
        assert_int_equal(cm_dns_txt_check(resp, n, 0xabcd, q, ql, VALUE, strlen(VALUE), &st, &rcode,
                                          why, sizeof(why)),
                         PC_ERR_PARSE);
}

static void
test_txt_answer_not_ours_refused(void **state)
{
    struct mb m;
    uint8_t rd[64], q[CM_DNS_NAME_MAX];
    size_t ql;
    enum cm_dns_txt_state st;
    int rcode;
    char why[CM_DNS_REASON_MAX];

    (void)state;
    mb_start(&m, 0x8180, 1, 0);
    mb_rr(&m, NULL, CM_DNS_T_TXT, CM_DNS_C_IN, rd, txt1(rd, VALUE));
    ql = wire(FQDN, q);
    /* another ID */
    assert_int_equal(cm_dns_txt_check(m.b, m.w.len, 0xabce, q, ql, VALUE, strlen(VALUE), &st,
                                      &rcode, why, sizeof(why)),
                     PC_ERR_PARSE);
    /* another question name */
    ql = wire("_acme-challenge.example.org", q);
    assert_int_equal(cm_dns_txt_check(m.b, m.w.len, 0xabcd, q, ql, VALUE, strlen(VALUE), &st,
                                      &rcode, why, sizeof(why)),
                     PC_ERR_PARSE);
    ql = wire(FQDN, q);
    /* QR clear: a query, not an answer */
    m.b[2] = 0x01;
    assert_int_equal(txt_check(&m, &st, &rcode), PC_ERR_PARSE);
    /* opcode UPDATE */
    m.b[2] = 0xa8;
    assert_int_equal(txt_check(&m, &st, &rcode), PC_ERR_PARSE);
    m.b[2] = 0x81;
    /* question type A */
    m.b[CM_DNS_HDR_LEN + 31] = 1;
    assert_int_equal(txt_check(&m, &st, &rcode), PC_ERR_PARSE);
    m.b[CM_DNS_HDR_LEN + 31] = CM_DNS_T_TXT;
    /* question class CH */
    m.b[CM_DNS_HDR_LEN + 33] = 3;
    assert_int_equal(txt_check(&m, &st, &rcode), PC_ERR_PARSE);
    m.b[CM_DNS_HDR_LEN + 33] = 1;
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_FOUND);
    /* no question at all */
    mb_start(&m, 0x8180, 0, 0);
    m.b[5] = 0;
    m.w.len = CM_DNS_HDR_LEN;
    assert_int_equal(txt_check(&m, &st, &rcode), PC_ERR_PARSE);
}

static void
test_txt_answer_states(void **state)
{
    struct mb m;
    uint8_t rd[600];
    enum cm_dns_txt_state st;
    int rcode;
    size_t n;

    (void)state;
    /* NXDOMAIN */
    mb_start(&m, 0x8183, 0, 0);
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_ABSENT);
    assert_int_equal(rcode, CM_DNS_R_NXDOMAIN);
    /* SERVFAIL with a TXT in it anyway: not seen */
    mb_start(&m, 0x8182, 1, 0);
    mb_rr(&m, NULL, CM_DNS_T_TXT, CM_DNS_C_IN, rd, txt1(rd, VALUE));
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_ABSENT);
    /* TC: only the header and question are read, even when the rest is cut */
    mb_start(&m, 0x8380, 3, 0);
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_TRUNCATED);
    /* the value at another name, in another class, as another type */
    mb_start(&m, 0x8180, 3, 0);
    mb_rr(&m, "other.example.test", CM_DNS_T_TXT, CM_DNS_C_IN, rd, txt1(rd, VALUE));
    mb_rr(&m, NULL, CM_DNS_T_TXT, 3, rd, txt1(rd, VALUE));
    mb_rr(&m, NULL, 99, CM_DNS_C_IN, rd, txt1(rd, VALUE));
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_ABSENT);
    /* among other values, split in two strings: found */
    mb_start(&m, 0x8180, 2, 0);
    mb_rr(&m, NULL, CM_DNS_T_TXT, CM_DNS_C_IN, rd, txt1(rd, "another-challenge"));
    n = txt1(rd, "LoqXcYV8q5ONbJQxbmR7");
    n += txt1(rd + n, "SCTNo3tiAXDfowyjxAjEuX0");
    mb_rr(&m, NULL, CM_DNS_T_TXT, CM_DNS_C_IN, rd, n);
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_FOUND);
    /* the value followed by an empty string still joins to the value */
    mb_start(&m, 0x8180, 1, 0);
    n = txt1(rd, VALUE);
    rd[n++] = 0;
    mb_rr(&m, NULL, CM_DNS_T_TXT, CM_DNS_C_IN, rd, n);
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_FOUND);
    /* a string running past its RDATA: refused, not read */
    mb_start(&m, 0x8180, 1, 0);
    n = txt1(rd, VALUE);
    rd[0] = 44;
    mb_rr(&m, NULL, CM_DNS_T_TXT, CM_DNS_C_IN, rd, n);
    assert_int_equal(txt_check(&m, &st, &rcode), PC_ERR_PARSE);
    /* empty RDATA */
    mb_start(&m, 0x8180, 1, 0);
    mb_rr(&m, NULL, CM_DNS_T_TXT, CM_DNS_C_IN, rd, 0);
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_ABSENT);
}

static void
test_txt_answer_cname_chain(void **state)
{
    struct mb m;
    uint8_t rd[CM_DNS_NAME_MAX + 64], t[CM_DNS_NAME_MAX];
    enum cm_dns_txt_state st;
    int rcode;
    size_t n;
    char a[32], b[32];
    unsigned i;

    (void)state;
    /* FQDN -> x.dns.test -> y.dns.test TXT value (answers in any order) */
    mb_start(&m, 0x8180, 3, 0);
    mb_rr(&m, "y.dns.test", CM_DNS_T_TXT, CM_DNS_C_IN, rd, txt1(rd, VALUE));
    n = wire("y.dns.test", t);
    mb_rr(&m, "x.dns.test", CM_DNS_T_CNAME, CM_DNS_C_IN, t, n);
    n = wire("x.dns.test", t);
    mb_rr(&m, NULL, CM_DNS_T_CNAME, CM_DNS_C_IN, t, n);
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_FOUND);
    /* a CNAME loop ends, unseen */
    mb_start(&m, 0x8180, 2, 0);
    n = wire("x.dns.test", t);
    mb_rr(&m, NULL, CM_DNS_T_CNAME, CM_DNS_C_IN, t, n);
    n = wire(FQDN, t);
    mb_rr(&m, "x.dns.test", CM_DNS_T_CNAME, CM_DNS_C_IN, t, n);
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_ABSENT);
    /* a chain longer than CM_DNS_CNAME_MAX is not followed to its end */
    mb_start(&m, 0x8180, CM_DNS_CNAME_MAX + 2, 0);
    for (i = 0; i <= CM_DNS_CNAME_MAX; i++) {
        snprintf(a, sizeof(a), "c%u.dns.test", i);
        snprintf(b, sizeof(b), "c%u.dns.test", i + 1);
        n = wire(b, t);
        mb_rr(&m, i == 0 ? NULL : a, CM_DNS_T_CNAME, CM_DNS_C_IN, t, n);
    }
    mb_rr(&m, b, CM_DNS_T_TXT, CM_DNS_C_IN, rd, txt1(rd, VALUE));
    assert_int_equal(txt_check(&m, &st, &rcode), PC_OK);
    assert_int_equal(st, CM_DNS_TXT_ABSENT);
    /* a CNAME whose target runs past its RDATA */
    mb_start(&m, 0x8180, 1, 0);
    n = wire("x.dns.test", t);
    memcpy(rd, t, n);
    rd[n] = 0;
    mb_rr(&m, NULL, CM_DNS_T_CNAME, CM_DNS_C_IN, rd, n + 1);
    assert_int_equal(txt_check(&m, &st, &rcode), PC_ERR_PARSE);
}

/* --- addresses and the public API's argument checks ------------------------ */

static void
test_server_address_forms(void **state)
{
    static const char *const good[] = {"127.0.0.1:53",       "127.0.0.1:5353", "127.0.0.1",
                                       "[::1]:53",           "[::1]",          "::1",
                                       "[2001:db8::1]:65535"};
    static const char *const bad[] = {"",
                                      "127.0.0.1:",
                                      ":53",
                                      "127.0.0.1:0",
                                      "127.0.0.1:65536",
                                      "localhost:53",
                                      "[::1",
                                      "[::1]x",
                                      "[::1]:",
                                      "1.2.3.4:53x",
                                      "1.2.3.4:+53",
                                      "1.2.3.4: 53",
                                      "[127.0.0.1]:53",
                                      "1.2.3:53",
                                      "[]:53",
                                      "::1:53:x"};
    struct cm_dns_server s;
    char err[CM_DNS_REASON_MAX], longer[CM_DNS_ADDR_MAX + 8];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
        assert_int_equal(cm_dns_server_parse(good[i], &s, err, sizeof(err)), PC_OK);
    assert_int_equal(cm_dns_server_parse("127.0.0.1", &s, err, sizeof(err)), PC_OK);
    assert_int_equal(((struct sockaddr_in *)&s.sa)->sin_port, htons(53));
    assert_int_equal(cm_dns_server_parse("[::1]:5353", &s, err, sizeof(err)), PC_OK);
    assert_int_equal(s.sa.ss_family, AF_INET6);
    assert_int_equal(((struct sockaddr_in6 *)&s.sa)->sin6_port, htons(5353));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (cm_dns_server_parse(bad[i], &s, err, sizeof(err)) != PC_ERR_INVALID)
            fail_msg("accepted \"%s\"", bad[i]);
    assert_int_equal(cm_dns_server_parse(NULL, &s, err, sizeof(err)), PC_ERR_INVALID);
    memset(longer, '1', sizeof(longer) - 1);
    longer[sizeof(longer) - 1] = '\0';
    assert_int_equal(cm_dns_server_parse(longer, &s, err, sizeof(err)), PC_ERR_TOO_LARGE);
}

static void
test_rfc2136_bad_arguments_refused(void **state)
{
    struct cm_rfc2136 srv = {"127.0.0.1:9", "example.test", "portcullis-key",
                             "hmac-sha256", secret,         sizeof(secret)};
    char err[CM_DNS_REASON_MAX], big[CM_DNS_TXT_VALUE_MAX + 2];

    (void)state;
    /* nothing is sent for any of these: port 9 (discard) is never reached */
    assert_int_equal(cm_rfc2136_txt(NULL, FQDN, VALUE, true, err, sizeof(err)), PC_ERR_INVALID);
    assert_int_equal(cm_rfc2136_txt(&srv, NULL, VALUE, true, err, sizeof(err)), PC_ERR_INVALID);
    assert_int_equal(cm_rfc2136_txt(&srv, FQDN, NULL, true, err, sizeof(err)), PC_ERR_INVALID);
    assert_int_equal(
        cm_rfc2136_txt(&srv, "_acme-challenge.example.org", VALUE, true, err, sizeof(err)),
        PC_ERR_INVALID);
    assert_string_equal(err, "_acme-challenge.example.org is not in zone example.test");
    assert_int_equal(cm_rfc2136_txt(&srv, "a\\.example.test", VALUE, true, err, sizeof(err)),
                     PC_ERR_INVALID);
    assert_int_equal(cm_rfc2136_txt(&srv, FQDN, "", true, err, sizeof(err)), PC_ERR_INVALID);
    assert_int_equal(cm_rfc2136_txt(&srv, FQDN, "a\nb", true, err, sizeof(err)), PC_ERR_INVALID);
    assert_int_equal(cm_rfc2136_txt(&srv, FQDN, "caf\xc3\xa9", true, err, sizeof(err)),
                     PC_ERR_INVALID);
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(cm_rfc2136_txt(&srv, FQDN, big, true, err, sizeof(err)), PC_ERR_TOO_LARGE);
    srv.key_alg = "hmac-md5";
    assert_int_equal(cm_rfc2136_txt(&srv, FQDN, VALUE, true, err, sizeof(err)), PC_ERR_INVALID);
    srv.key_alg = "hmac-sha256";
    srv.secret_len = 0;
    assert_int_equal(cm_rfc2136_txt(&srv, FQDN, VALUE, true, err, sizeof(err)), PC_ERR_INVALID);
    srv.secret_len = sizeof(secret);
    srv.zone = "example..test";
    assert_int_equal(cm_rfc2136_txt(&srv, FQDN, VALUE, true, err, sizeof(err)), PC_ERR_INVALID);
    srv.zone = "example.test";
    srv.server = "dns.example.test:53";
    assert_int_equal(cm_rfc2136_txt(&srv, FQDN, VALUE, true, err, sizeof(err)), PC_ERR_INVALID);
    assert_non_null(strstr(err, "address"));
    /* err may be absent */
    assert_int_equal(cm_rfc2136_txt(&srv, FQDN, VALUE, true, NULL, 0), PC_ERR_INVALID);
}

static void
test_wait_bad_arguments_refused(void **state)
{
    const char *one[] = {"127.0.0.1:9"};
    const char *bad[] = {"127.0.0.1:9", "resolver.example:53"};
    const char *many[CM_DNS_RESOLVERS_MAX + 1];
    size_t i;

    (void)state;
    for (i = 0; i < CM_DNS_RESOLVERS_MAX + 1; i++)
        many[i] = "127.0.0.1:9";
    assert_int_equal(cm_dns_wait_txt(NULL, 1, FQDN, VALUE, 1000), PC_ERR_INVALID);
    assert_int_equal(cm_dns_wait_txt(one, 0, FQDN, VALUE, 1000), PC_ERR_INVALID);
    assert_int_equal(cm_dns_wait_txt(many, CM_DNS_RESOLVERS_MAX + 1, FQDN, VALUE, 1000),
                     PC_ERR_INVALID);
    assert_int_equal(cm_dns_wait_txt(bad, 2, FQDN, VALUE, 1000), PC_ERR_INVALID);
    assert_int_equal(cm_dns_wait_txt(one, 1, "bad name", VALUE, 1000), PC_ERR_INVALID);
    assert_int_equal(cm_dns_wait_txt(one, 1, NULL, VALUE, 1000), PC_ERR_INVALID);
    assert_int_equal(cm_dns_wait_txt(one, 1, FQDN, "", 1000), PC_ERR_INVALID);
    assert_int_equal(cm_dns_wait_txt(one, 1, FQDN, NULL, 1000), PC_ERR_INVALID);
    assert_int_equal(cm_dns_wait_txt(one, 1, FQDN, VALUE, 0), PC_ERR_INVALID);
    assert_int_equal(cm_dns_wait_txt(one, 1, FQDN, VALUE, CM_DNS_WAIT_MAX_MS + 1), PC_ERR_INVALID);
}

static int cancel_calls;

static bool
cancel_after_three(void)
{
    return ++cancel_calls > 3;
}

/* a wait that would last 60 s ends as soon as the cancel function says so */
static void
test_wait_cancelled(void **state)
{
    const char *one[] = {"127.0.0.1:9"}; /* discard: never answers */
    struct timespec t0, t1;
    long ms;

    (void)state;
    cancel_calls = 0;
    cm_dns_set_cancel(cancel_after_three);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(cm_dns_wait_txt(one, 1, FQDN, VALUE, 60000), PC_ERR_CANCELLED);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cm_dns_set_cancel(NULL);
    ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    assert_true(cancel_calls == 4);
    assert_true(ms < 10000);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_name_encoding_byte_exact),
        cmocka_unit_test(test_name_label_and_length_limits),
        cmocka_unit_test(test_name_bad_text_refused),
        cmocka_unit_test(test_name_compare_and_zone),
        cmocka_unit_test(test_name_read_compression),
        cmocka_unit_test(test_name_read_malicious_refused),
        cmocka_unit_test(test_query_build_byte_exact),
        cmocka_unit_test(test_update_add_sha256_matches_dnspython),
        cmocka_unit_test(test_update_delete_sha512_matches_dnspython),
        cmocka_unit_test(test_update_add_sha384_matches_dnspython),
        cmocka_unit_test(test_update_matches_knsupdate_capture),
        cmocka_unit_test(test_update_build_long_value_split),
        cmocka_unit_test(test_tsig_key_init_checks),
        cmocka_unit_test(test_answer_dnspython_signed_accepted),
        cmocka_unit_test(test_answer_every_bit_flip_refused),
        cmocka_unit_test(test_answer_every_truncation_refused),
        cmocka_unit_test(test_answer_wrong_key_time_or_request_refused),
        cmocka_unit_test(test_answer_unsigned_noerror_refused),
        cmocka_unit_test(test_answer_signed_refused_mapped),
        cmocka_unit_test(test_answer_tsig_errors_mapped),
        cmocka_unit_test(test_msg_parse_structure_checked),
        cmocka_unit_test(test_txt_answer_byte_exact_found),
        cmocka_unit_test(test_txt_answer_not_ours_refused),
        cmocka_unit_test(test_txt_answer_states),
        cmocka_unit_test(test_txt_answer_cname_chain),
        cmocka_unit_test(test_server_address_forms),
        cmocka_unit_test(test_rfc2136_bad_arguments_refused),
        cmocka_unit_test(test_wait_bad_arguments_refused),
        cmocka_unit_test(test_wait_cancelled),
    };

    return cmocka_run_group_tests_name("cm_dns", tests, NULL, NULL);
}
