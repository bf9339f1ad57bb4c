using System.CommandLine;
using System.Runtime.InteropServices;
using HsmVault.Enclave;
using HsmVault.Protocol.Bridge;
using HsmVault.Protocol.Fleet;
using HsmVault.Simulator.Bridge;
using HsmVault.Simulator.Pkcs11;

namespace HsmVault.Simulator;

/// <summary>
/// The simulator process's command line: <c>serve</c> runs one enclave over a SoftHSM2 (or any
/// PKCS#11) token and serves it over the bridge protocol, as a vendor HSM's bridge would.
/// </summary>
public static class SimulatorCommandLine
{
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
            listen, stateDirectory, library, tokenLabel, pinEnvironment, pinFile, attemptLimit, operatorKey, fleetId, fleetKeysOut,
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
                parseResult.GetValue(attemptLimit),
                parseResult.GetValue(operatorKey),
                parseResult.GetValue(fleetId)!,
                parseResult.GetValue(fleetKeysOut));
            return await ServeAsync(settings, cancellationToken).ConfigureAwait(false);
        });

        return new RootCommand("hsmvault-simulator: a software HSM for HsmVault (the enclave over SoftHSM2 through PKCS#11).")
        {
            serve,
        };
    }

    private sealed record ServeSettings(
        string Listen,
        string? StateDirectory,
        string Library,
        string TokenLabel,
        string? PinEnvironment,
        string? PinFile,
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
        try
        {
            endpoint = BridgeEndpoint.ParseListener(settings.Listen, "--listen");
            options = ResolveToken(settings);
            _ = settings.OperatorKey;
            if (settings.AttemptLimit is < 1 or > 1000)
            {
                throw new FormatException($"--attempt-limit: {settings.AttemptLimit} is outside 1..1000.");
            }
        }
        catch (Exception ex) when (ex is FormatException or HsmConfigurationException or IOException)
        {
            await Console.Error.WriteLineAsync($"hsmvault-simulator: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

        using Pkcs11HsmServices hsm = Pkcs11HsmServices.OpenOrProvision(options);
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
            return 2;
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
        return 0;
    }

    // A reader never sees a half-written key set: write beside it, then rename over it.
    private static void WriteAtomically(string path, string text)
    {
        string full = Path.GetFullPath(path);
        string temporary = full + ".tmp";
        File.WriteAllText(temporary, text);
        File.Move(temporary, full, overwrite: true);
    }

    private static Pkcs11Options ResolveToken(ServeSettings settings)
    {
        if (settings.StateDirectory is { Length: > 0 } directory)
        {
            if (settings.PinEnvironment is not null || settings.PinFile is not null)
            {
                throw new FormatException("--pin-env/--pin-file: not with --state-dir, which keeps its own PIN files.");
            }

            return SoftHsmStateDirectory.Prepare(directory, settings.Library, settings.TokenLabel);
        }

        Pkcs11PinSource pin = (settings.PinEnvironment, settings.PinFile) switch
        {
            ({ } variable, null) => Pkcs11PinSource.EnvironmentVariable(variable),
            (null, { } file) => Pkcs11PinSource.File(file),
            (null, null) => throw new FormatException("Give --state-dir for a simulator-managed token, or --pin-env or --pin-file for an existing one."),
            _ => throw new FormatException("--pin-env and --pin-file: give only one."),
        };
        return new Pkcs11Options(settings.Library, settings.TokenLabel, pin);
    }
}
