/*
 * rng.c — the xoshiro256** generator seeded through splitmix64.
 *
 * One small generator for everything random in the core (initialisation, shuffling, sampling), so
 * a seed fixes a run on every platform: no rand(), no platform-dependent library distributions.
 */
#include "cropnet.h"

#include <math.h>

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cn_rng_seed(cn_rng *rng, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&seed);
}

uint64_t cn_rng_next(cn_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double cn_rng_uniform(cn_rng *rng) { return (double)(cn_rng_next(rng) >> 11) * 0x1.0p-53; }

/* Box–Muller without caching the second value, so the stream depends only on the call count. */
double cn_rng_normal(cn_rng *rng)
{
    double u1 = 1.0 - cn_rng_uniform(rng); /* in (0, 1]: log is finite */
    double u2 = cn_rng_uniform(rng);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Lemire's nearly-divisionless method would be faster; rejection keeps it obviously unbiased. */
uint64_t cn_rng_below(cn_rng *rng, uint64_t n)
{
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = cn_rng_next(rng);
    while (x >= limit);
    return x % n;
}
