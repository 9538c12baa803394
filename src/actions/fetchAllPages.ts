import { action } from "@prismatic-io/spectral";
import { collectPages } from "../client/paging";
import { fetchAllPagesInputs } from "../inputs";
import { fetchAllPagesExamplePayload } from "../examplePayloads";
import { graphClientFor } from "./clientOptions";

export const fetchAllPages = action({
  display: {
    label: "Fetch All Pages",
    description:
      "Read every page of a Microsoft Graph collection or delta query by following @odata.nextLink, and return all items in one list",
  },
  inputs: fetchAllPagesInputs,
  perform: async (context, params) => {
    const client = graphClientFor(context, params);
    const data = await collectPages(
      client,
      { url: params.url, query: params.queryParams, headers: params.headers },
      {
        maxPages: params.maxPages,
        maxItems: params.maxItems,
        restartOnResync: params.restartOnResync,
        logger: context.logger,
      },
    );
    return { data };
  },
  examplePayload: fetchAllPagesExamplePayload,
});
