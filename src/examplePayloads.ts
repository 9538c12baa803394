/** What Raw Request returns for GET /me/joinedTeams: Graph's own response body under `data`. */
export const rawRequestExamplePayload = {
  data: {
    "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#teams",
    "@odata.count": 1,
    value: [
      {
        id: "172b0cce-e65d-44ce-9a49-91d9f2e8493a",
        createdDateTime: null,
        displayName: "Contoso Team",
        description: "This is a Contoso team, used to showcase the range of properties supported by this API",
        internalId: null,
        classification: null,
        specialization: null,
        visibility: null,
        webUrl: null,
        isArchived: false,
        tenantId: "b33cbe9f-8ebe-4f2a-912b-7e2a427f477f",
        isMembershipLimitedToOwners: null,
        memberSettings: null,
        guestSettings: null,
        messagingSettings: null,
        funSettings: null,
        discoverySettings: null,
        summary: null,
      },
    ],
  } as unknown,
};

/** What Fetch All Pages returns for a users delta query that ran to its end. */
export const fetchAllPagesExamplePayload = {
  data: {
    value: [
      { id: "87d349ed-44d7-43e1-9a83-5f2406dee5bd", displayName: "Adele Vance", mail: "AdeleV@contoso.com" },
      { id: "48d31887-5fad-4d73-a9f5-3c356e68a038", "@removed": { reason: "changed" } },
    ] as unknown[],
    pageCount: 2,
    "@odata.deltaLink": "https://graph.microsoft.com/v1.0/users/delta?$deltatoken=oEBwdSP6uehIAxQOWq_3Ksh_TLol6KIm3stvdc6hGhZRi1hQ7Spe__dpvm3U4zReE4CYXC2zOtaKdi7KHlUtC2CbRiBIUwOxPKLa",
    removedCount: 1,
  } as import("./client/paging").CollectedPages,
};

/** What Batch Requests returns: one answer per request, in the order given. */
export const batchRequestsExamplePayload = {
  data: [
    {
      id: "1",
      status: 200,
      headers: { "Content-Type": "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8" },
      body: { id: "48d31887-5fad-4d73-a9f5-3c356e68a038", displayName: "Megan Bowen" } as unknown,
    },
    { id: "2", status: 204, headers: {}, body: null as unknown },
  ],
};
