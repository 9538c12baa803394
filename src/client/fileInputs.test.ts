/** Table tests of the pure cleaners behind Upload File and Download File, and of the bundled QuickXorHash. */
import { InputError } from "./errors";
import { quickXorHash } from "./quickXorHash";
import {
  cleanByteRange,
  cleanChunkSize,
  cleanDestination,
  cleanUploadFile,
  MAX_UPLOAD_FRAGMENT,
  resolveUploadDestination,
} from "../inputs";

function problemOf(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error("expected an InputError");
}

describe("Chunk Size", () => {
  it.each([
    ["327680", 327_680],
    ["10485760", 10_485_760],
    ["", 10_485_760],
    [String(191 * 327_680), 62_586_880],
  ])("accepts %s", (text, bytes) => expect(cleanChunkSize(text)).toBe(bytes));

  it("names the two nearest multiples of 320 KiB", () => {
    const message = problemOf(() => cleanChunkSize("1000000"));
    expect(message).toContain("Chunk Size (bytes)");
    expect(message).toContain("983,040 (3 × 320 KiB) and 1,310,720 (4 × 320 KiB)");
  });

  it("refuses 60 MiB and more, naming the largest valid size", () => {
    expect(MAX_UPLOAD_FRAGMENT).toBe(62_586_880);
    expect(problemOf(() => cleanChunkSize(String(60 * 1024 * 1024)))).toContain("largest valid size is 62,586,880 (191 × 320 KiB)");
  });

  it("refuses a size below one unit with the smallest valid one", () => {
    expect(problemOf(() => cleanChunkSize("1000"))).toContain("nearest valid sizes are 327,680 (1 × 320 KiB)");
    expect(problemOf(() => cleanChunkSize("0"))).toContain("at least 327,680");
    expect(problemOf(() => cleanChunkSize("ten"))).toContain("not a whole number");
  });
});

describe("Byte Range", () => {
  it.each([
    ["0-1023", { start: 0, end: 1023 }],
    ["bytes=10-", { start: 10 }],
    ["-500", { suffix: 500 }],
    ["", undefined],
  ])("reads %s", (text, range) => expect(cleanByteRange(text)).toEqual(range));

  it.each(["5-1", "abc", "-", "-0", "1-2,4-5"])("refuses %s", (text) => {
    expect(problemOf(() => cleanByteRange(text))).toContain("Byte Range");
  });
});

describe("Destination and File Name", () => {
  it.each([
    ["/me/drive/root:/Reports/q3.xlsx:", undefined, { kind: "drive", itemPath: "/me/drive/root:/Reports/q3.xlsx:", name: "q3.xlsx" }],
    ["/drives/b!x/items/01PARENT:/q3.xlsx:", undefined, { kind: "drive", itemPath: "/drives/b!x/items/01PARENT:/q3.xlsx:", name: "q3.xlsx" }],
    ["/sites/site1/drive/root:/Shared/a b.txt:", undefined, { kind: "drive", itemPath: "/sites/site1/drive/root:/Shared/a b.txt:", name: "a b.txt" }],
    ["/me/drive/root", "q3.xlsx", { kind: "drive", itemPath: "/me/drive/root:/q3.xlsx:", name: "q3.xlsx" }],
    ["/drives/d1/items/01FOLDER", "q3.xlsx", { kind: "drive", itemPath: "/drives/d1/items/01FOLDER:/q3.xlsx:", name: "q3.xlsx" }],
    ["/me/drive/root:/Reports:/", "q3.xlsx", { kind: "drive", itemPath: "/me/drive/root:/Reports/q3.xlsx:", name: "q3.xlsx" }],
    ["/me/messages/AAMk=", "a.pdf", { kind: "attachment", parentPath: "/me/messages/AAMk=", name: "a.pdf" }],
    ["/users/u1/events/AAMk/attachments", "a.pdf", { kind: "attachment", parentPath: "/users/u1/events/AAMk", name: "a.pdf" }],
  ])("%s with %s", (destination, fileName, expected) => {
    expect(resolveUploadDestination(cleanDestination(destination), fileName)).toEqual(expected);
  });

  it("refuses what would reach another resource or lacks a name", () => {
    expect(problemOf(() => cleanDestination("/me/drive/root:/../x:"))).toContain("Destination");
    expect(problemOf(() => cleanDestination("/me/drive/root:/x?y:"))).toContain("Destination");
    expect(problemOf(() => cleanDestination("me/drive"))).toContain("must be a path");
    expect(problemOf(() => resolveUploadDestination("/me/drive/root", undefined))).toContain("File Name");
    expect(problemOf(() => resolveUploadDestination("/me/messages/1", undefined))).toContain("File Name");
    expect(problemOf(() => resolveUploadDestination("/me/drive/root:/a.txt:", "b.txt"))).toContain("differs");
    expect(problemOf(() => resolveUploadDestination("/me/contacts/1", "a"))).toContain("neither a drive path");
  });
});

describe("File", () => {
  it("keeps a Buffer or a file payload's data as the same memory, never a copy", () => {
    const bytes = Buffer.from("abc");
    expect(cleanUploadFile(bytes).bytes).toBe(bytes);
    const payload = cleanUploadFile({ data: bytes, contentType: "text/csv" });
    expect(payload.bytes).toBe(bytes);
    expect(payload.contentType).toBe("text/csv");
    const view = new Uint8Array(bytes.buffer, bytes.byteOffset, 3);
    expect(cleanUploadFile(view).bytes.buffer).toBe(bytes.buffer);
    expect(cleanUploadFile("héllo").bytes.toString("utf8")).toBe("héllo");
    expect(problemOf(() => cleanUploadFile(undefined))).toContain("File");
  });
});

describe("quickXorHash", () => {
  // The values the earlier one-pass-per-position version (code-snippets/quickxorhash.md, ported) gave.
  it.each([
    ["", "AAAAAAAAAAAAAAAAAAAAAAAAAAA="],
    ["hello world", "aCgDG9jwBhDc4Q1yawMZAAAAAAA="],
  ])("hashes %j", (text, hash) => expect(quickXorHash(Buffer.from(text))).toBe(hash));

  it("folds bytes 160 apart into the same bit position", () => {
    const a = Buffer.alloc(321);
    a[0] = 1;
    a[160] = 1;
    const b = Buffer.alloc(321);
    expect(quickXorHash(a)).toBe(quickXorHash(b));
    a[161] = 1;
    expect(quickXorHash(a)).not.toBe(quickXorHash(b));
  });
});
