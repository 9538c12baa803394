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
