using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.Factories;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// The attribute templates of the vault's keys, one place for provisioning (C_GenerateKey,
/// C_GenerateKeyPair) and the deployment ceremony (C_UnwrapKey, and C_CreateObject for the public
/// halves), so a key moved by key wrap lands with exactly the attributes a generated one has: a
/// private, sensitive token object limited to its one use. Only CKA_EXTRACTABLE differs, by
/// <c>wrappableUnderTrusted</c>: false (never leaves the token), or true together with
/// CKA_WRAP_WITH_TRUSTED=true (leaves it only wrapped under a key the security officer trusts).
/// </summary>
internal static class Pkcs11KeyTemplates
{
    /// <summary>Bytes of every secret key (AES-256, 256-bit HMAC keys).</summary>
    internal const int SecretKeyLength = 32;

    /// <summary>
    /// An AES key (derive only: the XAES-256-GCM record key, from which the token derives a one-seal AES-GCM
    /// key per nonce with CKM_AES_ECB_ENCRYPT_DATA, so the record key itself never encrypts anything) or a
    /// generic secret (HMAC sign and verify only). For
    /// <paramref name="forUnwrap"/> CKA_VALUE_LEN is left out: the length comes with the wrapped value,
    /// and tokens refuse it in an unwrap template.
    /// </summary>
    internal static List<IObjectAttribute> SecretKey(IObjectAttributeFactory factory, string label, CKK keyType, bool wrappableUnderTrusted, bool forUnwrap = false)
    {
        bool isAes = keyType == CKK.CKK_AES;
        List<IObjectAttribute> template =
        [
            factory.Create(CKA.CKA_CLASS, CKO.CKO_SECRET_KEY),
            factory.Create(CKA.CKA_KEY_TYPE, keyType),
        ];
        if (!forUnwrap)
        {
            template.Add(factory.Create(CKA.CKA_VALUE_LEN, (ulong)SecretKeyLength));
        }

        template.AddRange(
        [
            factory.Create(CKA.CKA_TOKEN, true),
            factory.Create(CKA.CKA_PRIVATE, true),
            factory.Create(CKA.CKA_SENSITIVE, true),
            factory.Create(CKA.CKA_EXTRACTABLE, wrappableUnderTrusted),
            factory.Create(CKA.CKA_ENCRYPT, false),
            factory.Create(CKA.CKA_DECRYPT, false),
            factory.Create(CKA.CKA_SIGN, !isAes),
            factory.Create(CKA.CKA_VERIFY, !isAes),
            factory.Create(CKA.CKA_WRAP, false),
            factory.Create(CKA.CKA_UNWRAP, false),
            factory.Create(CKA.CKA_DERIVE, isAes),
            factory.Create(CKA.CKA_LABEL, label),
        ]);
        AddWrapWithTrusted(factory, template, wrappableUnderTrusted);
        return template;
    }

    /// <summary>
    /// The public half of a P-256 key pair: verifies for a signing pair, does nothing for a derivation
    /// pair. With <paramref name="ecPoint"/> (CKA_EC_POINT, a DER OCTET STRING) it is a template for
    /// C_CreateObject: the public half of a private key that arrived by key wrap.
    /// </summary>
    internal static List<IObjectAttribute> EcPublicKey(IObjectAttributeFactory factory, string label, bool forSigning, byte[]? ecPoint = null)
    {
        List<IObjectAttribute> template =
        [
            factory.Create(CKA.CKA_CLASS, CKO.CKO_PUBLIC_KEY),
            factory.Create(CKA.CKA_KEY_TYPE, CKK.CKK_EC),
            factory.Create(CKA.CKA_TOKEN, true),
            factory.Create(CKA.CKA_PRIVATE, false),
            factory.Create(CKA.CKA_EC_PARAMS, P256.NamedCurveParameters.ToArray()),
            factory.Create(CKA.CKA_VERIFY, forSigning),
            factory.Create(CKA.CKA_DERIVE, false),
            factory.Create(CKA.CKA_LABEL, label),
        ];
        if (ecPoint is not null)
        {
            template.Add(factory.Create(CKA.CKA_EC_POINT, ecPoint));
        }

        return template;
    }

    /// <summary>The private half of a P-256 key pair: signs only (identity) or derives only (ECDH: AKE, channel).</summary>
    internal static List<IObjectAttribute> EcPrivateKey(IObjectAttributeFactory factory, string label, bool forSigning, bool wrappableUnderTrusted)
    {
        List<IObjectAttribute> template =
        [
            factory.Create(CKA.CKA_CLASS, CKO.CKO_PRIVATE_KEY),
            factory.Create(CKA.CKA_KEY_TYPE, CKK.CKK_EC),
            factory.Create(CKA.CKA_TOKEN, true),
            factory.Create(CKA.CKA_PRIVATE, true),
            factory.Create(CKA.CKA_SENSITIVE, true),
            factory.Create(CKA.CKA_EXTRACTABLE, wrappableUnderTrusted),
            factory.Create(CKA.CKA_SIGN, forSigning),
            factory.Create(CKA.CKA_DERIVE, !forSigning),
            factory.Create(CKA.CKA_LABEL, label),
        ];
        AddWrapWithTrusted(factory, template, wrappableUnderTrusted);
        return template;
    }

    internal static void DisposeAll(List<IObjectAttribute> attributes)
    {
        foreach (IObjectAttribute attribute in attributes)
        {
            attribute.Dispose();
        }
    }

    // Only when set: a token that does not know CKA_WRAP_WITH_TRUSTED still provisions never-extractable keys.
    private static void AddWrapWithTrusted(IObjectAttributeFactory factory, List<IObjectAttribute> template, bool wrappableUnderTrusted)
    {
        if (wrappableUnderTrusted)
        {
            template.Add(factory.Create(CKA.CKA_WRAP_WITH_TRUSTED, true));
        }
    }
}
