/**
 * Scopes of the delegated flows (authorize, authorization code, refresh token, device code).
 * ED = MicrosoftDocs/entra-docs, docs/identity-platform/.
 */
import { err } from "./errors";
import { GRAPH_APP_ID, GUID, normalizeResource, type GrantedScopes, type IdentityState, type TenantRef } from "./state";

const OIDC_SCOPES = ["openid", "profile", "email", "offline_access"];

/** Bare names and `{graph}/Name` are Graph permissions (ED scopes-oidc.md: no resource means Graph). */
export function parseUserScopes(state: IdentityState, raw: string, ref: TenantRef): GrantedScopes {
  const graph = state.graph;
  const result: GrantedScopes = { graph: [], oidc: [] };
  const seen = new Set<string>();
  let hasDefault = false;
  for (const scope of raw.split(/\s+/).filter(Boolean)) {
    const lower = scope.toLowerCase();
    if (seen.has(lower)) continue;
    seen.add(lower);
    if (OIDC_SCOPES.includes(lower)) {
      result.oidc.push(lower);
      continue;
    }
    let permission = scope;
    const slash = scope.lastIndexOf("/");
    if (slash >= 0) {
      const resource = scope.slice(0, slash);
      permission = scope.slice(slash + 1);
      const normalized = normalizeResource(resource);
      if (permission === "") throw err.scopeInvalid(raw);
      if (normalized !== graph && normalized !== GRAPH_APP_ID) {
        if (resource.includes("://") || GUID.test(normalized)) throw err.resourceNotFound(normalized, state.directoryName(ref));
        throw err.scopeInvalid(raw);
      }
    }
    if (permission.toLowerCase() === ".default") {
      if (slash < 0) throw err.scopeInvalid(raw);
      hasDefault = true;
      continue;
    }
    result.graph.push(permission);
  }
  if (hasDefault) {
    // [3p] observed: .default can't be mixed with named permissions of the same resource.
    if (result.graph.length > 0) throw err.scopeInvalid(raw, " .default scope can't be combined with resource-specific scopes.");
    result.graph.push(`${graph}/.default`);
  }
  return result;
}

export function scopeList(s: GrantedScopes): string[] {
  return [...s.graph, ...s.oidc];
}

/** Requested scopes must be within the granted ones (ED auth-code doc: "equivalent to or a subset"); `.default` means everything granted. */
export function narrowScopes(graph: string, requested: GrantedScopes, granted: GrantedScopes): GrantedScopes | undefined {
  const grantedGraph = new Set(granted.graph.map((p) => p.toLowerCase()));
  let graphScopes: string[];
  if (requested.graph.length === 1 && requested.graph[0] === `${graph}/.default`) {
    graphScopes = [...granted.graph];
  } else {
    if (requested.graph.some((p) => !grantedGraph.has(p.toLowerCase()))) return undefined;
    graphScopes = requested.graph;
  }
  return { graph: graphScopes, oidc: requested.oidc };
}
