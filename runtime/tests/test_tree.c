/* Trees: construction, flatten/unflatten, static fields, filter/partition/combine,
 * tree_at, and the one-node-one-place check with its messages. */
#include "test_util.h"

static const eqx_field pair_fields[3] = {{"a", false}, {"b", false}, {"size", true}};
static const eqx_module_type pair_type = {"Pair", 3, pair_fields, NULL};

static eqx_tree *scalar(double v) {
    eqx_tree *t;
    OK(eqx_leaf_scalar(v, &t));
    return t;
}

static eqx_tree *vec(float v0, float v1) {
    int64_t s[1] = {2};
    float d[2] = {v0, v1};
    return leaf(arr_f32(1, s, d));
}

/* Pair(a=[1,2], b=fn relu, size=static 2) */
static eqx_tree *make_pair(float v, double size) {
    eqx_tree *k[3] = {vec(v, v + 1), NULL, scalar(size)}, *m;
    OK(eqx_leaf_fn("relu", eqx_relu, &k[1]));
    OK(eqx_module_new(&pair_type, k, &m));
    for (int i = 0; i < 3; i++) eqx_tree_free(k[i]);
    return m;
}

static void test_flatten_roundtrip(void) {
    eqx_tree *p0 = make_pair(1, 2), *p1 = make_pair(5, 2), *str, *lst, *root;
    OK(eqx_leaf_string("hi", &str));
    eqx_tree *lk[3] = {p0, eqx_none(), str};
    OK(eqx_list_new(3, lk, &lst));
    const char *keys[2] = {"zeta", "alpha"};
    eqx_tree *dk[2] = {lst, p1};
    OK(eqx_dict_new(2, keys, dk, &root));
    /* dict keys are sorted: alpha first */
    CU_ASSERT_STRING_EQUAL(eqx_tree_key(root, 0), "alpha");
    CU_ASSERT_PTR_EQUAL(eqx_tree_field(root, "zeta"), lst);

    eqx_treedef *td;
    eqx_tree **leaves;
    int n;
    OK(eqx_tree_flatten(root, &td, &leaves, &n));
    /* alpha: a, b (size is static, not a leaf); zeta: [a, b], none, "hi" */
    CU_ASSERT_EQUAL(n, 6);
    CU_ASSERT_EQUAL(eqx_treedef_num_leaves(td), 6);
    CU_ASSERT_EQUAL(((float *)eqx_tree_array(leaves[0])->data)[0], 5.0f);
    CU_ASSERT_EQUAL(eqx_tree_kind(leaves[1]), EQX_LEAF_FN);
    CU_ASSERT_EQUAL(((float *)eqx_tree_array(leaves[2])->data)[0], 1.0f);
    CU_ASSERT_EQUAL(eqx_tree_kind(leaves[4]), EQX_NONE);
    CU_ASSERT_STRING_EQUAL(eqx_tree_string(leaves[5]), "hi");
    eqx_tree *back;
    OK(eqx_tree_unflatten(td, leaves, n, &back));
    CU_ASSERT_PTR_NOT_EQUAL(back, root);
    eqx_tree *bp = eqx_tree_field(back, "alpha");
    CU_ASSERT_PTR_EQUAL(eqx_tree_module_type(bp), &pair_type);
    CU_ASSERT_EQUAL(eqx_tree_scalar(eqx_tree_field(bp, "size")), 2.0); /* static restored */
    CU_ASSERT_PTR_EQUAL(eqx_tree_array(eqx_tree_field(bp, "a")), eqx_tree_array(eqx_tree_field(p1, "a")));
    eqx_tree *short_back = (eqx_tree *)1;
    FAILS_WITH(eqx_tree_unflatten(td, leaves, n - 1, &short_back), EQX_ERR_STRUCTURE);
    CU_ASSERT_PTR_NULL(short_back);

    /* a different static value is a different treedef, same leaves or not */
    eqx_tree *q = make_pair(5, 3), *q2 = make_pair(9, 2);
    eqx_treedef *tq, *tq2, *tp;
    eqx_tree **lq, **lq2, **lp;
    int nq, nq2, np;
    OK(eqx_tree_flatten(q, &tq, &lq, &nq));
    OK(eqx_tree_flatten(q2, &tq2, &lq2, &nq2));
    OK(eqx_tree_flatten(p1, &tp, &lp, &np));
    CU_ASSERT_FALSE(eqx_treedef_equal(tq, tp));
    CU_ASSERT_TRUE(eqx_treedef_equal(tq2, tp));
    eqx_treedef_free(tq); eqx_treedef_free(tq2); eqx_treedef_free(tp);
    eqx_leaves_free(lq, nq); eqx_leaves_free(lq2, nq2); eqx_leaves_free(lp, np);
    eqx_tree_free(q); eqx_tree_free(q2);

    eqx_tree_free(back);
    eqx_leaves_free(leaves, n);
    eqx_treedef_free(td);
    eqx_tree_free(root);
    eqx_tree_free(lst);
    eqx_tree_free(str);
    eqx_tree_free(p0);
    eqx_tree_free(p1);
}

static void test_filter_partition_combine(void) {
    eqx_tree *p = make_pair(1, 2), *ints, *tup;
    int64_t s[1] = {1};
    int32_t iv[1] = {7};
    eqx_array *ia;
    OK(eqx_array_from_i32(1, s, iv, &ia));
    ints = leaf(ia);
    eqx_tree *k[2] = {p, ints};
    OK(eqx_tuple_new(2, k, &tup));

    CU_ASSERT_TRUE(eqx_is_array(ints));
    CU_ASSERT_FALSE(eqx_is_inexact_array(ints));
    CU_ASSERT_TRUE(eqx_is_inexact_array(eqx_tree_field(p, "a")));
    CU_ASSERT_FALSE(eqx_is_array(eqx_tree_field(p, "b")));

    eqx_tree *arrays;
    OK(eqx_filter(tup, eqx_is_array, &arrays));
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_field(eqx_tree_child(arrays, 0), "b")), EQX_NONE);
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_child(arrays, 1)), EQX_LEAF_ARRAY);
    CU_ASSERT_EQUAL(eqx_tree_scalar(eqx_tree_field(eqx_tree_child(arrays, 0), "size")), 2.0);

    eqx_tree *yes, *no, *back;
    OK(eqx_partition(tup, eqx_is_inexact_array, &yes, &no));
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_child(yes, 1)), EQX_NONE);
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_child(no, 1)), EQX_LEAF_ARRAY);
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_field(eqx_tree_child(no, 0), "a")), EQX_NONE);
    OK(eqx_combine(yes, no, &back));
    eqx_tree *bp = eqx_tree_child(back, 0);
    CU_ASSERT_PTR_EQUAL(eqx_tree_array(eqx_tree_field(bp, "a")), eqx_tree_array(eqx_tree_field(p, "a")));
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_tree_field(bp, "b")), EQX_LEAF_FN);
    CU_ASSERT_PTR_EQUAL(eqx_tree_array(eqx_tree_child(back, 1)), ia);

    /* combining halves of different trees is a structure error */
    eqx_tree *other = make_pair(1, 2), *bad = (eqx_tree *)1;
    FAILS_WITH(eqx_combine(yes, other, &bad), EQX_ERR_STRUCTURE);
    CU_ASSERT_PTR_NULL(bad);
    MSG_HAS("eqx_partition");

    eqx_tree_free(other);
    eqx_tree_free(arrays);
    eqx_tree_free(yes);
    eqx_tree_free(no);
    eqx_tree_free(back);
    eqx_tree_free(tup);
    eqx_tree_free(ints);
    eqx_tree_free(p);
}

static void test_tree_at(void) {
    eqx_tree *p0 = make_pair(1, 2), *p1 = make_pair(3, 2), *lst;
    eqx_tree *k[2] = {p0, p1};
    OK(eqx_list_new(2, k, &lst));
    eqx_tree *nv = vec(10, 20), *upd;
    OK(eqx_tree_at(lst, "[1].a", nv, &upd));
    CU_ASSERT_PTR_EQUAL(eqx_tree_field(eqx_tree_child(upd, 1), "a"), nv);
    /* the original is untouched and unchanged parts are shared */
    CU_ASSERT_EQUAL(((float *)eqx_tree_array(eqx_tree_field(p1, "a"))->data)[0], 3.0f);
    CU_ASSERT_PTR_EQUAL(eqx_tree_child(upd, 0), p0);
    eqx_tree *bad = (eqx_tree *)1;
    FAILS_WITH(eqx_tree_at(lst, "[1].weight", nv, &bad), EQX_ERR_PATH);
    MSG_HAS("model[1]");
    MSG_HAS("fields are: a, b, size");
    CU_ASSERT_PTR_NULL(bad);
    FAILS_WITH(eqx_tree_at(lst, "[5]", nv, &bad), EQX_ERR_PATH);
    MSG_HAS("out of range");
    eqx_tree_free(upd);
    eqx_tree_free(nv);
    eqx_tree_free(lst);
    eqx_tree_free(p0);
    eqx_tree_free(p1);
}

static eqx_status sum_loss(eqx_ctx *ctx, const eqx_tree *model, void *user, eqx_array **loss) {
    (void)model;
    (void)user;
    return eqx_scalar(ctx, 1.0f, loss);
}

static void test_duplicate_node(void) {
    /* the same module object used twice: JAX would silently copy it */
    eqx_tree *p = make_pair(1, 2), *inner, *root;
    eqx_tree *k[2] = {p, p};
    OK(eqx_list_new(2, k, &inner));
    eqx_tree *dk[1] = {inner};
    const char *keys[1] = {"layers"};
    OK(eqx_dict_new(1, keys, dk, &root));
    FAILS_WITH(eqx_tree_check(root), EQX_ERR_DUPLICATE);
    MSG_HAS("model['layers'][0]");
    MSG_HAS("model['layers'][1]");
    MSG_HAS("eqx_shared");
    MSG_HAS("Pair");
    /* transforms and optimiser entry points run the same check */
    eqx_tree *out = (eqx_tree *)1;
    FAILS_WITH(eqx_filter(root, eqx_is_array, &out), EQX_ERR_DUPLICATE);
    CU_ASSERT_PTR_NULL(out);
    eqx_optimizer *opt;
    OK(eqx_adam_new(1e-3f, 0.9f, 0.999f, 1e-8f, &opt));
    FAILS_WITH(eqx_opt_init(opt, root, &out), EQX_ERR_DUPLICATE);
    MSG_HAS("eqx_shared");
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    float v;
    FAILS_WITH(eqx_filter_value_and_grad(ctx, sum_loss, root, NULL, &v, &out), EQX_ERR_DUPLICATE);
    printf("\n    message: %s\n", eqx_errmsg());
    eqx_ctx_free(ctx);
    eqx_tree *fine = make_pair(1, 2), *st, *ok_tree;
    eqx_tree *pk[2] = {p, NULL};
    OK(eqx_list_new(2, pk, &ok_tree));   /* same shape as `inner`, no duplicate */
    eqx_tree *params;
    OK(eqx_filter(ok_tree, eqx_is_array, &params));
    OK(eqx_opt_init(opt, params, &st));
    FAILS_WITH(eqx_apply_updates(inner, params, &out), EQX_ERR_DUPLICATE);
    FAILS_WITH(eqx_opt_update(opt, inner, st, NULL, &out, &out), EQX_ERR_DUPLICATE);
    FAILS_WITH(eqx_tree_at(inner, "[0]", fine, &out), EQX_ERR_DUPLICATE);
    FAILS_WITH(eqx_tree_serialise_leaves("/tmp/never-written.eqx", inner), EQX_ERR_DUPLICATE);
    eqx_tree_free(st);
    eqx_tree_free(params);
    eqx_tree_free(ok_tree);
    eqx_tree_free(fine);
    eqx_optimizer_free(opt);
    /* the same array at two leaves is fine (leaves are values) */
    eqx_tree *a = vec(1, 2), *ak[2] = {a, a}, *al;
    OK(eqx_tuple_new(2, ak, &al));
    OK(eqx_tree_check(al));
    eqx_tree_free(al);
    eqx_tree_free(a);
    eqx_tree_free(root);
    eqx_tree_free(inner);
    eqx_tree_free(p);
}

static void test_self_containing(void) {
    eqx_tree *a = vec(1, 2), *k[2] = {a, NULL}, *lst, *outer;
    OK(eqx_list_new(2, k, &lst));
    eqx_tree *ok[1] = {lst};
    OK(eqx_tuple_new(1, ok, &outer));
    OK(eqx_tree_check(outer));
    OK(eqx_tree_set_child(lst, 1, outer)); /* outer[0][1] = outer: a cycle */
    FAILS_WITH(eqx_tree_check(outer), EQX_ERR_DUPLICATE);
    MSG_HAS("contains itself");
    MSG_HAS("at model");
    MSG_HAS("model[0][1]");
    MSG_HAS("eqx_shared");
    eqx_ctx *ctx;
    OK(eqx_ctx_new(&ctx));
    float v;
    eqx_tree *g = (eqx_tree *)1;
    FAILS_WITH(eqx_filter_value_and_grad(ctx, sum_loss, outer, NULL, &v, &g), EQX_ERR_DUPLICATE);
    CU_ASSERT_PTR_NULL(g);
    eqx_ctx_free(ctx);
    OK(eqx_tree_set_child(lst, 1, eqx_none())); /* break the cycle before freeing */
    OK(eqx_tree_check(outer));
    eqx_tree_free(outer);
    eqx_tree_free(lst);
    eqx_tree_free(a);
}

static void test_accessors(void) {
    eqx_tree *n = eqx_none();
    eqx_tree_free(n); /* immortal */
    CU_ASSERT_EQUAL(eqx_tree_kind(eqx_none()), EQX_NONE);
    eqx_tree *s = scalar(2.5);
    CU_ASSERT_EQUAL(eqx_tree_scalar(s), 2.5);
    CU_ASSERT_PTR_NULL(eqx_tree_array(s));
    CU_ASSERT_EQUAL(eqx_tree_nchildren(s), 0);
    eqx_tree_free(s);
    const char *keys[2] = {"k", "k"};
    eqx_tree *kids[2] = {NULL, NULL}, *d = (eqx_tree *)1;
    FAILS_WITH(eqx_dict_new(2, keys, kids, &d), EQX_ERR_ARG);
    MSG_HAS("'k' appears twice");
    CU_ASSERT_PTR_NULL(d);
    char buf[64];
    int64_t sh[3] = {2, 3, 4};
    eqx_array *a;
    OK(eqx_array_new(EQX_F32, 3, sh, &a));
    CU_ASSERT_STRING_EQUAL(eqx_shape_str(a, buf, sizeof buf), "(2, 3, 4)");
    CU_ASSERT_EQUAL(a->size, 24);
    eqx_array_free(a);
    CU_ASSERT_STRING_EQUAL(eqx_status_name(EQX_ERR_DUPLICATE), "EQX_ERR_DUPLICATE");
}

static const test_case cases[] = {
    {"flatten/unflatten round trip, statics in treedef", test_flatten_roundtrip},
    {"filter, partition, combine", test_filter_partition_combine},
    {"tree_at functional update and path errors", test_tree_at},
    {"duplicate node names both paths, suggests eqx_shared", test_duplicate_node},
    {"self-containing node is reported", test_self_containing},
    {"accessors and small errors", test_accessors},
    {NULL, NULL}};

int main(void) { return run_suite("runtime_tree", cases); }
