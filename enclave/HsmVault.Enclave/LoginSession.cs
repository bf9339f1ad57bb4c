using System.Buffers.Binary;
using HsmVault.Crypto.Opaque;

namespace HsmVault.Enclave;

/// <summary>
/// The server state between KE2 and KE3, sealed and handed to the client as <c>login_session</c>.
/// It names the record version the guess was counted against, so it is useless once the record
/// changes (a later login, a success, a deletion). Fake sessions (unknown users) have the same
/// size. Plaintext: flags (1) || u64_be record version || OPAQUE server state.
/// </summary>
internal sealed record LoginSession(bool IsFake, ulong RecordVersion, byte[] ServerState)
{
    private const int ServerStateBytes = OpaqueSizes.Hash + OpaqueSizes.SessionKey;

    private static ReadOnlySpan<byte> AadLabel => "HsmVault-v1 login session"u8;

    public byte[] Seal(IHsmServices hsm, ReadOnlySpan<byte> userId)
    {
        byte[] plaintext = new byte[1 + 8 + ServerState.Length];
        plaintext[0] = IsFake ? (byte)1 : (byte)0;
        BinaryPrimitives.WriteUInt64BigEndian(plaintext.AsSpan(1), RecordVersion);
        ServerState.CopyTo(plaintext, 9);
        try
        {
            return hsm.Seal(plaintext, AssociatedData(userId));
        }
        finally
        {
            System.Security.Cryptography.CryptographicOperations.ZeroMemory(plaintext);
        }
    }

    public static LoginSession? TryUnseal(IHsmServices hsm, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> sealedSession)
    {
        if (!hsm.TryUnseal(sealedSession, AssociatedData(userId), out byte[] plaintext))
        {
            return null;
        }

        // The server state is exactly what ServerLoginState.ToBytes wrote; any other length (a session of
        // another format) is not a session, rather than a failure of the whole batch later on.
        if (plaintext.Length != 9 + ServerStateBytes || plaintext[0] > 1)
        {
            return null;
        }

        return new LoginSession(plaintext[0] == 1, BinaryPrimitives.ReadUInt64BigEndian(plaintext.AsSpan(1)), plaintext[9..]);
    }

    private static byte[] AssociatedData(ReadOnlySpan<byte> userId) => [.. AadLabel, .. userId];
}
