/**
 * `npm start -- watch` as a test: the emulator delivers by itself to the loopback receiver, the trigger's lifecycle
 * handler subscribes and unsubscribes, and the notification of a change made in the emulator reaches the flow.
 */
import { watch } from "../runner/watch";

describe("npm start -- watch", () => {
  it.each([["users"], ["me/mailFolders('Inbox')/messages"]])("runs the whole loop on %s and deletes the subscription on exit", async (resource) => {
    const lines: string[] = [];
    const outcome = await watch(resource, { print: (line) => lines.push(line), timeoutMs: 8000 });
    expect(outcome.subscriptionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(outcome.received).toHaveLength(1);
    const [data] = outcome.received as Array<{ notifications: Array<{ subscriptionId: string; changeType: string }> }>;
    expect(data.notifications[0].subscriptionId).toBe(outcome.subscriptionId);
    expect(outcome.subscriptionsLeft).toBe(0);
    expect(lines.join("\n")).toContain("the flow receives (branch Notification, answered 202)");
    expect(lines.join("\n")).not.toMatch(/clientState/);
  });

  it("runs the loop with rich notifications: the flow gets the message itself, decrypted", async () => {
    const outcome = await watch("me/mailFolders('Inbox')/messages", { print: () => undefined, timeoutMs: 8000, rich: true });
    const [data] = outcome.received as Array<{ notifications: Array<{ contentSource: string; content: { subject: string } }> }>;
    expect(data.notifications[0]).toMatchObject({ contentSource: "decrypted", content: { subject: "Quarterly report" } });
    expect(outcome.subscriptionsLeft).toBe(0);
  });
});
