// Ruff (its WebAssembly build, from npm) checking the same files as eqlint, in one Node
// process: the fairest Ruff we can run on this machine. Default rule set (E4, E7, E9, F).
// usage: node ruff_wasm.js PACKAGE_DIR FILE...
const fs = require("fs");
const path = require("path");
const ruff = require(path.join(process.argv[2], "ruff_wasm.js"));
const ws = new ruff.Workspace({ lint: { select: ["E4", "E7", "E9", "F"] } }, ruff.PositionEncoding.Utf8 ?? 0);
let n = 0;
for (const f of process.argv.slice(3)) {
  let text;
  try { text = fs.readFileSync(f, "utf8"); } catch { continue; }
  n += ws.check(text).length;
}
console.log(`${process.argv.length - 3} files, ${n} diagnostics`);
