import { action } from "@prismatic-io/spectral";
import { BatchItemResult, INVALID_BATCH_RESPONSE, normalizeBatchRequests, runBatch } from "../client/batch";
import { GraphBatchError, readGraphErrorBody } from "../client/errors";
import { batchRequestsInputs } from "../inputs";
import { batchRequestsExamplePayload } from "../examplePayloads";
import { graphClientFor } from "./clientOptions";

export const batchRequests = action({
  display: {
    label: "Batch Requests",
    description:
      "Send many requests to Microsoft Graph through JSON batching ($batch), 20 per call, resending throttled ones, and get one answer per request in the order given",
  },
  inputs: batchRequestsInputs,
  perform: async (context, params) => {
    const client = graphClientFor(context, params);
    const items = normalizeBatchRequests(params.requests, client, params.apiVersion);
    const results = await runBatch(client, items, {
      chunkSize: params.batchSize,
      concurrency: params.concurrency,
      maxThrottleRetries: params.maxThrottleRetries,
      maxRetryAfterMs: params.maxRetryAfterSeconds * 1000,
      logger: context.logger,
    });
    const failed = results.filter((r) => r.status >= 400);
    if (failed.length > 0 && params.failOnItemError) {
      const summary = failed.map(describeFailure).join(", ");
      throw new GraphBatchError(
        `Microsoft Graph $batch: ${failed.length} of ${results.length} requests failed: ${summary}. ` +
          "Set Fail On Failed Requests to false to get every answer in the output instead.",
        results,
      );
    }
    return { data: results };
  },
  examplePayload: batchRequestsExamplePayload,
});

/** `'id' status code`; an answer the connector found unusable also says why, since Graph said nothing about it. */
function describeFailure(result: BatchItemResult): string {
  const { code, message } = readGraphErrorBody(result.body);
  const why = code === INVALID_BATCH_RESPONSE && message ? ` (${message})` : "";
  return `'${result.id}' ${result.status}${code ? ` ${code}` : ""}${why}`;
}
