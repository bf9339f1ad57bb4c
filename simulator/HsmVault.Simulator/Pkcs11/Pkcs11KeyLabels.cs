using HsmVault.Enclave;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>The CKA_LABEL of every object the vault keeps on a token, under one prefix.</summary>
internal sealed record Pkcs11KeyLabels(string Prefix)
{
    /// <summary>CKA_APPLICATION of the NVRAM data objects.</summary>
    internal const string Application = "hsmvault";

    internal string RecordKey => $"{Prefix}-record-key";

    internal string IdentityKey => $"{Prefix}-identity-key";

    internal string AkeKey => $"{Prefix}-ake-key";

    internal string ChannelKey => $"{Prefix}-channel-key";

    internal string Nvram => $"{Prefix}-nvram";

    internal string Hmac(HsmHmacKey role) => role switch
    {
        HsmHmacKey.OprfSeed => $"{Prefix}-hmac-oprf-seed",
        HsmHmacKey.LogMac => $"{Prefix}-hmac-log-mac",
        HsmHmacKey.FakeRecordSeed => $"{Prefix}-hmac-fake-record-seed",
        _ => throw new ArgumentOutOfRangeException(nameof(role), role, "Unknown HMAC key role."),
    };
}
