/*
 * tree.c — models are trees: leaves, containers, flatten/unflatten, filtering, the
 * one-node-one-place check and functional updates.
 *
 * Design: nodes are refcounted and treated as immutable values, so a functional update
 * (eqx_tree_at, eqx_apply_updates) copies only the spine and shares the rest. Because
 * sharing a subtree between two *different* trees is then normal, "one node, one place"
 * is a property checked per tree (eqx_tree_check), not enforced by ownership. The check
 * runs inside flatten, which every transform uses, so a cyclic tree is reported before
 * any recursion could loop on it. none is a leaf here (JAX makes it an empty node) so a
 * filtered tree keeps its treedef and partition/combine are leafwise.
 */
#include "eqx_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static eqx_tree g_none = {-1, EQX_NONE, {0}};

eqx_tree *eqx_none(void) { return &g_none; }

static eqx_status new_node(eqx_kind kind, eqx_tree **out) {
    *out = eqx__calloc(1, sizeof **out);
    if (!*out) return eqx__nomem();
    (*out)->refcount = 1;
    (*out)->kind = kind;
    return EQX_OK;
}

eqx_status eqx_leaf_array(eqx_array *a, eqx_tree **out) {
    *out = NULL;
    if (!a) return eqx__err(EQX_ERR_ARG, "eqx_leaf_array: the array is NULL");
    EQX_TRY(new_node(EQX_LEAF_ARRAY, out));
    (*out)->u.array = eqx_array_retain(a);
    return EQX_OK;
}

eqx_status eqx_leaf_scalar(double v, eqx_tree **out) {
    EQX_TRY(new_node(EQX_LEAF_SCALAR, out));
    (*out)->u.scalar = v;
    return EQX_OK;
}

eqx_status eqx_leaf_fn(const char *name, eqx_unary_fn fn, eqx_tree **out) {
    *out = NULL;
    if (!fn || !name) return eqx__err(EQX_ERR_ARG, "eqx_leaf_fn: name and fn are required");
    char *n = eqx__strdup(name);
    if (!n) return eqx__nomem();
    eqx_status s = new_node(EQX_LEAF_FN, out);
    if (s) { eqx__free(n); return s; }
    (*out)->u.fn.name = n;
    (*out)->u.fn.fn = fn;
    return EQX_OK;
}

eqx_status eqx_leaf_string(const char *str, eqx_tree **out) {
    *out = NULL;
    char *d = eqx__strdup(str ? str : "");
    if (!d) return eqx__nomem();
    eqx_status s = new_node(EQX_LEAF_STRING, out);
    if (s) { eqx__free(d); return s; }
    (*out)->u.string = d;
    return EQX_OK;
}

bool eqx__is_container(const eqx_tree *t) { return t->kind >= EQX_MODULE; }

static const char *kind_name(const eqx_tree *t) {
    switch (t->kind) {
    case EQX_NONE: return "none";
    case EQX_LEAF_ARRAY: return t->u.array->dtype == EQX_F32 ? "float32 array" : "int32 array";
    case EQX_LEAF_SCALAR: return "scalar";
    case EQX_LEAF_FN: return "function";
    case EQX_LEAF_STRING: return "string";
    case EQX_MODULE: return t->u.c.type->name;
    case EQX_LIST: return "list";
    case EQX_TUPLE: return "tuple";
    case EQX_DICT: return "dict";
    }
    return "?";
}

/* Children are retained; keys (dict) are copied. Keys must already be sorted. */
static eqx_status make_container(eqx_kind kind, int n, eqx_tree *const *children,
                                 const char *const *keys, const eqx_module_type *type,
                                 eqx_tree **out) {
    *out = NULL;
    eqx_tree *t;
    EQX_TRY(new_node(kind, &t));
    t->u.c.n = n;
    t->u.c.type = type;
    t->u.c.children = eqx__calloc((size_t)(n ? n : 1), sizeof(eqx_tree *));
    if (!t->u.c.children) { eqx__free(t); return eqx__nomem(); }
    if (kind == EQX_DICT) {
        t->u.c.keys = eqx__calloc((size_t)(n ? n : 1), sizeof(char *));
        if (!t->u.c.keys) goto nomem;
        for (int i = 0; i < n; i++)
            if (!(t->u.c.keys[i] = eqx__strdup(keys[i]))) goto nomem;
    }
    for (int i = 0; i < n; i++)
        t->u.c.children[i] = eqx_tree_retain(children[i] ? children[i] : &g_none);
    *out = t;
    return EQX_OK;
nomem:
    if (t->u.c.keys)
        for (int i = 0; i < n; i++) eqx__free(t->u.c.keys[i]);
    eqx__free(t->u.c.keys);
    eqx__free(t->u.c.children);
    eqx__free(t);
    return eqx__nomem();
}

eqx_status eqx_list_new(int n, eqx_tree *const *children, eqx_tree **out) {
    if (n < 0) { *out = NULL; return eqx__err(EQX_ERR_ARG, "eqx_list_new: negative length"); }
    return make_container(EQX_LIST, n, children, NULL, NULL, out);
}

eqx_status eqx_tuple_new(int n, eqx_tree *const *children, eqx_tree **out) {
    if (n < 0) { *out = NULL; return eqx__err(EQX_ERR_ARG, "eqx_tuple_new: negative length"); }
    return make_container(EQX_TUPLE, n, children, NULL, NULL, out);
}

eqx_status eqx_dict_new(int n, const char *const *keys, eqx_tree *const *children,
                        eqx_tree **out) {
    *out = NULL;
    if (n < 0) return eqx__err(EQX_ERR_ARG, "eqx_dict_new: negative length");
    /* Sort an index permutation: JAX orders dict children by key. */
    int *idx = eqx__malloc(sizeof(int) * (size_t)(n ? n : 1));
    const char **k = eqx__malloc(sizeof(char *) * (size_t)(n ? n : 1));
    eqx_tree **c = eqx__malloc(sizeof(eqx_tree *) * (size_t)(n ? n : 1));
    eqx_status s = EQX_OK;
    if (!idx || !k || !c) { s = eqx__nomem(); goto done; }
    for (int i = 0; i < n; i++) idx[i] = i;
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(keys[idx[j - 1]], keys[idx[j]]) > 0; j--) {
            int tmp = idx[j]; idx[j] = idx[j - 1]; idx[j - 1] = tmp;
        }
    for (int i = 0; i < n; i++) {
        if (i > 0 && strcmp(keys[idx[i - 1]], keys[idx[i]]) == 0) {
            s = eqx__err(EQX_ERR_ARG, "eqx_dict_new: key '%s' appears twice", keys[idx[i]]);
            goto done;
        }
        k[i] = keys[idx[i]];
        c[i] = children[idx[i]];
    }
    s = make_container(EQX_DICT, n, c, k, NULL, out);
done:
    eqx__free(idx);
    eqx__free(k);
    eqx__free(c);
    return s;
}

eqx_status eqx_module_new(const eqx_module_type *type, eqx_tree *const *children,
                          eqx_tree **out) {
    *out = NULL;
    if (!type || type->nfields < 0 || (type->nfields && !type->fields))
        return eqx__err(EQX_ERR_ARG, "eqx_module_new: the module type is incomplete");
    return make_container(EQX_MODULE, type->nfields, children, NULL, type, out);
}

eqx_status eqx_tree_set_child(eqx_tree *node, int i, eqx_tree *child) {
    if (!node || !eqx__is_container(node) || i < 0 || i >= node->u.c.n)
        return eqx__err(EQX_ERR_ARG, "eqx_tree_set_child: child %d does not exist", i);
    eqx_tree *old = node->u.c.children[i];
    node->u.c.children[i] = eqx_tree_retain(child ? child : &g_none);
    eqx_tree_free(old);
    return EQX_OK;
}

eqx_tree *eqx_tree_retain(eqx_tree *t) {
    if (t && t->refcount >= 0) t->refcount++;
    return t;
}

void eqx_tree_free(eqx_tree *t) {
    if (!t || t->refcount < 0 || --t->refcount > 0) return;
    switch (t->kind) {
    case EQX_LEAF_ARRAY: eqx_array_free(t->u.array); break;
    case EQX_LEAF_FN: eqx__free(t->u.fn.name); break;
    case EQX_LEAF_STRING: eqx__free(t->u.string); break;
    case EQX_MODULE: case EQX_LIST: case EQX_TUPLE: case EQX_DICT:
        for (int i = 0; i < t->u.c.n; i++) {
            eqx_tree_free(t->u.c.children[i]);
            if (t->u.c.keys) eqx__free(t->u.c.keys[i]);
        }
        eqx__free(t->u.c.children);
        eqx__free(t->u.c.keys);
        break;
    default: break;
    }
    eqx__free(t);
}

eqx_kind eqx_tree_kind(const eqx_tree *t) { return t ? t->kind : EQX_NONE; }
int eqx_tree_nchildren(const eqx_tree *t) { return t && eqx__is_container(t) ? t->u.c.n : 0; }
eqx_tree *eqx_tree_child(const eqx_tree *t, int i) {
    return t && eqx__is_container(t) && i >= 0 && i < t->u.c.n ? t->u.c.children[i] : NULL;
}
const char *eqx_tree_key(const eqx_tree *t, int i) {
    if (!t || !eqx__is_container(t) || i < 0 || i >= t->u.c.n) return NULL;
    if (t->kind == EQX_DICT) return t->u.c.keys[i];
    if (t->kind == EQX_MODULE) return t->u.c.type->fields[i].name;
    return NULL;
}
eqx_tree *eqx_tree_field(const eqx_tree *t, const char *name) {
    for (int i = 0; i < eqx_tree_nchildren(t); i++) {
        const char *k = eqx_tree_key(t, i);
        if (k && strcmp(k, name) == 0) return t->u.c.children[i];
    }
    return NULL;
}
const eqx_module_type *eqx_tree_module_type(const eqx_tree *t) {
    return t && t->kind == EQX_MODULE ? t->u.c.type : NULL;
}
eqx_array *eqx_tree_array(const eqx_tree *t) {
    return t && t->kind == EQX_LEAF_ARRAY ? t->u.array : NULL;
}
double eqx_tree_scalar(const eqx_tree *t) {
    return t && t->kind == EQX_LEAF_SCALAR ? t->u.scalar : 0.0;
}
const char *eqx_tree_string(const eqx_tree *t) {
    if (t && t->kind == EQX_LEAF_STRING) return t->u.string;
    if (t && t->kind == EQX_LEAF_FN) return t->u.fn.name;
    return NULL;
}
eqx_unary_fn eqx_tree_fn(const eqx_tree *t) {
    return t && t->kind == EQX_LEAF_FN ? t->u.fn.fn : NULL;
}

static bool is_static_field(const eqx_tree *t, int i) {
    return t->kind == EQX_MODULE && t->u.c.type->fields[i].is_static;
}

/* ------------------------------------------------------------ paths */

typedef struct pathbuf {
    char s[1024];
    size_t len;
} pathbuf;

static size_t path_push(pathbuf *p, const eqx_tree *parent, int i) {
    size_t old = p->len;
    int w;
    size_t room = sizeof p->s - p->len;
    if (parent->kind == EQX_MODULE)
        w = snprintf(p->s + p->len, room, ".%s", parent->u.c.type->fields[i].name);
    else if (parent->kind == EQX_DICT)
        w = snprintf(p->s + p->len, room, "['%s']", parent->u.c.keys[i]);
    else
        w = snprintf(p->s + p->len, room, "[%d]", i);
    p->len += (w > 0 && (size_t)w < room) ? (size_t)w : 0;
    p->s[p->len] = '\0';
    return old;
}

static void path_pop(pathbuf *p, size_t old) {
    p->len = old;
    p->s[old] = '\0';
}

static void path_init(pathbuf *p, const char *root) {
    snprintf(p->s, sizeof p->s, "%s", root ? root : "tree");
    p->len = strlen(p->s);
}

/* ------------------------------------------------------------ one node, one place */

/* Open-addressing pointer set: models hold few containers but checks run on every
 * transform call, so lookups should not be quadratic. */
typedef struct seen_entry {
    const eqx_tree *node;
    char *path;
    bool on_stack;
} seen_entry;

typedef struct seen_set {
    seen_entry *e;
    size_t cap, n;
} seen_set;

static size_t ptr_hash(const void *p, size_t cap) {
    uintptr_t x = (uintptr_t)p;
    x ^= x >> 17;
    x *= 0x9E3779B97F4A7C15ull;
    return (size_t)(x >> 7) & (cap - 1);
}

static seen_entry *seen_find(seen_set *s, const eqx_tree *t) {
    if (!s->cap) return NULL;
    for (size_t i = ptr_hash(t, s->cap);; i = (i + 1) & (s->cap - 1)) {
        if (!s->e[i].node) return NULL;
        if (s->e[i].node == t) return &s->e[i];
    }
}

static eqx_status seen_add(seen_set *s, const eqx_tree *t, const char *path, seen_entry **out) {
    if ((s->n + 1) * 2 > s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 64;
        seen_entry *ne = eqx__calloc(ncap, sizeof *ne);
        if (!ne) return eqx__nomem();
        for (size_t i = 0; i < s->cap; i++) {
            if (!s->e[i].node) continue;
            size_t j = ptr_hash(s->e[i].node, ncap);
            while (ne[j].node) j = (j + 1) & (ncap - 1);
            ne[j] = s->e[i];
        }
        eqx__free(s->e);
        s->e = ne;
        s->cap = ncap;
    }
    char *p = eqx__strdup(path);
    if (!p) return eqx__nomem();
    size_t j = ptr_hash(t, s->cap);
    while (s->e[j].node) j = (j + 1) & (s->cap - 1);
    s->e[j].node = t;
    s->e[j].path = p;
    s->e[j].on_stack = true;
    s->n++;
    *out = &s->e[j];
    return EQX_OK;
}

static void seen_free(seen_set *s) {
    for (size_t i = 0; i < s->cap; i++) eqx__free(s->e[i].path);
    eqx__free(s->e);
}

static eqx_status check_rec(const eqx_tree *t, pathbuf *p, seen_set *s) {
    if (!eqx__is_container(t)) return EQX_OK;
    seen_entry *e = seen_find(s, t);
    if (e) {
        if (e->on_stack)
            return eqx__err(EQX_ERR_DUPLICATE,
                            "the %s at %s contains itself: it is reached again at %s. A tree "
                            "must not contain itself; to reuse a layer or tie weights, store "
                            "it once and use eqx_shared",
                            kind_name(t), e->path, p->s);
        return eqx__err(EQX_ERR_DUPLICATE,
                        "the same %s object appears at %s and at %s. JAX would silently "
                        "copy it and train the two copies apart; store it once and use "
                        "eqx_shared to tie the uses (gradients of both are then summed)",
                        kind_name(t), e->path, p->s);
    }
    EQX_TRY(seen_add(s, t, p->s, &e));
    for (int i = 0; i < t->u.c.n; i++) {
        if (is_static_field(t, i)) continue; /* static values are part of the type */
        size_t old = path_push(p, t, i);
        eqx_status st = check_rec(t->u.c.children[i], p, s);
        path_pop(p, old);
        if (st) return st;
    }
    /* re-find: the table may have grown and moved entries */
    seen_find(s, t)->on_stack = false;
    return EQX_OK;
}

eqx_status eqx__tree_check_named(const eqx_tree *t, const char *root_name) {
    if (!t) return eqx__err(EQX_ERR_ARG, "the tree is NULL");
    pathbuf p;
    path_init(&p, root_name);
    seen_set s = {0};
    eqx_status st = check_rec(t, &p, &s);
    seen_free(&s);
    return st;
}

eqx_status eqx_tree_check(const eqx_tree *t) { return eqx__tree_check_named(t, "model"); }

/* ------------------------------------------------------------ treedef */

typedef struct tdnode {
    bool leaf;
    eqx_kind kind;
    int nchildren;                  /* dynamic children only */
    const eqx_module_type *type;
    char **keys;                    /* dict keys (owned) */
    eqx_tree **statics;             /* module: per field, retained static value or NULL */
} tdnode;

struct eqx_treedef {
    int nnodes, cap;
    tdnode *nodes;
    int nleaves;
};

void eqx_treedef_free(eqx_treedef *td) {
    if (!td) return;
    for (int i = 0; i < td->nnodes; i++) {
        tdnode *n = &td->nodes[i];
        if (n->keys)
            for (int k = 0; k < n->nchildren; k++) eqx__free(n->keys[k]);
        eqx__free(n->keys);
        if (n->statics)
            for (int k = 0; k < n->type->nfields; k++) eqx_tree_free(n->statics[k]);
        eqx__free(n->statics);
    }
    eqx__free(td->nodes);
    eqx__free(td);
}

void eqx_leaves_free(eqx_tree **leaves, int n) {
    if (!leaves) return;
    for (int i = 0; i < n; i++) eqx_tree_free(leaves[i]);
    eqx__free(leaves);
}

void eqx__paths_free(char **paths, int n) {
    if (!paths) return;
    for (int i = 0; i < n; i++) eqx__free(paths[i]);
    eqx__free(paths);
}

int eqx_treedef_num_leaves(const eqx_treedef *td) { return td ? td->nleaves : 0; }

typedef struct flat {
    eqx_treedef *td;
    eqx_tree **leaves;
    char **paths;
    int nleaves, capleaves;
    bool want_paths;
} flat;

static tdnode *td_push(eqx_treedef *td) {
    if (td->nnodes == td->cap) {
        int ncap = td->cap ? td->cap * 2 : 16;
        tdnode *nn = eqx__realloc(td->nodes, sizeof(tdnode) * (size_t)ncap);
        if (!nn) return NULL;
        td->nodes = nn;
        td->cap = ncap;
    }
    tdnode *n = &td->nodes[td->nnodes++];
    memset(n, 0, sizeof *n);
    return n;
}

static eqx_status flat_rec(const eqx_tree *t, pathbuf *p, flat *f) {
    if (!eqx__is_container(t)) {
        if (f->nleaves == f->capleaves) {
            int ncap = f->capleaves ? f->capleaves * 2 : 16;
            eqx_tree **nl = eqx__realloc(f->leaves, sizeof(eqx_tree *) * (size_t)ncap);
            if (!nl) return eqx__nomem();
            f->leaves = nl;
            if (f->want_paths) {
                char **np = eqx__realloc(f->paths, sizeof(char *) * (size_t)ncap);
                if (!np) return eqx__nomem();
                f->paths = np;
            }
            f->capleaves = ncap;
        }
        if (f->want_paths) {
            char *ps = eqx__strdup(p->s);
            if (!ps) return eqx__nomem();
            f->paths[f->nleaves] = ps;
        }
        tdnode *n = td_push(f->td);
        if (!n) {
            if (f->want_paths) eqx__free(f->paths[f->nleaves]);
            return eqx__nomem();
        }
        n->leaf = true;
        f->leaves[f->nleaves++] = eqx_tree_retain((eqx_tree *)t);
        f->td->nleaves++;
        return EQX_OK;
    }
    int dyn = 0;
    for (int i = 0; i < t->u.c.n; i++) {
        if (is_static_field(t, i)) continue;
        dyn++;
        size_t old = path_push(p, t, i);
        eqx_status s = flat_rec(t->u.c.children[i], p, f);
        path_pop(p, old);
        if (s) return s;
    }
    /* post-order: the container's record comes after its children's */
    tdnode *n = td_push(f->td);
    if (!n) return eqx__nomem();
    n->kind = t->kind;
    n->nchildren = dyn;
    n->type = t->u.c.type;
    if (t->kind == EQX_DICT) {
        n->keys = eqx__calloc((size_t)(dyn ? dyn : 1), sizeof(char *));
        if (!n->keys) return eqx__nomem();
        for (int i = 0; i < dyn; i++)
            if (!(n->keys[i] = eqx__strdup(t->u.c.keys[i]))) return eqx__nomem();
    }
    if (t->kind == EQX_MODULE) {
        n->statics = eqx__calloc((size_t)(t->u.c.n ? t->u.c.n : 1), sizeof(eqx_tree *));
        if (!n->statics) return eqx__nomem();
        for (int i = 0; i < t->u.c.n; i++)
            if (is_static_field(t, i)) n->statics[i] = eqx_tree_retain(t->u.c.children[i]);
    }
    return EQX_OK;
}

eqx_status eqx__flatten(const eqx_tree *t, const char *root_name, eqx_treedef **td,
                        eqx_tree ***leaves, int *nleaves, char ***paths) {
    *td = NULL;
    *leaves = NULL;
    *nleaves = 0;
    if (paths) *paths = NULL;
    EQX_TRY(eqx__tree_check_named(t, root_name));
    flat f = {0};
    f.want_paths = paths != NULL;
    f.td = eqx__calloc(1, sizeof *f.td);
    if (!f.td) return eqx__nomem();
    pathbuf p;
    path_init(&p, root_name);
    eqx_status s = flat_rec(t, &p, &f);
    if (s) {
        eqx_treedef_free(f.td);
        eqx_leaves_free(f.leaves, f.nleaves);
        eqx__paths_free(f.paths, f.want_paths ? f.nleaves : 0);
        return s;
    }
    if (!f.leaves) { /* a tree always has a leaf, but keep callers free of NULL checks */
        f.leaves = eqx__malloc(sizeof(eqx_tree *));
        if (!f.leaves) { eqx_treedef_free(f.td); return eqx__nomem(); }
    }
    *td = f.td;
    *leaves = f.leaves;
    *nleaves = f.nleaves;
    if (paths) *paths = f.paths;
    return EQX_OK;
}

eqx_status eqx_tree_flatten(const eqx_tree *t, eqx_treedef **treedef, eqx_tree ***leaves,
                            int *nleaves) {
    return eqx__flatten(t, "model", treedef, leaves, nleaves, NULL);
}

eqx_status eqx_tree_unflatten(const eqx_treedef *td, eqx_tree *const *leaves, int nleaves,
                              eqx_tree **out) {
    *out = NULL;
    if (!td) return eqx__err(EQX_ERR_ARG, "eqx_tree_unflatten: the treedef is NULL");
    if (nleaves != td->nleaves)
        return eqx__err(EQX_ERR_STRUCTURE,
                        "eqx_tree_unflatten: the treedef has %d leaves but %d were given",
                        td->nleaves, nleaves);
    eqx_tree **stack = eqx__malloc(sizeof(eqx_tree *) * (size_t)(td->nnodes ? td->nnodes : 1));
    eqx_tree **kids = NULL;
    if (!stack) return eqx__nomem();
    int sp = 0, li = 0;
    eqx_status s = EQX_OK;
    for (int i = 0; i < td->nnodes; i++) {
        const tdnode *n = &td->nodes[i];
        if (n->leaf) {
            eqx_tree *l = leaves[li++];
            stack[sp++] = eqx_tree_retain(l ? l : &g_none);
            continue;
        }
        int total = n->kind == EQX_MODULE ? n->type->nfields : n->nchildren;
        kids = eqx__malloc(sizeof(eqx_tree *) * (size_t)(total ? total : 1));
        if (!kids) { s = eqx__nomem(); goto fail; }
        eqx_tree **dyn = &stack[sp - n->nchildren];
        for (int k = 0, d = 0; k < total; k++)
            kids[k] = (n->statics && n->statics[k]) ? n->statics[k] : dyn[d++];
        eqx_tree *node;
        s = make_container(n->kind, total, kids, (const char *const *)n->keys, n->type, &node);
        eqx__free(kids);
        kids = NULL;
        if (s) goto fail;
        for (int k = 0; k < n->nchildren; k++) eqx_tree_free(dyn[k]);
        sp -= n->nchildren;
        stack[sp++] = node;
    }
    *out = stack[0];
    eqx__free(stack);
    return EQX_OK;
fail:
    for (int k = 0; k < sp; k++) eqx_tree_free(stack[k]);
    eqx__free(stack);
    return s;
}

bool eqx__tree_equal(const eqx_tree *a, const eqx_tree *b) {
    if (a == b) return true;
    if (!a || !b || a->kind != b->kind) return false;
    switch (a->kind) {
    case EQX_NONE: return true;
    case EQX_LEAF_ARRAY:
        return a->u.array->dtype == b->u.array->dtype && eqx__same_shape(a->u.array, b->u.array)
            && memcmp(a->u.array->data, b->u.array->data, (size_t)a->u.array->size * 4) == 0;
    case EQX_LEAF_SCALAR: return a->u.scalar == b->u.scalar;
    case EQX_LEAF_FN: return a->u.fn.fn == b->u.fn.fn && strcmp(a->u.fn.name, b->u.fn.name) == 0;
    case EQX_LEAF_STRING: return strcmp(a->u.string, b->u.string) == 0;
    default:
        if (a->u.c.n != b->u.c.n || a->u.c.type != b->u.c.type) return false;
        for (int i = 0; i < a->u.c.n; i++) {
            if (a->u.c.keys && strcmp(a->u.c.keys[i], b->u.c.keys[i]) != 0) return false;
            if (!eqx__tree_equal(a->u.c.children[i], b->u.c.children[i])) return false;
        }
        return true;
    }
}

bool eqx_treedef_equal(const eqx_treedef *a, const eqx_treedef *b) {
    if (!a || !b || a->nnodes != b->nnodes || a->nleaves != b->nleaves) return false;
    for (int i = 0; i < a->nnodes; i++) {
        const tdnode *x = &a->nodes[i], *y = &b->nodes[i];
        if (x->leaf != y->leaf) return false;
        if (x->leaf) continue;
        if (x->kind != y->kind || x->nchildren != y->nchildren || x->type != y->type)
            return false;
        if (x->keys)
            for (int k = 0; k < x->nchildren; k++)
                if (strcmp(x->keys[k], y->keys[k]) != 0) return false;
        if (x->statics)
            for (int k = 0; k < x->type->nfields; k++)
                if (!eqx__tree_equal(x->statics[k], y->statics[k])) return false;
    }
    return true;
}

/* ------------------------------------------------------------ filtering */

bool eqx_is_array(const eqx_tree *leaf) { return leaf && leaf->kind == EQX_LEAF_ARRAY; }
bool eqx_is_inexact_array(const eqx_tree *leaf) {
    return leaf && leaf->kind == EQX_LEAF_ARRAY && leaf->u.array->dtype == EQX_F32;
}

/* Shared by filter and partition: rebuild t with leaves where keep()==want, none elsewhere. */
static eqx_status filter_into(const eqx_treedef *td, eqx_tree **leaves, int n,
                              eqx_filter_fn keep, bool want, eqx_tree **out) {
    eqx_tree **sel = eqx__malloc(sizeof(eqx_tree *) * (size_t)(n ? n : 1));
    if (!sel) { *out = NULL; return eqx__nomem(); }
    for (int i = 0; i < n; i++) sel[i] = (keep(leaves[i]) == want) ? leaves[i] : &g_none;
    eqx_status s = eqx_tree_unflatten(td, sel, n, out);
    eqx__free(sel);
    return s;
}

eqx_status eqx_filter(const eqx_tree *t, eqx_filter_fn keep, eqx_tree **out) {
    *out = NULL;
    if (!keep) return eqx__err(EQX_ERR_ARG, "eqx_filter: the filter function is NULL");
    eqx_treedef *td;
    eqx_tree **leaves;
    int n;
    EQX_TRY(eqx_tree_flatten(t, &td, &leaves, &n));
    eqx_status s = filter_into(td, leaves, n, keep, true, out);
    eqx_treedef_free(td);
    eqx_leaves_free(leaves, n);
    return s;
}

eqx_status eqx_partition(const eqx_tree *t, eqx_filter_fn keep, eqx_tree **yes,
                         eqx_tree **no) {
    *yes = *no = NULL;
    if (!keep) return eqx__err(EQX_ERR_ARG, "eqx_partition: the filter function is NULL");
    eqx_treedef *td;
    eqx_tree **leaves;
    int n;
    EQX_TRY(eqx_tree_flatten(t, &td, &leaves, &n));
    eqx_status s = filter_into(td, leaves, n, keep, true, yes);
    if (!s) {
        s = filter_into(td, leaves, n, keep, false, no);
        if (s) { eqx_tree_free(*yes); *yes = NULL; }
    }
    eqx_treedef_free(td);
    eqx_leaves_free(leaves, n);
    return s;
}

eqx_status eqx_combine(const eqx_tree *a, const eqx_tree *b, eqx_tree **out) {
    *out = NULL;
    eqx_treedef *ta = NULL, *tb = NULL;
    eqx_tree **la = NULL, **lb = NULL, **sel = NULL;
    int na = 0, nb = 0;
    eqx_status s = eqx_tree_flatten(a, &ta, &la, &na);
    if (!s) s = eqx_tree_flatten(b, &tb, &lb, &nb);
    if (s) goto done;
    if (!eqx_treedef_equal(ta, tb)) {
        s = eqx__err(EQX_ERR_STRUCTURE,
                     "eqx_combine: the two trees have different structures (%d and %d leaves, "
                     "or different containers/static fields); combine the two halves of one "
                     "eqx_partition",
                     na, nb);
        goto done;
    }
    sel = eqx__malloc(sizeof(eqx_tree *) * (size_t)(na ? na : 1));
    if (!sel) { s = eqx__nomem(); goto done; }
    for (int i = 0; i < na; i++) sel[i] = la[i]->kind != EQX_NONE ? la[i] : lb[i];
    s = eqx_tree_unflatten(ta, sel, na, out);
done:
    eqx__free(sel);
    eqx_treedef_free(ta);
    eqx_treedef_free(tb);
    eqx_leaves_free(la, na);
    eqx_leaves_free(lb, nb);
    return s;
}

/* ------------------------------------------------------------ tree_at */

/* Parses the next path segment into an index of t's children. */
static eqx_status next_segment(const eqx_tree *t, const char **pp, const pathbuf *where,
                               int *idx) {
    const char *p = *pp;
    char name[256];
    size_t n = 0;
    if (*p == '.' || (p == *pp && ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'))) {
        if (*p == '.') p++;
        while (*p && *p != '.' && *p != '[' && n + 1 < sizeof name) name[n++] = *p++;
        name[n] = '\0';
        if (t->kind != EQX_MODULE)
            return eqx__err(EQX_ERR_PATH, "path segment '.%s': %s is a %s, which has no fields",
                            name, where->s, kind_name(t));
        for (int i = 0; i < t->u.c.n; i++)
            if (strcmp(t->u.c.type->fields[i].name, name) == 0) {
                *idx = i;
                *pp = p;
                return EQX_OK;
            }
        char list[512] = "";
        size_t used = 0;
        for (int i = 0; i < t->u.c.n && used < sizeof list; i++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", i ? ", " : "",
                                     t->u.c.type->fields[i].name);
        return eqx__err(EQX_ERR_PATH, "%s (a %s) has no field '%s'; its fields are: %s",
                        where->s, t->u.c.type->name, name, list);
    }
    if (*p == '[') {
        p++;
        if (*p == '\'' || *p == '"') {
            char q = *p++;
            while (*p && *p != q && n + 1 < sizeof name) name[n++] = *p++;
            name[n] = '\0';
            if (*p != q || p[1] != ']')
                return eqx__err(EQX_ERR_PATH, "malformed path near \"%s\"", *pp);
            p += 2;
            if (t->kind != EQX_DICT)
                return eqx__err(EQX_ERR_PATH, "['%s']: %s is a %s, not a dict", name, where->s,
                                kind_name(t));
            for (int i = 0; i < t->u.c.n; i++)
                if (strcmp(t->u.c.keys[i], name) == 0) {
                    *idx = i;
                    *pp = p;
                    return EQX_OK;
                }
            return eqx__err(EQX_ERR_PATH, "the dict at %s has no key '%s'", where->s, name);
        }
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || *end != ']')
            return eqx__err(EQX_ERR_PATH, "malformed path near \"%s\"", *pp);
        if (t->kind != EQX_LIST && t->kind != EQX_TUPLE)
            return eqx__err(EQX_ERR_PATH, "[%ld]: %s is a %s, not a list or tuple", v, where->s,
                            kind_name(t));
        if (v < 0 || v >= t->u.c.n)
            return eqx__err(EQX_ERR_PATH, "index %ld is out of range: %s has %d elements", v,
                            where->s, t->u.c.n);
        *idx = (int)v;
        *pp = end + 1;
        return EQX_OK;
    }
    return eqx__err(EQX_ERR_PATH, "malformed path near \"%s\": use .field, [index] or ['key']",
                    p);
}

static eqx_status at_rec(const eqx_tree *t, const char *path, eqx_tree *repl, pathbuf *where,
                         eqx_tree **out) {
    *out = NULL;
    if (!*path) {
        *out = eqx_tree_retain(repl ? repl : &g_none);
        return EQX_OK;
    }
    int idx;
    EQX_TRY(next_segment(t, &path, where, &idx));
    size_t old = path_push(where, t, idx);
    eqx_tree *child;
    eqx_status s = at_rec(t->u.c.children[idx], path, repl, where, &child);
    path_pop(where, old);
    if (s) return s;
    /* copy the spine: same children but the one replaced */
    eqx_tree **kids = eqx__malloc(sizeof(eqx_tree *) * (size_t)t->u.c.n);
    if (!kids) { eqx_tree_free(child); return eqx__nomem(); }
    for (int i = 0; i < t->u.c.n; i++) kids[i] = i == idx ? child : t->u.c.children[i];
    s = make_container(t->kind, t->u.c.n, kids, (const char *const *)t->u.c.keys, t->u.c.type,
                       out);
    eqx__free(kids);
    eqx_tree_free(child);
    return s;
}

eqx_status eqx_tree_at(const eqx_tree *t, const char *path, eqx_tree *replacement,
                       eqx_tree **out) {
    *out = NULL;
    EQX_TRY(eqx_tree_check(t));
    pathbuf where;
    path_init(&where, "model");
    return at_rec(t, path ? path : "", replacement, &where, out);
}

eqx_status eqx__tree_get(const eqx_tree *t, const char *path, eqx_tree **node) {
    *node = NULL;
    pathbuf where;
    path_init(&where, "model");
    const eqx_tree *cur = t;
    const char *p = path ? path : "";
    while (*p) {
        int idx;
        EQX_TRY(next_segment(cur, &p, &where, &idx));
        path_push(&where, cur, idx);
        cur = cur->u.c.children[idx];
    }
    *node = (eqx_tree *)cur;
    return EQX_OK;
}

/* ------------------------------------------------------------ allocation-free match */

typedef struct match_st {
    const eqx_treedef *td;
    int ni, li;
    const eqx_tree **leaves;
    const eqx_tree **conts;
    int ncont, nc;
} match_st;

/* Mirrors flat_rec's order exactly; bounded by td's node count, so a cyclic tree cannot
 * loop (it simply fails to match). */
static bool match_rec(const eqx_tree *t, match_st *m) {
    if (m->ni >= m->td->nnodes) return false;
    if (!eqx__is_container(t)) {
        if (!m->td->nodes[m->ni].leaf || m->li >= m->td->nleaves) return false;
        m->leaves[m->li++] = t;
        m->ni++;
        return true;
    }
    if (m->nc >= m->ncont) return false;
    m->conts[m->nc++] = t;
    int dyn = 0;
    for (int i = 0; i < t->u.c.n; i++) {
        if (is_static_field(t, i)) continue;
        dyn++;
        if (!match_rec(t->u.c.children[i], m)) return false;
    }
    if (m->ni >= m->td->nnodes) return false;
    const tdnode *n = &m->td->nodes[m->ni++];
    if (n->leaf || n->kind != t->kind || n->nchildren != dyn || n->type != t->u.c.type)
        return false;
    if (n->keys)
        for (int k = 0; k < dyn; k++)
            if (strcmp(n->keys[k], t->u.c.keys[k]) != 0) return false;
    if (n->statics)
        for (int k = 0; k < n->type->nfields; k++)
            if (n->statics[k] && !eqx__tree_equal(n->statics[k], t->u.c.children[k]))
                return false;
    return true;
}

bool eqx__treedef_match(const eqx_treedef *td, const eqx_tree *t, const eqx_tree **leaves,
                        const eqx_tree **conts, int ncont, int *nconts) {
    match_st m = {td, 0, 0, leaves, conts, ncont, 0};
    bool ok = t && match_rec(t, &m) && m.ni == td->nnodes && m.li == td->nleaves;
    *nconts = m.nc;
    return ok;
}

int eqx__treedef_nnodes(const eqx_treedef *td) { return td ? td->nnodes : 0; }
