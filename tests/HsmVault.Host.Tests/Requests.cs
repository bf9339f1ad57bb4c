using Google.Protobuf;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

/// <summary>Client requests for tests; the byte fields are placeholders the fake enclave understands.</summary>
internal static class Requests
{
    private static long _nextId;

    public static ClientRequest RegisterStart(string user) => new()
    {
        RequestId = Next(),
        RegisterStart = new RegisterStart { UserId = ByteString.CopyFromUtf8(user), RegistrationRequest = ByteString.CopyFrom(new byte[33]) },
    };

    public static ClientRequest RegisterFinish(string user, string blob) => new()
    {
        RequestId = Next(),
        RegisterFinish = new RegisterFinish
        {
            UserId = ByteString.CopyFromUtf8(user),
            RegistrationSession = ByteString.CopyFrom(new byte[32]),
            RegistrationRecord = ByteString.CopyFrom(new byte[129]),
            EncryptedKeyBlob = ByteString.CopyFromUtf8(blob),
        },
    };

    public static ClientRequest LoginStart(string user) => new()
    {
        RequestId = Next(),
        LoginStart = new LoginStart { UserId = ByteString.CopyFromUtf8(user), Ke1 = ByteString.CopyFrom(new byte[96]) },
    };

    public static ClientRequest LoginFinish(string user, string ke3, LoginAction action = LoginAction.Recover) => new()
    {
        RequestId = Next(),
        LoginFinish = new LoginFinish { UserId = ByteString.CopyFromUtf8(user), LoginSession = ByteString.CopyFrom(new byte[32]), Ke3 = ByteString.CopyFromUtf8(ke3), Action = action },
    };

    public static ClientRequest Status(string user) => new()
    {
        RequestId = Next(),
        Status = new StatusQuery { UserId = ByteString.CopyFromUtf8(user) },
    };

    private static ulong Next() => (ulong)Interlocked.Increment(ref _nextId);
}
