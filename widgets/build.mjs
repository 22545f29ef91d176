// Bundles each anywidget front end (one ES module per dashboard, uPlot included) into the Python
// package, where dltoolkit.dashboards loads it as the widget's `_esm` (and its CSS as `_css`).
import { build } from "esbuild";

const entries = [
  "training_dashboard",
  "runs_panel",
  "explain_dashboard",
  "attack_dashboard",
  "episode_player",
];
await build({
  entryPoints: Object.fromEntries(entries.map((name) => [name, `src/${name}.ts`])),
  bundle: true,
  format: "esm",
  target: "es2021",
  minify: true,
  outdir: "../dltoolkit/dashboards/static",
  logLevel: "warning",
});
