/** The emulator's command line as a pure function: flags, EMULATOR_* fallbacks and every refusal's message. */
import { CommandLineError, parseCommandLine, parseThrottle, USAGE, type EmulatorCommand } from "./commandLine";

function run(argv: string[], env: Record<string, string> = {}): EmulatorCommand {
  const parsed = parseCommandLine(argv, env);
  if (parsed.kind !== "run") throw new Error(`expected a run, got ${parsed.kind}`);
  return parsed.command;
}

describe("parseCommandLine", () => {
  it("defaults to port 7357 and the three hosts after it, no latency, global cloud, the banner", () => {
    expect(run([])).toEqual({ port: 7357, downloadPort: 7358, loginPort: 7359, uploadPort: 7360, latencyMs: 0, cloud: "global", printConfig: false, https: false });
  });

  it.each<[string[], Partial<EmulatorCommand>]>([
    [["--port", "0"], { port: 0, downloadPort: 0, loginPort: 0, uploadPort: 0 }],
    [["--port=8000"], { port: 8000, downloadPort: 8001, loginPort: 8002, uploadPort: 8003 }],
    [["--port", "8000", "--download-port", "9001", "--login-port", "9002", "--upload-port", "9003"], { downloadPort: 9001, loginPort: 9002, uploadPort: 9003 }],
    [["--latency", "250"], { latencyMs: 250 }],
    [["--users", "5000"], { users: 5000 }],
    [["--users", "0"], { users: 0 }],
    [["--delta-page-size", "3"], { deltaPageSize: 3 }],
    [["--cloud", "china"], { cloud: "china" }],
    [["--throttle", "100/10"], { throttle: { requestsPerWindow: 100, windowMs: 10_000 } }],
    [["--throttle", "5/0.5"], { throttle: { requestsPerWindow: 5, windowMs: 500 } }],
    [["--print-config"], { printConfig: true }],
    [["--https"], { https: true }],
    [["--public-origin", "https://graph.example.test/"], { publicOrigin: "https://graph.example.test" }],
    [["--public-origin", "http://LOCALHOST:8443"], { publicOrigin: "http://localhost:8443" }],
    [["--device-code-interval", "0"], { deviceCodeIntervalSeconds: 0 }],
    [["--device-code-interval=900"], { deviceCodeIntervalSeconds: 900 }],
    [["--seed", "0"], { seed: 0 }],
    [["--seed", "4294967295"], { seed: 4294967295 }],
  ])("%j", (argv, expected) => {
    expect(run(argv)).toMatchObject(expected);
  });

  it("reads the EMULATOR_* variables when a flag is absent, and the flag wins over them", () => {
    const env = { EMULATOR_PORT: "9000", EMULATOR_LOGIN_PORT: "9100", EMULATOR_USERS: "12", EMULATOR_CLOUD: "usgov-l4", EMULATOR_UPLOAD_PORT: " " };
    expect(run([], env)).toMatchObject({ port: 9000, downloadPort: 9001, loginPort: 9100, uploadPort: 9003, users: 12, cloud: "usgov-l4" });
    expect(run(["--port", "0", "--users", "3"], env)).toMatchObject({ port: 0, downloadPort: 0, loginPort: 9100, users: 3 });
  });

  it("leaves the device code interval and the seed unset without their flags (Entra's 5 s, unseeded choices)", () => {
    expect(run([])).not.toHaveProperty("deviceCodeIntervalSeconds");
    expect(run([])).not.toHaveProperty("seed");
  });

  it.each(["-h", "--help"])("%s asks for the usage text, whatever else is given", (flag) => {
    expect(parseCommandLine(["--port", "1", flag])).toEqual({ kind: "help" });
  });

  it.each<[string[], string]>([
    [["--prot", "1"], "Unknown option '--prot'. See --help."],
    [["--seed", "-1"], "Option '--seed' argument is ambiguous. See --help."],
    [["--seed", "4294967296"], "--seed must be a whole number from 0 to 4294967295, got '4294967296'"],
    [["--seed", "abc"], "--seed must be a whole number from 0 to 4294967295, got 'abc'"],
    [["--device-code-interval", "1.5"], "--device-code-interval must be a whole number from 0 to 900, got '1.5'"],
    [["--device-code-interval", "901"], "--device-code-interval must be a whole number from 0 to 900, got '901'"],
    [["extra"], "Unexpected argument 'extra'. See --help."],
    [["--port"], "Option '--port <value>' argument missing. See --help."],
    [["--port", "65536"], "--port must be a whole number from 0 to 65535, got '65536'"],
    [["--download-port", "-1"], "Option '--download-port' argument is ambiguous. See --help."],
    [["--login-port", "http"], "--login-port must be a whole number from 0 to 65535, got 'http'"],
    [["--latency", "1.5"], "--latency must be a whole number from 0 to 600000, got '1.5'"],
    [["--users", "lots"], "--users must be a whole number from 0 to 4294967295, got 'lots'"],
    [["--delta-page-size", "0"], "--delta-page-size must be a whole number from 1 to 1000000, got '0'"],
    [["--cloud", "mars"], "--cloud must be one of global, usgov-l4, usgov-l5-dod, china, got 'mars'"],
    [["--throttle", "10"], "--throttle must be <requests>/<window seconds> with both above zero, e.g. 100/10; got '10'"],
    [["--throttle", "0/10"], "--throttle must be <requests>/<window seconds> with both above zero, e.g. 100/10; got '0/10'"],
    [["--throttle", "10/0"], "--throttle must be <requests>/<window seconds> with both above zero, e.g. 100/10; got '10/0'"],
    [["--public-origin", "graph.example.test"], "--public-origin must be an http(s) origin such as https://graph.example.test, without path or query; got 'graph.example.test'"],
    [["--public-origin", "https://graph.example.test/v1.0"], "--public-origin must be an http(s) origin such as https://graph.example.test, without path or query; got 'https://graph.example.test/v1.0'"],
    [["--public-origin", "ftp://graph.example.test"], "--public-origin must be an http(s) origin such as https://graph.example.test, without path or query; got 'ftp://graph.example.test'"],
    [["--public-origin", "https://user:pw@graph.example.test"], "--public-origin must be an http(s) origin such as https://graph.example.test, without path or query; got 'https://user:pw@graph.example.test'"],
    [["--print-config=yes"], "Option '--print-config' does not take an argument. See --help."],
  ])("refuses %j: %s", (argv, message) => {
    expect(() => parseCommandLine(argv)).toThrow(new CommandLineError(message));
  });

  it("names the variable when an EMULATOR_* value is bad", () => {
    expect(() => parseCommandLine([], { EMULATOR_PORT: "x" })).toThrow("EMULATOR_PORT must be a whole number from 0 to 65535, got 'x'");
    expect(() => parseCommandLine([], { EMULATOR_CLOUD: "mars" })).toThrow("EMULATOR_CLOUD must be one of global, usgov-l4, usgov-l5-dod, china, got 'mars'");
  });
});

describe("parseThrottle", () => {
  it("takes whitespace around the numbers", () => {
    expect(parseThrottle(" 3 / 2 ")).toEqual({ requestsPerWindow: 3, windowMs: 2000 });
  });
});

describe("USAGE", () => {
  it("documents every flag the parser takes", () => {
    for (const flag of ["--port", "--download-port", "--login-port", "--upload-port", "--latency", "--users", "--delta-page-size", "--cloud", "--throttle", "--print-config", "--https", "--public-origin", "--device-code-interval", "--seed", "--help"]) {
      expect(USAGE).toContain(flag);
      if (flag !== "--help") expect(() => parseCommandLine([["--print-config", "--https"].includes(flag) ? flag : `${flag}=1`])).not.toThrow("Unknown option");
    }
  });
});
