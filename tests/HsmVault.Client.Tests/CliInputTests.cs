using System.Net;
using System.Net.Sockets;
using System.Text;
using HsmVault.Cli;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Hpke;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Client.Tests;

/// <summary>
/// Bad input, passkeys and the last attempt at the command line: every failure is one line that
/// names the input, with the documented exit code, and never a stack trace.
/// </summary>
[TestClass]
public sealed class CliInputTests
{
    private static readonly string SomeFleetKey = KeySetFile(FleetKeySet.Create("some-fleet", P256HpkeKeyPair.Derive("some fleet"u8).PublicKey, P256Group.Generator).ToFileText());

    private const string PrfHex = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf";

    private static string KeySetFile(string text)
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("hsmvault-cli-keys-").FullName, "fleet-keys.json");
        File.WriteAllText(path, text);
        return path;
    }

    private static string TempFile(byte[] contents)
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("hsmvault-cli-").FullName, "secret");
        File.WriteAllBytes(path, contents);
        return path;
    }

    private static void AssertNoStackTrace(CliRun run)
    {
        Assert.IsFalse(run.Error.Contains("   at ", StringComparison.Ordinal), run.Error);
        Assert.IsFalse(run.Error.Contains("Unhandled exception", StringComparison.Ordinal), run.Error);
        Assert.IsFalse(run.Error.Contains("System.", StringComparison.Ordinal), run.Error);
    }

    [TestMethod]
    [DataRow("abc")]
    [DataRow("-5")]
    [DataRow("0")]
    [DataRow("99999")]
    [DataRow("1.5")]
    public async Task A_bad_timeout_is_one_line_naming_the_option_and_the_value(string value)
    {
        CliRun run = await CliRun.InvokeAsync(["status", "--user", "alice", "--fleet-key", SomeFleetKey, "--timeout", value]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        CollectionAssert.AreEqual(
            new[] { $"hsmvault: --timeout: '{value}' is not a whole number of seconds from 1 to 3600", "Run 'hsmvault status --help' for usage." },
            run.ErrorLines);
        Assert.AreEqual(string.Empty, run.Out);
        AssertNoStackTrace(run);
    }

    [TestMethod]
    public async Task Several_parse_errors_are_each_printed_once_on_one_line_then_a_hint_not_the_help()
    {
        CliRun run = await CliRun.InvokeAsync(["recover", "--user", "alice", "--ksf", "md5", "--timeout", "abc", "--bogus"]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        string[] lines = run.ErrorLines;
        Assert.AreEqual(4, lines.Length, run.Error);
        Assert.AreEqual(1, lines.Count(l => l.Contains("--ksf: 'md5'", StringComparison.Ordinal)), run.Error);
        Assert.AreEqual(1, lines.Count(l => l.Contains("--timeout: 'abc'", StringComparison.Ordinal)), run.Error);
        Assert.AreEqual(1, lines.Count(l => l.Contains("'--bogus'", StringComparison.Ordinal)), run.Error);
        Assert.AreEqual("Run 'hsmvault recover --help' for usage.", lines[^1]);
        Assert.IsTrue(lines[..^1].All(l => l.StartsWith("hsmvault: ", StringComparison.Ordinal)), run.Error);
        Assert.IsFalse(run.Error.Contains("Options:", StringComparison.Ordinal), "not the whole help");
        Assert.AreEqual(string.Empty, run.Out);
    }

    [TestMethod]
    public async Task No_command_is_one_line_and_a_hint_to_the_root_help()
    {
        CliRun run = await CliRun.InvokeAsync([]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        Assert.AreEqual(2, run.ErrorLines.Length, run.Error);
        Assert.AreEqual("Run 'hsmvault --help' for usage.", run.ErrorLines[^1]);
    }

    [TestMethod]
    public async Task A_missing_user_is_one_line_and_a_hint()
    {
        CliRun run = await CliRun.InvokeAsync(["status", "--fleet-key", SomeFleetKey]);

        CollectionAssert.AreEqual(new[] { "hsmvault: --user: required (the user id to act on)", "Run 'hsmvault status --help' for usage." }, run.ErrorLines);
    }

    [TestMethod]
    public async Task A_missing_fleet_key_file_names_its_path_once()
    {
        CliRun run = await CliRun.InvokeAsync(["status", "--user", "alice", "--fleet-key", "/nonexistent/fleet-keys.json"]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        Assert.AreEqual("hsmvault: --fleet-key: '/nonexistent/fleet-keys.json': no such file", run.Error.Trim());
    }

    [TestMethod]
    public async Task A_password_over_1024_bytes_is_refused_naming_the_password_before_any_guess()
    {
        await using var vault = new FakeVault();
        await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--password-stdin"], stdin: "pw\n");

        CliRun run = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: new string('x', 1024 * 1024) + "\n");

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        Assert.AreEqual(1, run.ErrorLines.Count(l => l.StartsWith("hsmvault: ", StringComparison.Ordinal)), run.Error);
        StringAssert.Contains(run.Error, "hsmvault: --password-stdin: the password is 1048576 bytes, at most 1024 are allowed");
        Assert.AreEqual(0, vault.LoginStartCount);
        Assert.AreEqual(0u, vault.AttemptsUsed("alice"));
        AssertNoStackTrace(run);
    }

    [TestMethod]
    public async Task A_prompted_password_over_1024_bytes_is_refused()
    {
        await using var vault = new FakeVault();

        CliRun run = await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key"], terminal: true, typed: new Queue<string>([new string('y', 2000)]));

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "hsmvault: password: 2000 bytes, at most 1024 are allowed");
        Assert.AreEqual(0, vault.RegisterFinishCount);
    }

    [TestMethod]
    public async Task An_http_endpoint_is_named_as_such_with_the_documented_exit_code()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        Task server = Task.Run(async () =>
        {
            using TcpClient peer = await listener.AcceptTcpClientAsync();
            NetworkStream stream = peer.GetStream();
            await stream.WriteAsync("HTTP/1.1 400 Bad Request\r\n\r\n"u8.ToArray());
            byte[] drain = new byte[1024];
            while (await stream.ReadAsync(drain) > 0)
            {
            }
        });
        try
        {
            CliRun run = await CliRun.InvokeAsync(["status", "--user", "alice", "--fleet-key", SomeFleetKey, "--endpoint", $"127.0.0.1:{port}"]);

            Assert.AreEqual(CliExitCode.ProtocolError, run.ExitCode);
            StringAssert.Contains(run.Error, $"the endpoint 127.0.0.1:{port} answered with HTTP, not the vault's protocol: is it the vault's client port (default 7300)?");
            Assert.IsFalse(run.Error.Contains("1213486160", StringComparison.Ordinal), run.Error);
            Assert.AreEqual(1, run.ErrorLines.Count(l => l.StartsWith("hsmvault: ", StringComparison.Ordinal)), run.Error);
        }
        finally
        {
            listener.Stop();
            await server.WaitAsync(TimeSpan.FromSeconds(10));
        }
    }

    [TestMethod]
    public async Task An_unexpected_failure_is_one_line_and_exit_9_never_a_stack_trace()
    {
        await using var vault = new FakeVault();
        await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--password-stdin"], stdin: "pw\n");

        CliRun run = await CliRun.InvokeAsync(
            ["recover", .. Connection(vault), "--passkey-stdin"],
            stdinBytes: () => throw new InvalidOperationException("the stream broke"));

        Assert.AreEqual(CliExitCode.Unexpected, run.ExitCode);
        Assert.AreEqual("hsmvault: unexpected error (InvalidOperationException): the stream broke", run.ErrorLines[^1]);
        Assert.IsFalse(run.Error.Contains("   at ", StringComparison.Ordinal), run.Error);
    }

    [TestMethod]
    public async Task Register_with_a_passkey_file_and_recover_with_the_raw_bytes_on_stdin()
    {
        await using var vault = new FakeVault();
        string hexFile = TempFile(Encoding.ASCII.GetBytes(PrfHex + "\n"));

        CliRun register = await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--passkey-file", hexFile]);
        CliRun recover = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--passkey-stdin"], stdinBytes: () => new MemoryStream(Convert.FromHexString(PrfHex)));

        Assert.AreEqual(0, register.ExitCode, register.Error);
        Assert.AreEqual(0, recover.ExitCode, recover.Error);
        Assert.AreEqual(register.Out.Trim(), recover.Out.Trim());
        Assert.IsFalse(recover.Error.Contains("stretching", StringComparison.Ordinal), "a passkey secret is not stretched");
        Assert.IsFalse(recover.Error.Contains(PrfHex, StringComparison.OrdinalIgnoreCase) || register.Error.Contains(PrfHex, StringComparison.OrdinalIgnoreCase));
    }

    [TestMethod]
    public async Task A_passkey_secret_typed_as_a_password_does_not_recover()
    {
        await using var vault = new FakeVault();
        CliRun register = await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--passkey-stdin"], stdin: PrfHex + "\n");

        CliRun asPassword = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: PrfHex + "\n");

        Assert.AreEqual(0, register.ExitCode, register.Error);
        Assert.AreEqual(CliExitCode.WrongPassword, asPassword.ExitCode, asPassword.Error);
    }

    [TestMethod]
    [DataRow(31)]
    [DataRow(33)]
    [DataRow(63)]
    public async Task A_passkey_file_of_the_wrong_size_is_refused_naming_the_option(int size)
    {
        await using var vault = new FakeVault();
        string path = TempFile(new byte[size]);

        CliRun run = await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--passkey-file", path]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        Assert.AreEqual($"hsmvault: --passkey-file '{path}': must hold 32 raw bytes or 64 hex characters, found {size} bytes", run.Error.Trim());
        Assert.AreEqual(0, vault.RequestCount);
    }

    [TestMethod]
    public async Task A_passkey_on_stdin_that_is_too_long_or_empty_is_refused_naming_the_option()
    {
        await using var vault = new FakeVault();
        await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--password-stdin"], stdin: "pw\n");

        CliRun huge = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--passkey-stdin"], stdinBytes: () => new MemoryStream(new byte[1024 * 1024]));
        CliRun empty = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--passkey-stdin"], stdinBytes: () => new MemoryStream());

        Assert.AreEqual(CliExitCode.UsageOrInput, huge.ExitCode);
        StringAssert.Contains(huge.Error, "hsmvault: --passkey-stdin: more than 4096 bytes");
        Assert.AreEqual(CliExitCode.UsageOrInput, empty.ExitCode);
        StringAssert.Contains(empty.Error, "hsmvault: --passkey-stdin: empty");
        Assert.AreEqual(0, vault.LoginStartCount);
    }

    [TestMethod]
    [DataRow("--password-stdin", "--passkey-stdin")]
    [DataRow("--password-stdin", "--passkey-file")]
    [DataRow("--passkey-stdin", "--passkey-file")]
    public async Task A_password_and_a_passkey_are_mutually_exclusive(string first, string second)
    {
        string[] secondArgs = second == "--passkey-file" ? [second, "some-file"] : [second];

        CliRun run = await CliRun.InvokeAsync(["recover", "--user", "alice", "--fleet-key", SomeFleetKey, first, .. secondArgs]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        Assert.AreEqual(2, run.ErrorLines.Length, run.Error);
        StringAssert.Contains(run.ErrorLines[0], "give only one secret, a password or a passkey secret");
        StringAssert.Contains(run.ErrorLines[0], first);
        StringAssert.Contains(run.ErrorLines[0], second);
    }

    [TestMethod]
    public async Task The_last_attempt_is_announced_and_the_destroying_guess_says_so()
    {
        await using var vault = new FakeVault(attemptLimit: 2);
        await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--password-stdin"], stdin: "right\n");

        CliRun first = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: "wrong\n");
        CliRun last = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: "wrong\n");
        CliRun after = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: "right\n");

        Assert.AreEqual(CliExitCode.WrongPassword, first.ExitCode);
        StringAssert.Contains(first.Error, "hsmvault: wrong password: 1 attempt left: a wrong password now destroys the record");
        StringAssert.Contains(last.Error, "hsmvault: warning: 1 attempt left: a wrong password now destroys the record");
        Assert.AreEqual(CliExitCode.NoRecord, last.ExitCode);
        StringAssert.Contains(last.Error, "hsmvault: wrong password, and it was the last allowed attempt: the record is destroyed");
        Assert.AreEqual(CliExitCode.NoRecord, after.ExitCode);
        StringAssert.Contains(after.Error, "hsmvault: no live record for this user");
    }

    [TestMethod]
    public async Task Recovering_an_unknown_user_stops_before_the_secret_is_read_or_a_login_made()
    {
        await using var vault = new FakeVault();

        CliRun run = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: "pw\n");

        Assert.AreEqual(CliExitCode.NoRecord, run.ExitCode);
        StringAssert.Contains(run.Error, "no live record for this user");
        Assert.AreEqual(0, vault.LoginStartCount);
        Assert.IsFalse(run.Error.Contains("stretching", StringComparison.Ordinal));
    }

    [TestMethod]
    public async Task Delete_with_a_passkey_secret()
    {
        await using var vault = new FakeVault();
        await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--passkey-stdin"], stdin: PrfHex);

        CliRun delete = await CliRun.InvokeAsync(["delete", .. Connection(vault), "--passkey-stdin"], stdin: PrfHex);

        Assert.AreEqual(0, delete.ExitCode, delete.Error);
        Assert.IsNull(vault.AttemptsUsed("alice"));
    }

    [TestMethod]
    public async Task Help_documents_the_passkey_options_and_the_new_exit_codes()
    {
        CliRun run = await CliRun.InvokeAsync(["recover", "--help"]);

        StringAssert.Contains(run.Out, "--passkey-file");
        StringAssert.Contains(run.Out, "--passkey-stdin");
        StringAssert.Contains(run.Out, "9  unexpected error");
    }

    private static string[] Connection(FakeVault vault) =>
        ["--user", "alice", "--endpoint", $"127.0.0.1:{vault.Port}", "--fleet-key", KeySetFile(vault.FleetKeys.ToFileText()), "--ksf", "scrypt"];
}
