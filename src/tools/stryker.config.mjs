// Mutation testing (`npm run mutate`, not part of CI): how many deliberate bugs in the client and the actions
// the harness tests notice. Reruns are incremental (reports/stryker-incremental.json): only mutants in changed
// code or covered by changed tests run again.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "jest",
  jest: { configFile: "jest.config.js" },
  mutate: ["src/client/**/*.ts", "src/actions/**/*.ts", "!src/**/*.test.ts"],
  // Only what can run a mutant: the emulator, tests and sources, not dist/ or the reports.
  ignorePatterns: ["dist", "reports", "coverage"],
  coverageAnalysis: "perTest",
  // A static mutant (a module-level constant) would rerun the whole suite for each mutant: hours on 2 cores.
  ignoreStatic: true,
  // The machine has 2 cores shared with other work.
  concurrency: 1,
  incremental: true,
  incrementalFile: "reports/stryker-incremental.json",
  tempDirName: ".stryker-tmp",
  reporters: ["clear-text", "progress-append-only", "html", "json"],
  htmlReporter: { fileName: "reports/mutation/mutation.html" },
  jsonReporter: { fileName: "reports/mutation/mutation.json" },
  // Added to each mutant's expected test time. Jest's start-up (ts-jest, Spectral, the emulator) is not part of
  // that estimate and takes seconds on a loaded machine: a small value counts every mutant as a timeout.
  timeoutMS: 60000,
};
