using HsmVault.Host.Pipeline;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

/// <summary>Sends a sealed request through any request handler and opens the answer.</summary>
internal static class RequestHandlerExtensions
{
    public static async Task<VaultResponse> ExchangeAsync(this IClientRequestHandler handler, ClientRequest request)
    {
        ArgumentNullException.ThrowIfNull(handler);
        ClientResponse response = await handler.SubmitAsync(request);
        return TestChannel.Open(request, response);
    }
}
