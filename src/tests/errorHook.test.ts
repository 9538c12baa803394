/**
 * The error hook's own masking: it runs without the connection, so it cannot know the token; it masks anything
 * after "Bearer" and anything shaped like a JWT, in every text field of the error, and strips axios' request config.
 */
import { GraphPagingError, GraphRequestError } from "../client/errors";
import { handleGraphError } from "../errorHook";

// A JWT-shaped token (header.payload.signature, base64url), as Entra issues them; built here, so no token-shaped
// literal sits in the repo.
const b64url = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");
const JWT = [b64url({ typ: "JWT", alg: "RS256" }), b64url({ aud: "https://graph.microsoft.com" }), "c2lnbmF0dXJlLWJ5dGVz"].join(".");

describe("handleGraphError", () => {
  it("masks a bearer token and a bare JWT in a Graph error's message and body, keeping what a flow branches on", () => {
    const error = new GraphRequestError({
      status: 401,
      method: "GET",
      url: "https://graph.microsoft.com/v1.0/me",
      code: "InvalidAuthenticationToken",
      graphMessage: `Bearer ${JWT} is not valid`,
      body: { error: { code: "InvalidAuthenticationToken", message: `token ${JWT}`, list: [`Authorization: Bearer abc.def-ghi`] } },
    });
    const out = handleGraphError(error) as GraphRequestError;
    expect(out).toBe(error);
    expect(out.message).toMatch(/^Microsoft Graph 401 InvalidAuthenticationToken: Bearer \[REDACTED\] is not valid \[GET https:\/\/graph\.microsoft\.com\/v1\.0\/me\]/);
    expect(out.graphMessage).toBe("Bearer [REDACTED] is not valid");
    expect(out.data).toEqual({ error: { code: "InvalidAuthenticationToken", message: "token [REDACTED]", list: ["Authorization: Bearer [REDACTED]"] } });
    expect(out).toMatchObject({ status: 401, code: "InvalidAuthenticationToken" });
    expect(JSON.stringify({ m: out.message, s: out.stack, ...out })).not.toMatch(/eyJ0eXAi|abc\.def-ghi/);
  });

  it("drops an axios error's request config, Authorization header included", () => {
    const axiosLike = Object.assign(new Error(`Request failed with Bearer ${JWT}`), {
      isAxiosError: true,
      config: { headers: { Authorization: `Bearer ${JWT}` } },
    });
    const out = handleGraphError(axiosLike) as Error;
    expect(out).not.toBe(axiosLike);
    expect(out.message).toBe("Request failed with Bearer [REDACTED]");
    expect("config" in out).toBe(false);
    expect(JSON.stringify({ ...out, m: out.message })).not.toContain(JWT);
  });

  it("masks any other error's message, fields and cause", () => {
    const cause = new Error(`echoed ${JWT}`);
    const paging = new GraphPagingError(2, 10, "https://graph.microsoft.com/v1.0/users?$skiptoken=x", { value: [`${JWT}`] }, cause);
    const out = handleGraphError(paging) as GraphPagingError;
    expect(out.message).toContain("echoed [REDACTED]");
    expect(out.data).toEqual({ value: ["[REDACTED]"] });
    expect(out.cause.message).toBe("echoed [REDACTED]");
    expect(out.cause).toBeInstanceOf(Error);
    expect(out).toMatchObject({ page: 2, itemsRead: 10 });

    const plain = handleGraphError(new TypeError(`bad Bearer ${JWT}`)) as Error;
    expect(plain).toBeInstanceOf(TypeError);
    expect(plain.message).toBe("bad Bearer [REDACTED]");
  });

  it("leaves text without a token alone, and non-errors as they are", () => {
    const error = new Error("Header: the value of 'X' contains a line break at position 3");
    expect((handleGraphError(error) as Error).message).toBe("Header: the value of 'X' contains a line break at position 3");
    expect(handleGraphError("just text")).toBe("just text");
  });
});
