using HsmVault.Protocol.V1;

namespace HsmVault.Host.Pipeline;

/// <summary>Builds the typed <see cref="Error"/> responses the host itself sends.</summary>
public static class ClientErrors
{
    /// <summary>An Error response for request <paramref name="requestId"/>.</summary>
    public static ClientResponse Create(ulong requestId, ErrorCode code, string message, string field = "") => new()
    {
        RequestId = requestId,
        Error = new Error { Code = code, Message = message, Field = field },
    };
}
