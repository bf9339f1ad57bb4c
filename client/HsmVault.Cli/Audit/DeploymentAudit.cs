using System.Security.Cryptography;
using HsmVault.Protocol.Deployment;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Cli.Audit;

/// <summary>
/// The checks of <c>hsmvault audit --deployment DIR</c> over a deployment's evidence (docs/DEPLOYMENT.md):
/// the manifest (its canonical form), every HSM's signature on it, the fleet-key file's digest, the policy,
/// and the code hash against an enclave assembly that was built from source. Each check is reported
/// whether it passes or not; a check that cannot run because another failed fails too, and says why.
/// </summary>
public static class DeploymentAudit
{
    /// <summary>The exit code of an audit in which any check failed.</summary>
    public const int ChecksFailed = CliExitCode.AuditFailed;

    /// <summary>What to audit.</summary>
    /// <param name="EvidenceDirectory">The evidence folder: manifest.json, fleet-keys.json, signatures/.</param>
    /// <param name="PinnedFleetKeys">A fleet-key file to check as well (the one an app pins), or null.</param>
    /// <param name="EnclaveAssembly">A built HsmVault.Enclave.dll to compare the code hash with (its project assemblies beside it), or null.</param>
    /// <param name="RebuildSource">A source tree to rebuild the enclave from and compare, or null.</param>
    public sealed record Request(string EvidenceDirectory, string? PinnedFleetKeys, string? EnclaveAssembly, string? RebuildSource);

    /// <summary>Runs every check; <paramref name="progress"/> hears what is being checked as it goes.</summary>
    public static async Task<IReadOnlyList<AuditCheck>> RunAsync(Request request, TextWriter progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(progress);
        string directory = Path.GetFullPath(request.EvidenceDirectory);
        var checks = new List<AuditCheck>();

        await progress.WriteLineAsync($"audit: reading the deployment evidence in {directory} ...").ConfigureAwait(false);
        string manifestPath = Path.Combine(directory, DeploymentEvidence.ManifestFile);
        byte[]? bytes = null;
        DeploymentManifest? manifest = null;
        try
        {
            bytes = await File.ReadAllBytesAsync(manifestPath, cancellationToken).ConfigureAwait(false);
            manifest = DeploymentManifest.Parse(bytes);
            checks.Add(new("manifest", true,
                $"{DeploymentManifest.FormatName}, fleet '{manifest.FleetId}', {manifest.Hsms.Count} HSMs, canonical ({bytes.Length} bytes, sha256 {Convert.ToHexStringLower(SHA256.HashData(bytes))})"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            checks.Add(new("manifest", false, $"cannot read {DeploymentEvidence.ManifestFile}: {OneLine(ex.Message)}"));
        }
        catch (DeploymentFormatException ex)
        {
            checks.Add(new("manifest", false, OneLine(ex.Message)));
        }

        if (manifest is null || bytes is null)
        {
            const string notChecked = "not checked: the manifest cannot be read";
            checks.Add(new("signatures", false, notChecked));
            checks.Add(new("fleet-key digest", false, notChecked));
            checks.Add(new("policy", false, notChecked));
            checks.Add(new("code hash", false, notChecked));
            return checks;
        }

        await progress.WriteLineAsync($"audit: verifying {manifest.Hsms.Count} HSM signatures on the manifest ...").ConfigureAwait(false);
        checks.AddRange(await CheckSignaturesAsync(directory, manifest, bytes, cancellationToken).ConfigureAwait(false));

        await progress.WriteLineAsync("audit: checking the fleet-key file's digest ...").ConfigureAwait(false);
        checks.Add(CheckFleetKeys("fleet-key digest", Path.Combine(directory, DeploymentEvidence.FleetKeysFile), manifest));
        if (request.PinnedFleetKeys is { } pinned)
        {
            checks.Add(CheckFleetKeys("pinned fleet-key digest", pinned, manifest));
        }

        await progress.WriteLineAsync("audit: checking the policy ...").ConfigureAwait(false);
        IReadOnlyList<string> problems = manifest.PolicyProblems();
        checks.Add(problems.Count == 0
            ? new("policy", true, $"{manifest.Policy.FleetSize} HSMs, quorum {manifest.Policy.Quorum} (a majority), attempt limit {manifest.Policy.AttemptLimit} (within {DeploymentPolicy.MinAttemptLimit}..{DeploymentPolicy.MaxAttemptLimit}), every identity key distinct")
            : new("policy", false, string.Join("; ", problems)));

        checks.Add(await CheckCodeHashAsync(request, manifest, progress, cancellationToken).ConfigureAwait(false));
        return checks;
    }

    private static async Task<List<AuditCheck>> CheckSignaturesAsync(string directory, DeploymentManifest manifest, byte[] bytes, CancellationToken cancellationToken)
    {
        var checks = new List<AuditCheck>();
        string manifestSha = Convert.ToHexStringLower(SHA256.HashData(bytes));
        foreach (DeploymentHsm hsm in manifest.Hsms)
        {
            string name = $"signature hsm-{hsm.Index}";
            string relative = DeploymentEvidence.SignatureFile(hsm.Index);
            string path = Path.Combine(directory, relative);
            string text;
            try
            {
                text = await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
            {
                checks.Add(new(name, false, $"missing: no {relative}, so hsm-{hsm.Index} (identity key {Convert.ToHexStringLower(hsm.IdentityPublicKey)}) has not signed"));
                continue;
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                checks.Add(new(name, false, $"cannot read {relative}: {OneLine(ex.Message)}"));
                continue;
            }

            DeploymentSignature signature;
            try
            {
                signature = DeploymentSignature.Parse(text, relative);
            }
            catch (DeploymentFormatException ex)
            {
                checks.Add(new(name, false, OneLine(ex.Message)));
                continue;
            }

            string expectedKey = Convert.ToHexStringLower(hsm.IdentityPublicKey);
            if (signature.Index != hsm.Index)
            {
                checks.Add(new(name, false, $"{relative} says it is hsm-{signature.Index}'s"));
            }
            else if (!signature.IdentityPublicKey.AsSpan().SequenceEqual(hsm.IdentityPublicKey))
            {
                checks.Add(new(name, false, $"made by key {Convert.ToHexStringLower(signature.IdentityPublicKey)}, which is not hsm-{hsm.Index}'s identity key {expectedKey} in the manifest"));
            }
            else if (Convert.ToHexStringLower(signature.ManifestSha256) != manifestSha)
            {
                checks.Add(new(name, false, $"signs a manifest with sha256 {Convert.ToHexStringLower(signature.ManifestSha256)}, not this one ({manifestSha})"));
            }
            else if (!P256Verifier.Verify(hsm.IdentityPublicKey, DeploymentManifest.SigningMessage(bytes), signature.Signature))
            {
                checks.Add(new(name, false, $"does not verify under hsm-{hsm.Index}'s identity key {expectedKey} over these manifest bytes"));
            }
            else
            {
                checks.Add(new(name, true, $"valid ECDSA P-256 signature by hsm-{hsm.Index}'s identity key {expectedKey} (member {Convert.ToHexStringLower(hsm.MemberId)})"));
            }
        }

        // A signature file for an HSM the manifest does not list is not evidence of anything; say so.
        string folder = Path.Combine(directory, DeploymentEvidence.SignaturesFolder);
        var expected = manifest.Hsms.Select(h => DeploymentEvidence.SignatureFileName(h.Index)).ToHashSet(StringComparer.Ordinal);
        string[] extra = Directory.Exists(folder)
            ? [.. Directory.GetFileSystemEntries(folder).Select(Path.GetFileName).OfType<string>().Where(file => !expected.Contains(file)).Order(StringComparer.Ordinal)]
            : [];
        checks.Add(extra.Length == 0
            ? new("signatures", true, $"{manifest.Hsms.Count} signature files, one per HSM of the manifest, nothing else")
            : new("signatures", false, $"{string.Join(", ", extra.Select(e => $"{DeploymentEvidence.SignaturesFolder}/{e}"))}: not the signature of an HSM the manifest lists"));
        return checks;
    }

    private static AuditCheck CheckFleetKeys(string name, string path, DeploymentManifest manifest)
    {
        FleetKeySet keys;
        try
        {
            keys = FleetKeySet.Load(path);
        }
        catch (FleetKeySetFormatException ex)
        {
            return new(name, false, $"{path}: {OneLine(ex.Message)}");
        }

        string digest = Convert.ToHexStringLower(keys.Digest);
        string stated = Convert.ToHexStringLower(manifest.FleetKeysSha256);
        if (digest != stated)
        {
            return new(name, false, $"{Path.GetFileName(path)} has sha256 {digest} (canonical form); the manifest states {stated}");
        }

        if (keys.FleetId != manifest.FleetId)
        {
            return new(name, false, $"{Path.GetFileName(path)} is for fleet '{keys.FleetId}'; the manifest is for '{manifest.FleetId}'");
        }

        return new(name, true, $"{Path.GetFileName(path)} has sha256 {digest}, as the manifest states (channel key {Convert.ToHexStringLower(keys.ChannelPublicKey)[..16]}…, OPAQUE AKE key {Convert.ToHexStringLower(keys.OpaqueAkePublicKey)[..16]}…)");
    }

    private static async Task<AuditCheck> CheckCodeHashAsync(Request request, DeploymentManifest manifest, TextWriter progress, CancellationToken cancellationToken)
    {
        const string name = "code hash";
        string? folder;
        string? artifacts = null;
        try
        {
            if (request.EnclaveAssembly is { } assembly)
            {
                if (!File.Exists(assembly))
                {
                    return new(name, false, $"--enclave-assembly: '{assembly}' does not exist");
                }

                if (Path.GetFileName(assembly) != DeploymentManifest.EnclaveAssemblyName)
                {
                    return new(name, false, $"--enclave-assembly: '{assembly}' is not {DeploymentManifest.EnclaveAssemblyName}");
                }

                folder = Path.GetDirectoryName(Path.GetFullPath(assembly))!;
                await progress.WriteLineAsync($"audit: comparing the code hash with {Path.GetFullPath(assembly)} ...").ConfigureAwait(false);
            }
            else if (request.RebuildSource is { } source)
            {
                artifacts = Directory.CreateTempSubdirectory("hsmvault-audit-rebuild-").FullName;
                await progress.WriteLineAsync($"audit: rebuilding the enclave from {Path.GetFullPath(source)} (dotnet build {EnclaveRebuild.ProjectPath} -c Release) ...").ConfigureAwait(false);
                try
                {
                    folder = await EnclaveRebuild.BuildAsync(Path.GetFullPath(source), artifacts, cancellationToken).ConfigureAwait(false);
                }
                catch (InvalidOperationException ex)
                {
                    return new(name, false, OneLine(ex.Message));
                }

                await progress.WriteLineAsync("audit: rebuilt; comparing the code hash ...").ConfigureAwait(false);
            }
            else
            {
                return new(name, false, "not checked: give --enclave-assembly PATH (an HsmVault.Enclave.dll you built from source) or --rebuild SOURCE_DIR");
            }

            var mismatches = new List<string>();
            string built = Sha256Of(Path.Combine(folder, DeploymentManifest.EnclaveAssemblyName));
            string stated = Convert.ToHexStringLower(manifest.CodeHash);
            if (built != stated)
            {
                mismatches.Add($"{DeploymentManifest.EnclaveAssemblyName} has sha256 {built}; the manifest states {stated}");
            }

            foreach (DeploymentAssembly dependency in manifest.Dependencies)
            {
                string path = Path.Combine(folder, dependency.Assembly);
                if (!File.Exists(path))
                {
                    mismatches.Add($"{dependency.Assembly} is not beside it");
                    continue;
                }

                string hash = Sha256Of(path);
                if (hash != Convert.ToHexStringLower(dependency.Sha256))
                {
                    mismatches.Add($"{dependency.Assembly} has sha256 {hash}; the manifest states {Convert.ToHexStringLower(dependency.Sha256)}");
                }
            }

            return mismatches.Count == 0
                ? new(name, true, $"{DeploymentManifest.EnclaveAssemblyName} sha256 {built} as the manifest states{(manifest.Dependencies.Count == 0 ? string.Empty : $", and {string.Join(", ", manifest.Dependencies.Select(d => d.Assembly))}")} ({folder})")
                : new(name, false, string.Join("; ", mismatches));
        }
        finally
        {
            if (artifacts is not null)
            {
                try
                {
                    Directory.Delete(artifacts, recursive: true);
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
                {
                    // A leftover in the temp folder; the verdict stands.
                }
            }
        }
    }

    private static string Sha256Of(string path)
    {
        using FileStream file = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(file));
    }

    private static string OneLine(string text) => text.ReplaceLineEndings(" ");
}
