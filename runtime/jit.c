/*
 * jit.c — eqx_filter_jit / eqx_jit: trace once per key, replay a recorded program after.
 *
 * Design: tracing is concrete. The first call runs fn for real with a thread-local
 * recorder set; every kernel that runs meanwhile (op forwards, backward rules, gradient
 * buffer zeroing, optimiser kernels, view re-bindings) is appended to a program whose
 * operands are slots: INPUT (an array leaf of args, re-bound on each call), CONST (an
 * array fn reached some other way: kept by reference, like a closed-over jnp array), BUF
 * (an array a kernel wrote: an intermediate, allocated once at trace time — the buffer
 * plan) and VIEW (a view whose data pointer follows its source on every replay). A later
 * call whose key — the treedef, the static (non-array) leaves by value, each array's
 * dtype and shape — matches replays the instructions without calling fn: no tree is
 * built, nothing is allocated, the structure check walks the arguments in place.
 *
 * Outputs: the result tree's arrays must outlive the call, and a training loop feeds
 * them straight back in. So the program owns two generations of output buffers (each a
 * ready-built result tree) and, per call, writes into a generation nobody else holds
 * (every node's and array's refcount is the program's alone) — the other one is
 * typically the caller's current model, which this call reads. Only if both are held is a
 * third allocated, replacing one (the caller keeps theirs). That is Swift's uniqueness
 * check standing in for JAX's buffer donation, and it keeps the steady state allocation-
 * free without the caller having to donate anything explicitly.
 *
 * What tracing cannot see: C code in fn that reads array data and branches on it, or
 * writes arrays outside kernels from traced values, is frozen at its trace-time result —
 * the same contract as Python control flow under jax.jit.
 */
#include "eqx_internal.h"

#include <stdio.h>
#include <string.h>

_Thread_local eqx__recorder *eqx__rec;

enum { SLOT_INPUT, SLOT_CONST, SLOT_BUF, SLOT_VIEW, SLOT_OUT };
enum { I_FWD, I_VJP, I_VIEW, I_ZERO, I_FILL, I_COPY, I_KERNEL, I_NOP };

#define EQX__MAX_KP 8

typedef struct instr {
    int kind;
    int nin, nout;
    const eqx_op *op;
    eqx_kernel_fn kern;
    eqx_opparams p;
    float kp[EQX__MAX_KP];
    int in[EQX__MAX_KIN];     /* slot or -1 */
    int out[EQX__MAX_KOUT];
    int g;                    /* VJP: slot of d loss / d out */
    int gin[EQX__MAX_IN];     /* VJP: gradient buffer slots, -1 where none */
    unsigned fresh;           /* VJP: gin bits that may be overwritten (elide_zeroing) */
    float fill;
} instr;

typedef struct program {
    eqx_array **slots;
    unsigned char *kind;
    int nslots, capslots;
    instr *code;
    int ncode, capcode;
} program;

struct eqx__recorder {
    program *pg;
};

/* one set of output buffers, as a ready result tree */
typedef struct gen {
    eqx_tree *tree;
    eqx_array **arrs;        /* per output leaf; NULL for non-array leaves */
} gen;

#define NGEN 2

typedef struct entry {
    struct entry *next;
    eqx_treedef *td;
    int nleaves, ncont;
    eqx_tree **statics;      /* per leaf: the static leaf (retained), NULL for arrays */
    eqx_dtype *dtypes;
    int *ndims;
    int64_t (*shapes)[EQX_MAX_DIMS];
    int *input_slot;         /* per leaf: slot, -1 for static leaves */
    const eqx_tree **scr_leaves, **scr_conts;
    program pg;
    eqx_treedef *out_td;
    int nout;
    int *out_slot;           /* per output leaf: slot, -1 for non-array */
    eqx_tree **out_static;   /* per output leaf: retained non-array leaf */
    gen gens[NGEN];
} entry;

struct eqx_jitted {
    eqx_fn fn;
    void *user;
    bool filter;             /* eqx_filter_jit (true) or plain eqx_jit */
    int traces;
    entry *entries;
};

/* ------------------------------------------------------------ recording */

static eqx_status slot_new(program *pg, eqx_array *a, int kind, int *out) {
    if (pg->nslots == pg->capslots) {
        int ncap = pg->capslots ? pg->capslots * 2 : 64;
        eqx_array **ns = eqx__realloc(pg->slots, sizeof *ns * (size_t)ncap);
        if (!ns) return eqx__nomem();
        pg->slots = ns;
        unsigned char *nk = eqx__realloc(pg->kind, (size_t)ncap);
        if (!nk) return eqx__nomem();
        pg->kind = nk;
        pg->capslots = ncap;
    }
    pg->slots[pg->nslots] = eqx_array_retain(a); /* no address reuse while tracing */
    pg->kind[pg->nslots] = (unsigned char)kind;
    *out = pg->nslots++;
    return EQX_OK;
}

/* The slot holding a, registering it as a constant the first time it is seen. Searches
 * from the end: operands are usually recent results. */
static eqx_status slot_of(program *pg, const eqx_array *a, int *out) {
    if (!a) {
        *out = -1;
        return EQX_OK;
    }
    for (int i = pg->nslots - 1; i >= 0; i--)
        if (pg->slots[i] == a) {
            *out = i;
            return EQX_OK;
        }
    return slot_new(pg, (eqx_array *)a, SLOT_CONST, out);
}

static eqx_status push(program *pg, const instr *in) {
    if (pg->ncode == pg->capcode) {
        int ncap = pg->capcode ? pg->capcode * 2 : 64;
        instr *nc = eqx__realloc(pg->code, sizeof *nc * (size_t)ncap);
        if (!nc) return eqx__nomem();
        pg->code = nc;
        pg->capcode = ncap;
    }
    pg->code[pg->ncode++] = *in;
    return EQX_OK;
}

static void instr_init(instr *i, int kind) {
    memset(i, 0, sizeof *i);
    i->kind = kind;
    i->g = -1;
    for (int k = 0; k < EQX__MAX_KIN; k++) i->in[k] = -1;
    for (int k = 0; k < EQX__MAX_KOUT; k++) i->out[k] = -1;
    for (int k = 0; k < EQX__MAX_IN; k++) i->gin[k] = -1;
}

eqx_status eqx__rec_fwd(const eqx_op *op, int nin, const eqx_array *const *in,
                        const eqx_opparams *p, eqx_array *out) {
    program *pg = eqx__rec->pg;
    instr i;
    instr_init(&i, I_FWD);
    i.op = op;
    i.nin = nin;
    i.p = *p;
    for (int k = 0; k < nin; k++) EQX_TRY(slot_of(pg, in[k], &i.in[k]));
    EQX_TRY(slot_new(pg, out, SLOT_BUF, &i.out[0]));
    return push(pg, &i);
}

eqx_status eqx__rec_view(const eqx_array *src, eqx_array *view) {
    program *pg = eqx__rec->pg;
    instr i;
    instr_init(&i, I_VIEW);
    EQX_TRY(slot_of(pg, src, &i.in[0]));
    EQX_TRY(slot_new(pg, view, SLOT_VIEW, &i.out[0]));
    return push(pg, &i);
}

eqx_status eqx__rec_zero(eqx_array *a) {
    program *pg = eqx__rec->pg;
    instr i;
    instr_init(&i, I_ZERO);
    EQX_TRY(slot_new(pg, a, SLOT_BUF, &i.out[0]));
    return push(pg, &i);
}

eqx_status eqx__rec_fill(eqx_array *a, float v) {
    program *pg = eqx__rec->pg;
    instr i;
    instr_init(&i, I_FILL);
    i.fill = v;
    EQX_TRY(slot_new(pg, a, SLOT_BUF, &i.out[0]));
    return push(pg, &i);
}

eqx_status eqx__rec_vjp(const struct eqx_tape_entry *e, eqx_array *const *gin) {
    program *pg = eqx__rec->pg;
    instr i;
    instr_init(&i, I_VJP);
    i.op = e->op;
    i.nin = e->nin;
    i.p = e->p;
    for (int k = 0; k < e->nin; k++) {
        EQX_TRY(slot_of(pg, e->in[k], &i.in[k]));
        EQX_TRY(slot_of(pg, gin[k], &i.gin[k]));
    }
    EQX_TRY(slot_of(pg, e->out, &i.out[0]));
    EQX_TRY(slot_of(pg, e->grad, &i.g));
    return push(pg, &i);
}

eqx_status eqx__rec_kernel(const char *name, eqx_kernel_fn kern, int nin,
                           const eqx_array *const *in, int nout, eqx_array *const *out,
                           const float *kp, int nkp) {
    (void)name;
    program *pg = eqx__rec->pg;
    instr i;
    instr_init(&i, I_KERNEL);
    i.kern = kern;
    i.nin = nin;
    i.nout = nout;
    if (nkp > EQX__MAX_KP) nkp = EQX__MAX_KP;
    if (kp) memcpy(i.kp, kp, sizeof(float) * (size_t)nkp);
    for (int k = 0; k < nin; k++) EQX_TRY(slot_of(pg, in[k], &i.in[k]));
    for (int k = 0; k < nout; k++)
        if (out[k]) EQX_TRY(slot_new(pg, out[k], SLOT_BUF, &i.out[k]));
    return push(pg, &i);
}

/* ------------------------------------------------------------ replay */

static eqx_array *S(const program *pg, int s) { return s >= 0 ? pg->slots[s] : NULL; }

static eqx_status run(const program *pg) {
    for (int n = 0; n < pg->ncode; n++) {
        const instr *i = &pg->code[n];
        switch (i->kind) {
        case I_FWD: {
            const eqx_array *in[EQX__MAX_IN];
            for (int k = 0; k < i->nin; k++) in[k] = S(pg, i->in[k]);
            /* shape rules are cheap and some check data (class labels): keep them */
            eqx_dtype dt;
            int nd;
            int64_t sh[EQX_MAX_DIMS];
            EQX_TRY(i->op->shape(in, &i->p, &dt, &nd, sh));
            EQX_TRY(i->op->fwd(in, &i->p, S(pg, i->out[0])));
            break;
        }
        case I_VJP: {
            struct eqx_tape_entry e;
            memset(&e, 0, sizeof e);
            e.op = i->op;
            e.nin = i->nin;
            e.p = i->p;
            e.fresh = i->fresh;
            e.out = S(pg, i->out[0]);
            float *gin[EQX__MAX_IN] = {NULL};
            for (int k = 0; k < i->nin; k++) {
                e.in[k] = S(pg, i->in[k]);
                if (i->gin[k] >= 0) gin[k] = S(pg, i->gin[k])->data;
            }
            i->op->vjp(&e, S(pg, i->g)->data, gin);
            break;
        }
        case I_VIEW: S(pg, i->out[0])->data = S(pg, i->in[0])->data; break;
        case I_ZERO: {
            eqx_array *a = S(pg, i->out[0]);
            memset(a->data, 0, (size_t)a->size * 4);
            break;
        }
        case I_FILL: {
            eqx_array *a = S(pg, i->out[0]);
            float *d = a->data;
            for (int64_t k = 0; k < a->size; k++) d[k] = i->fill;
            break;
        }
        case I_COPY: {
            eqx_array *a = S(pg, i->out[0]);
            memcpy(a->data, S(pg, i->in[0])->data, (size_t)a->size * 4);
            break;
        }
        case I_KERNEL: {
            const eqx_array *in[EQX__MAX_KIN];
            eqx_array *out[EQX__MAX_KOUT];
            for (int k = 0; k < i->nin; k++) in[k] = S(pg, i->in[k]);
            for (int k = 0; k < i->nout; k++) out[k] = S(pg, i->out[k]);
            EQX_TRY(i->kern(in, out, i->kp));
            break;
        }
        case I_NOP: break;
        }
    }
    return EQX_OK;
}

/* A generation is free when the program holds the only reference to every node of its
 * tree (static module fields aside: they are shared immutable values) and every array. */
static bool tree_unshared(const eqx_tree *t) {
    if (t->kind == EQX_NONE || t->refcount < 0) return true;
    if (t->kind == EQX_LEAF_ARRAY) return t->refcount == 1 && t->u.array->refcount == 1;
    if (!eqx__is_container(t)) return true;
    if (t->refcount != 1) return false;
    for (int i = 0; i < t->u.c.n; i++) {
        if (t->kind == EQX_MODULE && t->u.c.type->fields[i].is_static) continue;
        if (!tree_unshared(t->u.c.children[i])) return false;
    }
    return true;
}

static void gen_release(gen *g) {
    eqx_tree_free(g->tree);
    eqx__free(g->arrs);
    g->tree = NULL;
    g->arrs = NULL;
}

/* A new output generation: fresh buffers shaped like the program's outputs. */
static eqx_status gen_make(entry *e, gen *g) {
    memset(g, 0, sizeof *g);
    g->arrs = eqx__calloc((size_t)(e->nout ? e->nout : 1), sizeof *g->arrs);
    eqx_tree **lv = eqx__calloc((size_t)(e->nout ? e->nout : 1), sizeof *lv);
    eqx_status s = (g->arrs && lv) ? EQX_OK : eqx__nomem();
    for (int i = 0; i < e->nout && !s; i++) {
        if (e->out_slot[i] < 0) {
            lv[i] = eqx_tree_retain(e->out_static[i]);
            continue;
        }
        const eqx_array *like = e->pg.slots[e->out_slot[i]];
        eqx_array *a;
        s = eqx__array_alloc(like->dtype, like->ndim, like->shape, true, &a);
        if (!s) {
            s = eqx_leaf_array(a, &lv[i]);
            g->arrs[i] = a;  /* borrowed: the leaf holds it */
            eqx_array_free(a);
        }
    }
    if (!s) s = eqx_tree_unflatten(e->out_td, lv, e->nout, &g->tree);
    if (lv) eqx_leaves_free(lv, e->nout);
    if (s) {
        eqx__free(g->arrs);
        g->arrs = NULL;
    }
    return s;
}

static eqx_status replay(entry *e, const eqx_tree *const *leaves, eqx_tree **out) {
    program *pg = &e->pg;
    for (int i = 0; i < e->nleaves; i++)
        if (e->input_slot[i] >= 0) pg->slots[e->input_slot[i]] = leaves[i]->u.array;
    int g = -1;
    for (int k = 0; k < NGEN && g < 0; k++)
        if (tree_unshared(e->gens[k].tree)) g = k;
    if (g < 0) { /* both held by the caller: a third set, which replaces one of ours */
        gen fresh;
        EQX_TRY(gen_make(e, &fresh));
        gen_release(&e->gens[0]);
        e->gens[0] = e->gens[1];
        e->gens[1] = fresh;
        g = 1;
    }
    for (int i = 0; i < e->nout; i++)
        if (e->out_slot[i] >= 0) pg->slots[e->out_slot[i]] = e->gens[g].arrs[i];
    eqx_status s = run(pg);
    /* inputs are borrowed for the call only */
    for (int i = 0; i < e->nleaves; i++)
        if (e->input_slot[i] >= 0) pg->slots[e->input_slot[i]] = NULL;
    if (s) return s;
    *out = eqx_tree_retain(e->gens[g].tree);
    return EQX_OK;
}

/* ------------------------------------------------------------ cache entries */

static void program_free(program *pg) {
    for (int i = 0; i < pg->nslots; i++)
        if (pg->kind[i] != SLOT_OUT && pg->kind[i] != SLOT_INPUT) eqx_array_free(pg->slots[i]);
    eqx__free(pg->slots);
    eqx__free(pg->kind);
    eqx__free(pg->code);
}

static void entry_free(entry *e) {
    if (!e) return;
    program_free(&e->pg);
    for (int k = 0; k < NGEN; k++) gen_release(&e->gens[k]);
    if (e->statics) eqx_leaves_free(e->statics, e->nleaves);
    if (e->out_static) eqx_leaves_free(e->out_static, e->nout);
    eqx_treedef_free(e->td);
    eqx_treedef_free(e->out_td);
    eqx__free(e->dtypes);
    eqx__free(e->ndims);
    eqx__free(e->shapes);
    eqx__free(e->input_slot);
    eqx__free(e->scr_leaves);
    eqx__free(e->scr_conts);
    eqx__free(e->out_slot);
    eqx__free(e);
}

static bool leaf_matches(const entry *e, int i, const eqx_tree *l) {
    if (e->statics[i]) return l->kind != EQX_LEAF_ARRAY && eqx__tree_equal(e->statics[i], l);
    if (l->kind != EQX_LEAF_ARRAY) return false;
    const eqx_array *a = l->u.array;
    if (a->dtype != e->dtypes[i] || a->ndim != e->ndims[i] || a->batch) return false;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != e->shapes[i][d]) return false;
    return true;
}

/* True when some container appears twice among conts[0..n) (sorted in place: scratch). */
static bool has_duplicate(const eqx_tree **c, int n) {
    for (int i = 1; i < n; i++) { /* insertion sort by address: n is small */
        const eqx_tree *v = c[i];
        int j = i - 1;
        while (j >= 0 && (uintptr_t)c[j] > (uintptr_t)v) {
            c[j + 1] = c[j];
            j--;
        }
        c[j + 1] = v;
    }
    for (int i = 1; i < n; i++)
        if (c[i] == c[i - 1]) return true;
    return false;
}

static const char *leaf_type(const eqx_tree *t) {
    switch (t->kind) {
    case EQX_LEAF_FN: return "function";
    case EQX_LEAF_SCALAR: return "scalar (a Python float/int)";
    case EQX_LEAF_STRING: return "string";
    default: return "non-array";
    }
}

/* Output bookkeeping once fn has returned: every output array gets its own BUF slot
 * (copied into one when fn returned an input, a constant, a view or the same array twice),
 * and the first generation adopts those buffers. */
static eqx_status finish_outputs(entry *e, const eqx_tree *res) {
    program *pg = &e->pg;
    eqx_tree **leaves = NULL;
    eqx_status s = eqx__flatten(res, "result", &e->out_td, &leaves, &e->nout, NULL);
    if (s) return s;
    size_t n = (size_t)(e->nout ? e->nout : 1);
    e->out_slot = eqx__malloc(n * sizeof *e->out_slot);
    e->out_static = eqx__calloc(n, sizeof *e->out_static);
    e->gens[0].arrs = eqx__calloc(n, sizeof *e->gens[0].arrs);
    eqx_tree **lv = eqx__calloc(n, sizeof *lv);
    if (!e->out_slot || !e->out_static || !e->gens[0].arrs || !lv) {
        s = eqx__nomem();
        goto done;
    }
    for (int i = 0; i < e->nout; i++) e->out_slot[i] = -1;
    for (int i = 0; i < e->nout && !s; i++) {
        const eqx_array *a = eqx_tree_array(leaves[i]);
        if (!a) {
            e->out_static[i] = eqx_tree_retain(leaves[i]);
            lv[i] = eqx_tree_retain(leaves[i]);
            continue;
        }
        int sl;
        if ((s = slot_of(pg, a, &sl))) break;
        if (pg->kind[sl] != SLOT_BUF) {
            eqx_array *b;
            instr c;
            instr_init(&c, I_COPY);
            c.in[0] = sl;
            if ((s = eqx__array_alloc(a->dtype, a->ndim, a->shape, false, &b))) break;
            memcpy(b->data, a->data, (size_t)a->size * 4);
            s = slot_new(pg, b, SLOT_BUF, &c.out[0]);
            eqx_array_free(b);
            if (!s) s = push(pg, &c);
            if (s) break;
            sl = c.out[0];
        }
        if ((s = eqx_leaf_array(pg->slots[sl], &lv[i]))) break;
        e->gens[0].arrs[i] = pg->slots[sl];
        /* the generation's leaf owns it now; the slot is re-bound on every call */
        eqx_array_free(pg->slots[sl]);
        pg->kind[sl] = SLOT_OUT;
        e->out_slot[i] = sl;
    }
    if (!s) s = eqx_tree_unflatten(e->out_td, lv, e->nout, &e->gens[0].tree);
    if (!s) s = gen_make(e, &e->gens[1]);
done:
    if (lv) eqx_leaves_free(lv, e->nout);
    eqx_leaves_free(leaves, e->nout);
    return s;
}

static int refs_to(const instr *u, int s) {
    int n = u->g == s;
    for (int k = 0; k < EQX__MAX_KIN; k++) n += u->in[k] == s;
    for (int k = 0; k < EQX__MAX_KOUT; k++) n += u->out[k] == s;
    for (int k = 0; k < EQX__MAX_IN; k++) n += u->gin[k] == s;
    return n;
}

/* Gradient buffers are zeroed and then accumulated into. When the first instruction to
 * touch a zeroed buffer is a backward rule that can overwrite (a GEMM with beta = 0, a
 * copy instead of +=), the zeroing is dropped and that rule told the buffer is fresh: one
 * memset per gradient buffer per step less. The program order is fixed, so "first" is
 * known once, here. */
static void elide_zeroing(program *pg) {
    for (int z = 0; z < pg->ncode; z++) {
        instr *zi = &pg->code[z];
        if (zi->kind != I_ZERO) continue;
        int s = zi->out[0];
        for (int j = z + 1; j < pg->ncode; j++) {
            instr *u = &pg->code[j];
            int r = refs_to(u, s);
            if (!r) continue;
            if (u->kind == I_VJP && u->op->vjp_fresh && r == 1)
                for (int k = 0; k < u->nin; k++)
                    if (u->gin[k] == s) {
                        u->fresh |= 1u << k;
                        zi->kind = I_NOP;
                    }
            break;
        }
    }
}

static eqx_status trace(eqx_ctx *ctx, eqx_jitted *jf, const eqx_tree *args, eqx_tree **out) {
    eqx_treedef *td;
    eqx_tree **leaves;
    char **paths;
    int n;
    EQX_TRY(eqx__flatten(args, "args", &td, &leaves, &n, &paths));
    eqx_status s = EQX_OK;
    entry *e = NULL;
    eqx_tree **tl = NULL, *targs = NULL, *res = NULL;
    if (!jf->filter)
        for (int i = 0; i < n; i++) {
            const eqx_tree *l = leaves[i];
            if (l->kind == EQX_LEAF_ARRAY || l->kind == EQX_NONE) continue;
            s = eqx__err(EQX_ERR_NOT_ARRAY,
                         "eqx_jit: argument %s of type %s%s%s%s is not a valid JAX type: "
                         "eqx_jit traces array leaves only. Use eqx_filter_jit, which traces "
                         "the arrays and treats every other leaf as static (or pass only "
                         "eqx_filter(model, eqx_is_array) and close over the rest)",
                         paths[i], leaf_type(l), l->kind == EQX_LEAF_FN ? " ('" : "",
                         l->kind == EQX_LEAF_FN ? l->u.fn.name : "",
                         l->kind == EQX_LEAF_FN ? "')" : "");
            goto fail;
        }
    for (int i = 0; i < n; i++)
        if (leaves[i]->kind == EQX_LEAF_ARRAY && leaves[i]->u.array->batch) {
            s = eqx__err(EQX_ERR_ARG, "eqx_filter_jit: %s is a batched value from an "
                         "enclosing eqx_vmap; pass the ctx of that vmap", paths[i]);
            goto fail;
        }
    e = eqx__calloc(1, sizeof *e);
    size_t cn = (size_t)(n ? n : 1);
    if (!e) { s = eqx__nomem(); goto fail; }
    e->td = td;
    td = NULL;
    e->nleaves = n;
    e->ncont = eqx__treedef_nnodes(e->td);
    e->statics = eqx__calloc(cn, sizeof *e->statics);
    e->dtypes = eqx__calloc(cn, sizeof *e->dtypes);
    e->ndims = eqx__calloc(cn, sizeof *e->ndims);
    e->shapes = eqx__calloc(cn, sizeof *e->shapes);
    e->input_slot = eqx__calloc(cn, sizeof *e->input_slot);
    e->scr_leaves = eqx__calloc(cn, sizeof *e->scr_leaves);
    e->scr_conts = eqx__calloc((size_t)(e->ncont ? e->ncont : 1), sizeof *e->scr_conts);
    tl = eqx__calloc(cn, sizeof *tl);
    if (!e->statics || !e->dtypes || !e->ndims || !e->shapes || !e->input_slot ||
        !e->scr_leaves || !e->scr_conts || !tl) {
        eqx__free(e->input_slot); /* the cleanup below reads input_slot only when set */
        e->input_slot = NULL;
        s = eqx__nomem();
        goto fail;
    }
    for (int i = 0; i < n; i++) e->input_slot[i] = -1; /* before anything can fail */
    /* each array leaf becomes its own input slot through a fresh view, so two leaves that
     * share an array now may differ later */
    for (int i = 0; i < n && !s; i++) {
        const eqx_tree *l = leaves[i];
        if (l->kind != EQX_LEAF_ARRAY) {
            e->statics[i] = eqx_tree_retain(leaves[i]);
            tl[i] = eqx_tree_retain(leaves[i]);
            continue;
        }
        const eqx_array *a = l->u.array;
        e->dtypes[i] = a->dtype;
        e->ndims[i] = a->ndim;
        memcpy(e->shapes[i], a->shape, sizeof(int64_t) * (size_t)a->ndim);
        eqx_array *v;
        if ((s = eqx__array_view(a, a->ndim, a->shape, &v))) break;
        s = slot_new(&e->pg, v, SLOT_INPUT, &e->input_slot[i]);
        if (!s) s = eqx_leaf_array(v, &tl[i]);
        eqx_array_free(v);
    }
    if (!s) s = eqx_tree_unflatten(e->td, tl, n, &targs);
    if (s) goto fail;

    /* a private ctx: trace-time temporaries must not stay pinned in the caller's arena
     * (that would keep the first output generation looking "held" forever) */
    eqx_ctx *tctx;
    if ((s = eqx_ctx_new(&tctx))) goto fail;
    snprintf(tctx->call_path, sizeof tctx->call_path, "%s", ctx->call_path);
    eqx__recorder rec = {&e->pg};
    eqx__rec = &rec;
    s = jf->fn(tctx, targs, jf->user, &res);
    eqx__rec = NULL;
    if (!s && !res) s = eqx__err(EQX_ERR_ARG, "eqx_filter_jit: the function gave no result");
    if (!s) s = finish_outputs(e, res);
    if (!s) elide_zeroing(&e->pg);
    eqx_tree_free(res);
    res = NULL;
    eqx_ctx_free(tctx);
    if (s) goto fail;
    /* the trace-time input views are done with: replays bind the caller's arrays */
    for (int i = 0; i < n; i++)
        if (e->input_slot[i] >= 0) {
            eqx_array_free(e->pg.slots[e->input_slot[i]]);
            e->pg.slots[e->input_slot[i]] = NULL;
        }
    e->next = jf->entries;
    jf->entries = e;
    jf->traces++;
    s = replay(e, (const eqx_tree *const *)leaves, out);
    e = NULL;
fail:
    eqx__rec = NULL;
    eqx_tree_free(res);
    eqx_tree_free(targs);
    if (tl) eqx_leaves_free(tl, n);
    if (e) {
        for (int i = 0; i < n && e->input_slot; i++)
            if (e->input_slot[i] >= 0 && e->pg.slots[e->input_slot[i]]) {
                eqx_array_free(e->pg.slots[e->input_slot[i]]);
                e->pg.slots[e->input_slot[i]] = NULL;
            }
        entry_free(e);
    }
    eqx__paths_free(paths, n);
    eqx_leaves_free(leaves, n);
    eqx_treedef_free(td);
    return s;
}

/* ------------------------------------------------------------ public */

static eqx_status jitted_new(eqx_fn fn, void *user, bool filter, eqx_jitted **out) {
    *out = NULL;
    if (!fn) return eqx__err(EQX_ERR_ARG, "%s: fn is NULL", filter ? "eqx_filter_jit" : "eqx_jit");
    eqx_jitted *j = eqx__calloc(1, sizeof *j);
    if (!j) return eqx__nomem();
    j->fn = fn;
    j->user = user;
    j->filter = filter;
    *out = j;
    return EQX_OK;
}

eqx_status eqx_filter_jit(eqx_fn fn, void *user, eqx_jitted **out) {
    return jitted_new(fn, user, true, out);
}

eqx_status eqx_jit(eqx_fn fn, void *user, eqx_jitted **out) {
    return jitted_new(fn, user, false, out);
}

int eqx_jitted_trace_count(const eqx_jitted *jf) { return jf ? jf->traces : 0; }

void eqx_jitted_free(eqx_jitted *jf) {
    if (!jf) return;
    while (jf->entries) {
        entry *e = jf->entries;
        jf->entries = e->next;
        entry_free(e);
    }
    eqx__free(jf);
}

eqx_status eqx_jitted_call(eqx_ctx *ctx, eqx_jitted *jf, const eqx_tree *args, eqx_tree **out) {
    *out = NULL;
    if (!ctx || !jf || !args)
        return eqx__err(EQX_ERR_ARG, "eqx_jitted_call: ctx, jf and args are required");
    /* inside grad, vmap or another trace the outer transform sees fn's ops: inline it */
    if (ctx->mode != EQX_MODE_EAGER || ctx->vmap_depth > 0 || eqx__rec)
        return jf->fn(ctx, args, jf->user, out);
    for (entry *e = jf->entries; e; e = e->next) {
        int nc;
        if (!eqx__treedef_match(e->td, args, e->scr_leaves, e->scr_conts, e->ncont, &nc))
            continue;
        bool ok = true;
        for (int i = 0; i < e->nleaves && ok; i++) ok = leaf_matches(e, i, e->scr_leaves[i]);
        if (!ok) continue;
        if (has_duplicate(e->scr_conts, nc)) return eqx__tree_check_named(args, "args");
        return replay(e, e->scr_leaves, out);
    }
    return trace(ctx, jf, args, out);
}
