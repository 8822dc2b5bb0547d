/* The C front end (analyzer/frontend/c.c): what libeqx calls lower to, the classes made from
 * eqx_module_type tables and from runtime/include/eqx_layers.def, statement structure,
 * comments, compiler errors, and where compiler flags come from (-I, -D, -p). The rules'
 * behaviour on C is covered by fixtures/c; here the facts themselves are checked, including
 * the ones EQX005 and EQX013 read.
 *
 * Runs from the source directory (ctest sets it), so <eqx.h> is found upward. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <clang-c/Index.h>

#include "check_helpers.h"
#include "cunit_main.h"
#include "eqlint/cfront.h"
#include "eqlint/index.h"
#include "eqlint/value.h"

typedef struct parsed {
  eql_source *src;
  eql_facts *f;
} parsed;

static parsed parse_text(const char *path, const char *code) {
  parsed p;
  const char *err = NULL;
  p.src = eql_source_new(path, code, strlen(code));
  CU_ASSERT_PTR_NOT_NULL_FATAL(p.src);
  p.f = eql_c_facts(p.src, &err);
  if (!p.f) printf("\n    eql_c_facts: %s\n", err ? err : "?");
  CU_ASSERT_PTR_NOT_NULL_FATAL(p.f);
  return p;
}

static parsed parse_file(const char *path) {
  const char *err = NULL;
  parsed p;
  p.src = eql_source_read(path, &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p.src);
  p.f = eql_c_facts(p.src, &err);
  CU_ASSERT_PTR_NOT_NULL_FATAL(p.f);
  return p;
}

static void done(parsed *p) {
  eql_facts_free(p->f);
  eql_source_free(p->src);
}

/* The n-th call whose callee is a name (or attribute) called `name`. */
static const eql_expr *call_named(const eql_facts *f, const char *name, unsigned n) {
  for (unsigned i = 0; i < f->calls.n; i++) {
    const eql_expr *c = f->calls.items[i];
    if (c->a && c->a->name && !strcmp(c->a->name, name) && n-- == 0) return c;
  }
  return NULL;
}

static const eql_class *class_named(const eql_facts *f, const char *name) {
  for (unsigned i = 0; i < f->classes.n; i++) {
    const eql_class *c = f->classes.items[i];
    if (!strcmp(c->name, name)) return c;
  }
  return NULL;
}

static int count_code(const char *path, const char *code, const char *rule) {
  eql_diag_list out;
  eql_diag_list_init(&out);
  eql_project *p = eql_project_new();
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  CU_ASSERT_EQUAL(eql_project_add_source(p, path, code, strlen(code)), 0);
  eql_ruleset rs;
  eql_ruleset_all(&rs);
  CU_ASSERT_EQUAL(eql_project_run(p, &rs, &out), 0);
  int n = eql_test_count(&out, rule);
  eql_diag_list_free(&out);
  eql_project_free(p);
  return n;
}

static void test_c_paths(void) {
  CU_ASSERT_TRUE(eql_cfront_is_c_path("model.c"));
  CU_ASSERT_TRUE(eql_cfront_is_c_path("include/eqx.h"));
  CU_ASSERT_FALSE(eql_cfront_is_c_path("model.py"));
  CU_ASSERT_FALSE(eql_cfront_is_c_path("model.cc"));
  CU_ASSERT_FALSE(eql_cfront_is_c_path(".c"));
  CU_ASSERT_FALSE(eql_cfront_is_c_path("dir/.h"));
}

static const char opt_code[] =
    "#include <eqx.h>\n"
    "eqx_status f(eqx_tree **state) {\n"
    "    eqx_tree *model, *params;\n"
    "    eqx_optimizer *opt;\n"
    "    EQX_TRY(eqx_mlp_new(2, 1, 8, 1, \"tanh\", eqx_tanh, eqx_prng_key(0), &model));\n"
    "    EQX_TRY(eqx_adam_new(1e-3f, 0.9f, 0.999f, 1e-8f, &opt));\n"
    "    EQX_TRY(eqx_filter(model, eqx_is_array, &params));\n"
    "    return eqx_opt_init(opt, params, state);\n"
    "}\n";

/* eqx_adam_new(..., &opt) binds opt to optax.adam(...); eqx_opt_init(opt, p, &s) is
 * opt.init(p); eqx_filter(m, eqx_is_array, &p) is equinox.filter(m, equinox.is_array). */
static void test_optimiser_lowering(void) {
  parsed p = parse_text("t_opt.c", opt_code);
  CU_ASSERT_FALSE(p.f->has_error);
  const eql_expr *init = call_named(p.f, "init", 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(init);
  CU_ASSERT_EQUAL(init->a->kind, EQL_E_ATTR);
  CU_ASSERT_EQUAL_FATAL(init->nargs, 1);
  CU_ASSERT_STRING_EQUAL(init->args[0].value->name, "params");
  const eql_expr *recv = init->a->a;
  CU_ASSERT_PTR_NOT_NULL_FATAL(recv);
  CU_ASSERT_STRING_EQUAL(recv->name, "opt");
  const eql_binding *b = eql_facts_lookup(p.f, "opt", recv->scope, recv->start);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL(b->kind, EQL_B_ASSIGN);
  CU_ASSERT_EQUAL_FATAL(b->value->kind, EQL_E_CALL);
  CU_ASSERT_STRING_EQUAL(eql_facts_canon(p.f, b->value->a), "optax.adam");
  const eql_binding *pb = eql_facts_lookup(p.f, "params", recv->scope, recv->start);
  CU_ASSERT_PTR_NOT_NULL_FATAL(pb);
  CU_ASSERT_STRING_EQUAL(eql_facts_canon(p.f, pb->value->a), "equinox.filter");
  CU_ASSERT_STRING_EQUAL(eql_facts_canon(p.f, eql_call_arg(pb->value, 1, NULL)), "equinox.is_array");
  done(&p);
  /* and the rule agrees: filtered is clean, the model itself is not */
  CU_ASSERT_EQUAL(count_code("t_opt.c", opt_code, "EQX001"), 0);
  char *bad = strdup(opt_code);
  CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
  char *at = strstr(bad, "eqx_opt_init(opt, params");
  CU_ASSERT_PTR_NOT_NULL_FATAL(at);
  memcpy(at + strlen("eqx_opt_init(opt, "), "model ", 6);
  CU_ASSERT_EQUAL(count_code("t_opt.c", bad, "EQX001"), 1);
  free(bad);
}

/* Every ARRAYS / FUNCTIONS row of eqx_layers.def becomes a Module class whose verdict is the
 * row's; CHILDREN rows are judged per instance (an MLP inside makes the whole hold one). */
static void test_layer_table(void) {
  static const struct { const char *stem, *name; int leaves; } rows[] = {
#define EQX_LAYER(stem, name, leaves, key_arg, fn_arg, tree_arg, why) {#stem, name, leaves},
#define ARRAYS 0
#define FUNCTIONS 1
#define CHILDREN 2
#include "../runtime/include/eqx_layers.def"
#undef EQX_LAYER
  };
  static const char code[] =
      "#include <eqx.h>\n"
      "eqx_status f(eqx_tree *t, eqx_tree **o) {\n"
      "    eqx_key k = eqx_prng_key(0);\n"
      "    int64_t s[1] = {4};\n"
      "    eqx_tree *a, *b, *c, *d, *e, *g;\n"
      "    EQX_TRY(eqx_linear_new(4, 4, true, k, &a));\n"
      "    EQX_TRY(eqx_mlp_new(4, 4, 8, 1, \"relu\", eqx_relu, k, &b));\n"
      "    EQX_TRY(eqx_layer_norm_new(1, s, 1e-5f, true, &c));\n"
      "    EQX_TRY(eqx_dropout_new(0.5f, false, &d));\n"
      "    EQX_TRY(eqx_sequential_new(2, (eqx_tree *[]){a, b}, &e));\n"
      "    EQX_TRY(eqx_shared_new(t, \"[1]\", \"[0]\", &g));\n"
      "    *o = e;\n"
      "    return EQX_OK;\n"
      "}\n";
  parsed p = parse_text("t_layers.c", code);
  eql_index *idx = eql_index_new();
  CU_ASSERT_PTR_NOT_NULL_FATAL(idx);
  CU_ASSERT_EQUAL(eql_index_add(idx, p.f), 0);
  CU_ASSERT_EQUAL(eql_index_finalize(idx), 0);
  int checked = 0;
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    if (rows[i].leaves == 2) continue;
    const eql_class *cls = class_named(p.f, rows[i].name);
    CU_ASSERT_PTR_NOT_NULL(cls);
    if (!cls) continue;
    eql_classref ref = {p.f, cls, NULL};
    CU_ASSERT_EQUAL(eql_index_is_module(idx, &ref), EQL_YES);
    const char *why = NULL;
    eql_tri t = eql_index_nonarray(idx, &ref, &why);
    CU_ASSERT_EQUAL(t, rows[i].leaves == 1 ? EQL_YES : EQL_NO);
    if (rows[i].leaves == 1) CU_ASSERT_PTR_NOT_NULL(why && strstr(why, "eqx_relu"));
    checked++;
  }
  CU_ASSERT_EQUAL(checked, 4); /* Linear, MLP, LayerNorm, Dropout */
  /* the Sequential holding the MLP: equinox.nn.Sequential([a, b]) */
  const eql_expr *seq = NULL;
  for (unsigned i = 0; i < p.f->calls.n && !seq; i++) {
    const eql_expr *c = p.f->calls.items[i];
    if (c->a && c->a->canon && !strcmp(c->a->canon, "equinox.nn.Sequential")) seq = c;
  }
  CU_ASSERT_PTR_NOT_NULL_FATAL(seq);
  eql_eval ev = {.idx = idx, .f = p.f};
  eql_value v = eql_eval_expr(&ev, seq);
  CU_ASSERT_EQUAL(v.kind, EQL_V_MODULE);
  CU_ASSERT_EQUAL(v.nonarray, EQL_YES);
  /* the key reaches layer constructors as key= (EQX013 reads it there) */
  const eql_expr *lin = call_named(p.f, "eqx_linear_new", 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(lin);
  const eql_expr *key = eql_call_arg(lin, -1, "key");
  CU_ASSERT_PTR_NOT_NULL_FATAL(key);
  CU_ASSERT_STRING_EQUAL(key->name, "k");
  eql_index_free(idx);
  done(&p);
}

/* eqx_layers.def against eqx.h itself: every row's constructor and type object exist, and
 * the argument indexes the front end lowers by point at an eqx_key, an eqx_unary_fn and trees
 * (a signature change in eqx.h without the .def fails here, not silently in the analyzer). */
typedef struct sigcheck {
  const char *ctor, *type;
  int key_arg, fn_arg, tree_arg;
  int found_ctor, found_type, ok;
} sigcheck;

static enum CXChildVisitResult sig_cb(CXCursor cur, CXCursor parent, CXClientData d) {
  (void)parent;
  sigcheck *sc = d;
  CXString sp = clang_getCursorSpelling(cur);
  const char *name = clang_getCString(sp);
  if (clang_getCursorKind(cur) == CXCursor_VarDecl && !strcmp(name, sc->type)) sc->found_type = 1;
  if (clang_getCursorKind(cur) == CXCursor_FunctionDecl && !strcmp(name, sc->ctor)) {
    sc->found_ctor = 1;
    int n = clang_Cursor_getNumArguments(cur);
    const int idx[3] = {sc->key_arg, sc->fn_arg, sc->tree_arg};
    const char *want[3] = {"eqx_key", "eqx_unary_fn", "eqx_tree"};
    sc->ok = 1;
    for (int k = 0; k < 3; k++) {
      if (idx[k] < 0) continue;
      if (idx[k] >= n) {
        sc->ok = 0;
        continue;
      }
      CXString ts = clang_getTypeSpelling(clang_getCursorType(clang_Cursor_getArgument(cur, (unsigned)idx[k])));
      if (!strstr(clang_getCString(ts), want[k])) {
        printf("\n    %s argument %d is `%s`, the .def says %s\n", sc->ctor, idx[k],
               clang_getCString(ts), want[k]);
        sc->ok = 0;
      }
      clang_disposeString(ts);
    }
  }
  clang_disposeString(sp);
  return CXChildVisit_Continue;
}

static void test_layer_table_matches_header(void) {
  static const sigcheck rows[] = {
#define EQX_LAYER(stem, name, leaves, key_arg, fn_arg, tree_arg, why) \
  {"eqx_" #stem "_new", "eqx_" #stem "_type", key_arg, fn_arg, tree_arg, 0, 0, 0},
#include "../runtime/include/eqx_layers.def"
#undef EQX_LAYER
  };
  CXIndex idx = clang_createIndex(0, 0);
  CXTranslationUnit tu = NULL;
  const char *args[] = {"-xc", "-std=gnu11"};
  CU_ASSERT_EQUAL_FATAL(clang_parseTranslationUnit2(idx, "runtime/include/eqx.h", args, 2, NULL, 0,
                                                    CXTranslationUnit_None, &tu),
                        CXError_Success);
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    sigcheck sc = rows[i];
    clang_visitChildren(clang_getTranslationUnitCursor(tu), sig_cb, &sc);
    CU_ASSERT_TRUE(sc.found_ctor);
    CU_ASSERT_TRUE(sc.found_type);
    CU_ASSERT_TRUE(sc.ok);
  }
  clang_disposeTranslationUnit(tu);
  clang_disposeIndex(idx);
}

/* eqx_module_type + eqx_field tables: a class with the fields, their static flags, and one
 * `self.<field> = <child>` per construction site in a synthetic __init__ (what EQX005 reads). */
static void test_module_type_class(void) {
  parsed p = parse_file("fixtures/c/eqx005_pos_static_buffer.c");
  CU_ASSERT_FALSE(p.f->has_error);
  const eql_class *cls = class_named(p.f, "Normalizer");
  CU_ASSERT_PTR_NOT_NULL_FATAL(cls);
  CU_ASSERT_EQUAL_FATAL(cls->nfields, 3);
  CU_ASSERT_STRING_EQUAL(cls->fields[0].name, "weight");
  CU_ASSERT_FALSE(cls->fields[0].is_static);
  CU_ASSERT_STRING_EQUAL(cls->fields[1].name, "running_mean");
  CU_ASSERT_TRUE(cls->fields[1].is_static);
  CU_ASSERT_TRUE(cls->fields[2].is_static);
  /* the field's range is its `{"running_mean", true}` entry, on line 9 */
  CU_ASSERT_EQUAL(eql_source_line_of(p.src, cls->fields[1].start), 9);
  CU_ASSERT_EQUAL(cls->nbases, 1);
  CU_ASSERT_STRING_EQUAL(eql_facts_canon(p.f, cls->bases[0]), "equinox.Module");
  CU_ASSERT_EQUAL_FATAL(cls->nmethods, 1);
  const eql_func *init = cls->methods[0];
  CU_ASSERT_STRING_EQUAL(init->name, "__init__");
  int saw_buffer = 0;
  for (unsigned i = 0; i < init->body.n; i++) {
    const eql_stmt *s = init->body.items[i];
    CU_ASSERT_EQUAL(s->kind, EQL_S_ASSIGN);
    if (s->ntargets == 1 && s->targets[0]->kind == EQL_E_ATTR &&
        !strcmp(s->targets[0]->name, "running_mean")) {
      CU_ASSERT_EQUAL(s->value->kind, EQL_E_CALL);
      CU_ASSERT_STRING_EQUAL(eql_facts_canon(p.f, s->value->a), "jax.numpy.asarray");
      saw_buffer = 1;
    }
  }
  CU_ASSERT_TRUE(saw_buffer);
  /* the type object binds the class: eqx_module_new(&normalizer_type, ...) constructs it */
  const eql_binding *b = eql_facts_lookup(p.f, "normalizer_type", NULL, 0);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL(b->kind, EQL_B_CLASS);
  CU_ASSERT_PTR_EQUAL(b->cls, cls);
  done(&p);
}

/* PRNG calls by their jax.random names; split results and re-bindings are bindings. */
static void test_prng_lowering(void) {
  parsed p = parse_file("fixtures/c/eqx013_neg_split.c");
  const eql_expr *split = NULL, *normal = NULL, *prngkey = NULL;
  for (unsigned i = 0; i < p.f->calls.n; i++) {
    const eql_expr *c = p.f->calls.items[i];
    const char *canon = c->a ? eql_facts_canon(p.f, c->a) : NULL;
    if (!canon) continue;
    if (!strcmp(canon, "jax.random.split")) split = c;
    if (!strcmp(canon, "jax.random.normal")) normal = c;
    if (!strcmp(canon, "jax.random.PRNGKey")) prngkey = c;
  }
  CU_ASSERT_PTR_NOT_NULL_FATAL(split);
  CU_ASSERT_PTR_NOT_NULL_FATAL(normal);
  CU_ASSERT_PTR_NOT_NULL(prngkey);
  CU_ASSERT_STRING_EQUAL(eql_call_arg(split, 0, NULL)->name, "key");
  CU_ASSERT_STRING_EQUAL(eql_call_arg(normal, 0, NULL)->name, "key");
  /* at the draw, `key` is the re-bound k[2], not the original */
  const eql_expr *used = eql_call_arg(normal, 0, NULL);
  const eql_binding *b = eql_facts_lookup(p.f, "key", used->scope, used->start);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL_FATAL(b->value->kind, EQL_E_SUBSCRIPT);
  CU_ASSERT_STRING_EQUAL(b->value->a->name, "k");
  const eql_binding *kb = eql_facts_lookup(p.f, "k", used->scope, used->start);
  CU_ASSERT_PTR_NOT_NULL_FATAL(kb);
  CU_ASSERT_PTR_EQUAL(kb->value, split);
  done(&p);
}

static const eql_stmt *first_of_kind(const eql_block *b, eql_stmt_kind k) {
  for (unsigned i = 0; i < b->n; i++)
    if (b->items[i]->kind == k) return b->items[i];
  return NULL;
}

/* EQX_TRY's do-while(0) is not a loop; for is init + while; if/else keep both arms. */
static void test_statement_structure(void) {
  parsed p = parse_file("fixtures/c/eqx013_pos_loop.c");
  CU_ASSERT_EQUAL_FATAL(p.f->funcs.n, 1);
  const eql_func *fn = p.f->funcs.items[0];
  CU_ASSERT_STRING_EQUAL(fn->name, "noisy");
  CU_ASSERT_EQUAL(fn->nparams, 2);
  const eql_stmt *loop = first_of_kind(&fn->body, EQL_S_WHILE);
  CU_ASSERT_PTR_NOT_NULL_FATAL(loop);
  /* `int i = 0` comes before the loop, `i++` ends its body */
  CU_ASSERT_PTR_NOT_NULL(first_of_kind(&fn->body, EQL_S_ASSIGN));
  CU_ASSERT_TRUE(loop->body.n >= 2);
  for (unsigned i = 0; i < loop->body.n; i++) {
    CU_ASSERT_PTR_EQUAL(loop->body.items[i]->parent, loop);
    CU_ASSERT_NOT_EQUAL(loop->body.items[i]->kind, EQL_S_WHILE); /* EQX_TRY inlined */
  }
  done(&p);
  parsed q = parse_file("fixtures/c/eqx013_neg_branches.c");
  const eql_func *pick = q.f->funcs.items[0];
  const eql_stmt *iff = first_of_kind(&pick->body, EQL_S_IF);
  CU_ASSERT_PTR_NOT_NULL_FATAL(iff);
  CU_ASSERT_TRUE(iff->body.n > 0);
  CU_ASSERT_TRUE(iff->orelse.n > 0);
  CU_ASSERT_PTR_EQUAL(iff->orelse.items[0]->parent, iff);
  done(&q);
  /* switch: one IF per case group, chained through orelse */
  parsed r = parse_text("t_switch.c",
                        "int f(int k) {\n"
                        "  int x = 0;\n"
                        "  switch (k) {\n"
                        "  case 0: x = 1; break;\n"
                        "  case 1: case 2: x = 2; x++; break;\n"
                        "  default: x = 3;\n"
                        "  }\n"
                        "  return x;\n"
                        "}\n");
  const eql_func *sf = r.f->funcs.items[0];
  const eql_stmt *sw = first_of_kind(&sf->body, EQL_S_IF);
  CU_ASSERT_PTR_NOT_NULL_FATAL(sw);
  CU_ASSERT_EQUAL(sw->body.n, 2); /* x = 1; break */
  CU_ASSERT_EQUAL_FATAL(sw->orelse.n, 1);
  const eql_stmt *arm2 = sw->orelse.items[0];
  CU_ASSERT_EQUAL(arm2->kind, EQL_S_IF);
  CU_ASSERT_PTR_EQUAL(arm2->parent, sw);
  CU_ASSERT_EQUAL(arm2->body.n, 3);
  CU_ASSERT_EQUAL_FATAL(arm2->orelse.n, 1);
  CU_ASSERT_EQUAL(arm2->orelse.items[0]->body.n, 1); /* default: x = 3 */
  done(&r);
}

/* Comments for suppressions; the first compiler error as EQX999 with clang's message. */
static void test_comments_and_errors(void) {
  static const char code[] =
      "// line comment\n"
      "/* block\n   comment */\n"
      "int f(void) { return 1 // NOLINT(EQX001)\n"
      "}\n";
  parsed p = parse_text("t_err.c", code);
  CU_ASSERT_EQUAL_FATAL(p.f->comments.n, 3);
  const eql_comment *c0 = p.f->comments.items[0], *c1 = p.f->comments.items[1],
                    *c2 = p.f->comments.items[2];
  CU_ASSERT_EQUAL(c0->start, 0);
  CU_ASSERT_EQUAL(c0->end, 15);
  CU_ASSERT_EQUAL(strncmp(code + c1->start, "/* block", 8), 0);
  CU_ASSERT_EQUAL(strncmp(code + c1->end - 2, "*/", 2), 0);
  CU_ASSERT_EQUAL(strncmp(code + c2->start, "// NOLINT(EQX001)", 17), 0);
  CU_ASSERT_TRUE(p.f->has_error);
  CU_ASSERT_PTR_NOT_NULL(p.f->error_message && strstr(p.f->error_message, "expected ';'"));
  CU_ASSERT_EQUAL(eql_source_line_of(p.src, p.f->error_start), 4);
  done(&p);
  /* a clean file has no error */
  parsed q = parse_text("t_ok.c", "int g(int x) { return x + 1; }\n");
  CU_ASSERT_FALSE(q.f->has_error);
  CU_ASSERT_EQUAL(q.f->funcs.n, 1);
  done(&q);
}

static void write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  CU_ASSERT_PTR_NOT_NULL_FATAL(f);
  fputs(text, f);
  fclose(f);
}

/* -D and -I from the command line, and -p DIR's compile_commands.json. */
static void test_flags(void) {
  static const char code[] =
      "#include \"only_in_extra_dir.h\"\n"
      "#ifdef EQL_BROKEN\n"
      "int x = ;\n"
      "#endif\n"
      "int y = EXTRA_VALUE;\n";
  char dir[] = "/tmp/eql_cfront_XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  char hdr[256], src[256], db[256];
  snprintf(hdr, sizeof hdr, "%s/inc", dir);
  CU_ASSERT_EQUAL_FATAL(mkdir(hdr, 0700), 0);
  snprintf(hdr, sizeof hdr, "%s/inc/only_in_extra_dir.h", dir);
  write_file(hdr, "#define EXTRA_VALUE 3\n");
  snprintf(src, sizeof src, "%s/src.c", dir);
  write_file(src, code);

  eql_cfront_reset();
  parsed p = parse_file(src);
  CU_ASSERT_TRUE(p.f->has_error); /* header not found */
  done(&p);

  char inc[300];
  snprintf(inc, sizeof inc, "-I%s/inc", dir);
  CU_ASSERT_EQUAL(eql_cfront_add_flag(inc), 0);
  p = parse_file(src);
  CU_ASSERT_FALSE(p.f->has_error);
  done(&p);
  CU_ASSERT_EQUAL(eql_cfront_add_flag("-DEQL_BROKEN"), 0);
  p = parse_file(src);
  CU_ASSERT_TRUE(p.f->has_error);
  CU_ASSERT_EQUAL(eql_source_line_of(p.src, p.f->error_start), 3);
  done(&p);
  eql_cfront_reset();

  /* the compilation database supplies the include directory and the macro */
  snprintf(db, sizeof db, "%s/compile_commands.json", dir);
  char json[1024];
  snprintf(json, sizeof json,
           "[{\"directory\": \"%s\", \"file\": \"%s\",\n"
           "  \"arguments\": [\"cc\", \"-Iinc\", \"-DEQL_BROKEN\", \"-c\", \"%s\", \"-o\", \"src.o\"]}]\n",
           dir, src, src);
  write_file(db, json);
  CU_ASSERT_EQUAL(eql_cfront_set_compdb_dir(dir), 0);
  p = parse_file(src);
  CU_ASSERT_TRUE(p.f->has_error); /* EQL_BROKEN came from the database */
  CU_ASSERT_EQUAL(eql_source_line_of(p.src, p.f->error_start), 3);
  done(&p);
  eql_cfront_reset();
  /* found upward from the file without -p */
  p = parse_file(src);
  CU_ASSERT_TRUE(p.f->has_error);
  CU_ASSERT_EQUAL(eql_source_line_of(p.src, p.f->error_start), 3);
  done(&p);

  unlink(db);
  unlink(src);
  unlink(hdr);
  snprintf(hdr, sizeof hdr, "%s/inc", dir);
  rmdir(hdr);
  rmdir(dir);
}

/* RULES.md's unfiltered spellings (eqx_grad, eqx_value_and_grad; not in eqx.h today) lower to
 * jax.grad / jax.value_and_grad over the model; the filtered one to its equinox twin. */
static void test_unfiltered_grad(void) {
  static const char code[] =
      "#include <eqx.h>\n"
      "eqx_status eqx_value_and_grad(eqx_ctx *ctx, eqx_loss_fn fn, const eqx_tree *model,\n"
      "                              void *user, float *value, eqx_tree **grads);\n"
      "static eqx_status loss(eqx_ctx *ctx, const eqx_tree *m, void *u, eqx_array **out) {\n"
      "    (void)m; (void)u; return eqx_scalar(ctx, 0.0f, out);\n"
      "}\n"
      "eqx_status step(eqx_ctx *ctx, float *v, eqx_tree **g) {\n"
      "    eqx_tree *model;\n"
      "    EQX_TRY(eqx_mlp_new(2, 2, 4, 1, \"tanh\", eqx_tanh, eqx_prng_key(0), &model));\n"
      "    return GRAD(ctx, loss, model, NULL, v, g);\n"
      "}\n";
  char buf[sizeof code + 64];
  const char *at = strstr(code, "GRAD");
  snprintf(buf, sizeof buf, "%.*seqx_value_and_grad%s", (int)(at - code), code, at + 4);
  CU_ASSERT_EQUAL(count_code("t_grad.c", buf, "EQX003"), 1);
  snprintf(buf, sizeof buf, "%.*seqx_filter_value_and_grad%s", (int)(at - code), code, at + 4);
  CU_ASSERT_EQUAL(count_code("t_grad.c", buf, "EQX003"), 0);
  CU_ASSERT_EQUAL(count_code("t_grad.c", buf, "EQX999"), 0);
}

/* Each C call is one CALL in the facts, also inside compound literals that lowering reads
 * twice (as the argument and as the container's elements). */
static void test_calls_listed_once(void) {
  static const char code[] =
      "#include <eqx.h>\n"
      "static eqx_tree *leaf(void) { return eqx_none(); }\n"
      "eqx_status f(eqx_tree **out) {\n"
      "    eqx_tree *t;\n"
      "    EQX_TRY(eqx_list_new(2, (eqx_tree *[]){leaf(), leaf()}, &t));\n"
      "    return eqx_tuple_new(1, (eqx_tree *[]){leaf()}, out);\n"
      "}\n";
  parsed p = parse_text("t_once.c", code);
  unsigned n = 0;
  for (unsigned i = 0; i < p.f->calls.n; i++) {
    const eql_expr *c = p.f->calls.items[i];
    n += c->a && c->a->name && !strcmp(c->a->name, "leaf");
  }
  CU_ASSERT_EQUAL(n, 3);
  const eql_binding *b = eql_facts_lookup(p.f, "t", p.f->funcs.items[1], p.src->len);
  CU_ASSERT_PTR_NOT_NULL_FATAL(b);
  CU_ASSERT_EQUAL(b->value->kind, EQL_E_CALL);
  CU_ASSERT_EQUAL(b->value->nargs, 1);
  CU_ASSERT_EQUAL(b->value->args[0].value->kind, EQL_E_LIST);
  CU_ASSERT_EQUAL(b->value->args[0].value->nargs, 2);
  done(&p);
}

static void on_error(const char *path, const char *reason, void *ud) {
  (void)path;
  (void)reason;
  (*(int *)ud)++;
}

/* A .c path that cannot be read is reported and skipped; the others are checked. */
static void test_unreadable_skipped(void) {
  char dir[] = "/tmp/eql_cfront_XXXXXX";
  CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
  char bad[256], good[256];
  snprintf(bad, sizeof bad, "%s/missing.c", dir);
  snprintf(good, sizeof good, "%s/ok.c", dir);
  write_file(good, "/* eqx */ int eqx_answer(void) { return 42; }\n");
  const char *paths[] = {bad, good};
  eql_project *p = eql_project_new();
  CU_ASSERT_PTR_NOT_NULL_FATAL(p);
  int errors = 0;
  CU_ASSERT_EQUAL(eql_project_add_files(p, paths, 2, 1, on_error, &errors), 1);
  CU_ASSERT_EQUAL(errors, 1);
  CU_ASSERT_EQUAL(eql_project_nfiles(p), 1);
  eql_project_free(p);
  unlink(good);
  rmdir(dir);
}

int main(void) {
  static const eql_test tests[] = {
    EQL_TEST(test_c_paths),
    EQL_TEST(test_optimiser_lowering),
    EQL_TEST(test_layer_table),
    EQL_TEST(test_layer_table_matches_header),
    EQL_TEST(test_module_type_class),
    EQL_TEST(test_prng_lowering),
    EQL_TEST(test_statement_structure),
    EQL_TEST(test_comments_and_errors),
    EQL_TEST(test_flags),
    EQL_TEST(test_unfiltered_grad),
    EQL_TEST(test_calls_listed_once),
    EQL_TEST(test_unreadable_skipped),
  };
  return eql_cunit_run("cfront", tests, sizeof tests / sizeof *tests);
}
