using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.CommandLine.Parsing;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using HsmVault.Client;
using HsmVault.Client.Transparency;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency;

namespace HsmVault.Cli;

/// <summary>
/// The <c>hsmvault</c> command line: register, recover, delete and status against a vault host.
/// Results go to stdout, progress and errors to stderr; see <see cref="CliExitCode"/>.
/// </summary>
public sealed class HsmVaultCli
{
    private const string EndpointVariable = "HSMVAULT_ENDPOINT";
    private const string FleetKeyVariable = "HSMVAULT_FLEET_KEY";
    private const string TrustVariable = "HSMVAULT_TRUST";
    private const string TrustStateVariable = "HSMVAULT_TRUST_STATE";

    private readonly CliConsole _console;
    private OverTheAirFleet? _overTheAir;
    private long? _epochAtStart;

    private readonly Option<string> _endpoint = new("--endpoint")
    {
        Description = $"Vault host as host:port, or several hosts of the fleet separated by commas: the first that accepts a connection serves " +
            $"(nothing is sent to a host that cannot be reached; a request is never resent) (default: ${EndpointVariable}, else 127.0.0.1:{VaultClientOptions.DefaultPort}).",
        HelpName = "host:port[,host:port...]",
        Recursive = true,
    };

    private readonly Option<string> _fleetKey = new("--fleet-key")
    {
        Description = $"The pinned fleet-key set: a JSON file with the fleet's channel and OPAQUE keys (the simulator writes fleet-keys.json). Default: ${FleetKeyVariable}.",
        HelpName = "path",
        Recursive = true,
    };

    private readonly Option<string> _trust = new("--trust")
    {
        Description =
            "Accept the fleet over the air: a transparency-trust file (hsmvault-transparency-trust/v1: the log's namespace, " +
            "the witness key, the operator key, optional cosigners). The host's validation bundle must pass every check " +
            "against it before anything is sent; a newer fleet proven by the log replaces the old one. --fleet-key becomes " +
            $"optional (if given, it is trusted until a newer fleet is proven). Default: ${TrustVariable}.",
        HelpName = "path",
        Recursive = true,
    };

    private readonly Option<string> _trustState = new("--trust-state")
    {
        Description =
            "With --trust: the file that keeps the newest epoch accepted, so an older fleet is refused in later runs too " +
            $"(default: ${TrustStateVariable}, else ~/.local/state/hsmvault/newest-epochs.json).",
        HelpName = "path",
        Recursive = true,
    };

    private readonly Option<bool> _tls = new("--tls")
    {
        Description = "Connect with TLS (the host must be configured with a certificate).",
        Recursive = true,
    };

    private readonly Option<string> _tlsServerName = new("--tls-server-name")
    {
        Description = "The name the host's TLS certificate must carry (default: the endpoint host).",
        HelpName = "name",
        Recursive = true,
    };

    private readonly Option<string> _tlsCertificate = new("--tls-ca")
    {
        Description = "PEM/DER certificate to trust instead of the system store: the host's own certificate (a pin) or a private CA.",
        HelpName = "path",
        Recursive = true,
    };

    private readonly Option<string> _ksf = new("--ksf")
    {
        Description = "Key-stretching function for a password; must match the one used at registration. argon2id = RFC 9106 t=3, p=4, 64 MiB; scrypt = N=32768, r=8, p=1. (A passkey secret is never stretched.)",
        DefaultValueFactory = _ => "argon2id",
        HelpName = "argon2id|scrypt",
        Recursive = true,
        CustomParser = ParseKsf,
    };

    private readonly Option<int> _timeout = new("--timeout")
    {
        Description = $"Seconds to wait for the connection and for each answer ({MinTimeoutSeconds} to {MaxTimeoutSeconds}).",
        DefaultValueFactory = _ => 30,
        HelpName = "seconds",
        Recursive = true,
        CustomParser = ParseTimeout,
    };

    private readonly Option<string> _user = new("--user")
    {
        Description = "The user id (UTF-8).",
        HelpName = "id",
        Recursive = true,
    };

    private readonly Option<bool> _passwordStdin = new("--password-stdin")
    {
        Description = $"Read the password from the first line of standard input instead of prompting (at most {VaultSecret.MaxPasswordBytes} bytes).",
    };

    private readonly Option<string> _passkeyFile = new("--passkey-file")
    {
        Description = "Use a passkey secret instead of a password: a file holding the 32-byte WebAuthn PRF output, raw or as 64 hex characters. Not stretched; see docs/CLIENT.md.",
        HelpName = "path",
    };

    private readonly Option<bool> _passkeyStdin = new("--passkey-stdin")
    {
        Description = "Use a passkey secret read from standard input (32 raw bytes or 64 hex characters) instead of a password.",
    };

    private const int MinTimeoutSeconds = 1;
    private const int MaxTimeoutSeconds = 3600;

    // A passkey secret is 32 bytes, 65 with hex and a newline; reading stops well past that, so a
    // wrong file or stream is refused without being read whole.
    private const int MaxPasskeyInputBytes = 4096;

    public HsmVaultCli(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        _console = console;
    }

    /// <summary>Runs the command line in-process and returns the exit code.</summary>
    public static Task<int> RunAsync(string[] args, CliConsole console, CancellationToken cancellationToken = default) =>
        new HsmVaultCli(console).InvokeAsync(args, cancellationToken);

    private async Task<int> InvokeAsync(string[] args, CancellationToken cancellationToken)
    {
        RootCommand root = BuildCommands();
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0 && parsed.Action is not HelpWithExitCodes)
        {
            // One line per distinct error, then where to look: the whole help would bury the error.
            foreach (string error in parsed.Errors.Select(e => OneLine(e.Message)).Distinct(StringComparer.Ordinal))
            {
                await _console.Error.WriteLineAsync($"hsmvault: {error}").ConfigureAwait(false);
            }

            await _console.Error.WriteLineAsync(UsageHint(parsed)).ConfigureAwait(false);
            return CliExitCode.UsageOrInput;
        }

        var invocation = new InvocationConfiguration { Output = _console.Out, Error = _console.Error, EnableDefaultExceptionHandler = false };
        try
        {
            int code = await parsed.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
            await ReportFleetMoveAsync().ConfigureAwait(false);
            return code;
        }
        catch (CliInputException ex)
        {
            await _console.Error.WriteLineAsync($"hsmvault: {ex.Message}").ConfigureAwait(false);
            if (ex.IsUsage)
            {
                await _console.Error.WriteLineAsync(UsageHint(parsed)).ConfigureAwait(false);
            }

            return CliExitCode.UsageOrInput;
        }
        catch (ArgumentException ex)
        {
            // The SDK's argument checks name the argument and never hold the secret.
            await _console.Error.WriteLineAsync($"hsmvault: {ArgumentMessage(ex)}").ConfigureAwait(false);
            return CliExitCode.UsageOrInput;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A bug, not an input: one line, no stack trace. Exception messages here hold no secret
            // (the SDK never puts one in a message).
            await _console.Error.WriteLineAsync($"hsmvault: unexpected error ({ex.GetType().Name}): {OneLine(ex.Message)}").ConfigureAwait(false);
            return CliExitCode.Unexpected;
        }
    }

    private static string UsageHint(ParseResult parsed)
    {
        string command = parsed.CommandResult.Command is RootCommand ? "hsmvault" : $"hsmvault {parsed.CommandResult.Command.Name}";
        return $"Run '{command} --help' for usage.";
    }

    // .NET appends " (Parameter 'name')"; the SDK's messages already start with the name.
    private static string ArgumentMessage(ArgumentException ex) =>
        OneLine(ex.ParamName is null ? ex.Message : ex.Message.Replace($" (Parameter '{ex.ParamName}')", string.Empty, StringComparison.Ordinal));

    private static string OneLine(string text) =>
        string.Join(' ', text.Split(['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    private static int ParseTimeout(ArgumentResult result)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(' ', result.Tokens.Select(t => t.Value));
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int seconds) || seconds is < MinTimeoutSeconds or > MaxTimeoutSeconds)
        {
            result.AddError($"--timeout: '{text}' is not a whole number of seconds from {MinTimeoutSeconds} to {MaxTimeoutSeconds}");
            return 0;
        }

        return seconds;
    }

    private static string? ParseKsf(ArgumentResult result)
    {
        string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : string.Join(' ', result.Tokens.Select(t => t.Value));
        if (text is not ("argon2id" or "scrypt"))
        {
            result.AddError($"--ksf: '{text}' is not a key-stretching function this client knows (argon2id or scrypt)");
            return null;
        }

        return text;
    }

    private RootCommand BuildCommands()
    {
        var root = new RootCommand(
            "hsmvault: keep a 32-byte backup key in an HsmVault fleet, protected by a password or a passkey secret (OPAQUE).\n" +
            "The password is prompted for without echo, or read from stdin with --password-stdin; it is never an argument.\n" +
            "A passkey secret (the 32-byte WebAuthn PRF output) comes from --passkey-file or --passkey-stdin.");
        foreach (Option option in new Option[] { _endpoint, _fleetKey, _trust, _trustState, _tls, _tlsServerName, _tlsCertificate, _ksf, _timeout, _user })
        {
            root.Options.Add(option);
        }

        root.Subcommands.Add(RegisterCommand());
        root.Subcommands.Add(RecoverCommand());
        root.Subcommands.Add(DeleteCommand());
        root.Subcommands.Add(StatusCommand());
        root.Subcommands.Add(Audit.DeploymentAuditCommand.Extend(new AuditCommand(_console).Build(), _console, _fleetKey));
        foreach (HelpOption help in root.Options.OfType<HelpOption>())
        {
            if (help.Action is HelpAction standard)
            {
                help.Action = new HelpWithExitCodes(standard);
            }
        }

        return root;
    }

    private Command RegisterCommand()
    {
        var keyFile = new Option<string>("--key-file") { Description = "The key to protect: a file of 32 raw bytes or 64 hex characters.", HelpName = "path" };
        var generate = new Option<bool>("--generate-key") { Description = "Generate a random key; it is printed once in hex (or written to --out)." };
        var output = new Option<string>("--out") { Description = "With --generate-key: write the key in hex to this new file (mode 0600) instead of stdout.", HelpName = "path" };
        var command = new Command(
            "register",
            "Register --user with a password (or a passkey secret) and upload the key, encrypted so only that secret can recover it. " +
            "Registering an existing user replaces its record. Give exactly one of --key-file or --generate-key.")
        {
            keyFile, generate, output, _passwordStdin, _passkeyFile, _passkeyStdin,
        };
        command.Validators.Add(result =>
        {
            bool hasFile = result.GetResult(keyFile) is not null;
            bool hasGenerate = result.GetValue(generate);
            if (hasFile == hasGenerate)
            {
                result.AddError("register: give exactly one of --key-file <path> or --generate-key");
            }
            else if (hasFile && result.GetResult(output) is not null)
            {
                result.AddError("--out: only applies with --generate-key");
            }
        });
        AddSecretSourceValidator(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            string user = RequireUser(parse);
            VaultClientOptions options = ClientOptions(parse);
            EnsureSecretSource(parse);
            byte[] key = parse.GetValue(keyFile) is { } path ? BackupKeyFile.Read(path) : RandomNumberGenerator.GetBytes(VaultClient.BackupKeyBytes);
            string? outPath = parse.GetValue(output);
            FileStream? outFile = null;
            VaultSecret? secret = null;
            try
            {
                secret = ReadSecret(parse, confirm: true);
                outFile = outPath is null ? null : BackupKeyFile.CreateNew(outPath);
                await using var client = new VaultClient(options);
                VaultOutcome outcome = await client.RegisterAsync(user, secret, key, cancellationToken).ConfigureAwait(false);
                if (outcome is UserRegistered && parse.GetValue(generate))
                {
                    if (outFile is not null)
                    {
                        BackupKeyFile.Write(outFile, key);
                        await _console.Error.WriteLineAsync($"registered '{user}'; the generated key is in {outPath}").ConfigureAwait(false);
                    }
                    else
                    {
                        await _console.Out.WriteLineAsync(Convert.ToHexStringLower(key)).ConfigureAwait(false);
                        await _console.Error.WriteLineAsync($"registered '{user}'; the generated key above is shown once: store it").ConfigureAwait(false);
                    }

                    outFile?.Dispose();
                    outFile = null;
                    return CliExitCode.Success;
                }

                return await ReportAsync(outcome, $"registered '{user}'").ConfigureAwait(false);
            }
            finally
            {
                if (outFile is not null)
                {
                    BackupKeyFile.Discard(outFile);
                }

                secret?.Dispose();
                CryptographicOperations.ZeroMemory(key);
            }
        });
        return command;
    }

    private Command RecoverCommand()
    {
        var output = new Option<string>("--out") { Description = "Write the key in hex to this new file (mode 0600) instead of stdout.", HelpName = "path" };
        var command = new Command(
            "recover",
            "Prove the password (or passkey secret) for --user and print the recovered key in hex (or write it to --out). " +
            "Each wrong password uses up one of the user's attempts; when none are left the record is destroyed. " +
            "The last attempt is announced before it is made.")
        {
            output, _passwordStdin, _passkeyFile, _passkeyStdin,
        };
        AddSecretSourceValidator(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            string user = RequireUser(parse);
            VaultClientOptions options = ClientOptions(parse);
            EnsureSecretSource(parse);
            string? outPath = parse.GetValue(output);
            FileStream? outFile = null;
            VaultSecret? secret = null;
            try
            {
                outFile = outPath is null ? null : BackupKeyFile.CreateNew(outPath);
                await using var client = new VaultClient(options);
                if (await CheckBeforeGuessAsync(client, user, cancellationToken).ConfigureAwait(false) is { } stop)
                {
                    return await ReportAsync(stop, string.Empty).ConfigureAwait(false);
                }

                secret = ReadSecret(parse, confirm: false);
                VaultOutcome outcome = await client.RecoverAsync(user, secret, cancellationToken).ConfigureAwait(false);
                if (outcome is KeyRecovered recovered)
                {
                    using (recovered)
                    {
                        if (outFile is not null)
                        {
                            BackupKeyFile.Write(outFile, recovered.Key);
                            outFile.Dispose();
                            outFile = null;
                            await _console.Error.WriteLineAsync($"recovered the key of '{user}' into {outPath}").ConfigureAwait(false);
                        }
                        else
                        {
                            await _console.Out.WriteLineAsync(Convert.ToHexStringLower(recovered.Key)).ConfigureAwait(false);
                        }
                    }

                    return CliExitCode.Success;
                }

                return await ReportAsync(outcome, string.Empty).ConfigureAwait(false);
            }
            finally
            {
                if (outFile is not null)
                {
                    BackupKeyFile.Discard(outFile);
                }

                secret?.Dispose();
            }
        });
        return command;
    }

    private Command DeleteCommand()
    {
        var command = new Command(
            "delete",
            "Prove the password (or passkey secret) for --user and destroy the record for good; the key can no longer be recovered. " +
            "A wrong password uses up an attempt, as with recover.")
        {
            _passwordStdin, _passkeyFile, _passkeyStdin,
        };
        AddSecretSourceValidator(command);
        command.SetAction(async (parse, cancellationToken) =>
        {
            string user = RequireUser(parse);
            VaultClientOptions options = ClientOptions(parse);
            EnsureSecretSource(parse);
            await using var client = new VaultClient(options);
            if (await CheckBeforeGuessAsync(client, user, cancellationToken).ConfigureAwait(false) is { } stop)
            {
                return await ReportAsync(stop, string.Empty).ConfigureAwait(false);
            }

            using VaultSecret secret = ReadSecret(parse, confirm: false);
            VaultOutcome outcome = await client.DeleteAsync(user, secret, cancellationToken).ConfigureAwait(false);
            return await ReportAsync(outcome, $"deleted '{user}'").ConfigureAwait(false);
        });
        return command;
    }

    private Command StatusCommand()
    {
        var command = new Command(
            "status",
            "Show how many password attempts --user has left, as 'attempts left: N of LIMIT' on stdout. " +
            "Needs no password. Unknown, deleted and destroyed users all report 'no live record' (exit 4).");
        command.SetAction(async (parse, cancellationToken) =>
        {
            string user = RequireUser(parse);
            VaultClientOptions options = ClientOptions(parse);
            await using var client = new VaultClient(options);
            VaultOutcome outcome = await client.StatusAsync(user, cancellationToken).ConfigureAwait(false);
            if (outcome is StatusReported status)
            {
                await _console.Out.WriteLineAsync($"attempts left: {status.AttemptsLeft} of {status.AttemptLimit}").ConfigureAwait(false);
                return CliExitCode.Success;
            }

            return await ReportAsync(outcome, string.Empty).ConfigureAwait(false);
        });
        return command;
    }

    // One line when this run moved to a fleet over the air, so a user sees which fleet holds the key.
    private async Task ReportFleetMoveAsync()
    {
        if (_overTheAir is { CurrentEpoch: { } epoch, Current: { } fleet } && epoch != _epochAtStart)
        {
            _epochAtStart = epoch;
            await _console.Error.WriteLineAsync($"hsmvault: fleet {fleet.FleetId} accepted over the air (epoch {epoch}; bundle checked against the pinned witness and operator keys)").ConfigureAwait(false);
        }
    }

    private async Task<int> ReportAsync(VaultOutcome outcome, string successMessage)
    {
        await ReportFleetMoveAsync().ConfigureAwait(false);

        int code = CliExitCode.For(outcome);
        string line = code == CliExitCode.Success ? successMessage : $"hsmvault: {outcome.Describe()}";
        if (line.Length > 0)
        {
            await _console.Error.WriteLineAsync(line).ConfigureAwait(false);
        }

        return code;
    }

    private string RequireUser(ParseResult parse)
    {
        string? user = parse.GetValue(_user);
        if (string.IsNullOrWhiteSpace(user))
        {
            throw new CliInputException("--user: required (the user id to act on)", isUsage: true);
        }

        return user;
    }

    private VaultClientOptions ClientOptions(ParseResult parse)
    {
        IReadOnlyList<VaultEndpoint> endpoints = parse.GetValue(_endpoint) is { } text
            ? VaultEndpoint.ParseList(text, "--endpoint")
            : _console.GetEnvironmentVariable(EndpointVariable) is { Length: > 0 } fromEnvironment
                ? VaultEndpoint.ParseList(fromEnvironment, $"${EndpointVariable}")
                : [new VaultEndpoint("127.0.0.1", VaultClientOptions.DefaultPort)];
        VaultEndpoint endpoint = endpoints[0];
        var timeout = TimeSpan.FromSeconds(parse.GetValue(_timeout));
        IKeyStretchingFunction ksf = parse.GetValue(_ksf) == "scrypt" ? ScryptKsf.Recommended : Argon2idKsf.SecondRecommended;
        OverTheAirFleet? overTheAir = OverTheAir(parse);
        return new VaultClientOptions(endpoint.Host, endpoint.Port, FleetKey(parse, required: overTheAir is null))
        {
            OverTheAir = overTheAir,
            FailoverHosts = [.. endpoints.Skip(1).Select(e => new VaultHostAddress(e.Host, e.Port))],
            UseTls = parse.GetValue(_tls),
            TlsServerName = parse.GetValue(_tlsServerName),
            TlsTrustedCertificate = parse.GetValue(_tlsCertificate) is { } path ? LoadCertificate(path) : null,
            Ksf = ksf,
            ConnectTimeout = timeout,
            RequestTimeout = timeout,
            Progress = new Progress(_console.Error, endpoint, ksf.Name),
        };
    }

    private FleetKeySet? FleetKey(ParseResult parse, bool required)
    {
        (string? path, string source) = parse.GetValue(_fleetKey) is { } option
            ? (option, "--fleet-key")
            : (_console.GetEnvironmentVariable(FleetKeyVariable) is { Length: > 0 } variable ? variable : null, $"${FleetKeyVariable}");
        if (path is null)
        {
            return required
                ? throw new CliInputException($"--fleet-key: required (the fleet-key set file to pin; or set ${FleetKeyVariable}; or accept the fleet over the air with --trust)", isUsage: true)
                : null;
        }

        try
        {
            return FleetKeySet.Load(path);
        }
        catch (FleetKeySetFormatException ex)
        {
            // A file-level problem (missing, unreadable) names the path as its field: say it once.
            throw new CliInputException(ex.Field == path ? $"{source}: '{path}': {ex.Reason}" : $"{source}: '{path}': {ex.Field}: {ex.Reason}");
        }
    }

    // Over-the-air fleets: the pins from --trust, and the newest epoch seen from --trust-state.
    private OverTheAirFleet? OverTheAir(ParseResult parse)
    {
        (string? path, string source) = parse.GetValue(_trust) is { } option
            ? (option, "--trust")
            : (_console.GetEnvironmentVariable(TrustVariable) is { Length: > 0 } variable ? variable : null, $"${TrustVariable}");
        if (path is null)
        {
            return parse.GetValue(_trustState) is null ? null : throw new CliInputException("--trust-state: only with --trust (the transparency-trust file)", isUsage: true);
        }

        TransparencyTrust trust;
        try
        {
            trust = TransparencyTrust.Load(path);
        }
        catch (TransparencyFormatException ex)
        {
            throw new CliInputException($"{source}: '{path}': {ex.Message}");
        }

        (string statePath, string stateSource) = parse.GetValue(_trustState) is { } stateOption
            ? (stateOption, "--trust-state")
            : _console.GetEnvironmentVariable(TrustStateVariable) is { Length: > 0 } stateVariable
                ? (stateVariable, $"${TrustStateVariable}")
                : (Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state", "hsmvault", "newest-epochs.json"), "the default trust state");
        NewestEpochFile state;
        try
        {
            state = NewestEpochFile.Open(statePath);
        }
        catch (Exception ex) when (ex is TransparencyFormatException or IOException or UnauthorizedAccessException)
        {
            throw new CliInputException($"{stateSource}: '{statePath}': {ex.Message}");
        }

        var overTheAir = new OverTheAirFleet(trust, state);
        _overTheAir = overTheAir;
        _epochAtStart = overTheAir.NewestSeen?.Epoch;
        return overTheAir;
    }

    private static X509Certificate2 LoadCertificate(string path)
    {
        try
        {
            return X509CertificateLoader.LoadCertificateFromFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            throw new CliInputException($"--tls-ca: cannot load a certificate from '{path}': {ex.Message}");
        }
    }

    // A password and a passkey secret are alternatives: two given at once is a usage error, so the
    // user learns it before any guess is spent.
    private void AddSecretSourceValidator(Command command) =>
        command.Validators.Add(result =>
        {
            string[] given =
            [
                .. result.GetValue(_passwordStdin) ? ["--password-stdin"] : Array.Empty<string>(),
                .. result.GetResult(_passkeyFile) is not null ? ["--passkey-file"] : Array.Empty<string>(),
                .. result.GetValue(_passkeyStdin) ? ["--passkey-stdin"] : Array.Empty<string>(),
            ];
            if (given.Length > 1)
            {
                result.AddError($"{string.Join(" and ", given)}: give only one secret, a password or a passkey secret");
            }
        });

    // Checked before the vault is contacted, so a run that could never read a secret stops at once.
    private void EnsureSecretSource(ParseResult parse)
    {
        bool given = parse.GetValue(_passwordStdin) || parse.GetValue(_passkeyFile) is not null || parse.GetValue(_passkeyStdin);
        if (!given && !_console.InputIsTerminal)
        {
            throw new CliInputException(
                "password: standard input is not a terminal, so there is no one to prompt; use --password-stdin (or --passkey-file / --passkey-stdin)",
                isUsage: true);
        }
    }

    // Asks for the count before a guess is spent (a status query costs no attempt): a user without
    // a live record is reported without asking for the secret, the last attempt is announced before
    // it is made, and the client, having seen the record live, can tell afterwards whether this
    // guess destroyed it (RecordDestroyed) rather than leave it ambiguous.
    private async Task<VaultOutcome?> CheckBeforeGuessAsync(VaultClient client, string user, CancellationToken cancellationToken)
    {
        VaultOutcome status = await client.StatusAsync(user, cancellationToken).ConfigureAwait(false);
        switch (status)
        {
            case StatusReported { AttemptsLeft: 1 }:
                await _console.Error.WriteLineAsync($"hsmvault: warning: {WrongPassword.LastAttemptWarning}").ConfigureAwait(false);
                return null;
            case StatusReported:
                return null;
            default:
                return status;
        }
    }

    private VaultSecret ReadSecret(ParseResult parse, bool confirm)
    {
        if (parse.GetValue(_passkeyFile) is { } path)
        {
            return PasskeySecret(ReadPasskeyFile(path), $"--passkey-file '{path}'");
        }

        if (parse.GetValue(_passkeyStdin))
        {
            return PasskeySecret(ReadLimited(_console.OpenInputBytes(), "--passkey-stdin"), "--passkey-stdin");
        }

        byte[] password = ReadPassword(parse, confirm);
        try
        {
            return VaultSecret.FromPassword(password);
        }
        catch (ArgumentException ex)
        {
            // The SDK's message begins with "password: "; name the field once, by where it came from.
            string message = ArgumentMessage(ex);
            throw new CliInputException(parse.GetValue(_passwordStdin) && message.StartsWith("password: ", StringComparison.Ordinal)
                ? $"--password-stdin: {message["password: ".Length..]}"
                : message);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(password);
        }
    }

    private static VaultSecret PasskeySecret(byte[] contents, string source)
    {
        try
        {
            if (contents.Length == 0)
            {
                throw new CliInputException($"{source}: empty; expected the {VaultSecret.PasskeyPrfBytes}-byte passkey PRF output, raw or as {VaultSecret.PasskeyPrfBytes * 2} hex characters");
            }

            // Same format as a key file: 32 raw bytes, or 64 hex characters and an optional newline.
            byte[] prf = BackupKeyFile.Parse(contents, source);
            try
            {
                return VaultSecret.FromPasskeyPrf(prf);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(prf);
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(contents);
        }
    }

    private static byte[] ReadPasskeyFile(string path)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read);
            return ReadLimited(file, $"--passkey-file '{path}'");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliInputException($"--passkey-file: cannot read '{path}': {ex.Message}");
        }
    }

    private static byte[] ReadLimited(Stream stream, string source)
    {
        byte[] buffer = new byte[MaxPasskeyInputBytes + 1];
        int total = 0;
        int n;
        while (total < buffer.Length && (n = stream.Read(buffer, total, buffer.Length - total)) > 0)
        {
            total += n;
        }

        try
        {
            if (total > MaxPasskeyInputBytes)
            {
                throw new CliInputException(
                    $"{source}: more than {MaxPasskeyInputBytes} bytes; expected the {VaultSecret.PasskeyPrfBytes}-byte passkey PRF output, raw or as {VaultSecret.PasskeyPrfBytes * 2} hex characters");
            }

            return buffer[..total];
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
        }
    }

    private byte[] ReadPassword(ParseResult parse, bool confirm)
    {
        if (parse.GetValue(_passwordStdin))
        {
            // A string from ReadLine cannot be zeroed; the byte copy handed on is.
            string? line = _console.In.ReadLine();
            if (string.IsNullOrEmpty(line))
            {
                throw new CliInputException("--password-stdin: the first line of standard input is empty");
            }

            int length = Encoding.UTF8.GetByteCount(line);
            if (length > VaultSecret.MaxPasswordBytes)
            {
                throw new CliInputException($"--password-stdin: the password is {length} bytes, at most {VaultSecret.MaxPasswordBytes} are allowed");
            }

            return Encoding.UTF8.GetBytes(line);
        }

        if (!_console.InputIsTerminal)
        {
            throw new CliInputException("password: standard input is not a terminal, so there is no one to prompt; use --password-stdin", isUsage: true);
        }

        byte[] password = PromptOnce("password: ");
        if (!confirm)
        {
            return password;
        }

        byte[] again = PromptOnce("repeat password: ");
        try
        {
            if (!CryptographicOperations.FixedTimeEquals(password, again))
            {
                CryptographicOperations.ZeroMemory(password);
                throw new CliInputException("password: the two entries differ");
            }

            return password;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(again);
        }
    }

    private byte[] PromptOnce(string prompt)
    {
        _console.Error.Write(prompt);
        _console.Error.Flush();
        char[] chars = _console.ReadSecret() ?? throw new CliInputException("password: input ended before a password was entered");
        try
        {
            if (chars.Length == 0)
            {
                throw new CliInputException("password: empty");
            }

            int length = Encoding.UTF8.GetByteCount(chars);
            if (length > VaultSecret.MaxPasswordBytes)
            {
                throw new CliInputException($"password: {length} bytes, at most {VaultSecret.MaxPasswordBytes} are allowed");
            }

            return Encoding.UTF8.GetBytes(chars);
        }
        finally
        {
            Array.Clear(chars);
        }
    }

    // The standard help, followed by the exit-code table every command shares.
    private sealed class HelpWithExitCodes(HelpAction standard) : SynchronousCommandLineAction
    {
        public override int Invoke(ParseResult parseResult)
        {
            int code = standard.Invoke(parseResult);
            TextWriter output = parseResult.InvocationConfiguration.Output;
            output.WriteLine(CliExitCode.Table);
            output.WriteLine();
            return code;
        }
    }

    private sealed class Progress(TextWriter error, VaultEndpoint endpoint, string ksfName) : IProgress<VaultProgress>
    {
        private bool _connected;

        public void Report(VaultProgress value)
        {
            switch (value)
            {
                case VaultProgress.Connecting when !_connected:
                    _connected = true;
                    error.WriteLine($"connecting to {endpoint.Host}:{endpoint.Port} ...");
                    break;
                case VaultProgress.FailingOver:
                    error.WriteLine("that host cannot be reached; trying the next one ...");
                    break;
                case VaultProgress.CheckingFleetBundle:
                    error.WriteLine("checking the fleet's validation bundle ...");
                    break;
                case VaultProgress.StretchingPassword:
                    error.WriteLine($"stretching the password ({ksfName}) ...");
                    break;
            }
        }
    }
}
