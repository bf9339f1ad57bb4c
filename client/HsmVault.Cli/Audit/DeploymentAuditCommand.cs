using System.CommandLine;
using System.CommandLine.Invocation;

namespace HsmVault.Cli.Audit;

/// <summary>
/// <c>hsmvault audit --deployment DIR</c>: verifies a deployment's evidence (<see cref="DeploymentAudit"/>).
/// One line per check on stdout (<c>ok</c> or <c>FAILED</c>, the check's name, what was found), progress on
/// stderr, exit 0 when every check passes and <see cref="CliExitCode.AuditFailed"/> when any fails. It extends
/// the <c>audit</c> command of the fleet-key log (<c>--log</c>, <see cref="AuditCommand"/>): one command, two
/// kinds of evidence; <c>--deployment</c> runs this audit, anything else the log's.
/// </summary>
internal static class DeploymentAuditCommand
{
    /// <summary>
    /// Adds <c>--deployment</c>, <c>--enclave-assembly</c> and <c>--rebuild</c> to <paramref name="audit"/> and runs
    /// the deployment audit when <c>--deployment</c> is given. <paramref name="fleetKey"/> is the command line's
    /// recursive <c>--fleet-key</c>: given explicitly, that pinned file is checked against the manifest too.
    /// </summary>
    internal static Command Extend(Command audit, CliConsole console, Option<string> fleetKey)
    {
        var deployment = new Option<string>("--deployment")
        {
            Description = "Verify a deployment's evidence instead of a log: the folder hsmvault-simulator fleet-init wrote (manifest.json, fleet-keys.json, signatures/hsm-<i>.json, ceremony-log.txt).",
            HelpName = "dir",
        };
        var enclaveAssembly = new Option<string>("--enclave-assembly")
        {
            Description = "With --deployment: an HsmVault.Enclave.dll you built from source (the enclave builds reproducibly); its hash and that of the HsmVault assemblies beside it must be the manifest's.",
            HelpName = "path",
        };
        var rebuild = new Option<string>("--rebuild")
        {
            Description = "With --deployment: rebuild the enclave from this HsmVault source tree (dotnet build enclave/HsmVault.Enclave -c Release, into a temporary folder) and compare its hash with the manifest's.",
            HelpName = "source-dir",
        };
        audit.Options.Add(deployment);
        audit.Options.Add(enclaveAssembly);
        audit.Options.Add(rebuild);
        audit.Description +=
            " With --deployment DIR instead: verify a deployment's evidence (docs/DEPLOYMENT.md): every HSM's signature on the manifest, the fleet-key file's digest, the policy " +
            "(quorum a majority of the fleet, attempt limit in range) and the code hash against an enclave built from source (--enclave-assembly or --rebuild); one line per check, " +
            $"exit {CliExitCode.AuditFailed} naming the check that failed.";
        Option? log = audit.Options.FirstOrDefault(option => option.Name == "--log");
        audit.Validators.Add(result =>
        {
            bool isDeployment = result.GetResult(deployment) is not null;
            bool isLog = log is not null && result.GetResult(log) is not null;
            if (!isDeployment && !isLog)
            {
                result.AddError("audit: give --deployment <dir> (a deployment's evidence) or --log <url|dir> (a fleet-key log)");
            }
            else if (isDeployment && isLog)
            {
                result.AddError("--deployment and --log: audit one thing at a time");
            }
            else if (!isDeployment && (result.GetResult(enclaveAssembly) is not null || result.GetResult(rebuild) is not null))
            {
                result.AddError("--enclave-assembly and --rebuild: only with --deployment");
            }

            if (result.GetResult(enclaveAssembly) is not null && result.GetResult(rebuild) is not null)
            {
                result.AddError("--enclave-assembly and --rebuild: give only one thing to compare the code hash with");
            }
        });

        CommandLineAction? logAudit = audit.Action;
        audit.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetResult(deployment) is null)
            {
                return logAudit switch
                {
                    AsynchronousCommandLineAction action => await action.InvokeAsync(parse, cancellationToken).ConfigureAwait(false),
                    SynchronousCommandLineAction action => action.Invoke(parse),
                    _ => throw new CliInputException("audit: give --deployment <dir>", isUsage: true),
                };
            }

            return await RunAsync(parse, console, deployment, enclaveAssembly, rebuild, fleetKey, cancellationToken).ConfigureAwait(false);
        });
        return audit;
    }

    private static async Task<int> RunAsync(
        ParseResult parse, CliConsole console, Option<string> deployment, Option<string> enclaveAssembly, Option<string> rebuild, Option<string> fleetKey, CancellationToken cancellationToken)
    {
        string directory = parse.GetValue(deployment)!;
        if (!Directory.Exists(directory))
        {
            throw new CliInputException($"--deployment: '{directory}' is not a folder");
        }

        string? pinned = parse.GetResult(fleetKey) is { Implicit: false } ? parse.GetValue(fleetKey) : null;
        var request = new DeploymentAudit.Request(directory, pinned, parse.GetValue(enclaveAssembly), parse.GetValue(rebuild));
        IReadOnlyList<AuditCheck> checks = await DeploymentAudit.RunAsync(request, console.Error, cancellationToken).ConfigureAwait(false);
        foreach (AuditCheck check in checks)
        {
            await console.Out.WriteLineAsync(check.ToString()).ConfigureAwait(false);
        }

        AuditCheck[] failed = [.. checks.Where(check => !check.Passed)];
        if (failed.Length == 0)
        {
            await console.Out.WriteLineAsync($"deployment verified: all {checks.Count} checks passed").ConfigureAwait(false);
            return CliExitCode.Success;
        }

        await console.Out.WriteLineAsync($"deployment NOT verified: {failed.Length} of {checks.Count} checks failed: {string.Join(", ", failed.Select(check => check.Name))}").ConfigureAwait(false);
        return CliExitCode.AuditFailed;
    }
}
