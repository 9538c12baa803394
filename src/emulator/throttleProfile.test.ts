/**
 * The throttling profile the emulator starts with (EmulatorOptions.throttle, the CLI's `--throttle`), driven as an
 * outside client would: plain HTTP to the control surface, then plain Graph requests.
 */
import { useEmulator } from "../tests/support";
import { startEmulator } from "./server";

const START_PROFILE = { requestsPerWindow: 2, windowMs: 60_000 };
const env = useEmulator({ throttle: START_PROFILE });

async function control(path: string, body?: unknown): Promise<number> {
  const res = await fetch(`${env.emulator.origin}/_emulator${path}`, {
    method: "POST",
    headers: { Authorization: `Bearer ${env.emulator.controlToken}`, ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  await res.arrayBuffer();
  return res.status;
}

/** The statuses of `count` GET /me in a row with the demo token. */
async function statusesOf(count: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < count; i++) {
    const res = await fetch(`${env.emulator.origin}/v1.0/me`, { headers: { Authorization: `Bearer ${env.emulator.token}` } });
    await res.arrayBuffer();
    statuses.push(res.status);
  }
  return statuses;
}

describe("the start options' throttling profile", () => {
  it("throttles from the first request", async () => {
    expect(await statusesOf(3)).toEqual([200, 200, 429]);
  });

  it("POST /_emulator/reset returns to it with an empty window, rather than to no throttling", async () => {
    expect(await statusesOf(3)).toEqual([200, 200, 429]);
    expect(await control("/reset")).toBe(200);
    expect(await statusesOf(3)).toEqual([200, 200, 429]);
  });

  it("gives way to a profile set through the control surface until reset", async () => {
    expect(await control("/throttle", { requestsPerWindow: 4, windowMs: 60_000 })).toBe(200);
    expect(await statusesOf(5)).toEqual([200, 200, 200, 200, 429]);
    expect(await control("/reset")).toBe(200);
    expect(await statusesOf(3)).toEqual([200, 200, 429]);
  });

  it("gives way to null (no throttling) set through the control surface until reset", async () => {
    expect(await control("/throttle", null)).toBe(200);
    expect(await statusesOf(4)).toEqual([200, 200, 200, 200]);
    expect(await control("/reset")).toBe(200);
    expect(await statusesOf(3)).toEqual([200, 200, 429]);
  });

  it("is refused when out of range, before anything listens", async () => {
    await expect(startEmulator({ throttle: { requestsPerWindow: 0, windowMs: 1000 } })).rejects.toThrow("requestsPerWindow must be a positive integer, got 0");
  });
});
