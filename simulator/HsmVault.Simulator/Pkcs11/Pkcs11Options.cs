namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// How to reach the HSM key store over PKCS#11. Only standard PKCS#11 is assumed, so a vendor
/// library replaces SoftHSM2 by changing <see cref="LibraryPath"/> and <see cref="TokenLabel"/>.
/// </summary>
/// <param name="LibraryPath">Path of the PKCS#11 module (e.g. <see cref="SoftHsm2LibraryPath"/>).</param>
/// <param name="TokenLabel">Label of the token to use; exactly one present token must carry it.</param>
/// <param name="Pin">Where the user PIN comes from.</param>
/// <param name="KeyLabelPrefix">Prefix of the labels of every object this vault keeps on the token.</param>
public sealed record Pkcs11Options(string LibraryPath, string TokenLabel, Pkcs11PinSource Pin, string KeyLabelPrefix = "hsmvault")
{
    /// <summary>Where Debian and Ubuntu's softhsm2 package installs the module.</summary>
    public const string SoftHsm2LibraryPath = "/usr/lib/softhsm/libsofthsm2.so";

    /// <summary>
    /// Where the AES-GCM IV of a seal comes from; <see cref="Pkcs11GcmIvMode.CallerSupplied"/> unless the
    /// token's policy insists on generating it (see docs/HSM-VENDORS.md).
    /// </summary>
    public Pkcs11GcmIvMode GcmIvMode { get; init; } = Pkcs11GcmIvMode.CallerSupplied;

    /// <summary>
    /// Told, in one line without secrets, each time a lost session was reopened and logged in again,
    /// so an operator sees HSM failovers that the services rode out.
    /// </summary>
    public Action<string>? SessionReopened { get; init; }

    /// <summary>
    /// Finalise and initialise the PKCS#11 library again after this many calls (0: never), when the
    /// services are its only user in the process. SoftHSM2 frees the objects it destroyed (every derived
    /// key, every replaced NVRAM object) only at C_Finalize, so a long-running simulator needs this to
    /// keep its memory bounded; a vendor HSM does not. Each recycle is reported like a reopen.
    /// </summary>
    public long RecycleAfterCalls { get; init; } = DefaultRecycleAfterCalls;

    /// <summary>The default of <see cref="RecycleAfterCalls"/>: a few megabytes of SoftHSM2 objects, a pause of well under a second every few minutes of full load.</summary>
    public const long DefaultRecycleAfterCalls = 50_000;

    /// <summary>
    /// How provisioning protects the fleet keys it generates; keys found on the token are accepted in either
    /// form. Only the deployment ceremony asks for <see cref="Pkcs11FleetKeyProtection.WrapWithTrustedOnly"/>.
    /// </summary>
    internal Pkcs11FleetKeyProtection FleetKeyProtection { get; init; } = Pkcs11FleetKeyProtection.NeverExtractable;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(LibraryPath))
        {
            throw new HsmConfigurationException("Pkcs11Options.LibraryPath is empty.");
        }

        if (!System.IO.File.Exists(LibraryPath))
        {
            throw new HsmConfigurationException($"Pkcs11Options.LibraryPath '{LibraryPath}' does not exist (for SoftHSM2: apt-get install softhsm2).");
        }

        if (string.IsNullOrWhiteSpace(TokenLabel) || TokenLabel.Length > 32)
        {
            throw new HsmConfigurationException("Pkcs11Options.TokenLabel must be 1 to 32 characters.");
        }

        if (Pin is null)
        {
            throw new HsmConfigurationException("Pkcs11Options.Pin is missing.");
        }

        if (RecycleAfterCalls < 0)
        {
            throw new HsmConfigurationException($"Pkcs11Options.RecycleAfterCalls is {RecycleAfterCalls}; give 0 (never) or a positive count.");
        }

        if (string.IsNullOrWhiteSpace(KeyLabelPrefix))
        {
            throw new HsmConfigurationException("Pkcs11Options.KeyLabelPrefix is empty.");
        }

        if (!Enum.IsDefined(GcmIvMode))
        {
            throw new HsmConfigurationException($"Pkcs11Options.GcmIvMode {(int)GcmIvMode} is not one of {string.Join(", ", Enum.GetNames<Pkcs11GcmIvMode>())}.");
        }
    }
}
