using Google.Protobuf;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Pipeline;

/// <summary>
/// The checks the host makes before a request enters a batch: an operation is set and its user
/// id is present and not too long. Everything else is the enclave's to judge.
/// </summary>
public static class ClientRequestCheck
{
    /// <summary>The user id the request names, or an Error response saying which field is wrong.</summary>
    public static (ByteString? UserId, ClientResponse? Error) UserIdOf(ClientRequest request, int maxUserIdBytes)
    {
        ArgumentNullException.ThrowIfNull(request);
        (ByteString? userId, string field) = request.NamedUser();
        if (userId is null)
        {
            return (null, ClientErrors.Create(request.RequestId, ErrorCode.BadRequest, "operation: no operation is set", field));
        }

        if (userId.IsEmpty)
        {
            return (null, ClientErrors.Create(request.RequestId, ErrorCode.BadRequest, $"{field}: must not be empty", field));
        }

        if (userId.Length > maxUserIdBytes)
        {
            return (null, ClientErrors.Create(request.RequestId, ErrorCode.TooLarge, $"{field}: {userId.Length} bytes, at most {maxUserIdBytes}", field));
        }

        return (userId, null);
    }
}
