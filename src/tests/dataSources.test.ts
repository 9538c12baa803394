/** The configuration wizard's picklists, run through the harness against the emulator. */
import { GROUPS, TEAMS } from "../emulator/tenant";
import { connectionFor, failureOf, harness, useEmulator } from "./support";

const env = useEmulator({ users: 1200 });

async function picklist(key: string, params: Record<string, unknown> = {}) {
  const result = (await harness.dataSource(key, { connection: connectionFor(env.emulator.token), ...params }, { logger: env.logger })) as {
    result: Array<{ key: string; label: string }>;
  };
  return result.result;
}

describe("picklists", () => {
  it("lists every user across pages, labelled with name and sign-in name, sorted", async () => {
    const users = await picklist("selectUser");
    expect(users).toHaveLength(1200);
    expect(users[0].label).toMatch(/^.+ \(.+@.+\)$/);
    expect([...users].sort((a, b) => a.label.localeCompare(b.label))).toEqual(users);
    expect(env.graphRequests().length).toBeGreaterThan(1);
    expect(env.graphRequests()[0].url).toBe("/v1.0/users?$select=id,displayName,userPrincipalName");
  });

  it("lists groups and teams", async () => {
    const groups = await picklist("selectGroup");
    const teams = await picklist("selectTeam");
    expect(groups).toHaveLength(GROUPS.length);
    expect(teams).toHaveLength(TEAMS.length);
    expect(teams.every((t) => groups.some((g) => g.key === t.key))).toBe(true);
  });

  it("lists the channels of the chosen team", async () => {
    const [team] = await picklist("selectTeam");
    env.emulator.reset();
    const channels = await picklist("selectChannel", { team: team.key });
    expect(channels.map((c) => c.label)).toContain("General");
    expect(env.graphRequests()[0].url).toBe(`/v1.0/teams/${team.key}/channels?$select=id,displayName,membershipType`);
  });

  it("lists any collection with the chosen label and key fields", async () => {
    const items = await picklist("selectFromCollection", { path: "/groups", labelField: "mail", keyField: "id" });
    expect(items.map((i) => i.key).sort()).toEqual(GROUPS.map((g) => g.id).sort());
    expect(items.find((i) => i.key === GROUPS[0].id)?.label).toBe(GROUPS[0].mail);
    expect(env.graphRequests()[0].url).toBe("/v1.0/groups?$select=id,mail");
  });

  it("names the input when the path is wrong", async () => {
    const error = await failureOf(picklist("selectFromCollection", { path: "https://evil.example.com/x" }));
    expect(error.message).toMatch(/^Collection Path: /);
    const notCollection = await failureOf(picklist("selectFromCollection", { path: "/me" }));
    expect(notCollection.message).toMatch(/^Collection Path: '\/me' did not answer with a Graph collection/);
  });
});
