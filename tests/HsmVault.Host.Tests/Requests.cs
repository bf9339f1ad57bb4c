using Google.Protobuf;
using HsmVault.Protocol.V1;

namespace HsmVault.Host.Tests;

/// <summary>
/// Client requests for tests, sealed to <see cref="TestChannel.Key"/> the way a client seals them;
/// the byte fields inside are placeholders <see cref="FakeEnclave"/> understands. Open an answer
/// with <see cref="TestChannel.Open"/> (or <see cref="RequestHandlerExtensions.ExchangeAsync"/>).
/// </summary>
internal static class Requests
{
    private static long _nextId;

    public static ClientRequest RegisterStart(string user) =>
        Seal(user, new VaultRequest { RegisterStart = new RegisterStart { RegistrationRequest = ByteString.CopyFrom(new byte[33]) } });

    public static ClientRequest RegisterFinish(string user, string blob) => Seal(user, new VaultRequest
    {
        RegisterFinish = new RegisterFinish
        {
            RegistrationSession = ByteString.CopyFrom(new byte[32]),
            RegistrationRecord = ByteString.CopyFrom(new byte[129]),
            EncryptedKeyBlob = ByteString.CopyFromUtf8(blob),
        },
    });

    public static ClientRequest LoginStart(string user) =>
        Seal(user, new VaultRequest { LoginStart = new LoginStart { Ke1 = ByteString.CopyFrom(new byte[96]) } });

    public static ClientRequest LoginFinish(string user, string ke3, LoginAction action = LoginAction.Recover) =>
        Seal(user, new VaultRequest { LoginFinish = new LoginFinish { LoginSession = ByteString.CopyFrom(new byte[32]), Ke3 = ByteString.CopyFromUtf8(ke3), Action = action } });

    public static ClientRequest Status(string user) => Seal(user, new VaultRequest { Status = new StatusQuery() });

    /// <summary>A request whose operation is sealed for <paramref name="user"/> to <paramref name="channelPublicKey"/> (default: the test fleet's key).</summary>
    public static ClientRequest Seal(string user, VaultRequest operation, byte[]? channelPublicKey = null) =>
        TestChannel.Seal(Next(), ByteString.CopyFromUtf8(user), operation, channelPublicKey);

    private static ulong Next() => (ulong)Interlocked.Increment(ref _nextId);
}
