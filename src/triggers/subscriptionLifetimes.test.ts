/** Table tests of the lifetime table (DC change-notifications-subscription-lifetime.md, 11/07/2024): pure, no network. */
import { chooseLifetimeMinutes, subscriptionLifetime, supportedChangeTypes, UNKNOWN_RESOURCE_MINUTES } from "./subscriptionLifetimes";

describe("subscriptionLifetime", () => {
  it.each([
    ["me/mailFolders('Inbox')/messages", false, 10_080],
    ["me/mailFolders('Inbox')/messages", true, 1440],
    ["/me/messages", false, 10_080],
    ["users/8f3c/events", false, 10_080],
    ["users/8f3c/contacts", false, 10_080],
    ["me/drive/root", false, 42_300],
    ["drives/b!abc/root", false, 42_300],
    ["sites/contoso/lists/42", false, 42_300],
    ["users", false, 41_760],
    ["users", true, 41_760],
    ["groups", false, 41_760],
    ["users/8f3c", false, 41_760],
    ["security/alerts?$filter=status eq 'New'", false, 43_200],
    ["teams/t1/channels/c1/messages", false, 4320],
    ["chats/19:abc/messages", true, 4320],
    ["chats", false, 4320],
    ["teams/t1/members", false, 4320],
    ["communications/callRecords", false, 4230],
    ["groups/g1/conversations", false, 4230],
    ["communications/presences?$filter=id in ('a')", false, 60],
    ["teams/t1/schedule/shifts", false, 360],
    ["something/new", false, UNKNOWN_RESOURCE_MINUTES],
  ])("%s (resource data %p) lives at most %p minutes", (resource, rich, minutes) => {
    expect(subscriptionLifetime(resource, rich).maxMinutes).toBe(minutes);
  });
});

describe("chooseLifetimeMinutes", () => {
  it.each([
    ["users", undefined, false, 41_760],
    ["users", 60, false, 60],
    ["users", 41_760, false, 41_760],
    ["users", 41_761, false, "41761 minutes is longer than Microsoft Graph allows for user, group, other directory resources: at most 41760 minutes"],
    ["me/messages", 2000, true, "2000 minutes is longer than Microsoft Graph allows for Outlook message, event, contact, with resource data: at most 1440 minutes"],
    ["users", 0, false, "must be at least 1 minute"],
    ["something/new", 50_000, false, 50_000],
  ])("%s asking %p (resource data %p) gives %p", (resource, requested, rich, expected) => {
    expect(chooseLifetimeMinutes(resource, requested, rich)).toBe(expected);
  });
});

describe("supportedChangeTypes", () => {
  it.each([
    ["users", ["updated", "deleted"]],
    ["groups", ["updated", "deleted"]],
    ["me/drive/root", ["updated"]],
    ["sites/s1/lists/l1", ["updated"]],
    ["me/mailFolders('Inbox')/messages", ["created", "updated", "deleted"]],
    ["users/u1/events", ["created", "updated", "deleted"]],
  ])("%s supports %p", (resource, types) => {
    expect(supportedChangeTypes(resource)).toEqual(types);
  });
});
