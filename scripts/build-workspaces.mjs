// Runs an npm script (build, lint) in every front-end workspace that has it.
// `npm run X --workspaces` fails outright when the workspace list is empty, and the wheel build
// (hatch-jupyter-builder) runs `npm run build` whether or not a front end exists yet.
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";

const script = process.argv[2] ?? "build";
const { workspaces = [] } = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8"));
if (workspaces.length === 0) {
  console.log(`npm run ${script}: no front-end workspaces in package.json`);
} else {
  execSync(`npm run ${script} --workspaces --if-present`, { stdio: "inherit" });
}
