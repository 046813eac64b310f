// node gitlab-schema.mjs INDEX_JS > schema.json: GitLab's .gitlab-ci.yml JSON schema, as gitlab-ci-local
// bundles it (a JS object literal `var Sn={...}` in dist/index.js, before its own edits to it).
import fs from "node:fs";
import vm from "node:vm";
const src = fs.readFileSync(process.argv[2], "utf8");
const start = src.indexOf("var Sn={") + "var Sn=".length;
let depth = 0, i = start, inStr = null;
for (; i < src.length; i++) {
  const c = src[i];
  if (inStr) { if (c === "\\") { i++; continue; } if (c === inStr) inStr = null; continue; }
  if (c === '"' || c === "'" || c === "`") { inStr = c; continue; }
  if (c === "{") depth++;
  else if (c === "}") { depth--; if (depth === 0) break; }
}
const obj = vm.runInNewContext("(" + src.slice(start, i + 1) + ")");
process.stdout.write(JSON.stringify(obj));
