/**
 * Builds the npm package into dist/ (`npm run build`; `npm pack` runs it as `prepack`): every
 * product module compiled file by file to JavaScript with esbuild (same folders, so the worker
 * entries and relative URLs hold), with source maps; the dashboard bundled once here, not on the
 * first request; the plain-JS `kannon` bin with its Node version check. No tsx or TypeScript at run time.
 */
import { build } from "esbuild";
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { bundleDashboard } from "../orchestrator/web.js";

const root = join(import.meta.dirname, "..");
const dist = join(root, "dist");
/** The folders the running product imports from (tests, scripts, the bench and web/ stay out). */
const SOURCES = ["cli", "orchestrator", "driver", "target", "bus", "metrics", "workload", "scenario", "rpc", "gen"];
/**
 * The dashboard's modules the CLI imports (`kannon report`, `kannon tests`): web/exports.ts and
 * every web/ module it imports, followed here so a new one cannot be left out of the package.
 */
const SHARED_WEB = await webClosure(["exports.ts"]);

/** `start` (file names in web/) and every web/ module they import, transitively, as paths. */
async function webClosure(start: string[]): Promise<string[]> {
  const seen = new Set<string>();
  const todo = [...start];
  for (let name = todo.pop(); name !== undefined; name = todo.pop()) {
    if (seen.has(name)) continue;
    seen.add(name);
    const text = await readFile(join(root, "web", name), "utf8");
    for (const m of text.matchAll(/from "\.\/([\w-]+)\.js"/g)) todo.push(`${m[1]}.ts`);
  }
  return [...seen].map((name) => `web/${name}`);
}

/** The product's TypeScript modules under `dir`: no tests, no declaration files. */
async function modules(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && e.name.endsWith(".ts") && !e.name.endsWith(".test.ts") && !e.name.endsWith(".d.ts"))
    .map((e) => join(e.parentPath, e.name));
}

await rm(dist, { recursive: true, force: true });
const entryPoints = [...(await Promise.all(SOURCES.map((dir) => modules(join(root, dir))))).flat(), ...SHARED_WEB.map((file) => join(root, file))];
await build({ entryPoints, outdir: dist, outbase: root, format: "esm", platform: "node", target: "node20", sourcemap: true, logLevel: "warning" });
// dist/cli/kannon.js is not the bin: drop its tsx shebang, keeping the line so the source map holds.
const cli = join(dist, "cli", "kannon.js");
await writeFile(cli, (await readFile(cli, "utf8")).replace(/^#!.*/, "// the package's bin is cli/bin.mjs"));
for (const plain of ["driver/load/load-worker-boot.mjs", "cli/bin.mjs"]) await copyFile(join(root, plain), join(dist, plain));
await mkdir(join(dist, "web"), { recursive: true });
await writeFile(join(dist, "web", "app.js"), await bundleDashboard(join(root, "web")));
await copyFile(join(root, "web", "index.html"), join(dist, "web", "index.html"));
await copyFile(join(root, "web", "style.css"), join(dist, "web", "style.css"));
await copyFile(join(root, "node_modules", "uplot", "dist", "uPlot.min.css"), join(dist, "web", "uplot.css"));
const built = (await readdir(dist, { recursive: true })).length;
console.log(`build-package: ${entryPoints.length} modules and the dashboard into ${relative(process.cwd(), dist) || "."} (${built} entries)`);

