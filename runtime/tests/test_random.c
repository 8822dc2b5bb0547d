/* PRNG: threefry known-answer vectors, determinism, split independence, and the
 * distribution of uniform/normal samples. */
#include "test_util.h"
#include "eqx_internal.h"

static void test_threefry_kat(void) {
    /* Random123's published threefry2x32_20 vectors (also used by JAX's tests) */
    struct { uint32_t key[2], ctr[2], out[2]; } v[3] = {
        {{0, 0}, {0, 0}, {0x6b200159u, 0x99ba4efeu}},
        {{0xffffffffu, 0xffffffffu}, {0xffffffffu, 0xffffffffu}, {0x1cb996fcu, 0xbb002be7u}},
        {{0x13198a2eu, 0x03707344u}, {0x243f6a88u, 0x85a308d3u}, {0xc4923a9cu, 0x483df7a0u}}};
    for (int i = 0; i < 3; i++) {
        uint32_t a = v[i].ctr[0], b = v[i].ctr[1];
        eqx__threefry2x32(v[i].key, &a, &b);
        CU_ASSERT_EQUAL(a, v[i].out[0]);
        CU_ASSERT_EQUAL(b, v[i].out[1]);
    }
}

static void test_same_key_same_numbers(void) {
    int64_t s[2] = {10, 7};
    eqx_array *a, *b, *c;
    OK(eqx_random_normal(eqx_prng_key(5), 2, s, &a));
    OK(eqx_random_normal(eqx_prng_key(5), 2, s, &b));
    OK(eqx_random_normal(eqx_prng_key(6), 2, s, &c));
    CU_ASSERT_EQUAL(memcmp(a->data, b->data, 70 * 4), 0);
    CU_ASSERT_NOT_EQUAL(memcmp(a->data, c->data, 70 * 4), 0);
    eqx_array_free(a);
    eqx_array_free(b);
    eqx_array_free(c);
    eqx_key k1 = eqx_prng_key(0x123456789abcdefull);
    CU_ASSERT_EQUAL(k1.k[0], 0x01234567u); /* high word first, as JAX */
    CU_ASSERT_EQUAL(k1.k[1], 0x89abcdefu);
}

static void test_split(void) {
    eqx_key keys[8], again[8];
    eqx_key k = eqx_prng_key(0);
    eqx_prng_split(k, 8, keys);
    eqx_prng_split(k, 8, again);
    CU_ASSERT_EQUAL(memcmp(keys, again, sizeof keys), 0);
    for (int i = 0; i < 8; i++) {
        CU_ASSERT_FALSE(keys[i].k[0] == k.k[0] && keys[i].k[1] == k.k[1]);
        for (int j = 0; j < i; j++)
            CU_ASSERT_FALSE(keys[i].k[0] == keys[j].k[0] && keys[i].k[1] == keys[j].k[1]);
    }
    /* split keys give different streams */
    int64_t s[1] = {16};
    eqx_array *a, *b;
    OK(eqx_random_uniform(keys[0], 1, s, 0, 1, &a));
    OK(eqx_random_uniform(keys[1], 1, s, 0, 1, &b));
    CU_ASSERT_NOT_EQUAL(memcmp(a->data, b->data, 64), 0);
    eqx_array_free(a);
    eqx_array_free(b);
}

static void test_distributions(void) {
    int64_t s[1] = {20001}; /* odd: exercises the padding of the counter pairs */
    eqx_array *u, *n;
    OK(eqx_random_uniform(eqx_prng_key(11), 1, s, -2.0f, 3.0f, &u));
    OK(eqx_random_normal(eqx_prng_key(12), 1, s, &n));
    double mu = 0, mn = 0, vn = 0;
    float lo = 1e9f, hi = -1e9f;
    for (int64_t i = 0; i < s[0]; i++) {
        float x = ((float *)u->data)[i];
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        mu += x;
        mn += ((float *)n->data)[i];
    }
    mu /= (double)s[0];
    mn /= (double)s[0];
    for (int64_t i = 0; i < s[0]; i++) vn += pow(((float *)n->data)[i] - mn, 2);
    vn /= (double)s[0];
    CU_ASSERT_TRUE(lo >= -2.0f && hi < 3.0f);
    CU_ASSERT_DOUBLE_EQUAL(mu, 0.5, 0.05);
    CU_ASSERT_DOUBLE_EQUAL(mn, 0.0, 0.03);
    CU_ASSERT_DOUBLE_EQUAL(vn, 1.0, 0.04);
    eqx_array_free(u);
    eqx_array_free(n);
}

static const test_case cases[] = {
    {"threefry2x32 known-answer vectors", test_threefry_kat},
    {"same key, same numbers", test_same_key_same_numbers},
    {"split gives distinct, reproducible keys", test_split},
    {"uniform range and normal moments", test_distributions},
    {NULL, NULL}};

int main(void) { return run_suite("runtime_random", cases); }
