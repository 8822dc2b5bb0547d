/* Save/load: round trip, structure checks against a like-shaped model, and refusal of
 * truncated, corrupt, foreign or newer files, always leaving the model untouched. */
#include "test_util.h"

#include <unistd.h>

static char g_path[256];

static void make_path(const char *tag) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_path, sizeof g_path, "%s/eqx_test_io_%ld_%s.eqx", tmp ? tmp : "/tmp",
             (long)getpid(), tag);
}

static eqx_tree *model_with_everything(unsigned seed, int width) {
    eqx_tree *mlp, *s, *sc, *root, *ints;
    OK(eqx_mlp_new(2, 3, width, 1, "relu", eqx_relu, eqx_prng_key(seed), &mlp));
    OK(eqx_leaf_string("tag", &s));
    OK(eqx_leaf_scalar(0.25 * seed, &sc));
    int64_t sh[1] = {3};
    int32_t iv[3] = {(int32_t)seed, -1, 7};
    eqx_array *ia;
    OK(eqx_array_from_i32(1, sh, iv, &ia));
    ints = leaf(ia);
    const char *keys[4] = {"net", "name", "temperature", "counts"};
    eqx_tree *kids[4] = {mlp, s, sc, ints};
    OK(eqx_dict_new(4, keys, kids, &root));
    for (int i = 0; i < 4; i++) eqx_tree_free(kids[i]);
    return root;
}

static bool same_leaves(const eqx_tree *a, const eqx_tree *b) {
    eqx_treedef *ta, *tb;
    eqx_tree **la, **lb;
    int na, nb;
    OK(eqx_tree_flatten(a, &ta, &la, &na));
    OK(eqx_tree_flatten(b, &tb, &lb, &nb));
    bool same = na == nb && eqx_treedef_equal(ta, tb);
    for (int i = 0; same && i < na; i++) {
        eqx_kind k = eqx_tree_kind(la[i]);
        same = k == eqx_tree_kind(lb[i]);
        if (same && k == EQX_LEAF_ARRAY) {
            eqx_array *x = eqx_tree_array(la[i]), *y = eqx_tree_array(lb[i]);
            same = x->dtype == y->dtype && x->size == y->size &&
                   memcmp(x->data, y->data, (size_t)x->size * 4) == 0;
        } else if (same && k == EQX_LEAF_SCALAR) {
            same = eqx_tree_scalar(la[i]) == eqx_tree_scalar(lb[i]);
        } else if (same && (k == EQX_LEAF_STRING || k == EQX_LEAF_FN)) {
            same = strcmp(eqx_tree_string(la[i]), eqx_tree_string(lb[i])) == 0;
        }
    }
    eqx_leaves_free(la, na);
    eqx_leaves_free(lb, nb);
    eqx_treedef_free(ta);
    eqx_treedef_free(tb);
    return same;
}

static void test_round_trip(void) {
    make_path("rt");
    eqx_tree *m = model_with_everything(3, 4), *like = model_with_everything(9, 4), *out;
    OK(eqx_tree_serialise_leaves(g_path, m));
    CU_ASSERT_FALSE(same_leaves(m, like));
    OK(eqx_tree_deserialise_leaves(g_path, like, &out));
    CU_ASSERT_TRUE(same_leaves(m, out));
    /* like is untouched */
    eqx_tree *like2 = model_with_everything(9, 4);
    CU_ASSERT_TRUE(same_leaves(like, like2));
    eqx_tree_free(like2);
    eqx_tree_free(out);
    eqx_tree_free(like);
    eqx_tree_free(m);
    remove(g_path);
}

static uint8_t *slurp(const char *path, long *n) {
    FILE *f = fopen(path, "rb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    fseek(f, 0, SEEK_END);
    *n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *d = malloc((size_t)*n);
    CU_ASSERT_EQUAL_FATAL(fread(d, 1, (size_t)*n, f), (size_t)*n);
    fclose(f);
    return d;
}

static void spill(const char *path, const uint8_t *d, long n) {
    FILE *f = fopen(path, "wb");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    CU_ASSERT_EQUAL(fwrite(d, 1, (size_t)n, f), (size_t)n);
    fclose(f);
}

static void test_structure_mismatch(void) {
    make_path("sm");
    eqx_tree *m = model_with_everything(3, 4), *wider = model_with_everything(3, 5), *out;
    OK(eqx_tree_serialise_leaves(g_path, m));
    out = (eqx_tree *)1;
    FAILS_WITH(eqx_tree_deserialise_leaves(g_path, wider, &out), EQX_ERR_STRUCTURE);
    CU_ASSERT_PTR_NULL(out);
    MSG_HAS("model['net'].layers[0].weight");
    MSG_HAS("(4, 2)");
    MSG_HAS("(5, 2)");
    /* a model with a different number of leaves */
    eqx_tree *small;
    OK(eqx_mlp_new(2, 3, 4, 1, "relu", eqx_relu, eqx_prng_key(1), &small));
    FAILS_WITH(eqx_tree_deserialise_leaves(g_path, small, &out), EQX_ERR_STRUCTURE);
    MSG_HAS("leaves");
    eqx_tree_free(small);
    eqx_tree_free(wider);
    eqx_tree_free(m);
    remove(g_path);
}

static void test_corrupt_files(void) {
    make_path("cf");
    eqx_tree *m = model_with_everything(3, 4), *like = model_with_everything(4, 4), *out;
    OK(eqx_tree_serialise_leaves(g_path, m));
    long n;
    uint8_t *good = slurp(g_path, &n);
    uint8_t *bad = malloc((size_t)n);
    /* every truncation is refused */
    for (long cut = 0; cut < n; cut += (cut < 64 ? 1 : 37)) {
        spill(g_path, good, cut);
        out = (eqx_tree *)1;
        FAILS_WITH(eqx_tree_deserialise_leaves(g_path, like, &out), EQX_ERR_FORMAT);
        CU_ASSERT_PTR_NULL(out);
    }
    spill(g_path, good, n - 10);
    FAILS_WITH(eqx_tree_deserialise_leaves(g_path, like, &out), EQX_ERR_FORMAT);
    MSG_HAS("truncated");
    /* any flipped byte is refused (checksum, or a header field) */
    for (long i = 0; i < n; i += 7) {
        memcpy(bad, good, (size_t)n);
        bad[i] ^= 0x40;
        spill(g_path, bad, n);
        eqx_status s = eqx_tree_deserialise_leaves(g_path, like, &out);
        CU_ASSERT_TRUE(s == EQX_ERR_FORMAT);
        CU_ASSERT_PTR_NULL(out);
    }
    memcpy(bad, good, (size_t)n);
    bad[n / 2] ^= 1;
    spill(g_path, bad, n);
    FAILS_WITH(eqx_tree_deserialise_leaves(g_path, like, &out), EQX_ERR_FORMAT);
    MSG_HAS("checksum");
    memcpy(bad, good, (size_t)n);
    bad[0] = 'X';
    spill(g_path, bad, n);
    FAILS_WITH(eqx_tree_deserialise_leaves(g_path, like, &out), EQX_ERR_FORMAT);
    MSG_HAS("not a libeqx leaves file");
    memcpy(bad, good, (size_t)n);
    bad[8] = 2; /* version 2 */
    spill(g_path, bad, n);
    FAILS_WITH(eqx_tree_deserialise_leaves(g_path, like, &out), EQX_ERR_FORMAT);
    MSG_HAS("version 2");
    /* the like model is untouched by all of this */
    eqx_tree *like2 = model_with_everything(4, 4);
    CU_ASSERT_TRUE(same_leaves(like, like2));
    eqx_tree_free(like2);
    FAILS_WITH(eqx_tree_deserialise_leaves("/nonexistent/dir/x.eqx", like, &out), EQX_ERR_IO);
    FAILS_WITH(eqx_tree_serialise_leaves("/nonexistent/dir/x.eqx", m), EQX_ERR_IO);
    free(good);
    free(bad);
    eqx_tree_free(like);
    eqx_tree_free(m);
    remove(g_path);
}

static void test_format_layout(void) {
    /* the documented header: magic, version 1, leaf count, payload length, CRC at the end */
    make_path("fl");
    int64_t s[1] = {2};
    float d[2] = {1.0f, -2.0f};
    eqx_tree *t = leaf(arr_f32(1, s, d));
    OK(eqx_tree_serialise_leaves(g_path, t));
    long n;
    uint8_t *b = slurp(g_path, &n);
    CU_ASSERT_EQUAL(n, 24 + (1 + 1 + 1 + 8 + 8) + 4);
    CU_ASSERT_EQUAL(memcmp(b, "EQXLEAFS", 8), 0);
    CU_ASSERT_EQUAL(b[8], 1);
    CU_ASSERT_EQUAL(b[12], 1);
    CU_ASSERT_EQUAL(b[16], 19);
    CU_ASSERT_EQUAL(b[24], 1); /* array record */
    CU_ASSERT_EQUAL(b[25], 1); /* float32 */
    CU_ASSERT_EQUAL(b[26], 1); /* rank 1 */
    CU_ASSERT_EQUAL(b[27], 2); /* shape[0] = 2 */
    CU_ASSERT_EQUAL(b[35 + 3], 0x3f); /* 1.0f little-endian: 00 00 80 3f */
    free(b);
    eqx_tree_free(t);
    remove(g_path);
}

static const test_case cases[] = {
    {"round trip restores every leaf", test_round_trip},
    {"structure mismatch names the path and shapes", test_structure_mismatch},
    {"truncated/corrupt/foreign files are refused", test_corrupt_files},
    {"binary layout matches the documented format", test_format_layout},
    {NULL, NULL}};

int main(void) { return run_suite("runtime_io", cases); }
