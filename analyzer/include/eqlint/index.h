/* The project index: every class of every file, with what rules need to know about it:
 * is it an equinox.Module (directly or through other Module classes, across files), and can
 * its instances hold non-array leaves (callables, str, bool, float, or such sub-Modules)?
 *
 * Built in pass 1 (eql_index_add per file, then eql_index_finalize once); read-only in
 * pass 2, so rules of different files may query it concurrently. */
#ifndef EQLINT_INDEX_H
#define EQLINT_INDEX_H
#include "eqlint/facts.h"

typedef enum { EQL_NO = 0, EQL_YES = 1, EQL_MAYBE = 2 } eql_tri;

/* A class: a user class in some file, or a built-in `equinox.nn` layer. */
typedef struct eql_classref {
  const eql_facts *facts;      /* user class: its file */
  const eql_class *cls;        /* user class */
  const struct eql_layer *layer; /* built-in layer, or NULL */
} eql_classref;

/* Knowledge of built-in layers (analyzer/knowledge.c). */
typedef struct eql_layer {
  const char *name;            /* "MLP" (canonical name is "equinox.nn." + name) */
  eql_tri nonarray;            /* EQL_MAYBE: depends on constructor arguments (Sequential) */
  const char *why;             /* for messages: "its `activation` field holds a function" */
  int input_rank;              /* rank of one example (0 = unknown), for EQX004 */
} eql_layer;
const eql_layer *eql_layer_find(const char *canon);

typedef struct eql_index eql_index;

eql_index *eql_index_new(void);
void eql_index_free(eql_index *idx);
/* Records a file's classes (the facts must outlive the index). 0 or -1 (OOM). */
int eql_index_add(eql_index *idx, const eql_facts *f);
/* Computes Module-ness and non-array leaves for every class. Call once, after all adds. */
int eql_index_finalize(eql_index *idx);

/* Resolves a canonical dotted name ("model.MLP", "pkg.nets.Encoder", "equinox.nn.Linear")
 * seen in file `from` to a class. Returns 1 and fills *out, or 0. */
int eql_index_resolve(const eql_index *idx, const eql_facts *from, const char *canon,
                      eql_classref *out);
/* Is the class an equinox.Module? */
eql_tri eql_index_is_module(const eql_index *idx, const eql_classref *c);
/* Can an instance hold non-array leaves? *why (may be NULL) receives a phrase for messages
 * such as "its field `activation` is annotated `Callable`". */
eql_tri eql_index_nonarray(const eql_index *idx, const eql_classref *c, const char **why);
/* Display name of a class ("MLP", "eqx.nn.MLP"). */
const char *eql_classref_name(const eql_classref *c);
/* The class's own or inherited method called `name`, searching user base classes. */
const eql_func *eql_index_method(const eql_index *idx, const eql_classref *c, const char *name,
                                 const eql_facts **in);

#endif
