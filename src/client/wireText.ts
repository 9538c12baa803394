/**
 * Text that goes into a URL or a header must reach Graph exactly as typed. These checks refuse, with the
 * input's label, what cannot: a lone UTF-16 surrogate (encodeURIComponent throws a bare URIError on it, and
 * the URL parser silently turns it into U+FFFD), control characters, and header values outside RFC 9110.
 */
import { InputError } from "./errors";

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// C0, DEL and C1: invisible, and the URL parser drops tab and line breaks without a word.
// eslint-disable-next-line no-control-regex -- control characters are exactly what this refuses
const CONTROL = /[\u0000-\u001F\u007F-\u009F]/;
// RFC 9110 §5.5: field-value is HTAB, SP, VCHAR and obs-text (0x80-0xFF); Node refuses anything above 0xFF.
const OUTSIDE_FIELD_VALUE = /[^\t\u0020-\u007E\u0080-\u00FF]/;

function codePoint(ch: string): string {
  return `U+${ch.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`;
}

/** JSON-quoted, so an invisible character shows as an escape in the error. */
export function shown(text: string): string {
  const quoted = JSON.stringify(text.length > 200 ? `${text.slice(0, 200)}…` : text);
  // JSON escapes C0 and lone surrogates only; DEL and C1 are just as invisible.
  return quoted.replace(/[\u007F-\u009F]/g, (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** Why `text` cannot be sent faithfully in a URL, or undefined when it can. */
export function urlTextProblem(text: string): string | undefined {
  const lone = LONE_SURROGATE.exec(text);
  if (lone) return `contains a lone surrogate (${codePoint(lone[0])}) at position ${lone.index + 1}, half of a character that cannot be encoded; retype or remove it`;
  const control = CONTROL.exec(text);
  if (control) return `contains a control character (${codePoint(control[0])}) at position ${control.index + 1}; remove it (a pasted line break or tab?)`;
  return undefined;
}

/** Refuses URL text (a path, a query key or value) that cannot be sent as typed. */
export function assertUrlText(label: string, what: string, text: string): void {
  const problem = urlTextProblem(text);
  if (problem) throw new InputError(label, `${what} ${shown(text)} ${problem}`);
}

/** Refuses a header value that HTTP cannot carry as typed. */
export function assertHeaderValue(label: string, name: string, value: string): void {
  const bad = OUTSIDE_FIELD_VALUE.exec(value);
  if (!bad) return;
  const why = /[\r\n]/.test(bad[0])
    ? "a line break"
    : CONTROL.test(bad[0])
      ? `a control character (${codePoint(bad[0])})`
      : `the character ${codePoint(bad[0])}, which HTTP headers cannot carry (only Latin-1 text; percent-encode or Base64 it)`;
  throw new InputError(label, `the value of '${name}' contains ${why} at position ${bad.index + 1}`);
}
