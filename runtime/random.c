/*
 * random.c — counter-based PRNG keys (threefry-2x32, 20 rounds, as in JAX).
 *
 * Design: a key is two 32-bit words and is never mutated; randomness comes from hashing
 * counters under the key, so the same key always gives the same numbers and split keys
 * are independent streams. Split and bit generation follow JAX's layout (threefry over
 * iota counters, first half / second half), which keeps results reproducible across
 * shapes without any hidden global state.
 */
#include "eqx_internal.h"

#include <math.h>

static uint32_t rotl32(uint32_t x, int r) { return (x << r) | (x >> (32 - r)); }

void eqx__threefry2x32(const uint32_t key[2], uint32_t *x0p, uint32_t *x1p) {
    static const int R[2][4] = {{13, 15, 26, 6}, {17, 29, 16, 24}};
    uint32_t ks[3] = {key[0], key[1], key[0] ^ key[1] ^ 0x1BD11BDAu};
    uint32_t x0 = *x0p + ks[0], x1 = *x1p + ks[1];
    for (int g = 0; g < 5; g++) {
        for (int r = 0; r < 4; r++) {
            x0 += x1;
            x1 = rotl32(x1, R[g & 1][r]);
            x1 ^= x0;
        }
        x0 += ks[(g + 1) % 3];
        x1 += ks[(g + 2) % 3] + (uint32_t)(g + 1);
    }
    *x0p = x0;
    *x1p = x1;
}

/* n pseudo-random words: threefry over counters 0..m-1 (m = n rounded up to even),
 * pairing counter j with counter j + m/2, as JAX's threefry_2x32 does. */
static void random_bits(eqx_key key, uint32_t *out, int64_t n) {
    int64_t m = n + (n & 1), h = m / 2;
    for (int64_t j = 0; j < h; j++) {
        uint32_t a = (uint32_t)j, b = (uint32_t)(j + h);
        eqx__threefry2x32(key.k, &a, &b);
        out[j] = a;
        if (j + h < n) out[j + h] = b;
    }
}

eqx_key eqx_prng_key(uint64_t seed) {
    eqx_key k = {{(uint32_t)(seed >> 32), (uint32_t)seed}};
    return k;
}

void eqx_prng_split(eqx_key key, int n, eqx_key *out) {
    for (int i = 0; i < n; i++) {
        /* word 2i and 2i+1 of bits(iota(2n)) */
        uint32_t w[2];
        for (int t = 0; t < 2; t++) {
            int64_t idx = 2 * (int64_t)i + t, h = n;
            uint32_t a, b;
            if (idx < h) { a = (uint32_t)idx; b = (uint32_t)(idx + h); }
            else { a = (uint32_t)(idx - h); b = (uint32_t)idx; }
            eqx__threefry2x32(key.k, &a, &b);
            w[t] = idx < h ? a : b;
        }
        out[i].k[0] = w[0];
        out[i].k[1] = w[1];
    }
}

static float bits_to_unit(uint32_t b) {
    /* 23 random mantissa bits under exponent 0 give [1, 2); subtract 1 for [0, 1) */
    union { uint32_t u; float f; } v;
    v.u = (b >> 9) | 0x3F800000u;
    return v.f - 1.0f;
}

eqx_status eqx_random_uniform(eqx_key key, int ndim, const int64_t *shape, float lo,
                              float hi, eqx_array **out) {
    EQX_TRY(eqx__array_alloc(EQX_F32, ndim, shape, false, out));
    eqx_array *a = *out;
    uint32_t *bits = eqx__malloc(sizeof(uint32_t) * (size_t)(a->size ? a->size : 1));
    if (!bits) { eqx_array_free(a); *out = NULL; return eqx__nomem(); }
    random_bits(key, bits, a->size);
    float *d = a->data;
    for (int64_t i = 0; i < a->size; i++) {
        float v = lo + (hi - lo) * bits_to_unit(bits[i]);
        d[i] = v < lo ? lo : v;
    }
    eqx__free(bits);
    return EQX_OK;
}

eqx_status eqx_random_normal(eqx_key key, int ndim, const int64_t *shape, eqx_array **out) {
    EQX_TRY(eqx__array_alloc(EQX_F32, ndim, shape, false, out));
    eqx_array *a = *out;
    int64_t n = a->size;
    uint32_t *bits = eqx__malloc(sizeof(uint32_t) * (size_t)(n > 0 ? 2 * n : 1));
    if (!bits) { eqx_array_free(a); *out = NULL; return eqx__nomem(); }
    random_bits(key, bits, 2 * n);
    float *d = a->data;
    for (int64_t i = 0; i < n; i++) {
        /* Box-Muller on a pair; 1 - u keeps the log argument in (0, 1] */
        double u1 = 1.0 - (double)bits_to_unit(bits[2 * i]);
        double u2 = (double)bits_to_unit(bits[2 * i + 1]);
        d[i] = (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
    }
    eqx__free(bits);
    return EQX_OK;
}
