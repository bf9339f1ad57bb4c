using HsmVault.Host.Pipeline;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Transparency;

/// <summary>
/// Answers <see cref="FleetQuery"/> requests with the host's <see cref="FleetAnnouncement"/> and
/// attaches it to a clear BAD_REQUEST on <c>sealed_request</c> (the request did not open under this
/// fleet's channel key: what a client sealing to a retired fleet sees). Every other request goes to
/// the pipeline unchanged.
/// </summary>
public sealed class AnnouncingRequestHandler(IClientRequestHandler inner, FleetAnnouncer? announcer) : IClientRequestHandler
{
    public async Task<ClientResponse> SubmitAsync(ClientRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        FleetAnnouncement? announcement = announcer?.Current;
        if (request.FleetQuery is not null)
        {
            return announcement is null
                ? ClientErrors.Create(request.RequestId, ErrorCode.Unavailable, "this host has no validation bundle to announce; pin the fleet's keys", "fleet_query")
                : new ClientResponse { RequestId = request.RequestId, FleetAnnouncement = announcement };
        }

        ClientResponse response = await inner.SubmitAsync(request).ConfigureAwait(false);
        if (announcement is not null && response.Error is { Code: ErrorCode.BadRequest } error && error.Field == ClientRequest.SealedRequestField)
        {
            response.FleetAnnouncement = announcement;
        }

        return response;
    }
}
