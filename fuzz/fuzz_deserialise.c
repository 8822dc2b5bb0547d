/* libFuzzer harness: arbitrary bytes as a libeqx model file, loaded against a small MLP.
 * Loading must either succeed with a like-shaped tree or fail with a status, never crash,
 * and never touch the template model. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "eqx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static eqx_tree *like;
  static char path[64];
  if (!like) {
    if (eqx_mlp_new(3, 2, 4, 1, "tanh", eqx_tanh, eqx_prng_key(0), &like) != EQX_OK) abort();
    snprintf(path, sizeof path, "/tmp/eqx-fuzz-%d.eqx", (int)getpid());
  }
  FILE *f = fopen(path, "wb");
  if (!f) return 0;
  fwrite(data, 1, size, f);
  fclose(f);
  eqx_tree *out = NULL;
  if (eqx_tree_deserialise_leaves(path, like, &out) == EQX_OK) eqx_tree_free(out);
  else if (out) abort(); /* failure must give nothing back */
  return 0;
}
