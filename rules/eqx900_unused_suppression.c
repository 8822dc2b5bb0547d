/* ## What it does
 * Reports a suppression comment (`# noqa: EQX001`, `# eqlint: noqa: EQX013`,
 * `// NOLINT(EQX001)`) naming an eqlint code that suppressed nothing, and codes that look
 * like eqlint's but do not exist.
 *
 * ## Why is this bad
 * A suppression that no longer suppresses anything hides the next real diagnostic on that
 * line: the code was fixed, or the diagnostic moved, and the comment stayed. It also tells
 * readers that something is wrong with a line that is fine.
 *
 * ## Example
 * ```python
 * opt_state = optim.init(eqx.filter(model, eqx.is_array))  # noqa: EQX001
 * ```
 *
 * ## Use instead
 * ```python
 * opt_state = optim.init(eqx.filter(model, eqx.is_array))
 * ```
 *
 * ## Fix safety
 * No automatic fix yet; removing the unused code (or the whole comment when it names only
 * that code) is always safe.
 *
 * ## Known limits
 * Codes of other tools (`F401`, `E501`) are left alone, and so is a bare `# noqa`, which may
 * be there for another tool. Codes of rules that are not enabled in this run are not
 * reported, since eqlint cannot tell whether they would fire.
 *
 * This code is reported by the driver (analyzer/suppress.c), not by a rule function.
 */
