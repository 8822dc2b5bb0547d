/* What eqlint knows about equinox.nn's built-in layers: which can hold non-array leaves
 * (functions, Python floats and bools in non-static fields) and the rank of one example.
 * Taken from Equinox's own field declarations; RULES.md lists the same split. */
#include <string.h>

#include "eqlint/index.h"

static const eql_layer layers[] = {
  /* non-array leaves */
  {"MLP", EQL_YES, "its `activation` and `final_activation` fields hold functions", 1},
  {"Lambda", EQL_YES, "it holds a function", 0},
  {"Sequential", EQL_MAYBE, "it holds raw functions or layers that do", 0},
  {"Dropout", EQL_YES, "its `p` and `inference` fields are a float and a bool", 0},
  {"BatchNorm", EQL_YES, "its `inference` and `momentum` fields are a bool and a float", 0},
  {"SpectralNorm", EQL_YES, "its `inference` field is a bool", 0},
  {"WeightNorm", EQL_YES, "it holds non-array leaves", 0},
  {"Shared", EQL_YES, "it holds a `where` function", 0},
  {"MultiheadAttention", EQL_YES, "it holds a `Dropout` layer (a float and a bool)", 2},
  {"Pool", EQL_YES, "it holds its reduction function", 0},
  {"MaxPool1d", EQL_YES, "it holds its reduction function", 2},
  {"MaxPool2d", EQL_YES, "it holds its reduction function", 3},
  {"MaxPool3d", EQL_YES, "it holds its reduction function", 4},
  {"AvgPool1d", EQL_YES, "it holds its reduction function", 2},
  {"AvgPool2d", EQL_YES, "it holds its reduction function", 3},
  {"AvgPool3d", EQL_YES, "it holds its reduction function", 4},
  {"AdaptivePool", EQL_YES, "it holds its reduction function", 0},
  {"AdaptiveAvgPool1d", EQL_YES, "it holds its reduction function", 2},
  {"AdaptiveAvgPool2d", EQL_YES, "it holds its reduction function", 3},
  {"AdaptiveAvgPool3d", EQL_YES, "it holds its reduction function", 4},
  {"AdaptiveMaxPool1d", EQL_YES, "it holds its reduction function", 2},
  {"AdaptiveMaxPool2d", EQL_YES, "it holds its reduction function", 3},
  {"AdaptiveMaxPool3d", EQL_YES, "it holds its reduction function", 4},
  /* arrays and static fields only: safe under jax.jit and optax */
  {"Linear", EQL_NO, NULL, 1},
  {"Conv", EQL_NO, NULL, 0},
  {"Conv1d", EQL_NO, NULL, 2},
  {"Conv2d", EQL_NO, NULL, 3},
  {"Conv3d", EQL_NO, NULL, 4},
  {"ConvTranspose", EQL_NO, NULL, 0},
  {"ConvTranspose1d", EQL_NO, NULL, 2},
  {"ConvTranspose2d", EQL_NO, NULL, 3},
  {"ConvTranspose3d", EQL_NO, NULL, 4},
  {"Embedding", EQL_NO, NULL, 0},
  {"LayerNorm", EQL_NO, NULL, 0},
  {"RMSNorm", EQL_NO, NULL, 0},
  {"GroupNorm", EQL_NO, NULL, 0},
  {"GRUCell", EQL_NO, NULL, 1},
  {"LSTMCell", EQL_NO, NULL, 1},
  {"PReLU", EQL_NO, NULL, 0},
  {"Identity", EQL_NO, NULL, 0},
};

const eql_layer *eql_layer_find(const char *canon) {
  static const char prefix[] = "equinox.nn.";
  if (!canon || strncmp(canon, prefix, sizeof prefix - 1) != 0) return NULL;
  const char *name = canon + sizeof prefix - 1;
  for (size_t i = 0; i < sizeof layers / sizeof *layers; i++)
    if (!strcmp(layers[i].name, name)) return &layers[i];
  return NULL;
}
