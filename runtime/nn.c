/*
 * nn.c — layers as module types: Linear, MLP, Sequential, LayerNorm, Dropout, Shared.
 *
 * Design: a layer is nothing but a module type (fields + call) and a constructor, exactly
 * the interface user-defined modules get, so built-ins have no private powers. Hyper-
 * parameters are static fields (part of the treedef, never leaves, never trained); the
 * MLP's activation is a function leaf as in Equinox, so eqx_filter(model, eqx_is_array)
 * is what separates it from the weights. Layers act on one example: a batch is refused
 * with a pointer to eqx_vmap rather than silently broadcast (the FAQ's higher-order
 * tensors). Containers extend ctx->call_path so a failure names the layer's path.
 */
#include "eqx_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* ------------------------------------------------------------ calling */

eqx_status eqx_module_call(eqx_ctx *ctx, const eqx_tree *module, const eqx_array *x,
                           const eqx_key *key, eqx_array **out) {
    *out = NULL;
    if (!ctx || !module || !x)
        return eqx__err(EQX_ERR_ARG, "eqx_module_call: ctx, module and x are required");
    if (ctx->call_depth == 0) snprintf(ctx->call_path, sizeof ctx->call_path, "model");
    if (module->kind != EQX_MODULE)
        return eqx__err(EQX_ERR_TYPE, "%s is a %s, not a module; only modules can be called",
                        ctx->call_path,
                        module->kind == EQX_LIST || module->kind == EQX_TUPLE ? "sequence" :
                        "non-module node");
    if (!module->u.c.type->call)
        return eqx__err(EQX_ERR_TYPE, "%s (a %s) has no call function", ctx->call_path,
                        module->u.c.type->name);
    ctx->call_depth++;
    eqx_status s = module->u.c.type->call(ctx, module, x, key, out);
    ctx->call_depth--;
    return s;
}

/* Calls a child module, naming it in ctx->call_path while it runs. */
static eqx_status call_child(eqx_ctx *ctx, const eqx_tree *parent, int field, int index,
                             const eqx_array *x, const eqx_key *key, eqx_array **out) {
    size_t old = strlen(ctx->call_path);
    const eqx_tree *child = parent->u.c.children[field];
    if (index >= 0) child = child->u.c.children[index];
    char seg[128];
    if (index >= 0) snprintf(seg, sizeof seg, ".%s[%d]", parent->u.c.type->fields[field].name, index);
    else snprintf(seg, sizeof seg, ".%s", parent->u.c.type->fields[field].name);
    if (old + strlen(seg) < sizeof ctx->call_path) strcat(ctx->call_path, seg);
    eqx_status s = eqx_module_call(ctx, child, x, key, out);
    if (!s) ctx->call_path[old] = '\0'; /* on failure keep the deepest path for the message */
    return s;
}

static eqx_status batched_error(eqx_ctx *ctx, const char *layer, const eqx_array *x,
                                const char *expect) {
    char b[96];
    int64_t xs[EQX_MAX_DIMS];
    eqx_array_shape(x, xs);
    return eqx__err(EQX_ERR_BATCHED,
                    "%s: %s acts on a single example of shape %s but got %s, which has an "
                    "extra leading batch axis of %lld. Layers are per-example, as in Equinox; "
                    "map over the batch with eqx_vmap (jax.vmap(model)(x)) instead of passing "
                    "the batch",
                    ctx->call_path, layer, expect, eqx_shape_str(x, b, sizeof b),
                    (long long)xs[0]);
}

static eqx_status scalar_leaf_list(int n, const double *v, eqx_tree **out) {
    eqx_tree *kids[EQX_MAX_DIMS] = {NULL};
    eqx_status s = EQX_OK;
    for (int i = 0; i < n && !s; i++) s = eqx_leaf_scalar(v[i], &kids[i]);
    if (!s) s = eqx_tuple_new(n, kids, out);
    for (int i = 0; i < n; i++) eqx_tree_free(kids[i]);
    return s;
}

static void free_all(eqx_tree **t, int n) {
    for (int i = 0; i < n; i++) eqx_tree_free(t[i]);
}

/* ------------------------------------------------------------ Linear */

enum { LIN_W, LIN_B, LIN_IN, LIN_OUT, LIN_BIAS, LIN_NF };
static const eqx_field linear_fields[LIN_NF] = {
    {"weight", false}, {"bias", false}, {"in_features", true}, {"out_features", true},
    {"use_bias", true}};

static eqx_status linear_call(eqx_ctx *ctx, const eqx_tree *self, const eqx_array *x,
                              const eqx_key *key, eqx_array **out) {
    (void)key;
    const eqx_array *W = eqx_tree_array(self->u.c.children[LIN_W]);
    const eqx_tree *bt = self->u.c.children[LIN_B];
    int64_t ws[EQX_MAX_DIMS]; /* per-example: a vmapped ensemble has batched weights */
    if (!W || eqx_array_shape(W, ws) != 2)
        return eqx__err(EQX_ERR_TYPE, "%s.weight is not a 2-d array (was the model filtered? "
                        "call the full model, eqx_combine(params, static))", ctx->call_path);
    int64_t in = ws[1];
    char expect[64], b[96];
    snprintf(expect, sizeof expect, "(%lld,)", (long long)in);
    int64_t xs[EQX_MAX_DIMS]; /* per-example shape: inside eqx_vmap the batch is hidden */
    int xnd = eqx_array_shape(x, xs);
    if (xnd != 1 || xs[0] != in) {
        if (xnd >= 2 && xs[xnd - 1] == in)
            return batched_error(ctx, "eqx_linear", x, expect);
        return eqx__err(EQX_ERR_SHAPE, "%s: eqx_linear expects input of shape %s, got %s",
                        ctx->call_path, expect, eqx_shape_str(x, b, sizeof b));
    }
    eqx_array *y;
    EQX_TRY(eqx_matmul(ctx, W, x, &y));
    if (bt->kind == EQX_LEAF_ARRAY) EQX_TRY(eqx_add(ctx, y, bt->u.array, &y));
    *out = y;
    return EQX_OK;
}

const eqx_module_type eqx_linear_type = {"Linear", LIN_NF, linear_fields, linear_call};

eqx_status eqx_linear_new(int in_features, int out_features, bool use_bias, eqx_key key,
                          eqx_tree **out) {
    *out = NULL;
    if (in_features < 1 || out_features < 1)
        return eqx__err(EQX_ERR_ARG, "eqx_linear_new: sizes must be positive (got %d -> %d)",
                        in_features, out_features);
    eqx_key k[2];
    eqx_prng_split(key, 2, k);
    float lim = 1.0f / sqrtf((float)in_features);
    int64_t ws[2] = {out_features, in_features}, bs[1] = {out_features};
    eqx_array *w = NULL, *bias = NULL;
    eqx_tree *kids[LIN_NF] = {NULL};
    eqx_status s = eqx_random_uniform(k[0], 2, ws, -lim, lim, &w);
    if (!s) s = eqx_leaf_array(w, &kids[LIN_W]);
    if (!s && use_bias) s = eqx_random_uniform(k[1], 1, bs, -lim, lim, &bias);
    if (!s && use_bias) s = eqx_leaf_array(bias, &kids[LIN_B]);
    if (!s) s = eqx_leaf_scalar(in_features, &kids[LIN_IN]);
    if (!s) s = eqx_leaf_scalar(out_features, &kids[LIN_OUT]);
    if (!s) s = eqx_leaf_scalar(use_bias ? 1 : 0, &kids[LIN_BIAS]);
    if (!s) s = eqx_module_new(&eqx_linear_type, kids, out);
    eqx_array_free(w);
    eqx_array_free(bias);
    free_all(kids, LIN_NF);
    return s;
}

/* ------------------------------------------------------------ MLP */

enum { MLP_LAYERS, MLP_ACT, MLP_FINAL, MLP_IN, MLP_OUT, MLP_WIDTH, MLP_DEPTH, MLP_NF };
static const eqx_field mlp_fields[MLP_NF] = {
    {"layers", false}, {"activation", false}, {"final_activation", false},
    {"in_size", true}, {"out_size", true}, {"width_size", true}, {"depth", true}};

static eqx_status apply_activation(eqx_ctx *ctx, const eqx_tree *self, int field,
                                   eqx_array *y, eqx_array **out) {
    const eqx_tree *act = self->u.c.children[field];
    if (act->kind != EQX_LEAF_FN)
        return eqx__err(EQX_ERR_TYPE, "%s.%s is a %s, not a function leaf; build the MLP with "
                        "eqx_mlp_new, and call the combined model (eqx_combine), not params",
                        ctx->call_path, self->u.c.type->fields[field].name,
                        act->kind == EQX_NONE ? "none" : "non-function leaf");
    return act->u.fn.fn(ctx, y, out);
}

static eqx_status mlp_call(eqx_ctx *ctx, const eqx_tree *self, const eqx_array *x,
                           const eqx_key *key, eqx_array **out) {
    (void)key;
    const eqx_tree *layers = self->u.c.children[MLP_LAYERS];
    int n = eqx_tree_nchildren(layers);
    const eqx_array *h = x;
    for (int i = 0; i < n; i++) {
        eqx_array *y;
        EQX_TRY(call_child(ctx, self, MLP_LAYERS, i, h, NULL, &y));
        EQX_TRY(apply_activation(ctx, self, i + 1 < n ? MLP_ACT : MLP_FINAL, y, &y));
        h = y;
    }
    *out = (eqx_array *)h;
    return EQX_OK;
}

const eqx_module_type eqx_mlp_type = {"MLP", MLP_NF, mlp_fields, mlp_call};

eqx_status eqx_mlp_new(int in_size, int out_size, int width_size, int depth,
                       const char *act_name, eqx_unary_fn activation, eqx_key key,
                       eqx_tree **out) {
    *out = NULL;
    if (depth < 0 || depth > 64 || in_size < 1 || out_size < 1 || (depth > 0 && width_size < 1))
        return eqx__err(EQX_ERR_ARG, "eqx_mlp_new: bad sizes (in %d, out %d, width %d, depth %d)",
                        in_size, out_size, width_size, depth);
    if (!activation || !act_name)
        return eqx__err(EQX_ERR_ARG, "eqx_mlp_new: an activation and its name are required");
    int nl = depth + 1;
    eqx_key keys[65];
    eqx_prng_split(key, nl, keys);
    eqx_tree *layers[65] = {NULL}, *kids[MLP_NF] = {NULL};
    eqx_status s = EQX_OK;
    for (int i = 0; i < nl && !s; i++) {
        int a = i == 0 ? in_size : width_size, b = i == nl - 1 ? out_size : width_size;
        s = eqx_linear_new(a, b, true, keys[i], &layers[i]);
    }
    if (!s) s = eqx_tuple_new(nl, layers, &kids[MLP_LAYERS]);
    if (!s) s = eqx_leaf_fn(act_name, activation, &kids[MLP_ACT]);
    if (!s) s = eqx_leaf_fn("identity", eqx_identity, &kids[MLP_FINAL]);
    if (!s) s = eqx_leaf_scalar(in_size, &kids[MLP_IN]);
    if (!s) s = eqx_leaf_scalar(out_size, &kids[MLP_OUT]);
    if (!s) s = eqx_leaf_scalar(width_size, &kids[MLP_WIDTH]);
    if (!s) s = eqx_leaf_scalar(depth, &kids[MLP_DEPTH]);
    if (!s) s = eqx_module_new(&eqx_mlp_type, kids, out);
    free_all(layers, nl);
    free_all(kids, MLP_NF);
    return s;
}

/* ------------------------------------------------------------ Sequential */

static const eqx_field seq_fields[1] = {{"layers", false}};

static eqx_status seq_call(eqx_ctx *ctx, const eqx_tree *self, const eqx_array *x,
                           const eqx_key *key, eqx_array **out) {
    const eqx_tree *layers = self->u.c.children[0];
    int n = eqx_tree_nchildren(layers);
    eqx_key keys[64];
    if (key && n > 64)
        return eqx__err(EQX_ERR_ARG, "%s: at most 64 layers take keys", ctx->call_path);
    if (key) eqx_prng_split(*key, n, keys);
    const eqx_array *h = x;
    for (int i = 0; i < n; i++) {
        eqx_array *y;
        EQX_TRY(call_child(ctx, self, 0, i, h, key ? &keys[i] : NULL, &y));
        h = y;
    }
    *out = (eqx_array *)h;
    return EQX_OK;
}

const eqx_module_type eqx_sequential_type = {"Sequential", 1, seq_fields, seq_call};

eqx_status eqx_sequential_new(int n, eqx_tree *const *layers, eqx_tree **out) {
    *out = NULL;
    for (int i = 0; i < n; i++)
        if (!layers[i] || layers[i]->kind != EQX_MODULE)
            return eqx__err(EQX_ERR_TYPE, "eqx_sequential_new: layer %d is not a module", i);
    eqx_tree *tup;
    EQX_TRY(eqx_tuple_new(n, layers, &tup));
    eqx_status s = eqx_module_new(&eqx_sequential_type, &tup, out);
    eqx_tree_free(tup);
    return s;
}

/* ------------------------------------------------------------ LayerNorm */

enum { LN_W, LN_B, LN_SHAPE, LN_EPS, LN_NF };
static const eqx_field ln_fields[LN_NF] = {
    {"weight", false}, {"bias", false}, {"shape", true}, {"eps", true}};

static eqx_status ln_call(eqx_ctx *ctx, const eqx_tree *self, const eqx_array *x,
                          const eqx_key *key, eqx_array **out) {
    (void)key;
    const eqx_tree *shp = self->u.c.children[LN_SHAPE];
    int nd = eqx_tree_nchildren(shp);
    int64_t xs[EQX_MAX_DIMS];
    int xnd = eqx_array_shape(x, xs);
    bool match = xnd == nd, batched = xnd == nd + 1;
    char expect[128] = "(";
    size_t used = 1;
    for (int i = 0; i < nd; i++) {
        int64_t d = (int64_t)eqx_tree_scalar(shp->u.c.children[i]);
        used += (size_t)snprintf(expect + used, sizeof expect - used, "%s%lld", i ? ", " : "",
                                 (long long)d);
        if (match && xs[i] != d) match = false;
        if (batched && xs[i + 1] != d) batched = false;
    }
    snprintf(expect + used, sizeof expect - used, nd == 1 ? ",)" : ")");
    if (!match) {
        if (batched) return batched_error(ctx, "eqx_layer_norm", x, expect);
        char b[96];
        return eqx__err(EQX_ERR_SHAPE, "%s: eqx_layer_norm expects shape %s, got %s",
                        ctx->call_path, expect, eqx_shape_str(x, b, sizeof b));
    }
    eqx_array *m, *xc, *sq, *var, *eps, *sd, *y;
    EQX_TRY(eqx_mean(ctx, x, 0, NULL, &m));
    EQX_TRY(eqx_sub(ctx, x, m, &xc));
    EQX_TRY(eqx_mul(ctx, xc, xc, &sq));
    EQX_TRY(eqx_mean(ctx, sq, 0, NULL, &var));
    EQX_TRY(eqx_scalar(ctx, (float)eqx_tree_scalar(self->u.c.children[LN_EPS]), &eps));
    EQX_TRY(eqx_add(ctx, var, eps, &var));
    EQX_TRY(eqx_sqrt(ctx, var, &sd));
    EQX_TRY(eqx_div(ctx, xc, sd, &y));
    const eqx_array *w = eqx_tree_array(self->u.c.children[LN_W]);
    const eqx_array *b = eqx_tree_array(self->u.c.children[LN_B]);
    if (w) EQX_TRY(eqx_mul(ctx, y, w, &y));
    if (b) EQX_TRY(eqx_add(ctx, y, b, &y));
    *out = y;
    return EQX_OK;
}

const eqx_module_type eqx_layer_norm_type = {"LayerNorm", LN_NF, ln_fields, ln_call};

eqx_status eqx_layer_norm_new(int ndim, const int64_t *shape, float eps, bool affine,
                              eqx_tree **out) {
    *out = NULL;
    if (ndim < 1 || ndim > EQX_MAX_DIMS)
        return eqx__err(EQX_ERR_ARG, "eqx_layer_norm_new: 1 to %d dimensions", EQX_MAX_DIMS);
    double dims[EQX_MAX_DIMS];
    for (int i = 0; i < ndim; i++) dims[i] = (double)shape[i];
    eqx_tree *kids[LN_NF] = {NULL};
    eqx_array *w = NULL, *b = NULL;
    eqx_status s = EQX_OK;
    if (affine) {
        s = eqx_array_new(EQX_F32, ndim, shape, &w);
        if (!s) {
            for (int64_t i = 0; i < w->size; i++) ((float *)w->data)[i] = 1.0f;
            s = eqx_leaf_array(w, &kids[LN_W]);
        }
        if (!s) s = eqx_array_new(EQX_F32, ndim, shape, &b);
        if (!s) s = eqx_leaf_array(b, &kids[LN_B]);
    }
    if (!s) s = scalar_leaf_list(ndim, dims, &kids[LN_SHAPE]);
    if (!s) s = eqx_leaf_scalar(eps, &kids[LN_EPS]);
    if (!s) s = eqx_module_new(&eqx_layer_norm_type, kids, out);
    eqx_array_free(w);
    eqx_array_free(b);
    free_all(kids, LN_NF);
    return s;
}

/* ------------------------------------------------------------ Dropout */

enum { DO_P, DO_INF, DO_NF };
static const eqx_field do_fields[DO_NF] = {{"p", true}, {"inference", true}};

static eqx_status dropout_call(eqx_ctx *ctx, const eqx_tree *self, const eqx_array *x,
                               const eqx_key *key, eqx_array **out) {
    double p = eqx_tree_scalar(self->u.c.children[DO_P]);
    bool inference = eqx_tree_scalar(self->u.c.children[DO_INF]) != 0.0;
    if (inference || p == 0.0) {
        *out = (eqx_array *)x;
        return EQX_OK;
    }
    if (!key)
        return eqx__err(EQX_ERR_KEY,
                        "%s: eqx_dropout needs a PRNG key when not in inference mode: pass "
                        "key=eqx_prng_split(...) to the call, or switch the model to inference "
                        "with eqx_nn_inference_mode(model, true)",
                        ctx->call_path);
    if (eqx__rec)
        return eqx__err(EQX_ERR_UNSUPPORTED,
                        "%s: eqx_dropout with a key inside eqx_filter_jit would bake one random "
                        "mask into the compiled program (the key is a C value, not a traced "
                        "array); apply dropout outside the jitted function, or jit the model in "
                        "inference mode (eqx_nn_inference_mode)",
                        ctx->call_path);
    eqx_array *u;
    int64_t xs[EQX_MAX_DIMS]; /* one mask per example shape; under vmap all examples share
                                 it, as jax.vmap does with an unmapped key */
    int xnd = eqx_array_shape(x, xs);
    EQX_TRY(eqx_random_uniform(*key, xnd, xs, 0.0f, 1.0f, &u));
    eqx_status s = eqx__ctx_own(ctx, u);
    if (s) { eqx_array_free(u); return s; }
    float *m = u->data;
    float keep = p >= 1.0 ? 0.0f : (float)(1.0 / (1.0 - p));
    for (int64_t i = 0; i < u->size; i++) m[i] = m[i] >= (float)p ? keep : 0.0f;
    return eqx_mul(ctx, x, u, out);
}

const eqx_module_type eqx_dropout_type = {"Dropout", DO_NF, do_fields, dropout_call};

eqx_status eqx_dropout_new(float p, bool inference, eqx_tree **out) {
    *out = NULL;
    if (!(p >= 0.0f && p <= 1.0f))
        return eqx__err(EQX_ERR_ARG, "eqx_dropout_new: p must be in [0, 1], got %g", (double)p);
    eqx_tree *kids[DO_NF] = {NULL};
    eqx_status s = eqx_leaf_scalar(p, &kids[DO_P]);
    if (!s) s = eqx_leaf_scalar(inference ? 1 : 0, &kids[DO_INF]);
    if (!s) s = eqx_module_new(&eqx_dropout_type, kids, out);
    free_all(kids, DO_NF);
    return s;
}

static eqx_status inference_rec(const eqx_tree *t, bool inference, eqx_tree **out) {
    *out = NULL;
    if (!eqx__is_container(t)) {
        *out = eqx_tree_retain((eqx_tree *)t);
        return EQX_OK;
    }
    int n = t->u.c.n;
    eqx_tree **kids = eqx__calloc((size_t)(n ? n : 1), sizeof *kids);
    if (!kids) return eqx__nomem();
    eqx_status s = EQX_OK;
    for (int i = 0; i < n && !s; i++) {
        if (t->kind == EQX_MODULE && t->u.c.type == &eqx_dropout_type && i == DO_INF)
            s = eqx_leaf_scalar(inference ? 1 : 0, &kids[i]);
        else
            s = inference_rec(t->u.c.children[i], inference, &kids[i]);
    }
    if (!s) {
        if (t->kind == EQX_MODULE) s = eqx_module_new(t->u.c.type, kids, out);
        else if (t->kind == EQX_DICT) s = eqx_dict_new(n, (const char *const *)t->u.c.keys, kids, out);
        else if (t->kind == EQX_LIST) s = eqx_list_new(n, kids, out);
        else s = eqx_tuple_new(n, kids, out);
    }
    free_all(kids, n);
    eqx__free(kids);
    return s;
}

eqx_status eqx_nn_inference_mode(const eqx_tree *model, bool inference, eqx_tree **out) {
    *out = NULL;
    EQX_TRY(eqx_tree_check(model));
    return inference_rec(model, inference, out);
}

/* ------------------------------------------------------------ Shared */

enum { SH_TREE, SH_WHERE, SH_GET, SH_NF };
static const eqx_field sh_fields[SH_NF] = {{"pytree", false}, {"where", true}, {"get", true}};

const eqx_module_type eqx_shared_type = {"Shared", SH_NF, sh_fields, NULL};

eqx_status eqx_shared_new(const eqx_tree *tree, const char *where_path, const char *get_path,
                          eqx_tree **out) {
    *out = NULL;
    if (!tree || !where_path || !get_path)
        return eqx__err(EQX_ERR_ARG, "eqx_shared_new: tree, where and get are required");
    EQX_TRY(eqx_tree_check(tree));
    eqx_tree *w, *g;
    EQX_TRY(eqx__tree_get(tree, where_path, &w));
    EQX_TRY(eqx__tree_get(tree, get_path, &g));
    if (w == g || strcmp(where_path, get_path) == 0)
        return eqx__err(EQX_ERR_ARG, "eqx_shared_new: where (%s) and get (%s) are the same node",
                        where_path, get_path);
    if (w->kind == EQX_LEAF_ARRAY && g->kind == EQX_LEAF_ARRAY &&
        !eqx__same_shape(w->u.array, g->u.array)) {
        char s1[96], s2[96];
        return eqx__err(EQX_ERR_SHAPE,
                        "eqx_shared_new: the tied arrays differ in shape: model%s is %s, model%s "
                        "is %s",
                        where_path, eqx_shape_str(w->u.array, s1, sizeof s1), get_path,
                        eqx_shape_str(g->u.array, s2, sizeof s2));
    }
    eqx_tree *kids[SH_NF] = {NULL};
    eqx_status s = eqx_tree_at(tree, where_path, eqx_none(), &kids[SH_TREE]);
    if (!s) s = eqx_leaf_string(where_path, &kids[SH_WHERE]);
    if (!s) s = eqx_leaf_string(get_path, &kids[SH_GET]);
    if (!s) s = eqx_module_new(&eqx_shared_type, kids, out);
    free_all(kids, SH_NF);
    return s;
}

eqx_status eqx_shared_get(const eqx_tree *shared, eqx_tree **out) {
    *out = NULL;
    if (!shared || shared->kind != EQX_MODULE || shared->u.c.type != &eqx_shared_type)
        return eqx__err(EQX_ERR_TYPE, "eqx_shared_get: not an eqx_shared module");
    const eqx_tree *tree = shared->u.c.children[SH_TREE];
    eqx_tree *g;
    EQX_TRY(eqx__tree_get(tree, eqx_tree_string(shared->u.c.children[SH_GET]), &g));
    return eqx_tree_at(tree, eqx_tree_string(shared->u.c.children[SH_WHERE]), g, out);
}
