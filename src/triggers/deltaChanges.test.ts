/** Table tests of the Delta Changes helpers that need no network: which paths are delta queries, where Graph has a "latest" token, what counts as a deletion. */
import { cleanDeltaResource, deletionOf, latestTokenFor } from "./deltaChanges";

describe("cleanDeltaResource", () => {
  it.each([
    ["/users/delta", "/users/delta"],
    ["groups/delta", "/groups/delta"],
    ["  /users/microsoft.graph.delta ", "/users/microsoft.graph.delta"],
    ["/me/mailFolders('Inbox')/messages/delta", "/me/mailFolders('Inbox')/messages/delta"],
    ["/me/drive/root/delta", "/me/drive/root/delta"],
    ["/drives/b!abc/root/delta()", "/drives/b!abc/root/delta()"],
    ["/users/delta?$select=id,displayName", "/users/delta?$select=id,displayName"],
    [
      "/me/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-02-01T00:00:00Z",
      "/me/calendarView/delta?startDateTime=2026-01-01T00:00:00Z&endDateTime=2026-02-01T00:00:00Z",
    ],
  ])("accepts %p as %p", (input, expected) => {
    expect(cleanDeltaResource(input)).toBe(expected);
  });

  it.each([
    [undefined, /^Resource: is required/],
    ["/users", /is not a delta query/],
    ["/users/deltas", /is not a delta query/],
    ["/users?$filter=delta", /is not a delta query/],
    ["https://graph.microsoft.com/v1.0/users/delta", /is a URL; enter the path only/],
    ["//evil.example.com/users/delta", /is a URL; enter the path only/],
    ["/me/calendarView/delta?startDateTime=2026-01-01T00:00:00Z", /needs startDateTime and endDateTime/],
  ])("refuses %p", (input, message) => {
    expect(() => cleanDeltaResource(input)).toThrow(message);
  });
});

describe("latestTokenFor", () => {
  it.each([
    ["/users/delta", ["$deltatoken", "latest"]],
    ["/groups/delta?$select=id", ["$deltatoken", "latest"]],
    ["/servicePrincipals/microsoft.graph.delta", ["$deltatoken", "latest"]],
    ["/me/drive/root/delta", ["token", "latest"]],
    ["/drives/b!abc/root/delta", ["token", "latest"]],
    ["/sites/contoso.sharepoint.com/drive/root/delta", ["token", "latest"]],
    ["/users/42/drive/items/01ABC/delta", ["token", "latest"]],
    ["/me/mailFolders('Inbox')/messages/delta", undefined],
    ["/users/42/messages/delta", undefined],
    ["/me/calendarView/delta?startDateTime=a&endDateTime=b", undefined],
    ["/users/42/contacts/delta", undefined],
    ["/groups/42/members/delta", undefined],
  ])("%p → %p", (resource, expected) => {
    expect(latestTokenFor(resource)).toEqual(expected);
  });
});

describe("deletionOf", () => {
  it.each([
    [{ id: "1", "@removed": { reason: "changed" } }, "changed"],
    [{ id: "2", "@removed": { reason: "deleted" } }, "deleted"],
    [{ id: "3", "@removed": {} }, "deleted"],
    [{ id: "4", name: "a.txt", deleted: { state: "deleted" } }, "deleted"],
    [{ id: "5", deleted: {} }, "deleted"],
  ])("%j is a deletion (%p)", (item, reason) => {
    expect(deletionOf(item)).toEqual({ id: item.id, reason, item });
  });

  it.each([[{ id: "6", displayName: "x" }], [{ id: "7", deleted: null }], [null], ["text"]])("%j is not a deletion", (item) => {
    expect(deletionOf(item)).toBeUndefined();
  });
});
