using System.Diagnostics;

namespace HsmVault.Cli.Audit;

/// <summary>
/// Rebuilds the enclave from a source tree for <c>hsmvault audit --deployment --rebuild</c>: <c>dotnet build
/// enclave/HsmVault.Enclave/HsmVault.Enclave.csproj -c Release</c> into a throw-away artifacts folder. The enclave
/// builds reproducibly (Directory.Build.props), so the same sources and SDK give the bytes a manifest's code
/// hash states.
/// </summary>
internal static class EnclaveRebuild
{
    internal const string ProjectPath = "enclave/HsmVault.Enclave/HsmVault.Enclave.csproj";

    private static readonly TimeSpan Limit = TimeSpan.FromMinutes(20);

    /// <summary>Builds; returns the folder holding the built HsmVault.Enclave.dll and its project assemblies, or throws <see cref="InvalidOperationException"/> saying why not.</summary>
    internal static async Task<string> BuildAsync(string sourceDirectory, string artifacts, CancellationToken cancellationToken)
    {
        string project = Path.Combine(sourceDirectory, ProjectPath);
        if (!File.Exists(project))
        {
            throw new InvalidOperationException($"--rebuild: '{sourceDirectory}' has no {ProjectPath}; give the root of an HsmVault source tree.");
        }

        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = sourceDirectory,
        };
        foreach (string argument in new[] { "build", project, "-c", "Release", "-nologo", "-v", "q" })
        {
            start.ArgumentList.Add(argument);
        }

        start.Environment["HSMVAULT_ARTIFACTS"] = artifacts;
        using Process process = Process.Start(start) ?? throw new InvalidOperationException("--rebuild: 'dotnet' did not start.");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        Task<string> stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        limit.CancelAfter(Limit);
        try
        {
            await process.WaitForExitAsync(limit.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            throw new InvalidOperationException($"--rebuild: the build did not end within {Limit.TotalMinutes:F0} minutes.");
        }

        string output = (await stdout.ConfigureAwait(false)) + (await stderr.ConfigureAwait(false));
        string built = Path.Combine(artifacts, "bin", "HsmVault.Enclave", "release");
        if (process.ExitCode != 0 || !File.Exists(Path.Combine(built, "HsmVault.Enclave.dll")))
        {
            string firstError = output.Split('\n').Select(line => line.Trim()).FirstOrDefault(line => line.Contains("error", StringComparison.OrdinalIgnoreCase)) ?? $"exit {process.ExitCode}";
            throw new InvalidOperationException($"--rebuild: dotnet build failed: {firstError}");
        }

        return built;
    }
}
