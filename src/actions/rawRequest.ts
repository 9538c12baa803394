import { action } from "@prismatic-io/spectral";
import { prepareDataBody, prepareMultipartBody } from "../client/body";
import { InputError } from "../client/errors";
import { graphClientFor } from "./clientOptions";
import { rawRequestInputs } from "../inputs";
import { rawRequestExamplePayload } from "../examplePayloads";

export const rawRequest = action({
  display: {
    label: "Raw Request",
    description: "Send raw HTTP request to Microsoft Graph API",
  },
  inputs: rawRequestInputs,
  perform: async (context, params) => {
    const dataBody = prepareDataBody(params.data);
    const multipartBody = prepareMultipartBody(params.formData, params.fileData, params.fileDataFileNames);
    if (dataBody && multipartBody) {
      throw new InputError("Data", "cannot be combined with Form Data or File Data; send one kind of body");
    }
    const client = graphClientFor(context, params);
    const response = await client.request({
      method: params.method,
      url: params.url,
      query: params.queryParams,
      headers: params.headers,
      body: dataBody ?? multipartBody,
      responseType: params.responseType,
    });
    // A Buffer with its content type is Prismatic's file: the next step can save or upload it.
    if (params.responseType === "arraybuffer") {
      return { data: response.data as Buffer, contentType: response.contentType ?? "application/octet-stream" };
    }
    return { data: response.data };
  },
  examplePayload: rawRequestExamplePayload,
});
