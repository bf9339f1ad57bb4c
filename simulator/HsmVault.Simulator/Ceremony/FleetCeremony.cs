using System.Diagnostics;
using System.Globalization;
using HsmVault.Protocol.Deployment;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Simulator.Ceremony;

/// <summary>
/// <c>hsmvault-simulator fleet-init</c>: the deployment ceremony of a new fleet over simulator state
/// directories (docs/DEPLOYMENT.md). The fleet keys are generated inside HSM 0's token and move to every
/// other HSM's token by PKCS#11 key wrap, never in the clear; each HSM generates its own identity key;
/// every HSM then signs the deployment manifest. Each step on a token runs in a child process of its own
/// (<c>hsmvault-simulator ceremony ...</c>): SoftHSM2 reads its configuration once per loaded library, so
/// one process sees one state directory, as one machine would drive one HSM. This process never loads
/// the PKCS#11 library; it only carries public keys, wrapped blobs and the manifest between the steps.
/// All or nothing: on any failure the member directories and the evidence it made are removed.
/// </summary>
public static class FleetCeremony
{
    /// <summary>What the ceremony is asked to make.</summary>
    /// <param name="Members">Each HSM's simulator state directory, HSM 0 first: new, or empty folders.</param>
    /// <param name="EvidenceDirectory">Where the evidence goes: a new or empty folder.</param>
    /// <param name="Library">The PKCS#11 module.</param>
    /// <param name="TokenLabel">The label each member's token gets.</param>
    /// <param name="KeyLabelPrefix">The key label prefix of the vault's objects.</param>
    /// <param name="FleetId">The fleet-key set's fleet id.</param>
    /// <param name="AttemptLimit">The policy's attempt limit.</param>
    public sealed record Settings(IReadOnlyList<string> Members, string EvidenceDirectory, string Library, string TokenLabel, string KeyLabelPrefix, string FleetId, int AttemptLimit);

    /// <summary>What the ceremony made.</summary>
    /// <param name="Manifest">The manifest every HSM signed.</param>
    /// <param name="FleetKeys">The fleet-key set (the same public keys in every HSM).</param>
    /// <param name="EvidenceDirectory">The evidence folder, full path.</param>
    public sealed record Result(DeploymentManifest Manifest, FleetKeySet FleetKeys, string EvidenceDirectory);

    /// <summary>How long one step may take (an RSA-3072 key generation on a busy machine included).</summary>
    private static readonly TimeSpan StepLimit = TimeSpan.FromMinutes(5);

    /// <summary>Runs the ceremony; <paramref name="progress"/> hears one line per step as it ends.</summary>
    public static async Task<Result> RunAsync(Settings settings, TextWriter progress, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(progress);
        List<string> members = Validate(settings);
        string evidence = Path.GetFullPath(settings.EvidenceDirectory);
        bool evidenceExisted = Directory.Exists(evidence);
        bool[] memberExisted = [.. members.Select(Directory.Exists)];
        string work = Directory.CreateTempSubdirectory("hsmvault-ceremony-").FullName;
        var log = new List<string> { "# HsmVault deployment ceremony log (docs/DEPLOYMENT.md): one line per step, in order. It holds no secret: keys appear only as public keys, digests and check values." };
        (byte[] codeHash, _) = EnclaveCode.OfThisProcess();
        int n = members.Count;
        int quorum = DeploymentPolicy.MajorityOf(n);
        log.Add(Line("ceremony start", $"fleet '{settings.FleetId}': {n} HSMs ({string.Join(", ", members.Select((m, i) => $"hsm-{i} '{m}'"))}), token label '{settings.TokenLabel}', " +
            $"key label prefix '{settings.KeyLabelPrefix}'; policy: attempt limit {settings.AttemptLimit}, quorum {quorum}; enclave code hash {Convert.ToHexStringLower(codeHash)}"));
        try
        {
            Directory.CreateDirectory(evidence);
            Directory.CreateDirectory(Path.Combine(evidence, DeploymentEvidence.SignaturesFolder));
            string[] TokenOptions(int i) => ["--state-dir", members[i], "--library", settings.Library, "--token-label", settings.TokenLabel, "--key-label-prefix", settings.KeyLabelPrefix];

            // 1. Every receiving HSM makes its transport key pair.
            string[] transports = [.. Enumerable.Range(1, n - 1).Select(i => Path.Combine(work, $"transport-{i}.json"))];
            await Task.WhenAll(Enumerable.Range(1, n - 1).Select(i =>
                RunStepAsync($"hsm-{i} prepare", ["ceremony", "prepare", "--index", I(i), "--out", transports[i - 1], .. TokenOptions(i)], cancellationToken))).ConfigureAwait(false);
            foreach (string transport in transports)
            {
                TransportKeyFile file = CeremonyFiles.Read<TransportKeyFile>(transport, "prepare", CeremonyFiles.TransportFormat, f => f.Format);
                log.AddRange(file.Log);
                await progress.WriteLineAsync($"hsmvault-simulator: fleet-init: hsm-{file.Hsm}: transport key pair generated (RSA-{CeremonyToken.TransportKeyBits}, public key sha256 {file.Fingerprint})").ConfigureAwait(false);
            }

            // 2. HSM 0 generates the fleet keys and wraps them for each receiver.
            await RunStepAsync("hsm-0 export", ["ceremony", "export", "--out-dir", work, .. transports.SelectMany(t => new[] { "--transport", t }), .. TokenOptions(0)], cancellationToken).ConfigureAwait(false);
            MemberReport source = CeremonyFiles.Read<MemberReport>(Path.Combine(work, "report-0.json"), "export", CeremonyFiles.ReportFormat, f => f.Format);
            log.AddRange(source.Log);
            await progress.WriteLineAsync($"hsmvault-simulator: fleet-init: hsm-0: fleet keys generated and wrapped for {n - 1} HSMs under trusted transport keys").ConfigureAwait(false);

            // 3. Every receiver unwraps them.
            string[] reports = [.. Enumerable.Range(1, n - 1).Select(i => Path.Combine(work, $"report-{i}.json"))];
            await Task.WhenAll(Enumerable.Range(1, n - 1).Select(i =>
                RunStepAsync($"hsm-{i} import", ["ceremony", "import", "--index", I(i), "--package", Path.Combine(work, $"package-{i}.json"), "--out", reports[i - 1], .. TokenOptions(i)], cancellationToken))).ConfigureAwait(false);
            List<MemberReport> all = [source, .. reports.Select(r => CeremonyFiles.Read<MemberReport>(r, "import", CeremonyFiles.ReportFormat, f => f.Format))];
            foreach (MemberReport report in all.Skip(1))
            {
                log.AddRange(report.Log);
                await progress.WriteLineAsync($"hsmvault-simulator: fleet-init: hsm-{report.Hsm}: fleet keys unwrapped inside the token, transport keys destroyed, own identity key generated").ConfigureAwait(false);
            }

            CheckReports(all);

            // 4. The manifest, then every HSM's signature on it.
            FleetKeySet fleetKeys = FleetKeySet.Create(settings.FleetId, Convert.FromHexString(source.ChannelPublicKey), Convert.FromHexString(source.AkePublicKey));
            (byte[] code, List<DeploymentAssembly> dependencies) = EnclaveCode.OfThisProcess();
            DeploymentManifest manifest = DeploymentManifest.Create(fleetKeys, code, dependencies, all.Select(r => Convert.FromHexString(r.IdentityPublicKey)), quorum, settings.AttemptLimit);
            byte[] manifestBytes = manifest.ToCanonicalJson();
            string manifestPath = Path.Combine(evidence, DeploymentEvidence.ManifestFile);
            await File.WriteAllBytesAsync(manifestPath, manifestBytes, cancellationToken).ConfigureAwait(false);
            await File.WriteAllTextAsync(Path.Combine(evidence, DeploymentEvidence.FleetKeysFile), fleetKeys.ToFileText(), cancellationToken).ConfigureAwait(false);
            log.Add(Line("ceremony manifest", $"{manifestBytes.Length} bytes, sha256 {Convert.ToHexStringLower(manifest.Digest)}; fleet-key set sha256 {Convert.ToHexStringLower(fleetKeys.Digest)}"));

            await Task.WhenAll(Enumerable.Range(0, n).Select(i =>
                RunStepAsync($"hsm-{i} sign", ["ceremony", "sign", "--index", I(i), "--manifest", manifestPath, "--out", Path.Combine(evidence, DeploymentEvidence.SignatureFile(i)), .. TokenOptions(i)], cancellationToken))).ConfigureAwait(false);
            for (int i = 0; i < n; i++)
            {
                DeploymentSignature signature = DeploymentSignature.Parse(await File.ReadAllTextAsync(Path.Combine(evidence, DeploymentEvidence.SignatureFile(i)), cancellationToken).ConfigureAwait(false), DeploymentEvidence.SignatureFile(i));
                if (signature.Index != i || !signature.IdentityPublicKey.AsSpan().SequenceEqual(manifest.Hsms[i].IdentityPublicKey) || !signature.Verifies(manifestBytes))
                {
                    throw new InvalidDataException($"hsm-{i}'s signature on the manifest does not verify under its identity key.");
                }

                log.Add(Line($"hsm-{i} sign", $"signed the manifest with its identity key {Convert.ToHexStringLower(signature.IdentityPublicKey)} (member {Convert.ToHexStringLower(manifest.Hsms[i].MemberId)}); the signature verifies"));
                await progress.WriteLineAsync($"hsmvault-simulator: fleet-init: hsm-{i}: signed the manifest").ConfigureAwait(false);
            }

            log.Add(Line("ceremony end", $"every HSM holds the fleet keys of fleet-key set {Convert.ToHexStringLower(fleetKeys.Digest)} and signed manifest {Convert.ToHexStringLower(manifest.Digest)}"));
            await File.WriteAllLinesAsync(Path.Combine(evidence, DeploymentEvidence.LogFile), log, cancellationToken).ConfigureAwait(false);
            return new Result(manifest, fleetKeys, evidence);
        }
        catch
        {
            Remove(evidence, evidenceExisted);
            for (int i = 0; i < n; i++)
            {
                Remove(members[i], memberExisted[i]);
            }

            throw;
        }
        finally
        {
            Remove(work, existed: false);
        }
    }

    private static string I(int value) => value.ToString(CultureInfo.InvariantCulture);

    private static string Line(string actor, string text) => $"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.fffZ} {actor}: {text}";

    private static List<string> Validate(Settings settings)
    {
        if (settings.Members.Count is 0 or > DeploymentManifest.MaxHsms)
        {
            throw new FormatException($"--members: {settings.Members.Count} state directories; a fleet has 1 to {DeploymentManifest.MaxHsms} HSMs.");
        }

        List<string> members = [.. settings.Members.Select(m => Path.GetFullPath(m).TrimEnd(Path.DirectorySeparatorChar))];
        string evidence = Path.GetFullPath(settings.EvidenceDirectory).TrimEnd(Path.DirectorySeparatorChar);
        if (members.Distinct(StringComparer.Ordinal).Count() != members.Count || members.Contains(evidence, StringComparer.Ordinal))
        {
            throw new FormatException("--members/--out: every HSM needs a state directory of its own, and the evidence a folder of its own.");
        }

        for (int i = 0; i < members.Count; i++)
        {
            RequireNewOrEmpty(members[i], $"--members: hsm-{i}'s state directory");
        }

        RequireNewOrEmpty(evidence, "--out");
        try
        {
            _ = FleetKeySet.Create(settings.FleetId, [0x04, .. new byte[64]], [0x02, .. new byte[32]]);
        }
        catch (FleetKeySetFormatException ex)
        {
            throw new FormatException($"--fleet-id: {ex.Reason}.", ex);
        }

        if (settings.AttemptLimit is < DeploymentPolicy.MinAttemptLimit or > DeploymentPolicy.MaxAttemptLimit)
        {
            throw new FormatException($"--attempt-limit: {settings.AttemptLimit} is outside {DeploymentPolicy.MinAttemptLimit}..{DeploymentPolicy.MaxAttemptLimit}.");
        }

        if (string.IsNullOrWhiteSpace(settings.TokenLabel) || settings.TokenLabel.Length > 32)
        {
            throw new FormatException("--token-label: must be 1 to 32 characters.");
        }

        if (!File.Exists(settings.Library))
        {
            throw new FormatException($"--library: '{settings.Library}' does not exist (for SoftHSM2: apt-get install softhsm2).");
        }

        return members;
    }

    private static void RequireNewOrEmpty(string path, string what)
    {
        if (File.Exists(path))
        {
            throw new IOException($"{what} '{path}' is a file; the ceremony needs a new or empty folder.");
        }

        if (Directory.Exists(path) && Directory.EnumerateFileSystemEntries(path).Any())
        {
            throw new IOException($"{what} '{path}' is not empty; a ceremony starts from new HSMs and writes new evidence.");
        }
    }

    // What the steps reported must agree before anything is signed: one fleet, its own identity key per HSM.
    private static void CheckReports(List<MemberReport> reports)
    {
        MemberReport source = reports[0];
        foreach (MemberReport report in reports.Skip(1))
        {
            if (report.AkePublicKey != source.AkePublicKey || report.ChannelPublicKey != source.ChannelPublicKey)
            {
                throw new InvalidDataException($"hsm-{report.Hsm} reports other fleet public keys than hsm-0 after the import.");
            }

            if (!report.CheckValues.OrderBy(c => c.Key, StringComparer.Ordinal).SequenceEqual(source.CheckValues.OrderBy(c => c.Key, StringComparer.Ordinal)))
            {
                throw new InvalidDataException($"hsm-{report.Hsm}'s HMAC keys give other check values than hsm-0's.");
            }
        }

        if (reports.Select(r => r.IdentityPublicKey).Distinct(StringComparer.Ordinal).Count() != reports.Count)
        {
            throw new InvalidDataException("two HSMs report the same identity key; each HSM's identity key is its own.");
        }
    }

    private static async Task RunStepAsync(string name, string[] arguments, CancellationToken cancellationToken)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath ?? "dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };

        // Run as 'dotnet HsmVault.Simulator.dll' (or a test host): the child is the simulator's dll; as the apphost, itself.
        string self = typeof(FleetCeremony).Assembly.Location;
        if (Path.GetFileNameWithoutExtension(start.FileName) != Path.GetFileNameWithoutExtension(self))
        {
            start.FileName = "dotnet";
            start.ArgumentList.Add(self);
        }

        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{name}: the step's process did not start.");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        Task<string> stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(StepLimit);
        try
        {
            await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{name}: the step did not end within {StepLimit.TotalMinutes:F0} minutes.");
        }

        string error = (await stderr.ConfigureAwait(false)).Trim().ReplaceLineEndings(" ");
        _ = await stdout.ConfigureAwait(false);
        string reason = error.StartsWith("hsmvault-simulator: ", StringComparison.Ordinal) ? error["hsmvault-simulator: ".Length..] : error;
        switch (process.ExitCode)
        {
            case SimulatorExitCode.Stopped:
                return;
            case SimulatorExitCode.CeremonyUnsupported:
                throw new CeremonyUnsupportedException($"{name}: {reason}");
            case SimulatorExitCode.HsmUnavailable:
                throw new Pkcs11.HsmUnavailableException($"{name}: {reason}");
            default:
                throw new InvalidDataException($"{name} failed (exit {process.ExitCode}): {reason}");
        }
    }

    // Leaves a folder as it was found: gone if the ceremony made it, else empty again.
    private static void Remove(string path, bool existed)
    {
        try
        {
            if (!Directory.Exists(path))
            {
                return;
            }

            if (!existed)
            {
                Directory.Delete(path, recursive: true);
                return;
            }

            foreach (string folder in Directory.GetDirectories(path))
            {
                Directory.Delete(folder, recursive: true);
            }

            foreach (string file in Directory.GetFiles(path))
            {
                File.Delete(file);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The original failure is what the caller reports.
        }
    }
}
