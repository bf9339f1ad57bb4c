using HsmVault.Protocol.V1;

namespace HsmVault.Host.Pipeline;

/// <summary>What the client listener hands each parsed request to; the vault pipeline in production.</summary>
public interface IClientRequestHandler
{
    /// <summary>Answers <paramref name="request"/>; refusals come back as Error responses, not exceptions.</summary>
    Task<ClientResponse> SubmitAsync(ClientRequest request);
}
