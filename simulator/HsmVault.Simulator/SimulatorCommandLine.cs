using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Runtime.InteropServices;
using HsmVault.Enclave;
using HsmVault.Protocol.Bridge;
using HsmVault.Protocol.Fleet;
using HsmVault.Simulator.Bridge;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;

namespace HsmVault.Simulator;

/// <summary>
/// The simulator process's command line: <c>serve</c> runs one enclave over a SoftHSM2 (or any
/// PKCS#11) token and serves it over the bridge protocol, as a vendor HSM's bridge would.
/// </summary>
public static class SimulatorCommandLine
{
    /// <summary>Parses and runs <paramref name="args"/>; a command line that does not parse exits with <see cref="SimulatorExitCode.InvalidConfiguration"/>.</summary>
    public static async Task<int> RunAsync(string[] args)
    {
        ParseResult parsed = Build().Parse(args);
        int code = await parsed.InvokeAsync().ConfigureAwait(false);
        return parsed.Action is ParseErrorAction ? SimulatorExitCode.InvalidConfiguration : code;
    }

    public static RootCommand Build()
    {
        Option<string> listen = new("--listen")
        {
            Description = "Where the bridge listens: unix:/path/to/socket or tcp:127.0.0.1:<port> (loopback only).",
            Required = true,
        };
        Option<string?> stateDirectory = new("--state-dir")
        {
            Description = "A folder of the simulator's own for a SoftHSM2 token (configuration, token files, PIN files); " +
                "created and initialised on first use, reused after a restart. Without it, --token-label and a PIN source " +
                "name an existing token of the library's own configuration.",
        };
        Option<string> library = new("--library")
        {
            Description = "The PKCS#11 module. Default: $HSMVAULT_PKCS11_LIBRARY, else SoftHSM2's " + Pkcs11Options.SoftHsm2LibraryPath + ".",
            DefaultValueFactory = _ => Environment.GetEnvironmentVariable("HSMVAULT_PKCS11_LIBRARY") is { Length: > 0 } path
                ? path
                : Pkcs11Options.SoftHsm2LibraryPath,
        };
        Option<string> tokenLabel = new("--token-label")
        {
            Description = "Label of the token holding this HSM's keys.",
            DefaultValueFactory = _ => "hsmvault-sim",
        };
        Option<string?> pinEnvironment = new("--pin-env")
        {
            Description = "Read the token's user PIN from this environment variable (existing tokens only).",
        };
        Option<string?> pinFile = new("--pin-file")
        {
            Description = "Read the token's user PIN from this file (existing tokens only).",
        };
        Option<string> keyLabelPrefix = new("--key-label-prefix")
        {
            Description = "Prefix of the labels of every object the vault keeps on the token (several vaults can share a token under different prefixes).",
            DefaultValueFactory = _ => "hsmvault",
        };
        Option<string> gcmIv = new("--gcm-iv")
        {
            Description = "Who makes the AES-GCM IV: caller (the services, from the token's RNG; SoftHSM2), token-parameter (the token writes it " +
                "into CK_GCM_PARAMS) or token-appended (the token appends it to the ciphertext). See docs/HSM-VENDORS.md.",
            DefaultValueFactory = _ => "caller",
        };
        gcmIv.AcceptOnlyFromAmong("caller", "token-parameter", "token-appended");
        Option<int> attemptLimit = new("--attempt-limit")
        {
            Description = "Wrong guesses after which a record is destroyed; fixed per fleet.",
            DefaultValueFactory = _ => VaultPolicy.DefaultAttemptLimit,
        };

        Option<string?> operatorKey = new("--operator-key")
        {
            Description = "The operator's ECDSA P-256 public key (SEC1 uncompressed, 130 hex digits) that may delete accounts; without it operator deletion is refused.",
        };

        Option<string> fleetId = new("--fleet-id")
        {
            Description = "The fleet's name, written into the fleet-key set clients pin (letters, digits, '.', '-', '_').",
            DefaultValueFactory = _ => "hsmvault-local",
        };
        Option<string?> fleetKeysOut = new("--fleet-keys-out")
        {
            Description = "Write the fleet-key set (the JSON file clients pin with --fleet-key) here. Default: fleet-keys.json in --state-dir; without --state-dir, not written.",
        };

        Command serve = new("serve", "Run one simulated HSM: the enclave over a PKCS#11 token, served over the bridge protocol until SIGINT/SIGTERM.")
        {
            listen, stateDirectory, library, tokenLabel, pinEnvironment, pinFile, keyLabelPrefix, gcmIv, attemptLimit, operatorKey, fleetId, fleetKeysOut,
        };
        serve.SetAction(async (parseResult, cancellationToken) =>
        {
            ServeSettings settings = new(
                parseResult.GetValue(listen)!,
                parseResult.GetValue(stateDirectory),
                parseResult.GetValue(library)!,
                parseResult.GetValue(tokenLabel)!,
                parseResult.GetValue(pinEnvironment),
                parseResult.GetValue(pinFile),
                parseResult.GetValue(keyLabelPrefix)!,
                parseResult.GetValue(gcmIv)!,
                parseResult.GetValue(attemptLimit),
                parseResult.GetValue(operatorKey),
                parseResult.GetValue(fleetId)!,
                parseResult.GetValue(fleetKeysOut));
            return await ServeAsync(settings, cancellationToken).ConfigureAwait(false);
        });

        var root = new RootCommand("hsmvault-simulator: a software HSM for HsmVault (the enclave over SoftHSM2, or a vendor token, through PKCS#11).")
        {
            serve,
        };
        foreach (HelpOption help in root.Options.OfType<HelpOption>().Concat(serve.Options.OfType<HelpOption>()))
        {
            if (help.Action is HelpAction standard)
            {
                help.Action = new HelpWithExitCodes(standard);
            }
        }

        return root;
    }

    private sealed record ServeSettings(
        string Listen,
        string? StateDirectory,
        string Library,
        string TokenLabel,
        string? PinEnvironment,
        string? PinFile,
        string KeyLabelPrefix,
        string GcmIv,
        int AttemptLimit,
        string? OperatorKeyHex,
        string FleetId,
        string? FleetKeysOut)
    {
        public string? FleetKeysPath => FleetKeysOut ?? (StateDirectory is { Length: > 0 } directory ? Path.Combine(directory, "fleet-keys.json") : null);

        public byte[]? OperatorKey => OperatorKeyHex is null ? null : ParseOperatorKey(OperatorKeyHex);
    }

    private static byte[] ParseOperatorKey(string hex)
    {
        byte[] key;
        try
        {
            key = Convert.FromHexString(hex);
        }
        catch (FormatException)
        {
            throw new FormatException("--operator-key: not hexadecimal.");
        }

        if (key.Length != 65 || key[0] != 0x04)
        {
            throw new FormatException($"--operator-key: {key.Length} bytes; expected an uncompressed P-256 point (65 bytes starting 04).");
        }

        return key;
    }

    private static async Task<int> ServeAsync(ServeSettings settings, CancellationToken cancellationToken)
    {
        BridgeEndpoint endpoint;
        Pkcs11Options options;
        Pkcs11HsmServices hsm;

        // Every start-up failure is one line naming the input and what was wrong, and a documented exit
        // code (SimulatorExitCode); a stack trace tells an operator nothing they can act on.
        try
        {
            endpoint = BridgeEndpoint.ParseListener(settings.Listen, "--listen");
            _ = settings.OperatorKey;
            if (settings.AttemptLimit is < 1 or > 1000)
            {
                throw new FormatException($"--attempt-limit: {settings.AttemptLimit} is outside 1..1000.");
            }

            options = ResolveToken(settings) with
            {
                SessionReopened = message => Console.Error.WriteLine($"hsmvault-simulator: {message}"),
            };
            hsm = Pkcs11HsmServices.OpenOrProvision(options);
        }
        catch (Exception ex) when (ex is FormatException or HsmConfigurationException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"hsmvault-simulator: {OneLine(ex.Message)}").ConfigureAwait(false);
            return SimulatorExitCode.InvalidConfiguration;
        }
        catch (Exception ex) when (ex is HsmUnavailableException or Pkcs11Exception)
        {
            await Console.Error.WriteLineAsync($"hsmvault-simulator: the HSM failed at start-up: {OneLine(ex.Message)}").ConfigureAwait(false);
            return SimulatorExitCode.HsmUnavailable;
        }

        using Pkcs11HsmServices openedHsm = hsm;
        string fleetKeysNote = "fleet keys not written";
        try
        {
            FleetKeySet fleetKeys = FleetKeySet.Create(settings.FleetId, hsm.ChannelPublicKey, hsm.AkePublicKey);
            if (settings.FleetKeysPath is { } path)
            {
                WriteAtomically(path, fleetKeys.ToFileText());
                fleetKeysNote = $"fleet keys in {Path.GetFullPath(path)}";
            }

            Console.WriteLine($"hsmvault-simulator: fleet '{fleetKeys.FleetId}', fleet-key set sha256 {Convert.ToHexStringLower(fleetKeys.Digest)}");
        }
        catch (Exception ex) when (ex is FleetKeySetFormatException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"hsmvault-simulator: --fleet-id/--fleet-keys-out: {ex.Message}").ConfigureAwait(false);
            return SimulatorExitCode.InvalidConfiguration;
        }

        VaultPolicy policy = new(AttemptLimit: settings.AttemptLimit, OperatorPublicKey: settings.OperatorKey);
        VaultEnclave enclave = new(hsm, policy);
        BridgeServer server = new(request => enclave.Handle(request), endpoint, Console.Error, policy.MaxRequestBytes);

        using CancellationTokenSource stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });

        await server.RunAsync(
            () => Console.WriteLine($"hsmvault-simulator: listening on {endpoint.Display} (token '{options.TokenLabel}', {fleetKeysNote})"),
            stop.Token).ConfigureAwait(false);
        Console.WriteLine($"hsmvault-simulator: stopped after {server.RequestsHandled} requests");
        return SimulatorExitCode.Stopped;
    }

    // A reader never sees a half-written key set: write beside it, then rename over it.
    private static void WriteAtomically(string path, string text)
    {
        string full = Path.GetFullPath(path);
        string temporary = full + ".tmp";
        File.WriteAllText(temporary, text);
        File.Move(temporary, full, overwrite: true);
    }

    private static string OneLine(string message) => message.ReplaceLineEndings(" ");

    private static Pkcs11GcmIvMode ParseGcmIvMode(string value) => value switch
    {
        "caller" => Pkcs11GcmIvMode.CallerSupplied,
        "token-parameter" => Pkcs11GcmIvMode.TokenWritesParameter,
        "token-appended" => Pkcs11GcmIvMode.TokenAppendsToOutput,
        _ => throw new FormatException($"--gcm-iv: '{value}' is not caller, token-parameter or token-appended."),
    };

    private static Pkcs11Options ResolveToken(ServeSettings settings)
    {
        if (settings.StateDirectory is { Length: > 0 } directory)
        {
            if (settings.PinEnvironment is not null || settings.PinFile is not null)
            {
                throw new FormatException("--pin-env/--pin-file: not with --state-dir, which keeps its own PIN files.");
            }

            return SoftHsmStateDirectory.Prepare(directory, settings.Library, settings.TokenLabel) with
            {
                KeyLabelPrefix = settings.KeyLabelPrefix,
                GcmIvMode = ParseGcmIvMode(settings.GcmIv),
            };
        }

        Pkcs11PinSource pin = (settings.PinEnvironment, settings.PinFile) switch
        {
            ({ } variable, null) => Pkcs11PinSource.EnvironmentVariable(variable),
            (null, { } file) => Pkcs11PinSource.File(file),
            (null, null) => throw new FormatException("Give --state-dir for a simulator-managed token, or --pin-env or --pin-file for an existing one."),
            _ => throw new FormatException("--pin-env and --pin-file: give only one."),
        };
        return new Pkcs11Options(settings.Library, settings.TokenLabel, pin, settings.KeyLabelPrefix) { GcmIvMode = ParseGcmIvMode(settings.GcmIv) };
    }

    // The standard help, followed by the exit codes.
    private sealed class HelpWithExitCodes(HelpAction standard) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            int code = standard.Invoke(parseResult);
            TextWriter output = parseResult.InvocationConfiguration.Output;
            output.WriteLine(SimulatorExitCode.Table);
            output.WriteLine();
            return code;
        }
    }
}
