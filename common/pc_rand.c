/*
 * Per-thread xoshiro256** (Blackman and Vigna), seeded from getrandom(2).
 * See pc_rand.h.
 */
#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "pc_rand.h"

static __thread uint64_t st[4];
static __thread int seeded;

static uint64_t
rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static void
seed(void)
{
    size_t got = 0;

    while (got < sizeof(st)) {
        ssize_t n = getrandom((char *)st + got, sizeof(st) - got, 0);
        if (n > 0) {
            got += (size_t)n;
        } else if (n < 0 && errno != EINTR) {
            /* no entropy source at all: fall back to something unique */
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            st[0] ^= (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ULL;
            st[1] ^= (uint64_t)getpid() << 32 ^ (uint64_t)ts.tv_sec;
            st[2] ^= (uint64_t)(uintptr_t)&got;
            st[3] ^= 0xd1b54a32d192ed03ULL;
            break;
        }
    }
    if ((st[0] | st[1] | st[2] | st[3]) == 0)
        st[0] = 1; /* the all-zero state is a fixed point */
    seeded = 1;
}

uint64_t
pc_fastrand64(void)
{
    uint64_t r, t;

    if (!seeded)
        seed();
    r = rotl(st[1] * 5, 7) * 9;
    t = st[1] << 17;
    st[2] ^= st[0];
    st[3] ^= st[1];
    st[1] ^= st[2];
    st[0] ^= st[3];
    st[2] ^= t;
    st[3] = rotl(st[3], 45);
    return r;
}

void
pc_fastrand_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;

    while (n >= 8) {
        uint64_t v = pc_fastrand64();
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n > 0) {
        uint64_t v = pc_fastrand64();
        memcpy(p, &v, n);
    }
}
