/*
 * array.c — allocation hook, status messages and dense arrays.
 *
 * Design: an array is a small header (dtype, shape, refcount) over a refcounted storage,
 * so views (reshape, stop_gradient, the watched copies autodiff makes of a model's
 * leaves) share data without copying. The last error message is thread-local, like
 * errno/dlerror, so status codes stay plain enums and messages stay readable.
 */
#include "eqx_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *default_malloc(size_t n, void *ud) { (void)ud; return malloc(n); }
static void *default_realloc(void *p, size_t n, void *ud) { (void)ud; return realloc(p, n); }
static void default_free(void *p, void *ud) { (void)ud; free(p); }

static eqx_allocator g_alloc = {default_malloc, default_realloc, default_free, NULL};

void eqx_set_allocator(const eqx_allocator *a) {
    if (a) g_alloc = *a;
    else {
        g_alloc.malloc_fn = default_malloc;
        g_alloc.realloc_fn = default_realloc;
        g_alloc.free_fn = default_free;
        g_alloc.ud = NULL;
    }
}

void *eqx__malloc(size_t n) { return g_alloc.malloc_fn(n ? n : 1, g_alloc.ud); }

void *eqx__calloc(size_t count, size_t size) {
    if (size && count > SIZE_MAX / size) return NULL;
    void *p = eqx__malloc(count * size);
    if (p) memset(p, 0, count * size > 0 ? count * size : 1);
    return p;
}

void *eqx__realloc(void *p, size_t n) { return g_alloc.realloc_fn(p, n ? n : 1, g_alloc.ud); }

void eqx__free(void *p) {
    if (p) g_alloc.free_fn(p, g_alloc.ud);
}

char *eqx__strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = eqx__malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static _Thread_local char g_errmsg[2048];

const char *eqx_errmsg(void) { return g_errmsg; }

eqx_status eqx__err(eqx_status s, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_errmsg, sizeof g_errmsg, fmt, ap);
    va_end(ap);
    return s;
}

eqx_status eqx__nomem(void) {
    return eqx__err(EQX_ERR_NOMEM, "out of memory: an allocation failed; nothing was changed");
}

const char *eqx_status_name(eqx_status s) {
    switch (s) {
    case EQX_OK: return "EQX_OK";
    case EQX_ERR_NOMEM: return "EQX_ERR_NOMEM";
    case EQX_ERR_SHAPE: return "EQX_ERR_SHAPE";
    case EQX_ERR_DTYPE: return "EQX_ERR_DTYPE";
    case EQX_ERR_TYPE: return "EQX_ERR_TYPE";
    case EQX_ERR_ARG: return "EQX_ERR_ARG";
    case EQX_ERR_DUPLICATE: return "EQX_ERR_DUPLICATE";
    case EQX_ERR_NOT_ARRAY: return "EQX_ERR_NOT_ARRAY";
    case EQX_ERR_BATCHED: return "EQX_ERR_BATCHED";
    case EQX_ERR_KEY: return "EQX_ERR_KEY";
    case EQX_ERR_STRUCTURE: return "EQX_ERR_STRUCTURE";
    case EQX_ERR_PATH: return "EQX_ERR_PATH";
    case EQX_ERR_IO: return "EQX_ERR_IO";
    case EQX_ERR_FORMAT: return "EQX_ERR_FORMAT";
    case EQX_ERR_UNSUPPORTED: return "EQX_ERR_UNSUPPORTED";
    }
    return "EQX_ERR_?";
}

const char *eqx__dtype_name(eqx_dtype d) { return d == EQX_F32 ? "float32" : "int32"; }

int eqx_array_shape(const eqx_array *a, int64_t *shape) {
    int nb = eqx__nb(a), nd = a->ndim - nb;
    for (int i = 0; i < nd; i++) shape[i] = a->shape[nb + i];
    return nd;
}

char *eqx_shape_str(const eqx_array *a, char *buf, size_t n) {
    size_t used = 0;
    if (n == 0) return buf;
    buf[0] = '\0';
    int64_t sh[EQX_MAX_DIMS];
    int nd = eqx_array_shape(a, sh);
    used += (size_t)snprintf(buf + used, n - used, "(");
    for (int i = 0; i < nd && used < n; i++)
        used += (size_t)snprintf(buf + used, n - used, "%s%lld", i ? ", " : "",
                                 (long long)sh[i]);
    if (used < n) used += (size_t)snprintf(buf + used, n - used, nd == 1 ? ",)" : ")");
    return buf;
}

eqx_status eqx__array_alloc(eqx_dtype dtype, int ndim, const int64_t *shape, bool zero,
                            eqx_array **out) {
    *out = NULL;
    if (ndim < 0 || ndim > EQX_MAX_DIMS)
        return eqx__err(EQX_ERR_ARG, "an array may have 0 to %d dimensions, not %d",
                        EQX_MAX_DIMS, ndim);
    int64_t size = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0)
            return eqx__err(EQX_ERR_ARG, "dimension %d of a new array is negative (%lld)", i,
                            (long long)shape[i]);
        if (shape[i] && size > INT64_MAX / 4 / shape[i])
            return eqx__err(EQX_ERR_ARG, "array too large");
        size *= shape[i];
    }
    eqx_array *a = eqx__calloc(1, sizeof *a);
    struct eqx_storage *st = eqx__malloc(sizeof *st);
    void *data = zero ? eqx__calloc((size_t)size, 4) : eqx__malloc((size_t)size * 4);
    if (!a || !st || !data) {
        eqx__free(a);
        eqx__free(st);
        eqx__free(data);
        return eqx__nomem();
    }
    st->refcount = 1;
    st->data = data;
    a->refcount = 1;
    a->dtype = dtype;
    a->ndim = ndim;
    for (int i = 0; i < ndim; i++) a->shape[i] = shape[i];
    a->size = size;
    a->data = data;
    a->storage = st;
    *out = a;
    return EQX_OK;
}

eqx_status eqx__array_view(const eqx_array *src, int ndim, const int64_t *shape,
                           eqx_array **out) {
    *out = NULL;
    eqx_array *a = eqx__calloc(1, sizeof *a);
    if (!a) return eqx__nomem();
    a->refcount = 1;
    a->dtype = src->dtype;
    a->ndim = ndim;
    for (int i = 0; i < ndim; i++) a->shape[i] = shape[i];
    a->size = src->size;
    a->data = src->data;
    a->storage = src->storage;
    src->storage->refcount++;
    /* under a jit trace the view must follow its source's data on every replay */
    if (eqx__rec) {
        eqx_status s = eqx__rec_view(src, a);
        if (s) { eqx_array_free(a); return s; }
    }
    *out = a;
    return EQX_OK;
}

eqx_status eqx_array_new(eqx_dtype dtype, int ndim, const int64_t *shape, eqx_array **out) {
    if (dtype != EQX_F32 && dtype != EQX_I32) {
        *out = NULL;
        return eqx__err(EQX_ERR_DTYPE, "unknown dtype %d: use EQX_F32 or EQX_I32", (int)dtype);
    }
    return eqx__array_alloc(dtype, ndim, shape, true, out);
}

eqx_status eqx_array_from_f32(int ndim, const int64_t *shape, const float *data,
                              eqx_array **out) {
    EQX_TRY(eqx__array_alloc(EQX_F32, ndim, shape, false, out));
    memcpy((*out)->data, data, (size_t)(*out)->size * 4);
    return EQX_OK;
}

eqx_status eqx_array_from_i32(int ndim, const int64_t *shape, const int32_t *data,
                              eqx_array **out) {
    EQX_TRY(eqx__array_alloc(EQX_I32, ndim, shape, false, out));
    memcpy((*out)->data, data, (size_t)(*out)->size * 4);
    return EQX_OK;
}

eqx_status eqx_array_copy(const eqx_array *a, eqx_array **out) {
    EQX_TRY(eqx__array_alloc(a->dtype, a->ndim, a->shape, false, out));
    memcpy((*out)->data, a->data, (size_t)a->size * 4);
    return EQX_OK;
}

eqx_array *eqx_array_retain(eqx_array *a) {
    if (a) a->refcount++;
    return a;
}

void eqx_array_free(eqx_array *a) {
    if (!a || --a->refcount > 0) return;
    if (--a->storage->refcount == 0) {
        eqx__free(a->storage->data);
        eqx__free(a->storage);
    }
    eqx__free(a);
}

float *eqx_array_f32(const eqx_array *a) { return a && a->dtype == EQX_F32 ? a->data : NULL; }
int32_t *eqx_array_i32(const eqx_array *a) { return a && a->dtype == EQX_I32 ? a->data : NULL; }

bool eqx__same_shape(const eqx_array *a, const eqx_array *b) {
    if (a->ndim != b->ndim) return false;
    for (int i = 0; i < a->ndim; i++)
        if (a->shape[i] != b->shape[i]) return false;
    return true;
}
