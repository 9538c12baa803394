import { component } from "@prismatic-io/spectral";
import { batchRequests } from "./actions/batchRequests";
import { downloadFile } from "./actions/downloadFile";
import { fetchAllPages } from "./actions/fetchAllPages";
import { rawRequest } from "./actions/rawRequest";
import { uploadFile } from "./actions/uploadFile";
import { connections } from "./connections";
import { dataSources } from "./dataSources";
import { handleGraphError } from "./errorHook";
import { changeNotifications } from "./triggers/changeNotifications";
import { deltaChanges } from "./triggers/deltaChanges";

export default component({
  key: "ms-graph-api",
  public: false,
  display: {
    label: "Microsoft Graph API",
    description: "Interact with the Microsoft Graph API",
    iconPath: "icon.png",
    category: "Application Connectors",
  },
  hooks: { error: handleGraphError },
  actions: { rawRequest, fetchAllPages, batchRequests, uploadFile, downloadFile },
  triggers: { changeNotifications, deltaChanges },
  connections,
  dataSources,
});
