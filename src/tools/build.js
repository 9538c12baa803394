// Builds the publishable bundle: dist/index.js (CommonJS, default export = the component) and dist/icon.png.
// Run with `npm run build`. Only src/index.ts and what it imports are bundled; dev tools never are.
const path = require("node:path");
const fs = require("node:fs");
const esbuild = require("esbuild");

const root = path.resolve(__dirname, "../..");
const dist = path.join(root, "dist");

// Spectral's root module also carries its code-native-integration and testing helpers. A component
// never calls them (nor util.types date helpers), but their dependencies (zod, yaml, date-fns, jest-mock)
// would be most of the bundle:
// they are replaced by a stub that throws if anything ever did call into them.
const UNUSED_AT_RUNTIME = /^(zod|yaml|date-fns|jest-mock|jest-util|@jest\/.*|expect|chalk)(\/.*)?$/;

const stubUnused = {
  name: "stub-unused-spectral-deps",
  setup(build) {
    build.onResolve({ filter: UNUSED_AT_RUNTIME }, (args) =>
      args.importer.includes(`${path.sep}@prismatic-io${path.sep}spectral${path.sep}`)
        ? { path: args.path, namespace: "stub" }
        : undefined,
    );
    build.onLoad({ filter: /.*/, namespace: "stub" }, (args) => ({
      contents: `const fail = () => { throw new Error(${JSON.stringify(
        `${args.path} is not bundled with this component`,
      )}); };
module.exports = new Proxy(fail, { get: (_t, k) => (k === "__esModule" ? false : k === "default" ? module.exports : fail), apply: fail });`,
      loader: "js",
    }));
  },
};

async function main() {
  fs.rmSync(dist, { recursive: true, force: true });
  const result = await esbuild.build({
    entryPoints: [path.join(root, "src/index.ts")],
    bundle: true,
    platform: "node",
    target: "node18",
    format: "cjs",
    outfile: path.join(dist, "index.js"),
    minify: true,
    sourcemap: false,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
    plugins: [stubUnused],
  });
  fs.copyFileSync(path.join(root, "assets/icon.png"), path.join(dist, "icon.png"));
  fs.writeFileSync(path.join(dist, "meta.json"), JSON.stringify(result.metafile));
  const size = fs.statSync(path.join(dist, "index.js")).size;
  console.log(`dist/index.js ${(size / 1024).toFixed(0)} KiB, dist/icon.png copied`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
