/*
 * test_util.h — shared helpers for the libeqx CUnit suites: a main() that registers a
 * suite and exits non-zero on any failed assertion, status assertions that print
 * eqx_errmsg() on failure, and a finite-difference gradient checker.
 */
#ifndef EQX_TEST_UTIL_H
#define EQX_TEST_UTIL_H

#include <CUnit/Basic.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eqx.h"

#define OK(expr)                                                                        \
    do {                                                                                \
        eqx_status s_ = (expr);                                                         \
        if (s_ != EQX_OK) fprintf(stderr, "%s:%d: %s -> %s: %s\n", __FILE__, __LINE__,  \
                                  #expr, eqx_status_name(s_), eqx_errmsg());            \
        CU_ASSERT_EQUAL_FATAL(s_, EQX_OK);                                               \
    } while (0)

#define FAILS_WITH(expr, code)                                                          \
    do {                                                                                \
        eqx_status s_ = (expr);                                                         \
        if (s_ != (code)) fprintf(stderr, "%s:%d: %s -> %s (wanted %s): %s\n", __FILE__, \
                                  __LINE__, #expr, eqx_status_name(s_),                 \
                                  eqx_status_name(code), eqx_errmsg());                 \
        CU_ASSERT_EQUAL(s_, (code));                                                     \
    } while (0)

#define MSG_HAS(needle)                                                                 \
    do {                                                                                \
        bool has_ = strstr(eqx_errmsg(), (needle)) != NULL;                             \
        if (!has_) fprintf(stderr, "%s:%d: message lacks \"%s\": %s\n", __FILE__,        \
                           __LINE__, (needle), eqx_errmsg());                           \
        CU_ASSERT_TRUE(has_);                                                           \
    } while (0)

typedef struct test_case {
    const char *name;
    void (*fn)(void);
} test_case;

static inline int run_suite(const char *suite, const test_case *cases) {
    if (CU_initialize_registry() != CUE_SUCCESS) return 2;
    CU_pSuite s = CU_add_suite(suite, NULL, NULL);
    for (const test_case *c = cases; c->name; c++) CU_add_test(s, c->name, c->fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    unsigned failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    unsigned run = CU_get_number_of_tests_run();
    CU_cleanup_registry();
    return failures == 0 && run > 0 ? 0 : 1;
}

/* Array helpers that abort the test (not the library) on failure. */
static inline eqx_array *arr_f32(int ndim, const int64_t *shape, const float *v) {
    eqx_array *a = NULL;
    eqx_status s = eqx_array_from_f32(ndim, shape, v, &a);
    CU_ASSERT_EQUAL_FATAL(s, EQX_OK);
    return a;
}

static inline eqx_tree *leaf(eqx_array *a) {
    eqx_tree *t = NULL;
    eqx_status s = eqx_leaf_array(a, &t);
    CU_ASSERT_EQUAL_FATAL(s, EQX_OK);
    eqx_array_free(a); /* the leaf holds it now */
    return t;
}

/* Random-ish deterministic fill in [lo, hi). */
static inline void fill(float *d, int64_t n, unsigned seed, float lo, float hi) {
    unsigned x = seed * 2654435761u + 12345u;
    for (int64_t i = 0; i < n; i++) {
        x = x * 1664525u + 1013904223u;
        d[i] = lo + (hi - lo) * (float)((x >> 8) & 0xFFFF) / 65536.0f;
    }
}

/* Finite-difference check of eqx_filter_value_and_grad on every float leaf of model.
 * Central differences with step eps; passes when |fd - ad| <= atol + rtol * max(|fd|,|ad|).
 * Leaves whose bit is set in skip_leaves are not perturbed (e.g. stop_gradient buffers,
 * whose true derivative is deliberately not the autodiff one).
 * Returns the number of mismatching entries (and prints them). */
static inline int fd_check_skip(eqx_loss_fn fn, eqx_tree *model, void *user, float eps,
                                float rtol, float atol, unsigned skip_leaves) {
    eqx_ctx *ctx = NULL;
    eqx_tree *grads = NULL, **leaves = NULL, **gleaves = NULL;
    eqx_treedef *td = NULL, *gtd = NULL;
    int n = 0, gn = 0, bad = 0;
    float val;
    CU_ASSERT_EQUAL_FATAL(eqx_ctx_new(&ctx), EQX_OK);
    eqx_status s = eqx_filter_value_and_grad(ctx, fn, model, user, &val, &grads);
    if (s) fprintf(stderr, "fd_check: %s\n", eqx_errmsg());
    CU_ASSERT_EQUAL_FATAL(s, EQX_OK);
    eqx_ctx_reset(ctx);
    CU_ASSERT_EQUAL_FATAL(eqx_tree_flatten(model, &td, &leaves, &n), EQX_OK);
    CU_ASSERT_EQUAL_FATAL(eqx_tree_flatten(grads, &gtd, &gleaves, &gn), EQX_OK);
    CU_ASSERT_EQUAL_FATAL(n, gn);
    int checked = 0;
    for (int i = 0; i < n; i++) {
        eqx_array *a = eqx_tree_array(leaves[i]);
        if (!a || a->dtype != EQX_F32) {
            CU_ASSERT_EQUAL(eqx_tree_kind(gleaves[i]), EQX_NONE);
            continue;
        }
        eqx_array *g = eqx_tree_array(gleaves[i]);
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        if (i < 32 && (skip_leaves >> i) & 1u) continue;
        float *d = a->data; /* perturbed in place and restored: test-only liberty */
        for (int64_t k = 0; k < a->size; k++) {
            float orig = d[k];
            float lp, lm;
            eqx_array *out = NULL;
            d[k] = orig + eps;
            CU_ASSERT_EQUAL_FATAL(fn(ctx, model, user, &out), EQX_OK);
            lp = ((float *)out->data)[0];
            eqx_ctx_reset(ctx);
            d[k] = orig - eps;
            CU_ASSERT_EQUAL_FATAL(fn(ctx, model, user, &out), EQX_OK);
            lm = ((float *)out->data)[0];
            eqx_ctx_reset(ctx);
            d[k] = orig;
            double fd = ((double)lp - (double)lm) / (2.0 * eps);
            double ad = ((float *)g->data)[k];
            double tol = atol + rtol * fmax(fabs(fd), fabs(ad));
            if (fabs(fd - ad) > tol) {
                if (bad < 8) fprintf(stderr, "  leaf %d entry %lld: fd %.6g vs autodiff %.6g\n", i,
                                     (long long)k, fd, ad);
                bad++;
            }
            checked++;
        }
    }
    CU_ASSERT_TRUE(checked > 0);
    eqx_leaves_free(leaves, n);
    eqx_leaves_free(gleaves, gn);
    eqx_treedef_free(td);
    eqx_treedef_free(gtd);
    eqx_tree_free(grads);
    eqx_ctx_free(ctx);
    return bad;
}

static inline int fd_check(eqx_loss_fn fn, eqx_tree *model, void *user, float eps, float rtol,
                           float atol) {
    return fd_check_skip(fn, model, user, eps, rtol, atol, 0);
}

#endif
