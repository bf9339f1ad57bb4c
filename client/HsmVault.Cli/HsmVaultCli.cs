using System.CommandLine;
using System.CommandLine.Help;
using System.CommandLine.Invocation;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using HsmVault.Client;
using HsmVault.Crypto.Opaque;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Cli;

/// <summary>
/// The <c>hsmvault</c> command line: register, recover, delete and status against a vault host.
/// Results go to stdout, progress and errors to stderr; see <see cref="CliExitCode"/>.
/// </summary>
public sealed class HsmVaultCli
{
    private const string EndpointVariable = "HSMVAULT_ENDPOINT";
    private const string FleetKeyVariable = "HSMVAULT_FLEET_KEY";

    private readonly CliConsole _console;

    private readonly Option<string> _endpoint = new("--endpoint")
    {
        Description = $"Vault host as host:port (default: ${EndpointVariable}, else 127.0.0.1:{VaultClientOptions.DefaultPort}).",
        HelpName = "host:port",
        Recursive = true,
    };

    private readonly Option<string> _fleetKey = new("--fleet-key")
    {
        Description = $"The pinned fleet-key set: a JSON file with the fleet's channel and OPAQUE keys (the simulator writes fleet-keys.json). Default: ${FleetKeyVariable}.",
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
        Description = "Key-stretching function; must match the one used at registration. argon2id = RFC 9106 t=3, p=4, 64 MiB; scrypt = N=32768, r=8, p=1.",
        DefaultValueFactory = _ => "argon2id",
        Recursive = true,
    };

    private readonly Option<int> _timeout = new("--timeout")
    {
        Description = "Seconds to wait for the connection and for each answer.",
        DefaultValueFactory = _ => 30,
        HelpName = "seconds",
        Recursive = true,
    };

    private readonly Option<string> _user = new("--user")
    {
        Description = "The user id (UTF-8).",
        HelpName = "id",
        Recursive = true,
    };

    private readonly Option<bool> _passwordStdin = new("--password-stdin")
    {
        Description = "Read the password from the first line of standard input instead of prompting.",
    };

    public HsmVaultCli(CliConsole console)
    {
        ArgumentNullException.ThrowIfNull(console);
        _console = console;
        _ksf.AcceptOnlyFromAmong("argon2id", "scrypt");
        _timeout.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() is < 1 or > 3600)
            {
                result.AddError("--timeout: must be between 1 and 3600 seconds");
            }
        });
    }

    /// <summary>Runs the command line in-process and returns the exit code.</summary>
    public static Task<int> RunAsync(string[] args, CliConsole console, CancellationToken cancellationToken = default) =>
        new HsmVaultCli(console).InvokeAsync(args, cancellationToken);

    private async Task<int> InvokeAsync(string[] args, CancellationToken cancellationToken)
    {
        RootCommand root = BuildCommands();
        ParseResult parsed = root.Parse(args);
        var invocation = new InvocationConfiguration { Output = _console.Out, Error = _console.Error, EnableDefaultExceptionHandler = false };
        try
        {
            return await parsed.InvokeAsync(invocation, cancellationToken).ConfigureAwait(false);
        }
        catch (CliInputException ex)
        {
            await _console.Error.WriteLineAsync($"hsmvault: {ex.Message}").ConfigureAwait(false);
            return CliExitCode.UsageOrInput;
        }
    }

    private RootCommand BuildCommands()
    {
        var root = new RootCommand(
            "hsmvault: keep a 32-byte backup key in an HsmVault fleet, protected by a password (OPAQUE).\n" +
            "The password is prompted for without echo, or read from stdin with --password-stdin; it is never an argument.");
        foreach (Option option in new Option[] { _endpoint, _fleetKey, _tls, _tlsServerName, _tlsCertificate, _ksf, _timeout, _user })
        {
            root.Options.Add(option);
        }

        root.Subcommands.Add(RegisterCommand());
        root.Subcommands.Add(RecoverCommand());
        root.Subcommands.Add(DeleteCommand());
        root.Subcommands.Add(StatusCommand());
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
            "Register --user with a password and upload the key, encrypted so only that password can recover it. " +
            "Registering an existing user replaces its record. Give exactly one of --key-file or --generate-key.")
        {
            keyFile, generate, output, _passwordStdin,
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
        command.SetAction(async (parse, cancellationToken) =>
        {
            string user = RequireUser(parse);
            VaultClientOptions options = ClientOptions(parse);
            byte[] key = parse.GetValue(keyFile) is { } path ? BackupKeyFile.Read(path) : RandomNumberGenerator.GetBytes(VaultClient.BackupKeyBytes);
            string? outPath = parse.GetValue(output);
            FileStream? outFile = null;
            byte[] password = [];
            try
            {
                password = ReadPassword(parse, confirm: true);
                outFile = outPath is null ? null : BackupKeyFile.CreateNew(outPath);
                await using var client = new VaultClient(options);
                VaultOutcome outcome = await client.RegisterAsync(user, password, key, cancellationToken).ConfigureAwait(false);
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

                CryptographicOperations.ZeroMemory(password);
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
            "Prove the password for --user and print the recovered key in hex (or write it to --out). " +
            "Each wrong password uses up one of the user's attempts; when none are left the record is destroyed.")
        {
            output, _passwordStdin,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string user = RequireUser(parse);
            VaultClientOptions options = ClientOptions(parse);
            byte[] password = ReadPassword(parse, confirm: false);
            string? outPath = parse.GetValue(output);
            FileStream? outFile = null;
            try
            {
                outFile = outPath is null ? null : BackupKeyFile.CreateNew(outPath);
                await using var client = new VaultClient(options);
                VaultOutcome outcome = await client.RecoverAsync(user, password, cancellationToken).ConfigureAwait(false);
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

                CryptographicOperations.ZeroMemory(password);
            }
        });
        return command;
    }

    private Command DeleteCommand()
    {
        var command = new Command(
            "delete",
            "Prove the password for --user and destroy the record for good; the key can no longer be recovered. " +
            "A wrong password uses up an attempt, as with recover.")
        {
            _passwordStdin,
        };
        command.SetAction(async (parse, cancellationToken) =>
        {
            string user = RequireUser(parse);
            VaultClientOptions options = ClientOptions(parse);
            byte[] password = ReadPassword(parse, confirm: false);
            try
            {
                await using var client = new VaultClient(options);
                VaultOutcome outcome = await client.DeleteAsync(user, password, cancellationToken).ConfigureAwait(false);
                return await ReportAsync(outcome, $"deleted '{user}'").ConfigureAwait(false);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(password);
            }
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

    private async Task<int> ReportAsync(VaultOutcome outcome, string successMessage)
    {
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
            throw new CliInputException("--user: required (the user id to act on)");
        }

        return user;
    }

    private VaultClientOptions ClientOptions(ParseResult parse)
    {
        VaultEndpoint endpoint = parse.GetValue(_endpoint) is { } text
            ? VaultEndpoint.Parse(text, "--endpoint")
            : _console.GetEnvironmentVariable(EndpointVariable) is { Length: > 0 } fromEnvironment
                ? VaultEndpoint.Parse(fromEnvironment, $"${EndpointVariable}")
                : new VaultEndpoint("127.0.0.1", VaultClientOptions.DefaultPort);
        var timeout = TimeSpan.FromSeconds(parse.GetValue(_timeout));
        IKeyStretchingFunction ksf = parse.GetValue(_ksf) == "scrypt" ? ScryptKsf.Recommended : Argon2idKsf.SecondRecommended;
        return new VaultClientOptions(endpoint.Host, endpoint.Port, FleetKey(parse))
        {
            UseTls = parse.GetValue(_tls),
            TlsServerName = parse.GetValue(_tlsServerName),
            TlsTrustedCertificate = parse.GetValue(_tlsCertificate) is { } path ? LoadCertificate(path) : null,
            Ksf = ksf,
            ConnectTimeout = timeout,
            RequestTimeout = timeout,
            Progress = new Progress(_console.Error, endpoint, ksf.Name),
        };
    }

    private FleetKeySet FleetKey(ParseResult parse)
    {
        (string? path, string source) = parse.GetValue(_fleetKey) is { } option
            ? (option, "--fleet-key")
            : (_console.GetEnvironmentVariable(FleetKeyVariable) is { Length: > 0 } variable ? variable : null, $"${FleetKeyVariable}");
        if (path is null)
        {
            throw new CliInputException($"--fleet-key: required (the fleet-key set file to pin; or set ${FleetKeyVariable})");
        }

        try
        {
            return FleetKeySet.Load(path);
        }
        catch (FleetKeySetFormatException ex)
        {
            throw new CliInputException($"{source}: '{path}': {ex.Field}: {ex.Reason}");
        }
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

            return Encoding.UTF8.GetBytes(line);
        }

        if (!_console.InputIsTerminal)
        {
            throw new CliInputException("password: standard input is not a terminal, so there is no one to prompt; use --password-stdin");
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
                case VaultProgress.StretchingPassword:
                    error.WriteLine($"stretching the password ({ksfName}) ...");
                    break;
            }
        }
    }
}
