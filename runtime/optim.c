/*
 * optim.c — SGD (momentum) and Adam/AdamW with optax's update equations.
 *
 * Design: optimiser state is an ordinary tree (a module holding moment trees shaped like
 * the params), so it can be filtered, checked and serialised like a model. Updates are
 * computed leafwise over flattened trees: none gradients give none updates, which is how
 * the non-trainable part of a filtered model passes through untouched. eqx_opt_init
 * refuses non-array leaves up front with the FAQ's advice, because the JAX equivalent
 * fails deep inside jnp.zeros_like with "not a valid JAX type".
 * The arithmetic runs as kernels (eqx__kernel) rather than inline loops so that a jit trace
 * records it: a whole training step, optimiser included, replays as one program. The step
 * counter is read by the kernel at run time, never baked in at trace time.
 */
#include "eqx_internal.h"

#include <math.h>
#include <string.h>

enum { OPT_SGD, OPT_ADAM, OPT_ADAMW };

struct eqx_optimizer {
    int kind;
    float lr, momentum, b1, b2, eps, wd;
};

static const eqx_field sgd_state_fields[1] = {{"trace", false}};
static const eqx_module_type sgd_state_type = {"SGDState", 1, sgd_state_fields, NULL};
static const eqx_field adam_state_fields[3] = {{"count", false}, {"mu", false}, {"nu", false}};
static const eqx_module_type adam_state_type = {"AdamState", 3, adam_state_fields, NULL};

static eqx_status opt_alloc(int kind, eqx_optimizer **out) {
    *out = eqx__calloc(1, sizeof **out);
    if (!*out) return eqx__nomem();
    (*out)->kind = kind;
    return EQX_OK;
}

eqx_status eqx_sgd_new(float lr, float momentum, eqx_optimizer **out) {
    *out = NULL;
    if (!(momentum >= 0.0f && momentum < 1.0f))
        return eqx__err(EQX_ERR_ARG, "eqx_sgd_new: momentum must be in [0, 1), got %g",
                        (double)momentum);
    EQX_TRY(opt_alloc(OPT_SGD, out));
    (*out)->lr = lr;
    (*out)->momentum = momentum;
    return EQX_OK;
}

eqx_status eqx_adamw_new(float lr, float b1, float b2, float eps, float weight_decay,
                         eqx_optimizer **out) {
    *out = NULL;
    if (!(b1 >= 0.0f && b1 < 1.0f) || !(b2 >= 0.0f && b2 < 1.0f) || !(eps >= 0.0f))
        return eqx__err(EQX_ERR_ARG, "eqx_adam: need 0 <= b1, b2 < 1 and eps >= 0 (got %g, %g, %g)",
                        (double)b1, (double)b2, (double)eps);
    EQX_TRY(opt_alloc(weight_decay != 0.0f ? OPT_ADAMW : OPT_ADAM, out));
    (*out)->lr = lr;
    (*out)->b1 = b1;
    (*out)->b2 = b2;
    (*out)->eps = eps;
    (*out)->wd = weight_decay;
    return EQX_OK;
}

eqx_status eqx_adam_new(float lr, float b1, float b2, float eps, eqx_optimizer **out) {
    return eqx_adamw_new(lr, b1, b2, eps, 0.0f, out);
}

void eqx_optimizer_free(eqx_optimizer *opt) { eqx__free(opt); }

static const char *leaf_desc(const eqx_tree *t) {
    switch (t->kind) {
    case EQX_LEAF_FN: return "a function leaf";
    case EQX_LEAF_STRING: return "a string leaf";
    case EQX_LEAF_SCALAR: return "a Python-style scalar leaf";
    default: return "not an array";
    }
}

static void free_leaves_n(eqx_tree **l, int n) {
    if (!l) return;
    for (int i = 0; i < n; i++) eqx_tree_free(l[i]);
    eqx__free(l);
}

/* zeros shaped like each float leaf, none elsewhere */
static eqx_status zeros_like_tree(const eqx_treedef *td, eqx_tree **leaves, int n,
                                  eqx_tree **out) {
    eqx_tree **z = eqx__calloc((size_t)(n ? n : 1), sizeof *z);
    if (!z) return eqx__nomem();
    eqx_status s = EQX_OK;
    for (int i = 0; i < n && !s; i++) {
        if (!eqx_is_inexact_array(leaves[i])) { z[i] = eqx_none(); continue; }
        eqx_array *a;
        s = eqx_array_new(EQX_F32, leaves[i]->u.array->ndim, leaves[i]->u.array->shape, &a);
        if (!s) { s = eqx_leaf_array(a, &z[i]); eqx_array_free(a); }
    }
    if (!s) s = eqx_tree_unflatten(td, z, n, out);
    free_leaves_n(z, n);
    return s;
}

eqx_status eqx_opt_init(const eqx_optimizer *opt, const eqx_tree *params, eqx_tree **state) {
    *state = NULL;
    if (!opt || !params) return eqx__err(EQX_ERR_ARG, "eqx_opt_init: opt and params are required");
    eqx_treedef *td;
    eqx_tree **leaves;
    char **paths;
    int n;
    EQX_TRY(eqx__flatten(params, "model", &td, &leaves, &n, &paths));
    eqx_status s = EQX_OK;
    eqx_tree *kids[3] = {NULL};
    for (int i = 0; i < n; i++) {
        if (leaves[i]->kind == EQX_NONE || leaves[i]->kind == EQX_LEAF_ARRAY) continue;
        s = eqx__err(EQX_ERR_NOT_ARRAY,
                     "eqx_opt_init: %s is %s%s%s%s, not an array. An optimiser keeps state for "
                     "arrays only; as the Equinox FAQ says, initialise it on the array part of "
                     "the model: eqx_opt_init(opt, eqx_filter(model, eqx_is_array)) (or "
                     "eqx_is_inexact_array for just the trainable floats)",
                     paths[i], leaf_desc(leaves[i]),
                     leaves[i]->kind == EQX_LEAF_FN ? " ('" : "",
                     leaves[i]->kind == EQX_LEAF_FN ? leaves[i]->u.fn.name : "",
                     leaves[i]->kind == EQX_LEAF_FN ? "')" : "");
        goto done;
    }
    if (opt->kind == OPT_SGD) {
        if (opt->momentum > 0.0f) s = zeros_like_tree(td, leaves, n, &kids[0]);
        else kids[0] = eqx_none();
        if (!s) s = eqx_module_new(&sgd_state_type, kids, state);
    } else {
        eqx_array *count;
        s = eqx_array_new(EQX_I32, 0, NULL, &count);
        if (!s) { s = eqx_leaf_array(count, &kids[0]); eqx_array_free(count); }
        if (!s) s = zeros_like_tree(td, leaves, n, &kids[1]);
        if (!s) s = zeros_like_tree(td, leaves, n, &kids[2]);
        if (!s) s = eqx_module_new(&adam_state_type, kids, state);
    }
done:
    for (int i = 0; i < 3; i++) eqx_tree_free(kids[i]);
    eqx__paths_free(paths, n);
    eqx_leaves_free(leaves, n);
    eqx_treedef_free(td);
    return s;
}

/* Flattened view of one tree argument, freed with flat_free. */
typedef struct flat_arg {
    eqx_treedef *td;
    eqx_tree **leaves;
    char **paths;
    int n;
} flat_arg;

static void flat_free(flat_arg *f) {
    eqx__paths_free(f->paths, f->n);
    eqx_leaves_free(f->leaves, f->n);
    eqx_treedef_free(f->td);
    memset(f, 0, sizeof *f);
}

static eqx_status flat_get(const eqx_tree *t, const char *root, flat_arg *f) {
    memset(f, 0, sizeof *f);
    return eqx__flatten(t, root, &f->td, &f->leaves, &f->n, &f->paths);
}

static eqx_status same_structure(const char *fn, const flat_arg *a, const char *an,
                                 const flat_arg *b, const char *bn, const char *fix) {
    if (eqx_treedef_equal(a->td, b->td)) return EQX_OK;
    return eqx__err(EQX_ERR_STRUCTURE,
                    "%s: %s (%d leaves) and %s (%d leaves) do not have the same tree "
                    "structure; %s",
                    fn, an, a->n, bn, b->n, fix);
}

static eqx_status new_leaf_f32(const eqx_array *like, eqx_array **arr, eqx_tree **leaf) {
    EQX_TRY(eqx__array_alloc(EQX_F32, like->ndim, like->shape, false, arr));
    eqx_status s = eqx_leaf_array(*arr, leaf);
    eqx_array_free(*arr); /* the leaf holds it; *arr stays valid while leaf lives */
    return s;
}

/* ------------------------------------------------------------ kernels */

enum { KP_LR, KP_B1, KP_B2, KP_EPS, KP_WD, KP_N };

/* count' = count + 1, refusing a corrupt counter (it would make the bias correction NaN). */
static eqx_status count_kernel(const eqx_array *const *in, eqx_array *const *out,
                               const float *kp) {
    (void)kp;
    int32_t c = ((const int32_t *)in[0]->data)[0];
    if (c < 0 || c == INT32_MAX)
        return eqx__err(EQX_ERR_TYPE, "eqx_opt_update: the state's count is not a valid "
                        "int32 step counter; use the state eqx_opt_init/eqx_opt_update made");
    ((int32_t *)out[0]->data)[0] = c + 1;
    return EQX_OK;
}

/* The Adam loop with restrict parameters: outputs are fresh buffers, never an input, and
 * GCC only honours restrict on parameters; without it the six pointers exceed its
 * alias-check budget and the loop (sqrt and divide per element) stays scalar. */
static void adam_loop(const float *restrict G, const float *restrict M, const float *restrict V,
                      const float *restrict P, float *restrict U, float *restrict MN,
                      float *restrict VN, int64_t n, const float *kp, float ib1, float ib2) {
    float b1 = kp[KP_B1], b2 = kp[KP_B2], lr = kp[KP_LR], eps = kp[KP_EPS], wd = kp[KP_WD];
    float c1 = 1.0f - b1, c2 = 1.0f - b2;
    if (P) {
        for (int64_t k = 0; k < n; k++) {
            float mk = b1 * M[k] + c1 * G[k], vk = b2 * V[k] + c2 * G[k] * G[k];
            MN[k] = mk;
            VN[k] = vk;
            U[k] = -lr * ((mk * ib1) / (sqrtf(vk * ib2) + eps) + wd * P[k]);
        }
    } else {
        for (int64_t k = 0; k < n; k++) {
            float mk = b1 * M[k] + c1 * G[k], vk = b2 * V[k] + c2 * G[k] * G[k];
            MN[k] = mk;
            VN[k] = vk;
            U[k] = -lr * ((mk * ib1) / (sqrtf(vk * ib2) + eps));
        }
    }
}

/* Large parameters are updated on all cores (pool.c); below this many elements per core,
 * waking a helper costs more than the loop. */
#define PAR_MIN 32768

typedef struct adam_job {
    const float *G, *M, *V, *P;
    float *U, *MN, *VN;
    const float *kp;
    float ib1, ib2;
} adam_job;

static void adam_range(void *arg, int64_t lo, int64_t hi) {
    const adam_job *j = arg;
    adam_loop(j->G + lo, j->M + lo, j->V + lo, j->P ? j->P + lo : NULL, j->U + lo, j->MN + lo,
              j->VN + lo, hi - lo, j->kp, j->ib1, j->ib2);
}

/* in: g, mu, nu, count', params (AdamW only, else NULL); out: update, mu', nu'. */
static eqx_status adam_kernel(const eqx_array *const *in, eqx_array *const *out,
                              const float *kp) {
    int32_t t = ((const int32_t *)in[3]->data)[0];
    double bc1 = 1.0 - pow((double)kp[KP_B1], t), bc2 = 1.0 - pow((double)kp[KP_B2], t);
    adam_job j = {in[0]->data, in[1]->data, in[2]->data, in[4] ? in[4]->data : NULL,
                  out[0]->data, out[1]->data, out[2]->data, kp, (float)(1.0 / bc1),
                  (float)(1.0 / bc2)};
    eqx__parallel_for(in[0]->size, PAR_MIN, adam_range, &j);
    return EQX_OK;
}

static void sgd_loop(const float *restrict G, const float *restrict M, float *restrict U,
                     float *restrict MN, int64_t n, float lr, float momentum) {
    if (M) {
        for (int64_t k = 0; k < n; k++) {
            float tr = G[k] + momentum * M[k];
            MN[k] = tr;
            U[k] = -lr * tr;
        }
    } else {
        for (int64_t k = 0; k < n; k++) U[k] = -lr * G[k];
    }
}

typedef struct sgd_job {
    const float *G, *M;
    float *U, *MN;
    float lr, momentum;
} sgd_job;

static void sgd_range(void *arg, int64_t lo, int64_t hi) {
    const sgd_job *j = arg;
    sgd_loop(j->G + lo, j->M ? j->M + lo : NULL, j->U + lo, j->MN ? j->MN + lo : NULL, hi - lo,
             j->lr, j->momentum);
}

/* in: g, trace (NULL without momentum); out: update, trace' (NULL without momentum). */
static eqx_status sgd_kernel(const eqx_array *const *in, eqx_array *const *out,
                             const float *kp) {
    sgd_job j = {in[0]->data, in[1] ? in[1]->data : NULL, out[0]->data,
                 out[1] ? out[1]->data : NULL, kp[0], kp[1]};
    eqx__parallel_for(in[0]->size, PAR_MIN, sgd_range, &j);
    return EQX_OK;
}

static void add_loop(const float *restrict P, const float *restrict U, float *restrict N,
                     int64_t n) {
    for (int64_t k = 0; k < n; k++) N[k] = P[k] + U[k];
}

typedef struct add_job {
    const float *P, *U;
    float *N;
} add_job;

static void add_range(void *arg, int64_t lo, int64_t hi) {
    const add_job *j = arg;
    add_loop(j->P + lo, j->U + lo, j->N + lo, hi - lo);
}

static eqx_status apply_kernel(const eqx_array *const *in, eqx_array *const *out,
                               const float *kp) {
    (void)kp;
    add_job j = {in[0]->data, in[1]->data, out[0]->data};
    eqx__parallel_for(in[0]->size, PAR_MIN, add_range, &j);
    return EQX_OK;
}

eqx_status eqx_opt_update(const eqx_optimizer *opt, const eqx_tree *grads,
                          const eqx_tree *state, const eqx_tree *params, eqx_tree **updates,
                          eqx_tree **new_state) {
    *updates = *new_state = NULL;
    if (!opt || !grads || !state)
        return eqx__err(EQX_ERR_ARG, "eqx_opt_update: opt, grads and state are required");
    bool adam = opt->kind != OPT_SGD;
    const eqx_module_type *want = adam ? &adam_state_type : &sgd_state_type;
    if (state->kind != EQX_MODULE || state->u.c.type != want)
        return eqx__err(EQX_ERR_TYPE, "eqx_opt_update: the state was not made by eqx_opt_init "
                        "with this kind of optimiser (expected %s)", want->name);
    if (opt->kind == OPT_ADAMW && !params)
        return eqx__err(EQX_ERR_ARG, "eqx_opt_update: AdamW's weight decay needs params; pass "
                        "the model (or its filtered params)");
    const char *fix = "initialise the optimiser with eqx_filter(model, eqx_is_array) of the "
                      "same model you differentiate";
    flat_arg g = {0}, m = {0}, v = {0}, p = {0};
    eqx_tree **ul = NULL, **ml = NULL, **vl = NULL, *mu = NULL, *nu = NULL, *kids[3] = {NULL};
    eqx_status s = flat_get(grads, "grads", &g);
    const eqx_tree *mt = adam ? state->u.c.children[1] : state->u.c.children[0];
    bool has_m = mt->kind != EQX_NONE;
    if (!s && has_m) s = flat_get(mt, "state.mu", &m);
    if (!s && has_m) s = same_structure("eqx_opt_update", &g, "grads", &m, "the optimiser state", fix);
    if (!s && adam) s = flat_get(state->u.c.children[2], "state.nu", &v);
    if (!s && params) s = flat_get(params, "model", &p);
    if (!s && params)
        s = same_structure("eqx_opt_update", &g, "grads", &p, "params",
                           "pass the model that was differentiated");
    if (s) goto done;

    int n = g.n;
    size_t cnt = (size_t)(n ? n : 1);
    ul = eqx__calloc(cnt, sizeof *ul);
    ml = eqx__calloc(cnt, sizeof *ml);
    vl = eqx__calloc(cnt, sizeof *vl);
    if (!ul || !ml || !vl) { s = eqx__nomem(); goto done; }

    const eqx_array *count_new = NULL;
    if (adam) {
        const eqx_array *ca = eqx_tree_array(state->u.c.children[0]);
        if (!ca || ca->dtype != EQX_I32 || ca->size != 1) {
            s = eqx__err(EQX_ERR_TYPE, "eqx_opt_update: the state's count is not a valid "
                         "int32 step counter; use the state eqx_opt_init/eqx_opt_update made");
            goto done;
        }
        eqx_array *c;
        if ((s = eqx_array_new(EQX_I32, 0, NULL, &c))) goto done;
        s = eqx_leaf_array(c, &kids[0]);
        eqx_array_free(c); /* the leaf holds it */
        if (s) goto done;
        const eqx_array *kin[1] = {ca};
        eqx_array *kout[1] = {c};
        if ((s = eqx__kernel("eqx_opt_update", count_kernel, 1, kin, 1, kout, NULL, 0)))
            goto done;
        count_new = c;
    }
    float kp[KP_N] = {opt->lr, adam ? opt->b1 : opt->momentum, opt->b2, opt->eps, opt->wd};

    for (int i = 0; i < n; i++) {
        const eqx_tree *gi = g.leaves[i];
        if (!eqx_is_inexact_array(gi)) {
            ul[i] = eqx_none();
            if (has_m) ml[i] = eqx_tree_retain(m.leaves[i]);
            if (adam) vl[i] = eqx_tree_retain(v.leaves[i]);
            continue;
        }
        const eqx_array *ga = gi->u.array;
        const eqx_array *ma = has_m ? eqx_tree_array(m.leaves[i]) : NULL;
        const eqx_array *va = adam ? eqx_tree_array(v.leaves[i]) : NULL;
        const eqx_array *pa = params ? eqx_tree_array(p.leaves[i]) : NULL;
        if ((has_m && (!ma || !eqx__same_shape(ma, ga))) || (adam && (!va || !eqx__same_shape(va, ga)))) {
            s = eqx__err(EQX_ERR_STRUCTURE,
                         "eqx_opt_update: the gradient at %s has no matching optimiser state "
                         "of the same shape; %s", g.paths[i], fix);
            goto done;
        }
        if (opt->kind == OPT_ADAMW && (!pa || !eqx__same_shape(pa, ga))) {
            s = eqx__err(EQX_ERR_STRUCTURE, "eqx_opt_update: params at %s is not an array shaped "
                         "like its gradient", g.paths[i]);
            goto done;
        }
        eqx_array *ua, *mn = NULL, *vn = NULL;
        if ((s = new_leaf_f32(ga, &ua, &ul[i]))) goto done;
        if (has_m && (s = new_leaf_f32(ga, &mn, &ml[i]))) goto done;
        if (adam && (s = new_leaf_f32(ga, &vn, &vl[i]))) goto done;
        if (!adam) {
            const eqx_array *kin[2] = {ga, ma};
            eqx_array *kout[2] = {ua, mn};
            if ((s = eqx__kernel("eqx_opt_update", sgd_kernel, 2, kin, 2, kout, kp, KP_N)))
                goto done;
            continue;
        }
        const eqx_array *kin[5] = {ga, ma, va, count_new,
                                   opt->kind == OPT_ADAMW ? pa : NULL};
        eqx_array *kout[3] = {ua, mn, vn};
        if ((s = eqx__kernel("eqx_opt_update", adam_kernel, 5, kin, 3, kout, kp, KP_N)))
            goto done;
    }
    if ((s = eqx_tree_unflatten(g.td, ul, n, updates))) goto done;
    if (has_m && (s = eqx_tree_unflatten(g.td, ml, n, &mu))) goto done;
    if (adam) {
        if ((s = eqx_tree_unflatten(g.td, vl, n, &nu))) goto done;
        kids[1] = mu;
        kids[2] = nu;
        s = eqx_module_new(&adam_state_type, kids, new_state);
    } else {
        kids[0] = has_m ? mu : eqx_none();
        s = eqx_module_new(&sgd_state_type, kids, new_state);
    }
done:
    if (s) { eqx_tree_free(*updates); *updates = NULL; }
    if (adam) eqx_tree_free(kids[0]);
    eqx_tree_free(mu);
    eqx_tree_free(nu);
    free_leaves_n(ul, g.n);
    free_leaves_n(ml, g.n);
    free_leaves_n(vl, g.n);
    flat_free(&g);
    flat_free(&m);
    flat_free(&v);
    flat_free(&p);
    return s;
}

eqx_status eqx_apply_updates(const eqx_tree *model, const eqx_tree *updates, eqx_tree **out) {
    *out = NULL;
    if (!model || !updates)
        return eqx__err(EQX_ERR_ARG, "eqx_apply_updates: model and updates are required");
    flat_arg m = {0}, u = {0};
    eqx_tree **nl = NULL;
    eqx_status s = flat_get(model, "model", &m);
    if (!s) s = flat_get(updates, "updates", &u);
    if (!s) s = same_structure("eqx_apply_updates", &m, "model", &u, "updates",
                               "updates must come from eqx_opt_update on grads of this model");
    if (s) goto done;
    nl = eqx__calloc((size_t)(m.n ? m.n : 1), sizeof *nl);
    if (!nl) { s = eqx__nomem(); goto done; }
    for (int i = 0; i < m.n; i++) {
        if (u.leaves[i]->kind == EQX_NONE) {
            nl[i] = eqx_tree_retain(m.leaves[i]);
            continue;
        }
        const eqx_array *pa = eqx_tree_array(m.leaves[i]), *ua = eqx_tree_array(u.leaves[i]);
        if (!pa || !ua || pa->dtype != EQX_F32 || ua->dtype != EQX_F32 || !eqx__same_shape(pa, ua)) {
            s = eqx__err(EQX_ERR_STRUCTURE,
                         "eqx_apply_updates: the update at %s does not fit the model leaf at %s "
                         "(both must be float32 arrays of one shape)", u.paths[i], m.paths[i]);
            goto done;
        }
        eqx_array *na;
        if ((s = new_leaf_f32(pa, &na, &nl[i]))) goto done;
        const eqx_array *kin[2] = {pa, ua};
        eqx_array *kout[1] = {na};
        if ((s = eqx__kernel("eqx_apply_updates", apply_kernel, 2, kin, 1, kout, NULL, 0)))
            goto done;
    }
    s = eqx_tree_unflatten(m.td, nl, m.n, out);
done:
    free_leaves_n(nl, m.n);
    flat_free(&m);
    flat_free(&u);
    return s;
}
