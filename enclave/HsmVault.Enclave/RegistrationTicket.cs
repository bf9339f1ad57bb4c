namespace HsmVault.Enclave;

/// <summary>
/// Carries the credential nonce from RegisterStart to RegisterFinish, sealed to the user id.
/// A fresh nonce per registration gives each record its own OPRF key, so RegisterStart cannot
/// be used as a free OPRF oracle against an existing record.
/// </summary>
internal static class RegistrationTicket
{
    private static ReadOnlySpan<byte> AadLabel => "HsmVault-v1 registration"u8;

    public static byte[] Seal(IHsmServices hsm, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> nonce) =>
        hsm.Seal(nonce, [.. AadLabel, .. userId]);

    public static byte[]? TryUnseal(IHsmServices hsm, ReadOnlySpan<byte> userId, ReadOnlySpan<byte> ticket) =>
        hsm.TryUnseal(ticket, [.. AadLabel, .. userId], out byte[] nonce) && nonce.Length == VaultRecord.NonceBytes ? nonce : null;
}
