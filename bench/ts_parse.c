/* The floor under eqlint's speed: tree-sitter-python parsing the same files and nothing
 * else (no facts, no index, no rules). Built by bench/run.sh, never part of the product.
 * usage: ts_parse FILE...  (prints files, bytes, and the number of syntax trees with errors) */
#include <stdio.h>
#include <stdlib.h>
#include <tree_sitter/api.h>

const TSLanguage *tree_sitter_python(void);

int main(int argc, char **argv) {
  TSParser *p = ts_parser_new();
  ts_parser_set_language(p, tree_sitter_python());
  size_t bytes = 0, errors = 0;
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    if (!f) continue;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
      free(buf);
      fclose(f);
      continue;
    }
    fclose(f);
    TSTree *t = ts_parser_parse_string(p, NULL, buf, (uint32_t)n);
    if (t && ts_node_has_error(ts_tree_root_node(t))) errors++;
    ts_tree_delete(t);
    free(buf);
    bytes += (size_t)n;
  }
  ts_parser_delete(p);
  printf("%d files, %zu bytes, %zu with syntax errors\n", argc - 1, bytes, errors);
  return 0;
}
