// npm run build: dist/ from the very files the pages load (static/*.js),
// copied unchanged, plus TypeScript declarations that tsc emits from their
// JSDoc. dist/ is not in git; static/ is the one source.
import { copyFile, mkdir, rm } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The package's entry points (package.json "exports"). */
export const ENTRY_POINTS = ["mmo-client.js", "netcode.js", "snake-delta.js"];
/** Every file dist/ holds: the entry points and the modules they import. */
export const MODULES = [...ENTRY_POINTS, "predictor.js", "interpolator.js"];

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const staticDir = join(root, "..", "..", "static");
const dist = join(root, "dist");

await rm(dist, { recursive: true, force: true });
await mkdir(dist, { recursive: true });
for (const name of MODULES) await copyFile(join(staticDir, name), join(dist, name));
const tsc = join(root, "node_modules", "typescript", "bin", "tsc");
for (const project of ["tsconfig.build.json", "tsconfig.build-netcode.json"]) {
  execFileSync(process.execPath, [tsc, "-p", join(root, project)], { stdio: "inherit" });
}
console.log(`built ${MODULES.length} modules and their declarations into dist/`);
