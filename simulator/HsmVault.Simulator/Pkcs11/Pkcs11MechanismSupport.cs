using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>What a token reports for one mechanism (C_GetMechanismInfo), reduced to what the check looks at.</summary>
internal sealed record Pkcs11MechanismSupport(Pkcs11MechanismUse Uses, ulong MinKeySize, ulong MaxKeySize)
{
    internal static Pkcs11MechanismSupport From(IMechanismInfo info)
    {
        IMechanismFlags flags = info.MechanismFlags;
        Pkcs11MechanismUse uses = Pkcs11MechanismUse.None;
        uses |= flags.Encrypt ? Pkcs11MechanismUse.Encrypt : 0;
        uses |= flags.Decrypt ? Pkcs11MechanismUse.Decrypt : 0;
        uses |= flags.Sign ? Pkcs11MechanismUse.Sign : 0;
        uses |= flags.Generate ? Pkcs11MechanismUse.Generate : 0;
        uses |= flags.GenerateKeyPair ? Pkcs11MechanismUse.GenerateKeyPair : 0;
        uses |= flags.Derive ? Pkcs11MechanismUse.Derive : 0;
        uses |= flags.Wrap ? Pkcs11MechanismUse.Wrap : 0;
        uses |= flags.Unwrap ? Pkcs11MechanismUse.Unwrap : 0;
        return new Pkcs11MechanismSupport(uses, info.MinKeySize, info.MaxKeySize);
    }

    /// <summary>The CKF_ names of <paramref name="uses"/>, for messages.</summary>
    internal static string FlagNames(Pkcs11MechanismUse uses) =>
        string.Join(", ", Enum.GetValues<Pkcs11MechanismUse>()
            .Where(use => use != Pkcs11MechanismUse.None && uses.HasFlag(use))
            .Select(use => use switch
            {
                Pkcs11MechanismUse.GenerateKeyPair => "CKF_GENERATE_KEY_PAIR",
                _ => "CKF_" + use.ToString().ToUpperInvariant(),
            }));
}
