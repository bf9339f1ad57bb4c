using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// Checks, before anything is created on a token, that it offers every mechanism the services use,
/// with the functions they use it for and the key size they need. Every shortfall is listed in one
/// message, so an operator fixes the token's policy once instead of meeting one failure per run
/// (and a provisioning run never stops halfway on a token that could not have finished it).
/// </summary>
internal static class Pkcs11MechanismCheck
{
    /// <summary>What the services need, in the order docs/HSM-VENDORS.md lists it.</summary>
    internal static IReadOnlyList<Pkcs11MechanismRequirement> ServiceRequirements { get; } =
    [
        new(CKM.CKM_AES_KEY_GEN, Pkcs11MechanismUse.Generate, 32, "generate the AES-256 record key"),
        new(CKM.CKM_AES_ECB_ENCRYPT_DATA, Pkcs11MechanismUse.Derive, 32, "derive each seal's XAES-256-GCM key from the record key"),
        new(CKM.CKM_AES_GCM, Pkcs11MechanismUse.Encrypt | Pkcs11MechanismUse.Decrypt, 32, "seal and unseal records with AES-256-GCM under the derived key"),
        new(CKM.CKM_GENERIC_SECRET_KEY_GEN, Pkcs11MechanismUse.Generate, 32, "generate the HMAC keys"),
        new(CKM.CKM_SHA256_HMAC, Pkcs11MechanismUse.Sign, 32, "compute HMAC-SHA-256 by key handle"),
        new(CKM.CKM_EC_KEY_PAIR_GEN, Pkcs11MechanismUse.GenerateKeyPair, 256, "generate the P-256 identity and AKE key pairs"),
        new(CKM.CKM_ECDSA, Pkcs11MechanismUse.Sign, 256, "sign with the identity key, over a SHA-256 digest the services compute"),
        new(CKM.CKM_ECDH1_DERIVE, Pkcs11MechanismUse.Derive, 256, "run Diffie-Hellman with the AKE key"),
    ];

    /// <summary>
    /// What the deployment ceremony needs besides <see cref="ServiceRequirements"/> (docs/DEPLOYMENT.md): a receiving
    /// HSM's RSA-3072 transport key pair, RSA-OAEP to move an AES-256 transport key to it, and AES key wrap with
    /// padding (RFC 5649) to move the fleet's secret and EC private keys under that transport key.
    /// </summary>
    internal static IReadOnlyList<Pkcs11MechanismRequirement> CeremonyRequirements { get; } =
    [
        new(CKM.CKM_RSA_PKCS_KEY_PAIR_GEN, Pkcs11MechanismUse.GenerateKeyPair, 3072, "generate a receiving HSM's RSA-3072 transport key pair"),
        new(CKM.CKM_RSA_PKCS_OAEP, Pkcs11MechanismUse.Wrap | Pkcs11MechanismUse.Unwrap, 3072, "wrap and unwrap the AES transport key under the RSA transport key"),
        new(CKM.CKM_AES_KEY_WRAP_PAD, Pkcs11MechanismUse.Wrap | Pkcs11MechanismUse.Unwrap, 32, "wrap and unwrap the fleet keys under the AES transport key"),
    ];

    /// <summary>Throws <see cref="HsmConfigurationException"/> naming every requirement <paramref name="slot"/>'s token does not meet.</summary>
    internal static void Require(ISlot slot, string tokenLabel) => Require(slot, tokenLabel, ServiceRequirements);

    /// <summary>Throws <see cref="HsmConfigurationException"/> naming every one of <paramref name="requirements"/> <paramref name="slot"/>'s token does not meet.</summary>
    internal static void Require(ISlot slot, string tokenLabel, IReadOnlyList<Pkcs11MechanismRequirement> requirements)
    {
        HashSet<CKM> offered;
        try
        {
            offered = [.. slot.GetMechanismList()];
        }
        catch (Pkcs11Exception ex)
        {
            throw new HsmConfigurationException($"Token '{tokenLabel}' did not list its mechanisms (C_GetMechanismList: {ex.RV}).", ex);
        }

        Require(tokenLabel, mechanism => offered.Contains(mechanism) ? Pkcs11MechanismSupport.From(slot.GetMechanismInfo(mechanism)) : null, requirements);
    }

    /// <summary>The check itself, over any source of mechanism information (a token, or a test's list).</summary>
    internal static void Require(string tokenLabel, Func<CKM, Pkcs11MechanismSupport?> lookUp, IReadOnlyList<Pkcs11MechanismRequirement> requirements)
    {
        List<string> problems = [];
        foreach (Pkcs11MechanismRequirement requirement in requirements)
        {
            if (Problem(requirement, lookUp(requirement.Mechanism)) is { } problem)
            {
                problems.Add($"{Name(requirement.Mechanism)} {problem} (needed to {requirement.Purpose})");
            }
        }

        if (problems.Count > 0)
        {
            throw new HsmConfigurationException(
                $"Token '{tokenLabel}' lacks {problems.Count} of the mechanisms the vault needs: {string.Join("; ", problems)}. " +
                "Nothing was created on the token; enable these mechanisms in the token's policy (see docs/HSM-VENDORS.md).");
        }
    }

    /// <summary>The standard name; CKM has two names for 0x1040 and ToString picks the deprecated one.</summary>
    internal static string Name(CKM mechanism) => mechanism == CKM.CKM_EC_KEY_PAIR_GEN ? "CKM_EC_KEY_PAIR_GEN" : mechanism.ToString();

    private static string? Problem(Pkcs11MechanismRequirement requirement, Pkcs11MechanismSupport? support)
    {
        if (support is null)
        {
            return "is not offered";
        }

        Pkcs11MechanismUse missing = requirement.Uses & ~support.Uses;
        if (missing != Pkcs11MechanismUse.None)
        {
            return $"is offered without {Pkcs11MechanismSupport.FlagNames(missing)}";
        }

        // A token that reports no sizes (0..0) says nothing about them; trust it and let the call decide.
        if (support.MaxKeySize != 0 && (requirement.KeySize < support.MinKeySize || requirement.KeySize > support.MaxKeySize))
        {
            return $"supports key sizes {support.MinKeySize}..{support.MaxKeySize}, not {requirement.KeySize}";
        }

        return null;
    }
}
