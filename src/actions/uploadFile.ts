import { action } from "@prismatic-io/spectral";
import { uploadFile as upload } from "../client/uploadSession";
import { resolveUploadDestination, uploadFileInputs } from "../inputs";
import { graphClientFor } from "./clientOptions";

export const uploadFile = action({
  display: {
    label: "Upload File",
    description:
      "Upload a file of any size to OneDrive or SharePoint, or attach it to an Outlook message or event, resuming after network failures and checking the stored file's hash",
  },
  inputs: uploadFileInputs,
  perform: async (context, params) => {
    const destination = resolveUploadDestination(params.destination, params.fileName);
    const client = graphClientFor(context, params);
    const result = await upload(client, {
      destination,
      content: params.file,
      conflictBehavior: params.conflictBehavior,
      chunkSize: params.chunkSize,
      logger: context.logger,
    });
    return { data: result.kind === "drive" ? result.item : result.attachment };
  },
  examplePayload: {
    data: {
      id: "01BYE5RZ6QN3ZWBTUFOFD3GSPGOHDJD36K",
      name: "q3.xlsx",
      size: 26214400,
      webUrl: "https://contoso-my.sharepoint.com/personal/adele_contoso_com/Documents/Reports/q3.xlsx",
      file: { mimeType: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", hashes: { quickXorHash: "aCgDG9jwBhDc4Q1yawMZAAAAAAA=" } },
      parentReference: { driveId: "b!-RIj2DuyvEyV1T4NlOaMHk8XkS_I8MdFlUCq1BlcjgmhRfAj3-Z8RY2VpuvV_tpd", path: "/drive/root:/Reports" },
    },
  },
});
