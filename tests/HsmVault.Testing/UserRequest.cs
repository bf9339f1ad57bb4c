using Google.Protobuf;
using HsmVault.Protocol.V1;

namespace HsmVault.Testing;

/// <summary>What a test client means to send: the user it is about and the operation, before the channel seals it.</summary>
public sealed record UserRequest(ByteString UserId, VaultRequest Request)
{
    public static UserRequest For(string user, VaultRequest request) => new(ByteString.CopyFromUtf8(user), request);
}
