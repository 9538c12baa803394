import { action } from "@prismatic-io/spectral";
import { downloadFile as download } from "../client/download";
import { downloadFileInputs } from "../inputs";
import { graphClientFor } from "./clientOptions";

export const downloadFile = action({
  display: {
    label: "Download File",
    description:
      "Download a OneDrive or SharePoint file (or part of it) or a mail attachment as a file the next step can save or upload, resuming after a dropped connection",
  },
  inputs: downloadFileInputs,
  perform: async (context, params) => {
    // Every answer of this step is bounded by Max File Size: the file itself is the largest of them.
    const client = graphClientFor(context, { ...params, maxResponseBytes: Math.max(params.maxBytes, params.maxResponseBytes) });
    const file = await download(client, { item: params.item, range: params.range, maxBytes: params.maxBytes, logger: context.logger });
    context.logger.info(`Download File: '${file.fileName}', ${file.data.length} of ${file.fileSize} bytes (${file.contentType})`);
    // A Buffer with its content type is Prismatic's file; the name rides in Content-Disposition (RFC 6266).
    return {
      data: file.data,
      contentType: file.contentType,
      headers: { "Content-Disposition": `attachment; filename*=UTF-8''${encodeURIComponent(file.fileName)}` },
    };
  },
  examplePayload: {
    data: Buffer.from("Quarter,Revenue\nQ3,1200000\n"),
    contentType: "text/csv",
    headers: { "Content-Disposition": "attachment; filename*=UTF-8''q3.csv" },
  },
});
