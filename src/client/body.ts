import FormData from "form-data";
import { InputError } from "./errors";

/** A body ready to send, buffered so a retry can send it again byte for byte. */
export interface PreparedBody {
  bytes: Buffer;
  /** The Content-Type the body implies; a user header may still override it (except for multipart). */
  contentType?: string;
  /** Multipart bodies carry their own boundary: their Content-Type is not overridable. */
  fixedContentType?: boolean;
}

/** Prismatic's file payload, as produced by steps that output files. */
interface FilePayload {
  data: Buffer | Uint8Array | string;
  contentType?: string;
}

export interface KeyValue {
  key: string;
  value: unknown;
}

function isFilePayload(value: unknown): value is FilePayload {
  if (!value || typeof value !== "object") return false;
  const v = value as Record<string, unknown>;
  return (
    "data" in v &&
    (Buffer.isBuffer(v.data) || v.data instanceof Uint8Array) &&
    (v.contentType === undefined || typeof v.contentType === "string")
  );
}

export function isEmptyValue(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === "string" && value.trim() === "");
}

/** Data as a body: an object is JSON, a JSON string is sent as is, other text as text/plain, a Buffer or file payload as bytes. */
export function prepareDataBody(data: unknown): PreparedBody | undefined {
  if (isEmptyValue(data)) return undefined;
  if (Buffer.isBuffer(data) || data instanceof Uint8Array) {
    return { bytes: Buffer.from(data), contentType: "application/octet-stream" };
  }
  if (isFilePayload(data)) {
    return {
      bytes: Buffer.from(data.data as Uint8Array),
      contentType: data.contentType || "application/octet-stream",
    };
  }
  if (typeof data === "string") {
    const text = data.trim();
    if ((text.startsWith("{") || text.startsWith("[")) && isJson(text)) {
      return { bytes: Buffer.from(data, "utf8"), contentType: "application/json" };
    }
    if (text.startsWith("{") || text.startsWith("[")) {
      throw new InputError("Data", "looks like JSON but does not parse; fix the JSON, or send plain text that does not start with '{' or '['");
    }
    return { bytes: Buffer.from(data, "utf8"), contentType: "text/plain; charset=utf-8" };
  }
  if (typeof data === "object" || typeof data === "number" || typeof data === "boolean") {
    return { bytes: Buffer.from(JSON.stringify(data), "utf8"), contentType: "application/json" };
  }
  throw new InputError("Data", `a ${typeof data} cannot be sent as a request body`);
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** Form Data fields and File Data files as one multipart/form-data body with its own boundary. */
export function prepareMultipartBody(
  formData: readonly KeyValue[],
  fileData: readonly KeyValue[],
  fileNames: Readonly<Record<string, string>>,
): PreparedBody | undefined {
  if (formData.length === 0 && fileData.length === 0) return undefined;
  const form = new FormData();
  for (const { key, value } of formData) {
    if (!key) throw new InputError("Form Data", "every entry needs a key");
    form.append(key, fieldText(value, "Form Data", key));
  }
  for (const { key, value } of fileData) {
    if (!key) throw new InputError("File Data", "every entry needs a key");
    const filename = fileNames[key] || key;
    if (isFilePayload(value)) {
      form.append(key, Buffer.from(value.data as Uint8Array), {
        filename,
        contentType: value.contentType || "application/octet-stream",
      });
    } else if (Buffer.isBuffer(value) || value instanceof Uint8Array) {
      form.append(key, Buffer.from(value), { filename, contentType: "application/octet-stream" });
    } else {
      form.append(key, Buffer.from(fieldText(value, "File Data", key), "utf8"), { filename });
    }
  }
  return { bytes: form.getBuffer(), contentType: form.getHeaders()["content-type"], fixedContentType: true };
}

function fieldText(value: unknown, input: string, key: string): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (typeof value === "object") return JSON.stringify(value);
  throw new InputError(input, `the value of '${key}' cannot be sent as a form field`);
}
