/* Jupyter notebooks: the code cells of an .ipynb, in order, as one Python program, with a
 * map back from each line of that program to (cell, line in cell). IPython magics (`%`,
 * `%%`), shell escapes (`!`) and help requests (`?`) become blank lines, so line numbers
 * stay aligned. Parsed with Jansson, never by hand. */
#ifndef EQLINT_NOTEBOOK_H
#define EQLINT_NOTEBOOK_H
#include <stddef.h>
#include <stdint.h>

typedef struct eql_cellmap {
  uint32_t *cell;   /* per program line (index line-1): 1-based cell number in the notebook */
  uint32_t *line;   /* per program line: 1-based line within that cell */
  uint32_t nlines;
} eql_cellmap;

/* Converts notebook JSON to a Python program. Returns 0 and fills *text (malloc'd, caller
 * frees), *len and *map (free with eql_cellmap_free); or -1 with a message in err. */
int eql_notebook_to_python(const char *json, size_t json_len, char **text, size_t *len,
                           eql_cellmap *map, char *err, size_t errlen);
void eql_cellmap_free(eql_cellmap *map);

#endif
