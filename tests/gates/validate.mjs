// node validate.mjs KIND FILE [SCHEMA]: validates an integration of docs/gates/ against its
// published schema; prints "ok" or the errors, exits 0 or 1. Run from a folder where
// tests/gates/package.json's dependencies are installed (test_gates_integrations.py does that).
//   github  GitHub's own workflow parser and schema (@actions/workflow-parser)
//   gitlab  GitLab's .gitlab-ci.yml JSON schema (SCHEMA: extracted by gitlab-schema.mjs), ajv
//   argo    Argo Rollouts' CRD schemas (@kubernetes-models/argo-rollouts), per document
import fs from "node:fs";
import YAML from "yaml";

const [kind, file, schemaFile] = process.argv.slice(2);
const text = fs.readFileSync(file, "utf8");
const errors = [];

if (kind === "github") {
  const { parseWorkflow, NoOperationTraceWriter } = await import("@actions/workflow-parser");
  const result = parseWorkflow({ name: file, content: text }, new NoOperationTraceWriter());
  for (const e of result.context.errors.getErrors()) errors.push(e.message);
  if (!result.value) errors.push("no workflow");
} else if (kind === "gitlab") {
  const { default: Ajv } = await import("ajv");
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(JSON.parse(fs.readFileSync(schemaFile, "utf8")));
  if (!validate(YAML.parse(text))) for (const e of validate.errors) errors.push(`${e.instancePath} ${e.message}`);
} else if (kind === "argo") {
  const models = await import("@kubernetes-models/argo-rollouts/argoproj.io/v1alpha1");
  for (const doc of YAML.parseAllDocuments(text).map((d) => d.toJS())) {
    const Model = models[doc.kind];
    if (!Model || doc.apiVersion !== "argoproj.io/v1alpha1") {
      errors.push(`${doc.apiVersion} ${doc.kind}: not an Argo Rollouts kind`);
      continue;
    }
    try {
      new Model(doc).validate();
    } catch (e) {
      errors.push(String(e.message || e));
    }
  }
} else {
  errors.push(`unknown kind ${kind}`);
}
if (errors.length) {
  console.log(errors.join("\n"));
  process.exit(1);
}
console.log("ok");
