namespace HsmVault.Testing;

/// <summary>
/// How a <see cref="ProcessFleet"/> gives its members' tokens the fleet keys: by the deployment ceremony
/// (<c>hsmvault-simulator fleet-init</c>: the fleet keys generated in member 0's token and moved to the others
/// by key wrap, each member's identity key its own, a manifest every member signed; docs/DEPLOYMENT.md), or,
/// when a token cannot do the ceremony (a key-transport mechanism missing, no security officer login) or
/// <c>HSMVAULT_TEST_FLEET_PROVISIONING=clone</c> asks for it, by the TEST-ONLY clone of member 0's token.
/// </summary>
public sealed partial class ProcessFleet
{
    /// <summary>The environment variable that makes the fleet use the TEST-ONLY clone instead of the ceremony.</summary>
    public const string ProvisioningVariable = "HSMVAULT_TEST_FLEET_PROVISIONING";

    // SimulatorExitCode.CeremonyUnsupported: the only outcome of the ceremony that falls back to the clone.
    private const int CeremonyUnsupported = 3;

    /// <summary>How the tokens were provisioned: <c>ceremony</c>, or <c>clone (why)</c>.</summary>
    public string Provisioning { get; private set; } = "not provisioned yet";

    /// <summary>The ceremony's evidence folder (manifest, fleet-key file, signatures, log); empty after a clone.</summary>
    public string DeploymentEvidenceDirectory => Path.Combine(StateDirectory, "evidence");

    private async Task ProvisionByCeremonyOrCloneAsync()
    {
        if (Environment.GetEnvironmentVariable(ProvisioningVariable) == "clone")
        {
            Provisioning = $"clone ({ProvisioningVariable}=clone)";
            await ProvisionAsync().ConfigureAwait(false);
            return;
        }

        string members = string.Join(',', Enumerable.Range(0, Size).Select(HsmDirectory));
        await using ChildProcess ceremony = ChildProcess.Start(
            "fleet-init", ChildProcess.BuiltAssembly("HsmVault.Simulator"), ["fleet-init", "--members", members, "--out", DeploymentEvidenceDirectory, "--token-label", "hsmvault-fleet"]);
        int code = await ceremony.WaitForExitAsync(TimeSpan.FromMinutes(5)).ConfigureAwait(false);
        if (code == 0)
        {
            Provisioning = "ceremony";
            return;
        }

        if (code != CeremonyUnsupported)
        {
            throw new InvalidOperationException($"the deployment ceremony over the fleet's tokens failed ({code}):\n{ceremony.Output}");
        }

        // fleet-init is all or nothing: the member folders are gone again, and the clone starts afresh.
        Provisioning = $"clone (the ceremony cannot run on these tokens: {ceremony.Output.Trim().ReplaceLineEndings(" ")})";
        await ProvisionAsync().ConfigureAwait(false);
    }
}
