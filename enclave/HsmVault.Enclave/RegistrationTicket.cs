using System.Buffers.Binary;

namespace HsmVault.Enclave;

/// <summary>
/// Carries the credential nonce from RegisterStart to RegisterFinish, sealed to the user id.
/// A fresh nonce per registration gives each record its own OPRF key, so RegisterStart cannot
/// be used as a free OPRF oracle against an existing record. The ticket also names the log
/// index committed when it was issued: RegisterFinish only accepts it while the user's leaf is
/// no newer than that, so a captured upload cannot be replayed later to reset a record.
/// Plaintext: nonce (32) || u64_be issued_at_index.
/// </summary>
internal sealed record RegistrationTicket(byte[] Nonce, ulong IssuedAtIndex)
{
    private static ReadOnlySpan<byte> AadLabel => "HsmVault-v1 registration"u8;

    public byte[] Seal(IHsmServices hsm, ReadOnlySpan<byte> userId)
    {
        byte[] plaintext = new byte[VaultRecord.NonceBytes + 8];
        Nonce.CopyTo(plaintext, 0);
        BinaryPrimitives.WriteUInt64BigEndian(plaintext.AsSpan(VaultRecord.NonceBytes), IssuedAtIndex);
        return hsm.Seal(plaintext, [.. AadLabel, .. userId]);
    }

    public static RegistrationTicket? TryUnseal(IHsmServices hsm, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> ticket)
    {
        if (!hsm.TryUnseal(ticket, [.. AadLabel, .. userId], out byte[] plaintext) || plaintext.Length != VaultRecord.NonceBytes + 8)
        {
            return null;
        }

        return new RegistrationTicket(plaintext[..VaultRecord.NonceBytes], BinaryPrimitives.ReadUInt64BigEndian(plaintext.AsSpan(VaultRecord.NonceBytes)));
    }
}
