namespace HsmVault.Protocol.Deployment;

/// <summary>
/// The files a deployment ceremony writes into its evidence folder, all meant to be published as they
/// are (docs/DEPLOYMENT.md): the manifest every HSM signed, the fleet-key file whose digest it states,
/// one signature file per HSM, and the ceremony's log.
/// </summary>
public static class DeploymentEvidence
{
    /// <summary>The manifest, exactly its canonical bytes (<see cref="DeploymentManifest.ToCanonicalJson"/>).</summary>
    public const string ManifestFile = "manifest.json";

    /// <summary>The fleet-key file clients pin (<see cref="Fleet.FleetKeySet.ToFileText"/>).</summary>
    public const string FleetKeysFile = "fleet-keys.json";

    /// <summary>The folder of the signature files.</summary>
    public const string SignaturesFolder = "signatures";

    /// <summary>The ceremony's log, one line per step.</summary>
    public const string LogFile = "ceremony-log.txt";

    /// <summary>The signature file of the HSM at <paramref name="index"/>, relative to the evidence folder.</summary>
    public static string SignatureFile(int index) => Path.Combine(SignaturesFolder, SignatureFileName(index));

    /// <summary>The name of the signature file of the HSM at <paramref name="index"/> inside <see cref="SignaturesFolder"/>.</summary>
    public static string SignatureFileName(int index) => $"hsm-{index}.json";
}
