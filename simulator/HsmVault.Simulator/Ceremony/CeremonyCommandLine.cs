using System.CommandLine;
using HsmVault.Protocol.Deployment;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;

namespace HsmVault.Simulator.Ceremony;

/// <summary>
/// The deployment ceremony's commands: <c>fleet-init</c> runs the whole ceremony over new simulator
/// state directories; <c>ceremony prepare|export|import|sign</c> are its per-HSM steps, which
/// <c>fleet-init</c> runs in processes of their own (and a ceremony across machines runs by hand, one per
/// HSM, carrying only the files between them). docs/DEPLOYMENT.md describes both.
/// </summary>
internal static class CeremonyCommandLine
{
    internal static Command FleetInit()
    {
        Option<string> members = new("--members")
        {
            Description = "The fleet's HSMs, HSM 0 first: simulator state directories, comma-separated, each a new or empty folder (each gets a SoftHSM2 token of its own).",
            Required = true,
        };
        Option<string> output = new("--out")
        {
            Description = "The evidence folder (new or empty): manifest.json, fleet-keys.json, signatures/hsm-<i>.json, ceremony-log.txt, all publishable as they are.",
            Required = true,
        };
        Option<string> fleetId = new("--fleet-id")
        {
            Description = "The fleet's name in the fleet-key set and the manifest (letters, digits, '.', '-', '_').",
            DefaultValueFactory = _ => "hsmvault-local",
        };
        Option<int> attemptLimit = new("--attempt-limit")
        {
            Description = "The policy's attempt limit (1..1000), which the hosts must put in the fleet configuration at genesis.",
            DefaultValueFactory = _ => HsmVault.Enclave.VaultPolicy.DefaultAttemptLimit,
        };
        (Option<string> library, Option<string> tokenLabel, Option<string> prefix) = TokenOptions();
        Command command = new("fleet-init",
            "The deployment ceremony of a new fleet (docs/DEPLOYMENT.md): generates the fleet keys inside HSM 0's token and moves them into every other " +
            "HSM's token by PKCS#11 key wrap (RSA-OAEP for an AES transport key, AES key wrap for the keys, under transport keys HSM 0's security officer " +
            "marks trusted), so no fleet key ever exists outside a token in the clear; every copy is sensitive and wrappable only under a trusted key; each HSM " +
            "generates its own identity key; then every HSM signs the deployment manifest with its identity key. " + SimulatorExitCode.CeremonyTable)
        {
            members, output, fleetId, attemptLimit, library, tokenLabel, prefix,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            var settings = new FleetCeremony.Settings(
                [.. parse.GetValue(members)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)],
                parse.GetValue(output)!,
                parse.GetValue(library)!,
                parse.GetValue(tokenLabel)!,
                parse.GetValue(prefix)!,
                parse.GetValue(fleetId)!,
                parse.GetValue(attemptLimit));
            return await Report(async () =>
            {
                FleetCeremony.Result result = await FleetCeremony.RunAsync(settings, Console.Out, cancellationToken).ConfigureAwait(false);
                Console.WriteLine(
                    $"hsmvault-simulator: fleet-init: fleet '{result.FleetKeys.FleetId}' deployed on {result.Manifest.Hsms.Count} HSMs: fleet-key set sha256 {Convert.ToHexStringLower(result.FleetKeys.Digest)}, " +
                    $"manifest sha256 {Convert.ToHexStringLower(result.Manifest.Digest)} signed by every HSM; evidence in {result.EvidenceDirectory} (check it with 'hsmvault audit --deployment')");
            }).ConfigureAwait(false);
        });
        return command;
    }

    internal static Command Steps()
    {
        Command ceremony = new("ceremony",
            "The per-HSM steps of the deployment ceremony, each on one token in a process of its own; fleet-init runs them in order: prepare on every receiving HSM, " +
            "export on HSM 0, import on every receiving HSM, sign on every HSM. " + SimulatorExitCode.CeremonyTable);

        Option<int> index = IndexOption();
        Option<string> output = new("--out") { Description = "The transport public key file to write.", Required = true };
        (Option<string> library, Option<string> tokenLabel, Option<string> prefix) = TokenOptions();
        Option<string> stateDirectory = StateDirectoryOption();
        Command prepare = new("prepare", "On a receiving HSM: generate its RSA-3072 transport key pair inside the token (unwrap only, never extractable); write the public key.")
        {
            stateDirectory, index, output, library, tokenLabel, prefix,
        };
        prepare.SetAction(parse => ReportSync(() =>
            CeremonySteps.Prepare(Member(parse, stateDirectory, library, tokenLabel, prefix), parse.GetValue(index), parse.GetValue(output)!)));

        Option<string[]> transports = new("--transport") { Description = "A receiving HSM's transport public key file (from prepare); once per receiving HSM.", AllowMultipleArgumentsPerToken = false, Required = false };
        Option<string> outDirectory = new("--out-dir") { Description = "Where the key packages (package-<i>.json) and this HSM's report go.", Required = true };
        (Option<string> library0, Option<string> tokenLabel0, Option<string> prefix0) = TokenOptions();
        Option<string> stateDirectory0 = StateDirectoryOption();
        Command export = new("export",
            "On HSM 0: the security officer marks each transport key trusted; generate the fleet keys inside the token (sensitive, wrappable only under a trusted key) and the identity key; " +
            "wrap the fleet keys for each receiving HSM; destroy the transport keys.")
        {
            stateDirectory0, transports, outDirectory, library0, tokenLabel0, prefix0,
        };
        export.SetAction(parse => ReportSync(() =>
            CeremonySteps.Export(Member(parse, stateDirectory0, library0, tokenLabel0, prefix0), parse.GetValue(transports) ?? [], parse.GetValue(outDirectory)!)));

        Option<int> index2 = IndexOption();
        Option<string> package = new("--package") { Description = "The key package export wrote for this HSM.", Required = true };
        Option<string> report = new("--out") { Description = "This HSM's report to write.", Required = true };
        (Option<string> library2, Option<string> tokenLabel2, Option<string> prefix2) = TokenOptions();
        Option<string> stateDirectory2 = StateDirectoryOption();
        Command import = new("import",
            "On a receiving HSM: unwrap the fleet keys inside the token, destroy the transport keys, generate its own identity key, and check the keys against HSM 0's check values.")
        {
            stateDirectory2, index2, package, report, library2, tokenLabel2, prefix2,
        };
        import.SetAction(parse => ReportSync(() =>
            CeremonySteps.Import(Member(parse, stateDirectory2, library2, tokenLabel2, prefix2), parse.GetValue(index2), parse.GetValue(package)!, parse.GetValue(report)!)));

        Option<int> index3 = IndexOption();
        Option<string> manifest = new("--manifest") { Description = "The deployment manifest (manifest.json) to sign.", Required = true };
        Option<string> signature = new("--out") { Description = "The signature file to write (signatures/hsm-<i>.json).", Required = true };
        (Option<string> library3, Option<string> tokenLabel3, Option<string> prefix3) = TokenOptions();
        Option<string> stateDirectory3 = StateDirectoryOption();
        Command sign = new("sign",
            "On any HSM: sign the manifest with its identity key, if it lists this HSM's identity key at --index, the digest of the fleet keys it holds, the code hash of the enclave it runs, and a sane policy.")
        {
            stateDirectory3, index3, manifest, signature, library3, tokenLabel3, prefix3,
        };
        sign.SetAction(parse => ReportSync(() =>
            CeremonySteps.Sign(Member(parse, stateDirectory3, library3, tokenLabel3, prefix3), parse.GetValue(index3), parse.GetValue(manifest)!, parse.GetValue(signature)!)));

        ceremony.Subcommands.Add(prepare);
        ceremony.Subcommands.Add(export);
        ceremony.Subcommands.Add(import);
        ceremony.Subcommands.Add(sign);
        return ceremony;
    }

    private static Option<int> IndexOption() => new("--index") { Description = "This HSM's index in the fleet (0 is the HSM the fleet keys are generated in).", Required = true };

    private static Option<string> StateDirectoryOption() => new("--state-dir") { Description = "This HSM's simulator state directory.", Required = true };

    private static (Option<string> Library, Option<string> TokenLabel, Option<string> Prefix) TokenOptions() =>
    (
        new("--library")
        {
            Description = "The PKCS#11 module. Default: $HSMVAULT_PKCS11_LIBRARY, else SoftHSM2's " + Pkcs11Options.SoftHsm2LibraryPath + ".",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("HSMVAULT_PKCS11_LIBRARY") is { Length: > 0 } path ? path : Pkcs11Options.SoftHsm2LibraryPath,
        },
        new("--token-label")
        {
            Description = "The label of each HSM's token (given to a new token; serve then needs the same --token-label).",
            DefaultValueFactory = _ => "hsmvault-sim",
        },
        new("--key-label-prefix")
        {
            Description = "Prefix of the labels of every object the vault keeps on the token.",
            DefaultValueFactory = _ => "hsmvault",
        }
    );

    private static CeremonyMember Member(ParseResult parse, Option<string> stateDirectory, Option<string> library, Option<string> tokenLabel, Option<string> prefix) =>
        new(Path.GetFullPath(parse.GetValue(stateDirectory)!), parse.GetValue(library)!, parse.GetValue(tokenLabel)!, parse.GetValue(prefix)!);

    private static int ReportSync(Action step) => Report(() =>
    {
        step();
        return Task.CompletedTask;
    }).GetAwaiter().GetResult();

    // One line on stderr naming what was wrong, and the exit code for the kind of failure.
    private static async Task<int> Report(Func<Task> run)
    {
        try
        {
            await run().ConfigureAwait(false);
            return SimulatorExitCode.Stopped;
        }
        catch (CeremonyUnsupportedException ex)
        {
            await Console.Error.WriteLineAsync($"hsmvault-simulator: {OneLine(ex.Message)}").ConfigureAwait(false);
            return SimulatorExitCode.CeremonyUnsupported;
        }
        catch (Exception ex) when (ex is HsmUnavailableException or Pkcs11Exception)
        {
            await Console.Error.WriteLineAsync($"hsmvault-simulator: the HSM failed during the ceremony: {OneLine(ex.Message)}").ConfigureAwait(false);
            return SimulatorExitCode.HsmUnavailable;
        }
        catch (Exception ex) when (ex is HsmConfigurationException or FormatException or IOException or InvalidDataException or UnauthorizedAccessException or InvalidOperationException or TimeoutException)
        {
            await Console.Error.WriteLineAsync($"hsmvault-simulator: {OneLine(ex.Message)}").ConfigureAwait(false);
            return SimulatorExitCode.InvalidConfiguration;
        }
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");
}
