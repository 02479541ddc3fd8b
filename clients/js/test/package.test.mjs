// The package as a front-end developer installs it: dist/ holds the very
// files the pages load, with declarations, reachable through `exports`.
// (npm test builds dist/ first: see "pretest" in package.json.) The last
// test packs and installs it into a scratch project, offline.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ENTRY_POINTS, MODULES } from "../scripts/build.mjs";

const here = (path) => fileURLToPath(new URL(path, import.meta.url));
const pkg = JSON.parse(await readFile(here("../package.json"), "utf8"));

test("dist/ holds each module byte for byte as static/ has it, with its declarations", async () => {
  for (const name of MODULES) {
    const built = await readFile(here(`../dist/${name}`), "utf8");
    const source = await readFile(here(`../../../static/${name}`), "utf8");
    assert.equal(built, source, `dist/${name} differs from static/${name}: run npm run build`);
    const declarations = await readFile(here(`../dist/${name.replace(/\.js$/, ".d.ts")}`), "utf8");
    assert.match(declarations, /export /);
  }
});

test("every module is exported with its types, and nothing else is", () => {
  const expected = Object.fromEntries(
    ENTRY_POINTS.map((name) => [
      `./${name}`,
      { types: `./dist/${name.replace(/\.js$/, ".d.ts")}`, default: `./dist/${name}` },
    ]),
  );
  expected["./package.json"] = "./package.json";
  assert.deepEqual(pkg.exports, expected);
  assert.equal(pkg.type, "module");
  assert.deepEqual(pkg.dependencies ?? {}, {});
});

test("the package imports by its own name", async () => {
  const netcode = await import(`${pkg.name}/netcode.js`);
  const client = await import(`${pkg.name}/mmo-client.js`);
  const snake = await import(`${pkg.name}/snake-delta.js`);
  assert.equal(typeof netcode.Predictor, "function");
  assert.equal(typeof netcode.Interpolator, "function");
  assert.equal(typeof netcode.bindNetcode, "function");
  assert.equal(typeof client.MmoClient, "function");
  assert.equal(typeof snake.applySnakeDelta, "function");
  const built = new URL(import.meta.resolve(`${pkg.name}/netcode.js`));
  assert.match(built.pathname, /\/clients\/js\/dist\/netcode\.js$/);
});

test("the packed tarball installs into a project and imports there", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "asgi-mmo-client-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const npm = (args, cwd) =>
    execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, encoding: "utf8" });
  // dist/ is fresh (pretest built it): pack without running prepack again
  const packed = JSON.parse(npm(["pack", "--json", "--ignore-scripts", "--pack-destination", dir], here("..")));
  const files = packed[0].files.map((f) => f.path).sort();
  assert.deepEqual(files, [
    "README.md",
    ...MODULES.flatMap((m) => [`dist/${m.replace(/\.js$/, ".d.ts")}`, `dist/${m}`]),
    "package.json",
  ].sort());
  const app = join(dir, "app");
  await mkdir(app);
  await writeFile(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
  npm(["install", "--offline", join(dir, packed[0].filename)], app);
  const out = execFileSync(
    process.execPath,
    [
      "--input-type=module",
      "-e",
      `import { Predictor } from "${pkg.name}/netcode.js";
       import { MmoClient } from "${pkg.name}/mmo-client.js";
       console.log(typeof Predictor, typeof MmoClient);`,
    ],
    { cwd: app, encoding: "utf8" },
  );
  assert.equal(out.trim(), "function function");
});
