/**
 * Dependency checks and ordering without a network: iterative and linear, so a chain of any length neither
 * overflows the stack nor takes quadratic time, and a cycle is still refused naming it.
 */
import { BatchItem, checkDependencies, dependencyOrder } from "./batch";
import { InputError } from "./errors";

function item(id: string, dependsOn: string[] = []): BatchItem {
  return { id, method: "GET", url: "me", headers: {}, dependsOn };
}

/** `length` requests listed last-first: request i depends on request i + 1, the worst order for a naive scan. */
function chain(length: number): BatchItem[] {
  return Array.from({ length }, (_, i) => item(String(i), i + 1 < length ? [String(i + 1)] : []));
}

describe("dependencyOrder", () => {
  it.each([
    ["independent requests keep the given order", [item("a"), item("b"), item("c")], ["a", "b", "c"]],
    ["a dependency listed later moves before its dependent", [item("a", ["c"]), item("b"), item("c")], ["c", "a", "b"]],
    ["a shared dependency is placed once", [item("x", ["z"]), item("y", ["z"]), item("z")], ["z", "x", "y"]],
    ["a diamond", [item("d", ["b", "c"]), item("b", ["a"]), item("c", ["a"]), item("a")], ["a", "b", "c", "d"]],
    ["a dependency outside the list does not hold a request back", [item("a", ["answered-earlier"])], ["a"]],
  ])("%s", (_what, items, expected) => {
    expect(dependencyOrder(items).map((i) => i.id)).toEqual(expected);
  });

  it("orders a chain of 50,000 requests without recursion", () => {
    const items = chain(50_000);
    const order = dependencyOrder(items).map((i) => i.id);
    expect(order).toHaveLength(50_000);
    expect(order[0]).toBe("49999");
    expect(order[49_999]).toBe("0");
    expect(order.every((id, i) => id === String(49_999 - i))).toBe(true);
  });
});

describe("checkDependencies", () => {
  it("accepts a chain of 50,000 requests", () => {
    expect(() => checkDependencies(chain(50_000))).not.toThrow();
  });

  it.each([
    ["a self-dependency", [item("a", ["a"])], "Requests: request 'a' depends on itself"],
    ["an unknown id", [item("a", ["z"])], "Requests: request 'a' depends on 'z', which is not in the list"],
    ["a two-step cycle", [item("a", ["b"]), item("b", ["a"])], "Requests: dependsOn forms a cycle: a → b → a"],
    ["a cycle behind a chain", [item("start", ["a"]), item("a", ["b"]), item("b", ["c"]), item("c", ["a"])], "Requests: dependsOn forms a cycle: a → b → c → a"],
  ])("refuses %s", (_what, items, message) => {
    expect(() => checkDependencies(items)).toThrow(InputError);
    expect(() => checkDependencies(items)).toThrow(message);
  });

  /** A cycle through `length` requests: 0 → 1 → … → length - 1 → 0. */
  function cycleMessage(length: number): string {
    const items = chain(length);
    items[length - 1].dependsOn = ["0"];
    try {
      checkDependencies(items);
    } catch (error) {
      return (error as Error).message;
    }
    return "accepted";
  }

  it.each([
    // toThrow(text) matches a substring: these compare the whole message, so a shortened name cannot hide.
    [2, "0 → 1 → 0"],
    [11, "0 → 1 → 2 → 3 → 4 → 5 → 6 → 7 → 8 → 9 → 10 → 0"],
    [12, "0 → 1 → 2 → 3 → 4 → 5 → 6 → 7 → 8 → 9 → … (1 more) → 11 → 0"],
  ])("names a cycle through %i requests in full up to 12 steps, shortened beyond", (length, cycle) => {
    expect(cycleMessage(length)).toBe(`Requests: dependsOn forms a cycle: ${cycle}`);
  });

  it("names a cycle of 50,000 requests by its first steps and its end", () => {
    const items = chain(50_000);
    items[49_999].dependsOn = ["0"];
    expect(() => checkDependencies(items)).toThrow(
      "Requests: dependsOn forms a cycle: 0 → 1 → 2 → 3 → 4 → 5 → 6 → 7 → 8 → 9 → … (49989 more) → 49999 → 0",
    );
  });
});
