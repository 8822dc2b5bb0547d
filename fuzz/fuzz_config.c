/* libFuzzer harness: arbitrary bytes as eqlint.toml and as pyproject.toml through the
 * tree-sitter TOML reader and the configuration mapping; a parsed config is then used
 * (rule sets for a path, excludes) so the whole path runs. */
#include <stdint.h>

#include "eqlint/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static const char *const names[] = {"/tmp/fuzz/eqlint.toml", "/tmp/fuzz/pyproject.toml"};
  for (int i = 0; i < 2; i++) {
    eql_config *cfg = NULL;
    eql_config_error err;
    if (eql_config_parse(names[i], (const char *)data, size, &cfg, &err) == EQL_CONFIG_OK) {
      eql_ruleset rs;
      eql_config_ruleset(cfg, NULL, "/tmp/fuzz/tests/test_model.py", &rs);
      (void)eql_config_excludes(cfg, "/tmp/fuzz/pkg/model.py", false, true);
      eql_config_free(cfg);
    }
  }
  return 0;
}
