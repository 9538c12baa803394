/** Tests live under src/ next to what they prove; they run the component through Spectral's harness against the loopback emulator. */
module.exports = {
  preset: "ts-jest",
  testEnvironment: "node",
  roots: ["<rootDir>/src"],
  transform: { "^.+\\.ts$": ["ts-jest", { diagnostics: false }] },
  testTimeout: 20000,
};
