/* ## What it does
 * Reports a file that does not parse as Python, pointing at the first error tree-sitter
 * found (an unexpected token, or a missing one such as a closing bracket).
 *
 * ## Why is this bad
 * Python will refuse to import the file. eqlint still runs every rule on the parts of the
 * file that parsed, so other diagnostics may be reported as well, but results around the
 * error may be incomplete.
 *
 * ## Example
 * ```python
 * def loss(model, x, y:
 *     return jnp.mean((model(x) - y) ** 2)
 * ```
 *
 * ## Use instead
 * ```python
 * def loss(model, x, y):
 *     return jnp.mean((model(x) - y) ** 2)
 * ```
 *
 * ## Fix safety
 * Never fixed automatically.
 *
 * ## Known limits
 * Only the first error of a file is reported; tree-sitter's error recovery decides where it
 * is, which may be a line after the real mistake.
 *
 * This code is reported by the driver (analyzer/check.c), not by a rule function.
 */
