/** Table tests of the checks that refuse URL and header text that cannot reach Graph as typed. */
import { InputError } from "./errors";
import { assertHeaderValue, assertUrlText, shown, urlTextProblem } from "./wireText";

const SURROGATE_FIX = "half of a character that cannot be encoded; retype or remove it";
const CONTROL_FIX = "remove it (a pasted line break or tab?)";

describe("urlTextProblem", () => {
  it.each([
    ["a\uD800b", `contains a lone surrogate (U+D800) at position 2, ${SURROGATE_FIX}`],
    ["ab\uDBFF", `contains a lone surrogate (U+DBFF) at position 3, ${SURROGATE_FIX}`],
    ["\uDC00x", `contains a lone surrogate (U+DC00) at position 1, ${SURROGATE_FIX}`],
    ["x\uDFFF", `contains a lone surrogate (U+DFFF) at position 2, ${SURROGATE_FIX}`],
    ["\uD83D\uD83D\uDE00", `contains a lone surrogate (U+D83D) at position 1, ${SURROGATE_FIX}`],
    ["\uD83D\uDE00\uDE00", `contains a lone surrogate (U+DE00) at position 3, ${SURROGATE_FIX}`],
    ["a\tb", `contains a control character (U+0009) at position 2; ${CONTROL_FIX}`],
    ["\u0000", `contains a control character (U+0000) at position 1; ${CONTROL_FIX}`],
    ["ab\u001F", `contains a control character (U+001F) at position 3; ${CONTROL_FIX}`],
    ["a\u007F", `contains a control character (U+007F) at position 2; ${CONTROL_FIX}`],
    ["\u009Fz", `contains a control character (U+009F) at position 1; ${CONTROL_FIX}`],
    // A lone surrogate is named before a control character, wherever each is.
    ["\n\uD800", `contains a lone surrogate (U+D800) at position 2, ${SURROGATE_FIX}`],
  ])("%j: %s", (text, problem) => {
    expect(urlTextProblem(text)).toBe(problem);
  });

  it.each([[""], ["/users/Zoë😀"], ["a b~"], ["\u0020\u007E\u00A0\uD7FF\uE000"], ["\uD800\uDC00\uDBFF\uDFFF"]])("%j can be sent", (text) => {
    expect(urlTextProblem(text)).toBeUndefined();
  });
});

describe("shown", () => {
  it.each([
    ["plain", '"plain"'],
    ['a"b\n', '"a\\"b\\n"'],
    ["\u007F\u0080\u009F\u00A0", '"\\u007f\\u0080\\u009f\u00A0"'],
    ["x".repeat(200), `"${"x".repeat(200)}"`],
    ["x".repeat(201), `"${"x".repeat(200)}…"`],
  ])("%j shows as %s", (text, expected) => {
    expect(shown(text)).toBe(expected);
  });
});

describe("assertUrlText", () => {
  it("names the input, what was typed (escaped) and the problem", () => {
    const refuse = () => assertUrlText("Query Parameters", "the value of '$filter'", "a\nb");
    expect(refuse).toThrow(InputError);
    expect(refuse).toThrow(`Query Parameters: the value of '$filter' "a\\nb" contains a control character (U+000A) at position 2; ${CONTROL_FIX}`);
  });

  it("lets faithful text through", () => {
    expect(() => assertUrlText("URL", "the path", "/users/Zoë😀")).not.toThrow();
  });
});

describe("assertHeaderValue", () => {
  it.each([
    ["a\r\nb", "a line break at position 2"],
    ["ab\n", "a line break at position 3"],
    ["\u0000", "a control character (U+0000) at position 1"],
    ["x\u001F", "a control character (U+001F) at position 2"],
    ["ok\u007F", "a control character (U+007F) at position 3"],
    ["€", "the character U+20AC, which HTTP headers cannot carry (only Latin-1 text; percent-encode or Base64 it) at position 1"],
    ["ÿ\u0100", "the character U+0100, which HTTP headers cannot carry (only Latin-1 text; percent-encode or Base64 it) at position 2"],
    ["😀", "the character U+D83D, which HTTP headers cannot carry (only Latin-1 text; percent-encode or Base64 it) at position 1"],
  ])("refuses %j: %s", (value, why) => {
    const refuse = () => assertHeaderValue("Headers", "X-Note", value);
    expect(refuse).toThrow(InputError);
    expect(refuse).toThrow(`Headers: the value of 'X-Note' contains ${why}`);
  });

  it.each([[""], ["eventual"], ["a\tb c"], ["\u0020~\u007E"], ["\u0080\u0085\u009F\u00A0é\u00FF"]])("lets %j through (RFC 9110 field-value)", (value) => {
    expect(() => assertHeaderValue("Headers", "X-Note", value)).not.toThrow();
  });
});
