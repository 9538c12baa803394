/**
 * Microsoft's clouds: each has its own Graph host and sign-in host, and a token from one is refused by
 * another ("invalid audience"). learn.microsoft.com/graph/deployments
 */
export interface MicrosoftCloud {
  key: string;
  label: string;
  /** Graph origin; also the value of the connections' Microsoft Cloud input, so templates can build `{cloud}/.default`. */
  graph: string;
  /** Microsoft Entra sign-in origin. */
  login: string;
}

export const CLOUDS: readonly MicrosoftCloud[] = [
  { key: "global", label: "Global (graph.microsoft.com)", graph: "https://graph.microsoft.com", login: "https://login.microsoftonline.com" },
  { key: "usgov-l4", label: "US Government L4 / GCC High (graph.microsoft.us)", graph: "https://graph.microsoft.us", login: "https://login.microsoftonline.us" },
  { key: "usgov-l5-dod", label: "US Government L5 / DoD (dod-graph.microsoft.us)", graph: "https://dod-graph.microsoft.us", login: "https://login.microsoftonline.us" },
  { key: "china", label: "China, operated by 21Vianet (microsoftgraph.chinacloudapi.cn)", graph: "https://microsoftgraph.chinacloudapi.cn", login: "https://login.chinacloudapi.cn" },
];

export const GLOBAL_CLOUD = CLOUDS[0];

/** The cloud a connection names: by Graph origin (the input's value) or key; empty means Global, as before the input existed. */
export function findCloud(value: unknown): MicrosoftCloud | undefined {
  if (value === undefined || value === null || (typeof value === "string" && value.trim() === "")) return GLOBAL_CLOUD;
  if (typeof value !== "string") return undefined;
  const text = value.trim().replace(/\/+$/, "").toLowerCase();
  return CLOUDS.find((c) => c.graph === text || c.key === text || c.graph === `https://${text}`);
}

/** The cloud whose sign-in host this is, for error messages. */
export function cloudsSigningInAt(origin: string): MicrosoftCloud[] {
  return CLOUDS.filter((c) => c.login === origin);
}

export function host(origin: string): string {
  return origin.replace(/^https?:\/\//, "");
}
