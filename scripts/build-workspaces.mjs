// Runs an npm script (build, lint) in every front-end workspace that has it, in the order listed in
// package.json (widgets first: the sidebar imports its chart). Used by `make` and by the wheel build
// (hatch-jupyter-builder runs `npm run build` at the root).
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";

const script = process.argv[2] ?? "build";
const { workspaces = [] } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
for (const ws of workspaces) {
  execSync(`npm run ${script} --workspace ${ws} --if-present`, { stdio: "inherit" });
}
