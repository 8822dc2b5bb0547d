/* Ops and autodiff: forward values, shape errors, and every op's gradient against
 * central finite differences; stop_gradient; filtered gradients. */
#include "test_util.h"

typedef enum {
    OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_SCALE, OP_TANH, OP_RELU, OP_GELU, OP_EXP, OP_LOG,
    OP_SQRT, OP_IDENTITY, OP_SUM, OP_MEAN, OP_RESHAPE, OP_TRANSPOSE, OP_MATMUL, OP_LSM,
    OP_CE, OP_MSE
} op_id;

typedef struct fd_case {
    op_id op;
    eqx_array *weights;   /* fixed random projection of the op's output to a scalar */
    eqx_array *labels;    /* for cross-entropy */
    int naxes;
    int axes[3];
} fd_case;

static eqx_status run_op(eqx_ctx *ctx, const fd_case *c, const eqx_array *a,
                         const eqx_array *b, eqx_array **y) {
    switch (c->op) {
    case OP_ADD: return eqx_add(ctx, a, b, y);
    case OP_SUB: return eqx_sub(ctx, a, b, y);
    case OP_MUL: return eqx_mul(ctx, a, b, y);
    case OP_DIV: return eqx_div(ctx, a, b, y);
    case OP_SCALE: return eqx_mul_scalar(ctx, a, -1.7f, y);
    case OP_TANH: return eqx_tanh(ctx, a, y);
    case OP_RELU: return eqx_relu(ctx, a, y);
    case OP_GELU: return eqx_gelu(ctx, a, y);
    case OP_EXP: return eqx_exp(ctx, a, y);
    case OP_LOG: return eqx_log(ctx, a, y);
    case OP_SQRT: return eqx_sqrt(ctx, a, y);
    case OP_IDENTITY: return eqx_identity(ctx, a, y);
    case OP_SUM: return eqx_sum(ctx, a, c->naxes, c->axes, y);
    case OP_MEAN: return eqx_mean(ctx, a, c->naxes, c->axes, y);
    case OP_RESHAPE: {
        int64_t s[2] = {-1, 2};
        return eqx_reshape(ctx, a, 2, s, y);
    }
    case OP_TRANSPOSE: {
        int perm[3] = {2, 0, 1};
        return eqx_transpose(ctx, a, perm, y);
    }
    case OP_MATMUL: return eqx_matmul(ctx, a, b, y);
    case OP_LSM: return eqx_log_softmax(ctx, a, y);
    case OP_CE: return eqx_cross_entropy(ctx, a, c->labels, y);
    case OP_MSE: return eqx_mse(ctx, a, b, y);
    }
    return EQX_ERR_ARG;
}

/* loss = sum(op(inputs) * weights): every output entry influences the loss differently */
static eqx_status op_loss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    const fd_case *c = user;
    const eqx_array *a = eqx_tree_array(eqx_tree_child(model, 0));
    const eqx_array *b = eqx_tree_nchildren(model) > 1 ? eqx_tree_array(eqx_tree_child(model, 1)) : NULL;
    eqx_array *y, *p;
    EQX_TRY(run_op(ctx, c, a, b, &y));
    if (!c->weights) { *loss = y; return EQX_OK; }
    EQX_TRY(eqx_mul(ctx, y, c->weights, &p));
    return eqx_sum(ctx, p, 0, NULL, loss);
}

static eqx_array *rand_arr(int ndim, const int64_t *shape, unsigned seed, float lo, float hi) {
    eqx_array *a = NULL;
    CU_ASSERT_EQUAL_FATAL(eqx_array_new(EQX_F32, ndim, shape, &a), EQX_OK);
    fill(a->data, a->size, seed, lo, hi);
    return a;
}

/* Builds inputs, runs the op once to learn its output shape, then checks gradients. */
static void check_op(op_id op, int nda, const int64_t *sa, float alo, float ahi, int ndb,
                     const int64_t *sb, float blo, float bhi, int naxes, const int *axes) {
    fd_case c = {op, NULL, NULL, naxes, {0}};
    for (int i = 0; i < naxes; i++) c.axes[i] = axes[i];
    eqx_tree *kids[2] = {leaf(rand_arr(nda, sa, 1 + (unsigned)op, alo, ahi)), NULL};
    int nk = 1;
    if (ndb >= 0) kids[nk++] = leaf(rand_arr(ndb, sb, 101 + (unsigned)op, blo, bhi));
    if (op == OP_CE) {
        int64_t rows = sa[0];
        int32_t lab[8] = {2, 0, 1, 3, 1, 0, 2, 3};
        OK(eqx_array_from_i32(1, &rows, lab, &c.labels));
    }
    eqx_tree *model;
    OK(eqx_tuple_new(nk, kids, &model));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    eqx_array *y;
    OK(run_op(ctx, &c, eqx_tree_array(kids[0]), nk > 1 ? eqx_tree_array(kids[1]) : NULL, &y));
    if (y->ndim > 0 || op == OP_SUM || op == OP_MEAN || op == OP_MATMUL)
        c.weights = rand_arr(y->ndim, y->shape, 77, -1.0f, 1.0f);
    eqx_ctx_free(ctx);
    int bad = fd_check(op_loss, model, &c, 1e-2f, 2e-2f, 2e-3f);
    CU_ASSERT_EQUAL(bad, 0);
    eqx_tree_free(model);
    eqx_tree_free(kids[0]);
    eqx_tree_free(kids[1]);
    eqx_array_free(c.weights);
    eqx_array_free(c.labels);
}

static const int64_t S34[2] = {3, 4}, S4[1] = {4}, S31[2] = {3, 1}, S14[2] = {1, 4},
                     S234[3] = {2, 3, 4}, S0[1] = {0};

static void test_grad_add(void) {
    check_op(OP_ADD, 2, S34, -1, 1, 1, S4, -1, 1, 0, NULL);     /* broadcast over rows */
    check_op(OP_ADD, 2, S31, -1, 1, 2, S14, -1, 1, 0, NULL);    /* outer broadcast */
}
static void test_grad_sub(void) { check_op(OP_SUB, 2, S34, -1, 1, 2, S31, -1, 1, 0, NULL); }
static void test_grad_mul(void) {
    check_op(OP_MUL, 2, S34, -1, 1, 2, S34, -1, 1, 0, NULL);
    check_op(OP_MUL, 3, S234, -1, 1, 0, S0, -1, 1, 0, NULL);    /* times a 0-d scalar */
}
static void test_grad_div(void) { check_op(OP_DIV, 2, S34, -1, 1, 1, S4, 0.5f, 2, 0, NULL); }
static void test_grad_scale(void) { check_op(OP_SCALE, 2, S34, -1, 1, -1, NULL, 0, 0, 0, NULL); }
static void test_grad_tanh(void) { check_op(OP_TANH, 2, S34, -2, 2, -1, NULL, 0, 0, 0, NULL); }
static void test_grad_relu(void) {
    /* keep inputs away from the kink at 0, where finite differences are meaningless */
    check_op(OP_RELU, 2, S34, 0.2f, 1, -1, NULL, 0, 0, 0, NULL);
    check_op(OP_RELU, 2, S34, -1, -0.2f, -1, NULL, 0, 0, 0, NULL);
}
static void test_grad_gelu(void) { check_op(OP_GELU, 2, S34, -2, 2, -1, NULL, 0, 0, 0, NULL); }
static void test_grad_exp(void) { check_op(OP_EXP, 2, S34, -1, 1, -1, NULL, 0, 0, 0, NULL); }
static void test_grad_log(void) { check_op(OP_LOG, 2, S34, 0.5f, 2, -1, NULL, 0, 0, 0, NULL); }
static void test_grad_sqrt(void) { check_op(OP_SQRT, 2, S34, 0.5f, 2, -1, NULL, 0, 0, 0, NULL); }
static void test_grad_identity(void) { check_op(OP_IDENTITY, 1, S4, -1, 1, -1, NULL, 0, 0, 0, NULL); }
static void test_grad_sum(void) {
    int ax1[1] = {1}, ax2[2] = {0, -1};
    check_op(OP_SUM, 3, S234, -1, 1, -1, NULL, 0, 0, 1, ax1);
    check_op(OP_SUM, 3, S234, -1, 1, -1, NULL, 0, 0, 2, ax2);
    check_op(OP_SUM, 3, S234, -1, 1, -1, NULL, 0, 0, 0, NULL);
}
static void test_grad_mean(void) {
    int ax[1] = {-1};
    check_op(OP_MEAN, 3, S234, -1, 1, -1, NULL, 0, 0, 1, ax);
    check_op(OP_MEAN, 2, S34, -1, 1, -1, NULL, 0, 0, 0, NULL);
}
static void test_grad_reshape(void) { check_op(OP_RESHAPE, 3, S234, -1, 1, -1, NULL, 0, 0, 0, NULL); }
static void test_grad_transpose(void) {
    check_op(OP_TRANSPOSE, 3, S234, -1, 1, -1, NULL, 0, 0, 0, NULL);
}
static void test_grad_matmul(void) {
    static const int64_t s43[2] = {4, 3}, s3[1] = {3};
    check_op(OP_MATMUL, 2, S34, -1, 1, 2, s43, -1, 1, 0, NULL);   /* (3,4)@(4,3) */
    check_op(OP_MATMUL, 2, S34, -1, 1, 1, S4, -1, 1, 0, NULL);    /* matrix-vector */
    check_op(OP_MATMUL, 1, s3, -1, 1, 2, S34, -1, 1, 0, NULL);    /* vector-matrix */
    check_op(OP_MATMUL, 1, S4, -1, 1, 1, S4, -1, 1, 0, NULL);     /* dot */
}
static void test_grad_log_softmax(void) { check_op(OP_LSM, 2, S34, -2, 2, -1, NULL, 0, 0, 0, NULL); }
static void test_grad_cross_entropy(void) {
    check_op(OP_CE, 2, S34, -2, 2, -1, NULL, 0, 0, 0, NULL);
}
static void test_grad_mse(void) { check_op(OP_MSE, 2, S34, -1, 1, 2, S34, -1, 1, 0, NULL); }

/* ------------------------------------------------------------ forward values */

static void test_forward_values(void) {
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    float av[6] = {1, 2, 3, 4, 5, 6}, bv[6] = {1, 0, 0, 1, 1, 1};
    int64_t s23[2] = {2, 3}, s32[2] = {3, 2}, s3[1] = {3};
    eqx_array *a = arr_f32(2, s23, av), *b = arr_f32(2, s32, bv), *y;
    OK(eqx_matmul(ctx, a, b, &y)); /* [[1+3, 2+3], [4+6, 5+6]] */
    CU_ASSERT_EQUAL(y->ndim, 2);
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[0], 4, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[1], 5, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[2], 10, 1e-6);
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[3], 11, 1e-6);
    float rv[3] = {10, 20, 30};
    eqx_array *r = arr_f32(1, s3, rv);
    OK(eqx_add(ctx, a, r, &y));
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[4], 25, 1e-6);
    int ax[1] = {0};
    OK(eqx_sum(ctx, a, 1, ax, &y));
    CU_ASSERT_EQUAL(y->ndim, 1);
    CU_ASSERT_EQUAL(y->shape[0], 3);
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[2], 9, 1e-6);
    OK(eqx_transpose(ctx, a, NULL, &y));
    CU_ASSERT_EQUAL(y->shape[0], 3);
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[1], 4, 1e-6);
    OK(eqx_log_softmax(ctx, a, &y));
    double z = log(exp(1) + exp(2) + exp(3));
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[0], 1 - z, 1e-5);
    OK(eqx_mean(ctx, a, 0, NULL, &y));
    CU_ASSERT_EQUAL(y->ndim, 0);
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[0], 3.5, 1e-6);
    int32_t lab[2] = {2, 0};
    int64_t s2[1] = {2};
    eqx_array *l;
    OK(eqx_array_from_i32(1, s2, lab, &l));
    OK(eqx_cross_entropy(ctx, a, l, &y));
    double ce = ((z - 3) + (log(exp(4) + exp(5) + exp(6)) - 4)) / 2;
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[0], ce, 1e-5);
    OK(eqx_gelu(ctx, r, &y));
    CU_ASSERT_DOUBLE_EQUAL(((float *)y->data)[0], 10, 1e-4);
    eqx_array_free(a);
    eqx_array_free(b);
    eqx_array_free(r);
    eqx_array_free(l);
    eqx_ctx_free(ctx);
}

static void test_shape_errors(void) {
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t s34[2] = {3, 4}, s5[1] = {5};
    eqx_array *a, *b, *y = (eqx_array *)1;
    OK(eqx_array_new(EQX_F32, 2, s34, &a));
    OK(eqx_array_new(EQX_F32, 1, s5, &b));
    FAILS_WITH(eqx_add(ctx, a, b, &y), EQX_ERR_SHAPE);
    MSG_HAS("(3, 4)");
    MSG_HAS("(5,)");
    CU_ASSERT_PTR_NULL(y);
    FAILS_WITH(eqx_matmul(ctx, a, b, &y), EQX_ERR_SHAPE);
    MSG_HAS("(3, 4) @ (5,)");
    FAILS_WITH(eqx_mse(ctx, a, b, &y), EQX_ERR_SHAPE);
    int64_t bad[1] = {7};
    FAILS_WITH(eqx_reshape(ctx, a, 1, bad, &y), EQX_ERR_SHAPE);
    int ax[1] = {2};
    FAILS_WITH(eqx_sum(ctx, a, 1, ax, &y), EQX_ERR_ARG);
    eqx_array *iv;
    OK(eqx_array_new(EQX_I32, 1, s5, &iv));
    FAILS_WITH(eqx_tanh(ctx, iv, &y), EQX_ERR_DTYPE);
    MSG_HAS("int32");
    int32_t labs[3] = {0, 9, 1};
    int64_t s3[1] = {3};
    eqx_array *l;
    OK(eqx_array_from_i32(1, s3, labs, &l));
    FAILS_WITH(eqx_cross_entropy(ctx, a, l, &y), EQX_ERR_ARG);
    MSG_HAS("label 9");
    eqx_array_free(l);
    eqx_array_free(iv);
    eqx_array_free(a);
    eqx_array_free(b);
    eqx_ctx_free(ctx);
}

/* ------------------------------------------------------------ stop_gradient and filtering */

static eqx_status sg_loss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    (void)user;
    const eqx_array *x = eqx_tree_array(eqx_tree_child(model, 0));
    const eqx_array *w = eqx_tree_array(eqx_tree_child(model, 1));
    eqx_array *xs, *p;
    EQX_TRY(eqx_stop_gradient(ctx, x, &xs));
    EQX_TRY(eqx_mul(ctx, xs, w, &p));   /* d/dw = x, d/dx = 0 through the stop */
    EQX_TRY(eqx_add(ctx, p, x, &p));    /* ...plus 1 through this direct use */
    return eqx_sum(ctx, p, 0, NULL, loss);
}

static void test_stop_gradient(void) {
    int64_t s3[1] = {3};
    float xv[3] = {1, 2, 3}, wv[3] = {4, 5, 6};
    eqx_tree *kids[2] = {leaf(arr_f32(1, s3, xv)), leaf(arr_f32(1, s3, wv))}, *model, *g;
    OK(eqx_tuple_new(2, kids, &model));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    float v;
    OK(eqx_filter_value_and_grad(ctx, sg_loss, model, NULL, &v, &g));
    CU_ASSERT_DOUBLE_EQUAL(v, 4 + 10 + 18 + 6, 1e-5);
    const float *gx = eqx_tree_array(eqx_tree_child(g, 0))->data;
    const float *gw = eqx_tree_array(eqx_tree_child(g, 1))->data;
    for (int i = 0; i < 3; i++) {
        CU_ASSERT_DOUBLE_EQUAL(gx[i], 1.0, 1e-6); /* only the direct use */
        CU_ASSERT_DOUBLE_EQUAL(gw[i], xv[i], 1e-6);
    }
    /* forward is the identity and shares storage */
    eqx_array *xs;
    OK(eqx_stop_gradient(ctx, eqx_tree_array(kids[0]), &xs));
    CU_ASSERT_PTR_EQUAL(xs->data, eqx_tree_array(kids[0])->data);
    eqx_tree_free(g);
    eqx_tree_free(model);
    eqx_tree_free(kids[0]);
    eqx_tree_free(kids[1]);
    eqx_ctx_free(ctx);
}

static eqx_status first_leaf_loss(eqx_ctx *ctx, const eqx_tree *model, void *user,
                                  eqx_array **loss) {
    (void)user;
    eqx_array *y;
    EQX_TRY(eqx_tanh(ctx, eqx_tree_array(eqx_tree_field(model, "w")), &y));
    return eqx_sum(ctx, y, 0, NULL, loss);
}

static eqx_status vector_loss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    (void)user;
    return eqx_tanh(ctx, eqx_tree_array(eqx_tree_field(model, "w")), loss);
}

static void test_filtered_grads(void) {
    int64_t s2[1] = {2};
    float wv[2] = {0.5f, -0.5f};
    int32_t iv[2] = {1, 2};
    eqx_array *ia;
    OK(eqx_array_from_i32(1, s2, iv, &ia));
    eqx_tree *kids[4] = {leaf(arr_f32(1, s2, wv)), leaf(ia), NULL, NULL}, *model, *g;
    OK(eqx_leaf_fn("tanh", eqx_tanh, &kids[2]));
    OK(eqx_leaf_string("hello", &kids[3]));
    const char *keys[4] = {"w", "ints", "act", "name"};
    OK(eqx_dict_new(4, keys, kids, &model));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    float v;
    OK(eqx_filter_value_and_grad(ctx, first_leaf_loss, model, NULL, &v, &g));
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_field(g, "ints")), EQX_NONE);
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_field(g, "act")), EQX_NONE);
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_field(g, "name")), EQX_NONE);
    const float *gw = eqx_tree_array(eqx_tree_field(g, "w"))->data;
    CU_ASSERT_DOUBLE_EQUAL(gw[0], 1 - tanh(0.5) * tanh(0.5), 1e-6);
    eqx_tree_free(g);
    eqx_tree *g2 = (eqx_tree *)1;
    FAILS_WITH(eqx_filter_value_and_grad(ctx, vector_loss, model, NULL, &v, &g2), EQX_ERR_SHAPE);
    MSG_HAS("scalar");
    CU_ASSERT_PTR_NULL(g2);
    eqx_ctx_free(ctx);
    eqx_tree_free(model);
    for (int i = 0; i < 4; i++) eqx_tree_free(kids[i]);
}


static eqx_status nested_loss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    (void)user;
    float v;
    eqx_tree *g = (eqx_tree *)1;
    eqx_status s = eqx_filter_value_and_grad(ctx, first_leaf_loss, model, NULL, &v, &g);
    CU_ASSERT_EQUAL(s, EQX_ERR_UNSUPPORTED);
    CU_ASSERT_PTR_NULL(g);
    eqx_ctx_reset(ctx); /* ignored while recording: the tape still needs its values */
    return first_leaf_loss(ctx, model, NULL, loss);
}

static void test_nested_grad_and_reset(void) {
    int64_t s2[1] = {2};
    float wv[2] = {0.5f, -0.5f};
    eqx_tree *w = leaf(arr_f32(1, s2, wv)), *model, *g;
    const char *keys[1] = {"w"};
    OK(eqx_dict_new(1, keys, &w, &model));
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    float v;
    OK(eqx_filter_value_and_grad(ctx, nested_loss, model, NULL, &v, &g));
    CU_ASSERT_DOUBLE_EQUAL(((float *)eqx_tree_array(eqx_tree_field(g, "w"))->data)[1],
                           1 - tanh(0.5) * tanh(0.5), 1e-6);
    eqx_tree_free(g);
    eqx_ctx_free(ctx);
    eqx_tree_free(model);
    eqx_tree_free(w);
}

static void test_reshape_and_views(void) {
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    int64_t s[3] = {2, 3, 4}, t[2] = {-1, 6};
    eqx_array *a, *y;
    OK(eqx_array_new(EQX_F32, 3, s, &a));
    OK(eqx_reshape(ctx, a, 2, t, &y));
    CU_ASSERT_EQUAL(y->shape[0], 4);
    CU_ASSERT_EQUAL(y->shape[1], 6);
    CU_ASSERT_PTR_EQUAL(y->data, a->data); /* a view, no copy */
    eqx_array_free(a);                      /* the view keeps the storage alive */
    ((float *)y->data)[23] = 1.0f;
    OK(eqx_sum(ctx, y, 0, NULL, &y));
    CU_ASSERT_EQUAL(((float *)y->data)[0], 1.0f);
    FAILS_WITH(eqx_add(NULL, y, y, &y), EQX_ERR_ARG);
    MSG_HAS("eqx_ctx_new");
    eqx_ctx_free(ctx);
}

static const test_case cases[] = {
    {"grad add (broadcast)", test_grad_add},
    {"grad sub", test_grad_sub},
    {"grad mul", test_grad_mul},
    {"grad div", test_grad_div},
    {"grad mul_scalar", test_grad_scale},
    {"grad tanh", test_grad_tanh},
    {"grad relu", test_grad_relu},
    {"grad gelu", test_grad_gelu},
    {"grad exp", test_grad_exp},
    {"grad log", test_grad_log},
    {"grad sqrt", test_grad_sqrt},
    {"grad identity", test_grad_identity},
    {"grad sum over axes", test_grad_sum},
    {"grad mean over axes", test_grad_mean},
    {"grad reshape", test_grad_reshape},
    {"grad transpose", test_grad_transpose},
    {"grad matmul (4 forms)", test_grad_matmul},
    {"grad log_softmax", test_grad_log_softmax},
    {"grad cross_entropy", test_grad_cross_entropy},
    {"grad mse", test_grad_mse},
    {"forward values", test_forward_values},
    {"shape errors name both shapes", test_shape_errors},
    {"stop_gradient blocks the gradient", test_stop_gradient},
    {"only inexact leaves get gradients", test_filtered_grads},
    {"nested grad refused, reset inside a loss ignored", test_nested_grad_and_reset},
    {"reshape is a view; NULL ctx is an error", test_reshape_and_views},
    {NULL, NULL}};

int main(void) { return run_suite("runtime_ops", cases); }
