/* Seeded RNG, identical on every platform: xoshiro256** (Blackman & Vigna)
 * seeded by splitmix64.  Normals use the polar method with our own logarithm
 * (only IEEE +, *, / and sqrt, all correctly rounded), so the stream does not
 * depend on the platform's libm.  This file is built with -ffp-contract=off. */
#include "../internal.h"

#include <math.h>

static uint64_t nb__splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void nb_rng_seed(nb_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++) r->s[i] = nb__splitmix(&x);
    r->spare = 0.0;
    r->has_spare = 0;
}

static inline uint64_t nb__rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nb_rng_u64(nb_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = nb__rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = nb__rotl(s[3], 45);
    return out;
}

double nb_rng_uniform(nb_rng *r) { return (double)(nb_rng_u64(r) >> 11) * 0x1.0p-53; }

uint64_t nb_rng_below(nb_rng *r, uint64_t n)
{
    /* Rejection on the top of the range keeps it unbiased. */
    uint64_t lim = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = nb_rng_u64(r);
    while (x >= lim);
    return x % n;
}

/* ln(x) for x in (0, 1]: x = m * 2^e with m in [sqrt(1/2), sqrt(2)),
 * ln m = 2 atanh(s), s = (m-1)/(m+1), by its odd series to |s|^41. */
static double nb__det_log(double x)
{
    int e = 0;
    while (x < 0.70710678118654752) {
        x *= 2.0;
        e--;
    }
    while (x >= 1.4142135623730951) {
        x *= 0.5;
        e++;
    }
    double s = (x - 1.0) / (x + 1.0), s2 = s * s, term = s, sum = 0.0;
    for (int k = 1; k <= 41; k += 2) {
        sum += term / k;
        term *= s2;
    }
    return 2.0 * sum + e * 0.69314718055994531;
}

double nb_rng_normal(nb_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u, v, q;
    do {
        u = 2.0 * nb_rng_uniform(r) - 1.0;
        v = 2.0 * nb_rng_uniform(r) - 1.0;
        q = u * u + v * v;
    } while (q >= 1.0 || q == 0.0);
    double m = sqrt(-2.0 * nb__det_log(q) / q);
    r->spare = v * m;
    r->has_spare = 1;
    return u * m;
}
