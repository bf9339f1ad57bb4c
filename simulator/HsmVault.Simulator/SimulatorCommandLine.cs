using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Runtime.InteropServices;
using HsmVault.Crypto;
using HsmVault.Crypto.Ec;
using HsmVault.Enclave;
using HsmVault.Enclave.Fleet;
using HsmVault.Protocol.Bridge;
using HsmVault.Protocol.Fleet;
using HsmVault.Simulator.Bridge;
using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;

namespace HsmVault.Simulator;

/// <summary>
/// The simulator process's command line: <c>serve</c> runs one enclave (a single-HSM vault, or with
/// <c>--fleet</c> a fleet member) over a SoftHSM2 (or any PKCS#11) token and serves it over the bridge
/// protocol, as a vendor HSM's bridge would; <c>clone</c> (TEST ONLY) makes another member of the same
/// fleet from a provisioned state directory.
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
        Option<string> library = LibraryOption();
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
        Option<string> keyLabelPrefix = KeyLabelPrefixOption();
        Option<string> gcmIv = new("--gcm-iv")
        {
            Description = "Who makes the AES-GCM IV: caller (the services, from the token's RNG; SoftHSM2), token-parameter (the token writes it " +
                "into CK_GCM_PARAMS) or token-appended (the token appends it to the ciphertext). See docs/HSM-VENDORS.md.",
            DefaultValueFactory = _ => "caller",
        };
        gcmIv.AcceptOnlyFromAmong("caller", "token-parameter", "token-appended");
        Option<int> attemptLimit = new("--attempt-limit")
        {
            Description = "Wrong guesses after which a record is destroyed; fixed per fleet. Not with --fleet.",
            DefaultValueFactory = _ => VaultPolicy.DefaultAttemptLimit,
        };

        Option<string?> operatorKey = new("--operator-key")
        {
            Description = "The operator's ECDSA P-256 public key (SEC1 uncompressed, 130 hex digits) that may delete accounts; without it operator deletion is refused. Not with --fleet.",
        };
        Option<bool> fleet = new("--fleet")
        {
            Description = "Serve a fleet member (replication by majority quorum, docs/REPLICATION.md) instead of a single-HSM vault. " +
                "Its attempt limit and operator key come from the fleet configuration handed over at genesis, so --attempt-limit and --operator-key are refused with it.",
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

        Command serve = new("serve", "Run one simulated HSM: the enclave (a single-HSM vault, or with --fleet a fleet member) over a PKCS#11 token, served over the bridge protocol until SIGINT/SIGTERM.")
        {
            listen, stateDirectory, library, tokenLabel, pinEnvironment, pinFile, keyLabelPrefix, gcmIv, attemptLimit, operatorKey, fleet, fleetId, fleetKeysOut,
        };
        serve.SetAction(async (parseResult, cancellationToken) =>
        {
            // Given, not defaulted: a fleet member takes these from the fleet configuration instead.
            string? refusedWithFleet = parseResult.GetResult(attemptLimit) is { Implicit: false } ? "--attempt-limit"
                : parseResult.GetResult(operatorKey) is { Implicit: false } ? "--operator-key"
                : null;
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
                parseResult.GetValue(fleetKeysOut),
                parseResult.GetValue(fleet),
                refusedWithFleet);
            return await ServeAsync(settings, cancellationToken).ConfigureAwait(false);
        });

        Option<string> cloneFrom = new("--from")
        {
            Description = "A provisioned simulator state directory (one 'serve --state-dir' has run on), the member to clone. Best stopped while it is copied.",
            Required = true,
        };
        Option<string> cloneTo = new("--to")
        {
            Description = "The new state directory: a folder that does not exist yet, or an empty one.",
            Required = true,
        };
        Option<string> cloneLibrary = LibraryOption();
        Option<string> clonePrefix = KeyLabelPrefixOption();
        Command clone = new("clone", CloneDescription) { cloneFrom, cloneTo, cloneLibrary, clonePrefix };
        clone.SetAction(parseResult => Clone(
            parseResult.GetValue(cloneFrom)!,
            parseResult.GetValue(cloneTo)!,
            parseResult.GetValue(cloneLibrary)!,
            parseResult.GetValue(clonePrefix)!));

        var root = new RootCommand("hsmvault-simulator: a software HSM for HsmVault (the enclave over SoftHSM2, or a vendor token, through PKCS#11).")
        {
            serve, clone, Ceremony.CeremonyCommandLine.FleetInit(), Ceremony.CeremonyCommandLine.Steps(),
        };
        foreach (HelpOption help in root.Options.OfType<HelpOption>().Concat(serve.Options.OfType<HelpOption>()).Concat(clone.Options.OfType<HelpOption>()))
        {
            if (help.Action is HelpAction standard)
            {
                help.Action = new HelpWithExitCodes(standard, clone);
            }
        }

        return root;
    }

    private const string CloneDescription =
        "TEST ONLY. Makes another simulated HSM of the same fleet from a provisioned state directory, for local fleets in tests: " +
        "it copies the SoftHSM2 token files, so the clone holds the same fleet keys (record key, HMAC keys, AKE and channel key pairs, " +
        "still sensitive and never extractable), then destroys the copy's identity key pair and NVRAM and generates a new identity key pair " +
        "inside it (a distinct HSM, so a distinct fleet member, that has joined no fleet). No real HSM can be copied like this and no " +
        "deployment may do it: a real fleet gets its keys by key wrap, in the ceremony fleet-init (docs/DEPLOYMENT.md); clone is the fallback for tests where a token cannot do it. " +
        "See docs/SIMULATOR.md.";

    private static Option<string> LibraryOption() => new("--library")
    {
        Description = "The PKCS#11 module. Default: $HSMVAULT_PKCS11_LIBRARY, else SoftHSM2's " + Pkcs11Options.SoftHsm2LibraryPath + ".",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("HSMVAULT_PKCS11_LIBRARY") is { Length: > 0 } path
            ? path
            : Pkcs11Options.SoftHsm2LibraryPath,
    };

    private static Option<string> KeyLabelPrefixOption() => new("--key-label-prefix")
    {
        Description = "Prefix of the labels of every object the vault keeps on the token (several vaults can share a token under different prefixes).",
        DefaultValueFactory = _ => "hsmvault",
    };

    private static int Clone(string from, string to, string library, string keyLabelPrefix)
    {
        SoftHsmStateClone.Result result;
        try
        {
            result = SoftHsmStateClone.Clone(from, to, library, keyLabelPrefix);
        }
        catch (Exception ex) when (ex is HsmConfigurationException or IOException or UnauthorizedAccessException or InvalidOperationException)
        {
            Console.Error.WriteLine($"hsmvault-simulator: {OneLine(ex.Message)}");
            return SimulatorExitCode.InvalidConfiguration;
        }
        catch (Exception ex) when (ex is HsmUnavailableException or Pkcs11Exception)
        {
            Console.Error.WriteLine($"hsmvault-simulator: the HSM failed during the clone: {OneLine(ex.Message)}");
            return SimulatorExitCode.HsmUnavailable;
        }

        Console.WriteLine(
            $"hsmvault-simulator: cloned '{Path.GetFullPath(from)}' into '{Path.GetFullPath(to)}' (token '{result.TokenLabel}'): the same fleet keys, " +
            $"a new identity key (fleet member {Convert.ToHexStringLower(result.MemberId)}), no NVRAM. TEST ONLY: a copy of SoftHSM2 token files; " +
            "a real fleet moves its keys by key wrap (docs/SIMULATOR.md)");
        return SimulatorExitCode.Cloned;
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
        string? FleetKeysOut,
        bool Fleet,
        string? RefusedWithFleet)
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

        try
        {
            // The right form is not enough: the policy refuses a key off the curve, and that is an input error.
            P256Group.ValidateUncompressed(key, "--operator-key");
        }
        catch (CryptoFormatException ex)
        {
            throw new FormatException($"--operator-key: not a point on P-256 ({ex.Message})", ex);
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
            if (settings.Fleet && settings.RefusedWithFleet is { } option)
            {
                throw new FormatException($"{option}: not with --fleet; a fleet member takes the attempt limit and operator key from the fleet configuration handed over at genesis.");
            }

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

        Func<byte[], byte[]> handle;
        int maxRequestBytes;
        string served;
        if (settings.Fleet)
        {
            // What fleet it is in, and under which policy, comes from its NVRAM and the configuration the hosts hand over.
            FleetEnclave member = new(hsm);
            handle = request => member.Handle(request);
            maxRequestBytes = VaultPolicy.Default.MaxRequestBytes;
            string memberId = Convert.ToHexStringLower(member.MemberId);
            served = $"fleet member {memberId}, ";
            Console.WriteLine($"hsmvault-simulator: serving fleet member {memberId} (identity key {Convert.ToHexStringLower(hsm.IdentityPublicKey)}); attempt limit and operator key come from the fleet configuration at genesis");
        }
        else
        {
            VaultPolicy policy = new(AttemptLimit: settings.AttemptLimit, OperatorPublicKey: settings.OperatorKey);
            VaultEnclave enclave = new(hsm, policy);
            handle = request => enclave.Handle(request);
            maxRequestBytes = policy.MaxRequestBytes;
            served = "";
        }

        BridgeServer server = new(handle, endpoint, Console.Error, maxRequestBytes);

        using CancellationTokenSource stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using PosixSignalRegistration sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
        {
            context.Cancel = true;
            stop.Cancel();
        });

        await server.RunAsync(
            () => Console.WriteLine($"hsmvault-simulator: listening on {endpoint.Display} ({served}token '{options.TokenLabel}', {fleetKeysNote})"),
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

    // The standard help, followed by the exit codes of the command it is for.
    private sealed class HelpWithExitCodes(HelpAction standard, Command clone) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            int code = standard.Invoke(parseResult);
            TextWriter output = parseResult.InvocationConfiguration.Output;
            output.WriteLine(parseResult.CommandResult.Command == clone ? SimulatorExitCode.CloneTable : SimulatorExitCode.Table);
            output.WriteLine();
            return code;
        }
    }
}
