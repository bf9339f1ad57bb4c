using Google.Protobuf;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Pipeline;

/// <summary>
/// The checks the host makes before a request enters a batch, on the only parts it can see: the
/// user id is present and not too long, and the sealed operation has the shape of one (a 65-byte
/// encapsulated key, a non-empty ciphertext). Whether it opens is the enclave's to judge.
/// </summary>
public static class ClientRequestCheck
{
    /// <summary>Bytes of an HPKE DHKEM(P-256) encapsulated key.</summary>
    public const int EncapsulatedKeyBytes = 65;

    /// <summary>The user id the request names, or an Error response saying which field is wrong.</summary>
    public static (ByteString? UserId, ClientResponse? Error) UserIdOf(ClientRequest request, int maxUserIdBytes)
    {
        ArgumentNullException.ThrowIfNull(request);
        ulong id = request.RequestId;
        if (request.UserId.IsEmpty)
        {
            return (null, ClientErrors.Create(id, ErrorCode.BadRequest, $"{ClientRequest.UserIdField}: must not be empty", ClientRequest.UserIdField));
        }

        if (request.UserId.Length > maxUserIdBytes)
        {
            return (null, ClientErrors.Create(id, ErrorCode.TooLarge, $"{ClientRequest.UserIdField}: {request.UserId.Length} bytes, at most {maxUserIdBytes}", ClientRequest.UserIdField));
        }

        if (request.EncapsulatedKey.Length != EncapsulatedKeyBytes)
        {
            return (null, ClientErrors.Create(id, ErrorCode.BadRequest, $"{ClientRequest.EncapsulatedKeyField}: {request.EncapsulatedKey.Length} bytes, expected {EncapsulatedKeyBytes}", ClientRequest.EncapsulatedKeyField));
        }

        if (request.SealedRequest.IsEmpty)
        {
            return (null, ClientErrors.Create(id, ErrorCode.BadRequest, $"{ClientRequest.SealedRequestField}: must not be empty", ClientRequest.SealedRequestField));
        }

        return (request.UserId, null);
    }
}
