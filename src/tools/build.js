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

// Only certificate connections need MSAL, and it would add a quarter of a megabyte to every cold start:
// it is built into its own file beside index.js and loaded on first use. `prism components:publish` zips
// the whole dist/ folder, so it ships with the component.
const MSAL_FILE = "msal-node.js";
const msalBesideBundle = {
  name: "msal-beside-bundle",
  setup(build) {
    build.onResolve({ filter: /^@azure\/msal-node$/ }, () => ({ path: `./${MSAL_FILE}`, external: true }));
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
    plugins: [stubUnused, msalBesideBundle],
    // A CommonJS bundle loads its lazy parts with require(), whose exports are what they say.
    supported: { "dynamic-import": false },
  });
  await esbuild.build({
    stdin: { contents: 'module.exports = require("@azure/msal-node");', resolveDir: root, loader: "js" },
    bundle: true,
    platform: "node",
    target: "node18",
    format: "cjs",
    outfile: path.join(dist, MSAL_FILE),
    minify: true,
    legalComments: "none",
    logLevel: "warning",
  });
  fs.copyFileSync(path.join(root, "assets/icon.png"), path.join(dist, "icon.png"));
  // The metafile (what each byte of the bundle comes from) stays out of dist/, which is published whole.
  fs.writeFileSync(path.join(root, "node_modules", ".bundle-meta.json"), JSON.stringify(result.metafile));
  const size = fs.statSync(path.join(dist, "index.js")).size;
  const msalSize = fs.statSync(path.join(dist, MSAL_FILE)).size;
  console.log(`dist/index.js ${(size / 1024).toFixed(0)} KiB, dist/${MSAL_FILE} ${(msalSize / 1024).toFixed(0)} KiB (loaded by certificate connections only), dist/icon.png copied`);
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
