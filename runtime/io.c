/*
 * io.c — eqx_tree_serialise_leaves / eqx_tree_deserialise_leaves.
 *
 * Design: as in Equinox, only leaves are stored; the structure comes from a like-shaped
 * model at load time, and every leaf is checked against it (kind, dtype, shape) so a file
 * from another architecture is refused with the path of the first mismatch instead of
 * being loaded into the wrong weights. The whole file is read and verified (length and
 * CRC-32) before anything is built, and loading builds a new tree, so a truncated or
 * corrupt file can never leave a half-loaded model. Byte order is fixed (little-endian)
 * and written byte by byte, so files move between machines. Format: docs/runtime.md.
 */
#include "eqx_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static const char MAGIC[8] = {'E', 'Q', 'X', 'L', 'E', 'A', 'F', 'S'};
enum { FORMAT_VERSION = 1, HEADER_SIZE = 24 };
enum { REC_NONE = 0, REC_ARRAY = 1, REC_SCALAR = 2, REC_FN = 3, REC_STRING = 4 };

static uint32_t crc32_ieee(const uint8_t *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
    }
    return ~c;
}

typedef struct buf {
    uint8_t *p;
    size_t n, cap;
    bool failed;
} buf;

static void put(buf *b, const void *src, size_t n) {
    if (b->failed) return;
    if (b->n + n > b->cap) {
        size_t ncap = b->cap ? b->cap : 256;
        while (ncap < b->n + n) ncap *= 2;
        uint8_t *np = eqx__realloc(b->p, ncap);
        if (!np) { b->failed = true; return; }
        b->p = np;
        b->cap = ncap;
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}

static void put_u8(buf *b, unsigned v) {
    uint8_t x = (uint8_t)v;
    put(b, &x, 1);
}
static void put_u32(buf *b, uint32_t v) {
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    put(b, x, 4);
}
static void put_u64(buf *b, uint64_t v) {
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}
static void set_u64(uint8_t *p, uint64_t v) {
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t get_u64(const uint8_t *p) { return get_u32(p) | (uint64_t)get_u32(p + 4) << 32; }

static void put_str(buf *b, const char *s) {
    size_t n = strlen(s);
    put_u32(b, (uint32_t)n);
    put(b, s, n);
}

eqx_status eqx_tree_serialise_leaves(const char *path, const eqx_tree *t) {
    if (!path || !t) return eqx__err(EQX_ERR_ARG, "eqx_tree_serialise_leaves: path and tree are required");
    eqx_treedef *td;
    eqx_tree **leaves;
    int n;
    EQX_TRY(eqx_tree_flatten(t, &td, &leaves, &n));
    buf b = {0};
    put(&b, MAGIC, 8);
    put_u32(&b, FORMAT_VERSION);
    put_u32(&b, (uint32_t)n);
    put_u64(&b, 0); /* payload length, patched below */
    for (int i = 0; i < n; i++) {
        const eqx_tree *l = leaves[i];
        switch (l->kind) {
        case EQX_LEAF_ARRAY: {
            const eqx_array *a = l->u.array;
            put_u8(&b, REC_ARRAY);
            put_u8(&b, a->dtype == EQX_F32 ? 1 : 2);
            put_u8(&b, (unsigned)a->ndim);
            for (int d = 0; d < a->ndim; d++) put_u64(&b, (uint64_t)a->shape[d]);
            const uint32_t *w = a->data; /* both dtypes are 4-byte words */
            for (int64_t k = 0; k < a->size; k++) put_u32(&b, w[k]);
            break;
        }
        case EQX_LEAF_SCALAR: {
            uint64_t bits;
            memcpy(&bits, &l->u.scalar, 8);
            put_u8(&b, REC_SCALAR);
            put_u64(&b, bits);
            break;
        }
        case EQX_LEAF_FN: put_u8(&b, REC_FN); put_str(&b, l->u.fn.name); break;
        case EQX_LEAF_STRING: put_u8(&b, REC_STRING); put_str(&b, l->u.string); break;
        default: put_u8(&b, REC_NONE); break;
        }
    }
    eqx_status s = EQX_OK;
    if (!b.failed) {
        set_u64(b.p + 16, (uint64_t)(b.n - HEADER_SIZE));
        put_u32(&b, crc32_ieee(b.p, b.n));
    }
    if (b.failed) { s = eqx__nomem(); goto done; }
    /* write beside the target and rename, so a failed write never destroys a good file */
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp", path) >= sizeof tmp) {
        s = eqx__err(EQX_ERR_ARG, "eqx_tree_serialise_leaves: path too long");
        goto done;
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        s = eqx__err(EQX_ERR_IO, "eqx_tree_serialise_leaves: cannot create %s: %s", tmp,
                     strerror(errno));
        goto done;
    }
    bool ok = fwrite(b.p, 1, b.n, f) == b.n;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        s = eqx__err(EQX_ERR_IO, "eqx_tree_serialise_leaves: cannot write %s: %s", path,
                     strerror(errno));
        remove(tmp);
    }
done:
    eqx__free(b.p);
    eqx_leaves_free(leaves, n);
    eqx_treedef_free(td);
    return s;
}

typedef struct cursor {
    const uint8_t *p, *end;
} cursor;

static bool need(cursor *c, size_t n) { return (size_t)(c->end - c->p) >= n; }

static eqx_status truncated(const char *path, const char *what) {
    return eqx__err(EQX_ERR_FORMAT, "eqx_tree_deserialise_leaves: %s is corrupt: %s runs past "
                    "the end of the data", path, what);
}

static eqx_status read_file(const char *path, uint8_t **data, size_t *n) {
    *data = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f)
        return eqx__err(EQX_ERR_IO, "eqx_tree_deserialise_leaves: cannot open %s: %s", path,
                        strerror(errno));
    buf b = {0};
    uint8_t chunk[65536];
    size_t r;
    while ((r = fread(chunk, 1, sizeof chunk, f)) > 0) put(&b, chunk, r);
    bool err = ferror(f) != 0;
    fclose(f);
    if (b.failed) { eqx__free(b.p); return eqx__nomem(); }
    if (err) {
        eqx__free(b.p);
        return eqx__err(EQX_ERR_IO, "eqx_tree_deserialise_leaves: error reading %s", path);
    }
    *data = b.p;
    *n = b.n;
    return EQX_OK;
}

static eqx_status read_leaf(cursor *c, const char *path, const eqx_tree *like,
                            const char *lpath, eqx_tree **out) {
    static const char *const rec_names[] = {"none", "array", "scalar", "function", "string"};
    *out = NULL;
    if (!need(c, 1)) return truncated(path, "a leaf record");
    unsigned kind = *c->p++;
    unsigned want = like->kind == EQX_LEAF_ARRAY ? REC_ARRAY : like->kind == EQX_LEAF_SCALAR ? REC_SCALAR
                  : like->kind == EQX_LEAF_FN ? REC_FN : like->kind == EQX_LEAF_STRING ? REC_STRING
                  : REC_NONE;
    if (kind > REC_STRING)
        return eqx__err(EQX_ERR_FORMAT, "eqx_tree_deserialise_leaves: %s is corrupt: unknown "
                        "leaf kind %u", path, kind);
    if (kind != want)
        return eqx__err(EQX_ERR_STRUCTURE,
                        "eqx_tree_deserialise_leaves: %s holds a %s where the model has a %s "
                        "(%s); load into a model built like the saved one",
                        path, rec_names[kind], rec_names[want], lpath);
    switch (kind) {
    case REC_ARRAY: {
        if (!need(c, 2)) return truncated(path, "an array header");
        unsigned dt = c->p[0], nd = c->p[1];
        c->p += 2;
        if ((dt != 1 && dt != 2) || nd > EQX_MAX_DIMS)
            return eqx__err(EQX_ERR_FORMAT, "eqx_tree_deserialise_leaves: %s is corrupt: bad "
                            "dtype %u or rank %u at %s", path, dt, nd, lpath);
        if (!need(c, 8 * (size_t)nd)) return truncated(path, "an array shape");
        int64_t shape[EQX_MAX_DIMS];
        for (unsigned d = 0; d < nd; d++, c->p += 8) shape[d] = (int64_t)get_u64(c->p);
        const eqx_array *la = like->u.array;
        eqx_dtype dtype = dt == 1 ? EQX_F32 : EQX_I32;
        bool same = dtype == la->dtype && (int)nd == la->ndim;
        for (unsigned d = 0; same && d < nd; d++) same = shape[d] == la->shape[d];
        if (!same) {
            char s1[96];
            char s2[128] = "(";
            size_t u = 1;
            for (unsigned d = 0; d < nd && u < sizeof s2; d++)
                u += (size_t)snprintf(s2 + u, sizeof s2 - u, "%s%llu", d ? ", " : "",
                                      (unsigned long long)shape[d]);
            if (u < sizeof s2) snprintf(s2 + u, sizeof s2 - u, nd == 1 ? ",)" : ")");
            return eqx__err(EQX_ERR_STRUCTURE,
                            "eqx_tree_deserialise_leaves: %s at %s is %s %s in the file but %s "
                            "%s in the model; load into a model built like the saved one",
                            path, lpath, dt == 1 ? "float32" : "int32", s2,
                            eqx__dtype_name(la->dtype), eqx_shape_str(la, s1, sizeof s1));
        }
        if ((size_t)(c->end - c->p) / 4 < (size_t)la->size) return truncated(path, "array data");
        eqx_array *a;
        EQX_TRY(eqx__array_alloc(dtype, (int)nd, shape, false, &a));
        uint32_t *w = a->data;
        for (int64_t k = 0; k < a->size; k++, c->p += 4) w[k] = get_u32(c->p);
        eqx_status s = eqx_leaf_array(a, out);
        eqx_array_free(a);
        return s;
    }
    case REC_SCALAR: {
        if (!need(c, 8)) return truncated(path, "a scalar");
        uint64_t bits = get_u64(c->p);
        c->p += 8;
        double v;
        memcpy(&v, &bits, 8);
        return eqx_leaf_scalar(v, out);
    }
    case REC_FN:
    case REC_STRING: {
        if (!need(c, 4)) return truncated(path, "a string length");
        uint32_t n = get_u32(c->p);
        c->p += 4;
        if (!need(c, n)) return truncated(path, "a string");
        const char *txt = (const char *)c->p;
        c->p += n;
        if (kind == REC_FN) {
            /* code cannot be loaded: keep the model's function, but it must be the same one */
            if (strlen(like->u.fn.name) != n || memcmp(like->u.fn.name, txt, n) != 0)
                return eqx__err(EQX_ERR_STRUCTURE,
                                "eqx_tree_deserialise_leaves: %s at %s saved function '%.*s' but "
                                "the model has '%s'", path, lpath, (int)n, txt, like->u.fn.name);
            *out = eqx_tree_retain((eqx_tree *)like);
            return EQX_OK;
        }
        char *tmp = eqx__malloc(n + 1);
        if (!tmp) return eqx__nomem();
        memcpy(tmp, txt, n);
        tmp[n] = '\0';
        eqx_status s = eqx_leaf_string(tmp, out);
        eqx__free(tmp);
        return s;
    }
    default: *out = eqx_none(); return EQX_OK;
    }
}

eqx_status eqx_tree_deserialise_leaves(const char *path, const eqx_tree *like, eqx_tree **out) {
    *out = NULL;
    if (!path || !like)
        return eqx__err(EQX_ERR_ARG, "eqx_tree_deserialise_leaves: path and like are required");
    eqx_treedef *td = NULL;
    eqx_tree **leaves = NULL, **nl = NULL;
    char **paths = NULL;
    int n = 0;
    uint8_t *data = NULL;
    size_t size = 0;
    eqx_status s = eqx__flatten(like, "model", &td, &leaves, &n, &paths);
    if (!s) s = read_file(path, &data, &size);
    if (s) goto done;
    if (size < HEADER_SIZE + 4 || memcmp(data, MAGIC, 8) != 0) {
        s = eqx__err(EQX_ERR_FORMAT, "eqx_tree_deserialise_leaves: %s is not a libeqx leaves "
                     "file (%s)", path, size < HEADER_SIZE + 4 ? "too short" : "bad magic");
        goto done;
    }
    uint32_t version = get_u32(data + 8), count = get_u32(data + 12);
    uint64_t payload = get_u64(data + 16);
    if (version != FORMAT_VERSION) {
        s = eqx__err(EQX_ERR_FORMAT, "eqx_tree_deserialise_leaves: %s has format version %u; "
                     "this libeqx reads version %d", path, version, FORMAT_VERSION);
        goto done;
    }
    if (payload != size - HEADER_SIZE - 4) {
        s = eqx__err(EQX_ERR_FORMAT, "eqx_tree_deserialise_leaves: %s is truncated or has "
                     "trailing data: header says %llu payload bytes, file holds %llu",
                     path, (unsigned long long)payload,
                     (unsigned long long)(size - HEADER_SIZE - 4));
        goto done;
    }
    if (crc32_ieee(data, size - 4) != get_u32(data + size - 4)) {
        s = eqx__err(EQX_ERR_FORMAT, "eqx_tree_deserialise_leaves: %s is corrupt: checksum "
                     "mismatch", path);
        goto done;
    }
    if ((int64_t)count != n) {
        s = eqx__err(EQX_ERR_STRUCTURE, "eqx_tree_deserialise_leaves: %s holds %u leaves but "
                     "the model has %d; load into a model built like the saved one", path,
                     count, n);
        goto done;
    }
    nl = eqx__calloc((size_t)(n ? n : 1), sizeof *nl);
    if (!nl) { s = eqx__nomem(); goto done; }
    cursor c = {data + HEADER_SIZE, data + size - 4};
    for (int i = 0; i < n && !s; i++) s = read_leaf(&c, path, leaves[i], paths[i], &nl[i]);
    if (!s && c.p != c.end)
        s = eqx__err(EQX_ERR_FORMAT, "eqx_tree_deserialise_leaves: %s is corrupt: %lld bytes "
                     "left after the last leaf", path, (long long)(c.end - c.p));
    if (!s) s = eqx_tree_unflatten(td, nl, n, out);
done:
    if (nl) for (int i = 0; i < n; i++) eqx_tree_free(nl[i]);
    eqx__free(nl);
    eqx__free(data);
    eqx__paths_free(paths, n);
    eqx_leaves_free(leaves, n);
    eqx_treedef_free(td);
    return s;
}
