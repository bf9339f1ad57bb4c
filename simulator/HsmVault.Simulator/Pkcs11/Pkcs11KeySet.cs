using HsmVault.Enclave;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// Every key the services find on a token, and provisioning creates, in creation order. A new key
/// role is one more entry here (and one more label in <see cref="Pkcs11KeyLabels"/>); the
/// find-or-generate, the protection checks and the roll-back of a failed run all work off this list.
/// Every key but the identity key pair is a fleet key (<see cref="Pkcs11KeySpec.SharedByFleet"/>).
/// </summary>
internal static class Pkcs11KeySet
{
    internal static IReadOnlyList<Pkcs11KeySpec> For(Pkcs11KeyLabels labels)
    {
        List<Pkcs11KeySpec> keys = [new(labels.RecordKey, Pkcs11KeyKind.AesKey)];
        foreach (HsmHmacKey role in Enum.GetValues<HsmHmacKey>())
        {
            keys.Add(new(labels.Hmac(role), Pkcs11KeyKind.HmacKey));
        }

        keys.Add(new(labels.IdentityKey, Pkcs11KeyKind.SigningKeyPair, SharedByFleet: false));
        keys.Add(new(labels.AkeKey, Pkcs11KeyKind.DerivationKeyPair));
        keys.Add(new(labels.ChannelKey, Pkcs11KeyKind.DerivationKeyPair));
        return keys;
    }
}
