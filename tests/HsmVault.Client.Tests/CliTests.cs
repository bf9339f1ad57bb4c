using HsmVault.Cli;
using HsmVault.Crypto.Ec;
using HsmVault.Crypto.Hpke;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Client.Tests;

[TestClass]
public sealed class CliTests
{
    private const string KeyHex = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    // A well-formed key set of a fleet that is not the one under test.
    private static readonly string SomeFleetKey = KeySetFile(FleetKeySet.Create("some-fleet", P256HpkeKeyPair.Derive("some fleet"u8).PublicKey, P256Group.Generator).ToFileText());

    private static string KeySetFile(string text)
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("hsmvault-cli-keys-").FullName, "fleet-keys.json");
        File.WriteAllText(path, text);
        return path;
    }

    [TestMethod]
    [DataRow("register", "--key-file")]
    [DataRow("recover", "--out")]
    [DataRow("delete", "destroy the record")]
    [DataRow("status", "attempts left")]
    public async Task Help_of_each_command_explains_it_and_lists_the_exit_codes(string command, string expected)
    {
        CliRun run = await CliRun.InvokeAsync([command, "--help"]);

        Assert.AreEqual(0, run.ExitCode);
        StringAssert.Contains(run.Out, $" {command} [options]");
        StringAssert.Contains(run.Out, expected);
        StringAssert.Contains(run.Out, "3  wrong password");
        StringAssert.Contains(run.Out, "--fleet-key");
    }

    [TestMethod]
    public async Task Root_help_lists_the_commands()
    {
        CliRun run = await CliRun.InvokeAsync(["--help"]);

        Assert.AreEqual(0, run.ExitCode);
        foreach (string command in new[] { "register", "recover", "delete", "status" })
        {
            StringAssert.Contains(run.Out, command);
        }
    }

    [TestMethod]
    public async Task Missing_user_is_a_usage_error_naming_the_option()
    {
        CliRun run = await CliRun.InvokeAsync(["status", "--fleet-key", SomeFleetKey]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "--user: required");
    }

    [TestMethod]
    public async Task Missing_fleet_key_is_a_usage_error_naming_the_option()
    {
        CliRun run = await CliRun.InvokeAsync(["status", "--user", "alice"]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "--fleet-key: required");
    }

    [TestMethod]
    [DataRow("not json", "$: not valid JSON")]
    [DataRow("{}", "format: missing")]
    [DataRow("{\"format\":\"hsmvault-fleet-keys/v1\",\"fleet_id\":\"f\",\"keys\":[],\"extra\":1}", "extra: unknown member")]
    [DataRow("{\"format\":\"hsmvault-fleet-keys/v1\",\"fleet_id\":\"f\",\"keys\":[{\"role\":\"channel\",\"algorithm\":\"HPKE DHKEM(P-256, HKDF-SHA256)\",\"public_key\":\"0211\"}]}", "keys[0].public_key: must be a SEC1 uncompressed")]
    public async Task Invalid_fleet_key_file_says_which_field_is_wrong(string content, string expected)
    {
        string key = KeySetFile(content);
        CliRun run = await CliRun.InvokeAsync(["status", "--user", "alice", "--fleet-key", key]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, expected);
    }

    [TestMethod]
    [DataRow("localhost", "is not host:port")]
    [DataRow("localhost:99999", "the port must be a number from 1 to 65535")]
    [DataRow("::1:7300", "IPv6 address in brackets")]
    [DataRow("a:7300,,b:7300", "entry 2 is empty")]
    [DataRow("a:7300,b", "--endpoint: 'b' is not host:port")]
    [DataRow("a:7300,a:7300", "a:7300 is listed twice")]
    public async Task Invalid_endpoint_says_what_is_wrong(string endpoint, string expected)
    {
        CliRun run = await CliRun.InvokeAsync(["status", "--user", "alice", "--fleet-key", SomeFleetKey, "--endpoint", endpoint]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "--endpoint: ");
        StringAssert.Contains(run.Error, expected);
    }

    [TestMethod]
    public async Task Endpoint_comes_from_the_environment_when_the_option_is_absent()
    {
        var environment = new Dictionary<string, string> { ["HSMVAULT_ENDPOINT"] = "nohost" };

        CliRun run = await CliRun.InvokeAsync(["status", "--user", "alice", "--fleet-key", SomeFleetKey], environment: environment);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "$HSMVAULT_ENDPOINT: 'nohost' is not host:port");
    }

    [TestMethod]
    public async Task Unknown_ksf_is_rejected_by_the_parser()
    {
        CliRun run = await CliRun.InvokeAsync(["status", "--user", "alice", "--fleet-key", SomeFleetKey, "--ksf", "md5"]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "md5");
    }

    [TestMethod]
    public async Task Register_needs_exactly_one_key_source()
    {
        CliRun neither = await CliRun.InvokeAsync(["register", "--user", "alice", "--fleet-key", SomeFleetKey, "--password-stdin"], stdin: "pw\n");
        CliRun both = await CliRun.InvokeAsync(["register", "--user", "alice", "--fleet-key", SomeFleetKey, "--generate-key", "--key-file", "k"], stdin: "pw\n");

        Assert.AreEqual(CliExitCode.UsageOrInput, neither.ExitCode);
        Assert.AreEqual(CliExitCode.UsageOrInput, both.ExitCode);
        StringAssert.Contains(neither.Error, "exactly one of --key-file <path> or --generate-key");
        StringAssert.Contains(both.Error, "exactly one of --key-file <path> or --generate-key");
    }

    [TestMethod]
    public async Task Out_without_generate_key_is_refused_at_registration()
    {
        CliRun run = await CliRun.InvokeAsync(["register", "--user", "alice", "--fleet-key", SomeFleetKey, "--key-file", "k", "--out", "o"]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "--out: only applies with --generate-key");
    }

    [TestMethod]
    public void Key_file_of_raw_bytes_or_hex_parses_to_the_same_key()
    {
        byte[] raw = Convert.FromHexString(KeyHex);

        CollectionAssert.AreEqual(raw, BackupKeyFile.Parse(raw, "k"));
        CollectionAssert.AreEqual(raw, BackupKeyFile.Parse(System.Text.Encoding.ASCII.GetBytes(KeyHex + "\n"), "k"));
        CollectionAssert.AreEqual(raw, BackupKeyFile.Parse(System.Text.Encoding.ASCII.GetBytes(KeyHex.ToUpperInvariant()), "k"));
    }

    [TestMethod]
    public async Task Key_file_of_the_wrong_size_is_refused_with_its_size()
    {
        string path = Path.GetTempFileName();
        try
        {
            await File.WriteAllBytesAsync(path, new byte[31]);

            CliRun run = await CliRun.InvokeAsync(["register", "--user", "alice", "--fleet-key", SomeFleetKey, "--key-file", path, "--password-stdin"], stdin: "pw\n");

            Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
            StringAssert.Contains(run.Error, "--key-file");
            StringAssert.Contains(run.Error, "found 31 bytes");
        }
        finally
        {
            File.Delete(path);
        }
    }

    [TestMethod]
    public void Key_file_of_64_non_hex_characters_is_refused()
    {
        var error = Assert.ThrowsExactly<CliInputException>(() => BackupKeyFile.Parse(System.Text.Encoding.ASCII.GetBytes(new string('z', 64)), "--key-file 'k'"));

        StringAssert.Contains(error.Message, "not all are hex digits");
    }

    [TestMethod]
    public async Task Missing_key_file_is_reported_by_path()
    {
        CliRun run = await CliRun.InvokeAsync(["register", "--user", "alice", "--fleet-key", SomeFleetKey, "--key-file", "/nonexistent/key", "--password-stdin"], stdin: "pw\n");

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "--key-file: cannot read '/nonexistent/key'");
    }

    [TestMethod]
    public async Task Without_a_terminal_the_password_must_come_from_stdin()
    {
        await using var vault = new FakeVault();

        CliRun run = await CliRun.InvokeAsync(["recover", .. Connection(vault)]);

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "use --password-stdin");
        Assert.AreEqual(0, vault.LoginStartCount);
    }

    [TestMethod]
    public async Task Empty_password_on_stdin_is_refused()
    {
        await using var vault = new FakeVault();
        await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--password-stdin"], stdin: "pw\n");

        CliRun run = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: "\n");

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "--password-stdin: the first line of standard input is empty");
    }

    [TestMethod]
    public async Task Register_then_recover_with_the_password_on_stdin_prints_the_key()
    {
        await using var vault = new FakeVault();
        string keyFile = Path.GetTempFileName();
        try
        {
            await File.WriteAllTextAsync(keyFile, KeyHex + "\n");

            CliRun register = await CliRun.InvokeAsync(["register", .. Connection(vault), "--key-file", keyFile, "--password-stdin"], stdin: "hunter2\nignored second line\n");
            CliRun recover = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: "hunter2\n");

            Assert.AreEqual(0, register.ExitCode, register.Error);
            Assert.AreEqual(0, recover.ExitCode, recover.Error);
            Assert.AreEqual(KeyHex, recover.Out.Trim());
            StringAssert.Contains(recover.Error, "stretching the password");
            Assert.IsFalse(recover.Error.Contains(KeyHex, StringComparison.Ordinal), "the key must only go to stdout");
        }
        finally
        {
            File.Delete(keyFile);
        }
    }

    [TestMethod]
    public async Task Wrong_password_prints_attempts_left_and_exits_3()
    {
        await using var vault = new FakeVault();
        await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--password-stdin"], stdin: "right\n");
        await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: "wrong\n");

        CliRun run = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: "wrong\n");

        Assert.AreEqual(CliExitCode.WrongPassword, run.ExitCode);
        StringAssert.Contains(run.Error, "hsmvault: wrong password: 8 attempts left");
        Assert.AreEqual(string.Empty, run.Out);
    }

    [TestMethod]
    public async Task Generated_key_is_printed_once_and_recovers()
    {
        await using var vault = new FakeVault();

        CliRun register = await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--password-stdin"], stdin: "pw\n");
        CliRun recover = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: "pw\n");

        Assert.AreEqual(0, register.ExitCode, register.Error);
        Assert.AreEqual(64, register.Out.Trim().Length);
        Assert.AreEqual(register.Out.Trim(), recover.Out.Trim());
    }

    [TestMethod]
    public async Task Recover_to_a_file_writes_hex_readable_only_by_the_owner()
    {
        await using var vault = new FakeVault();
        string directory = Directory.CreateTempSubdirectory("hsmvault-cli-").FullName;
        string outPath = Path.Combine(directory, "k.hex");
        try
        {
            CliRun register = await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--password-stdin"], stdin: "pw\n");
            CliRun recover = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin", "--out", outPath], stdin: "pw\n");
            int loginsBefore = vault.LoginStartCount;
            CliRun again = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin", "--out", outPath], stdin: "pw\n");

            Assert.AreEqual(0, recover.ExitCode, recover.Error);
            Assert.AreEqual(string.Empty, recover.Out);
            Assert.AreEqual(register.Out.Trim(), (await File.ReadAllTextAsync(outPath)).Trim());
            if (!OperatingSystem.IsWindows())
            {
                Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(outPath));
            }

            Assert.AreEqual(CliExitCode.UsageOrInput, again.ExitCode, "an existing file must not be overwritten");
            StringAssert.Contains(again.Error, "--out: cannot create");
            Assert.AreEqual(loginsBefore, vault.LoginStartCount, "an unusable --out must be reported before a guess is spent");
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task Prompted_passwords_that_differ_abort_registration()
    {
        await using var vault = new FakeVault();

        CliRun run = await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key"], terminal: true, typed: new Queue<string>(["one", "two"]));

        Assert.AreEqual(CliExitCode.UsageOrInput, run.ExitCode);
        StringAssert.Contains(run.Error, "password: the two entries differ");
        Assert.AreEqual(0, vault.RegisterFinishCount);
    }

    [TestMethod]
    public async Task Prompted_password_registers_and_status_reports_the_attempts()
    {
        await using var vault = new FakeVault(attemptLimit: 5);

        CliRun register = await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key"], terminal: true, typed: new Queue<string>(["pw", "pw"]));
        CliRun status = await CliRun.InvokeAsync(["status", .. Connection(vault)]);

        Assert.AreEqual(0, register.ExitCode, register.Error);
        StringAssert.Contains(register.Error, "repeat password: ");
        Assert.AreEqual(0, status.ExitCode, status.Error);
        Assert.AreEqual("attempts left: 5 of 5", status.Out.Trim());
    }

    [TestMethod]
    public async Task Unknown_user_status_exits_4_and_delete_removes_the_user()
    {
        await using var vault = new FakeVault();
        await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--password-stdin"], stdin: "pw\n");

        CliRun delete = await CliRun.InvokeAsync(["delete", .. Connection(vault), "--password-stdin"], stdin: "pw\n");
        CliRun status = await CliRun.InvokeAsync(["status", .. Connection(vault)]);

        Assert.AreEqual(0, delete.ExitCode, delete.Error);
        Assert.AreEqual(CliExitCode.NoRecord, status.ExitCode);
        StringAssert.Contains(status.Error, "no live record");
    }

    [TestMethod]
    public async Task Unreachable_vault_exits_2()
    {
        CliRun run = await CliRun.InvokeAsync(["status", "--user", "alice", "--fleet-key", SomeFleetKey, "--endpoint", $"127.0.0.1:{TestClients.ClosedPort()}"]);

        Assert.AreEqual(CliExitCode.Unavailable, run.ExitCode);
        StringAssert.Contains(run.Error, "hsmvault: vault unavailable: cannot connect");
    }

    [TestMethod]
    public async Task Wrong_fleet_key_exits_5_and_uploads_nothing()
    {
        await using var vault = new FakeVault();

        CliRun run = await CliRun.InvokeAsync(["register", "--user", "alice", "--endpoint", $"127.0.0.1:{vault.Port}", "--fleet-key", SomeFleetKey, "--ksf", "scrypt", "--generate-key", "--password-stdin"], stdin: "pw\n");

        Assert.AreEqual(CliExitCode.FleetNotAuthenticated, run.ExitCode);
        StringAssert.Contains(run.Error, "did not come from the pinned fleet");
        Assert.AreEqual(string.Empty, run.Out, "a generated key that was never stored must not be shown");
        Assert.AreEqual(0, vault.RegisterFinishCount);
    }

    [TestMethod]
    public async Task A_failed_registration_leaves_no_key_file_behind()
    {
        await using var vault = new FakeVault();
        string directory = Directory.CreateTempSubdirectory("hsmvault-cli-").FullName;
        string outPath = Path.Combine(directory, "k.hex");
        try
        {
            CliRun run = await CliRun.InvokeAsync(["register", "--user", "alice", "--endpoint", $"127.0.0.1:{vault.Port}", "--fleet-key", SomeFleetKey, "--ksf", "scrypt", "--generate-key", "--out", outPath, "--password-stdin"], stdin: "pw\n");

            Assert.AreEqual(CliExitCode.FleetNotAuthenticated, run.ExitCode);
            Assert.IsFalse(File.Exists(outPath));
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task Generated_key_written_to_out_recovers_to_the_same_key()
    {
        await using var vault = new FakeVault();
        string directory = Directory.CreateTempSubdirectory("hsmvault-cli-").FullName;
        string outPath = Path.Combine(directory, "k.hex");
        try
        {
            CliRun register = await CliRun.InvokeAsync(["register", .. Connection(vault), "--generate-key", "--out", outPath, "--password-stdin"], stdin: "pw\n");
            CliRun recover = await CliRun.InvokeAsync(["recover", .. Connection(vault), "--password-stdin"], stdin: "pw\n");

            Assert.AreEqual(0, register.ExitCode, register.Error);
            Assert.AreEqual(string.Empty, register.Out);
            Assert.AreEqual((await File.ReadAllTextAsync(outPath)).Trim(), recover.Out.Trim());
        }
        finally
        {
            Directory.Delete(directory, recursive: true);
        }
    }

    [TestMethod]
    public async Task Several_endpoints_fail_over_to_the_first_that_answers_and_say_so()
    {
        await using var vault = new FakeVault();
        string keys = KeySetFile(vault.FleetKeys.ToFileText());
        string endpoints = $"127.0.0.1:{TestClients.ClosedPort()},127.0.0.1:{vault.Port}";

        CliRun register = await CliRun.InvokeAsync(["register", "--user", "alice", "--endpoint", endpoints, "--fleet-key", keys, "--ksf", "scrypt", "--generate-key", "--password-stdin"], stdin: "pw\n");
        CliRun status = await CliRun.InvokeAsync(["status", "--user", "alice", "--fleet-key", keys], environment: new Dictionary<string, string> { ["HSMVAULT_ENDPOINT"] = endpoints });

        Assert.AreEqual(CliExitCode.Success, register.ExitCode, register.Error);
        StringAssert.Contains(register.Error, "that host cannot be reached; trying the next one ...");
        Assert.AreEqual(CliExitCode.Success, status.ExitCode, status.Error);
        Assert.AreEqual(1, vault.RegisterFinishCount);
    }

    private static string[] Connection(FakeVault vault) =>
        ["--user", "alice", "--endpoint", $"127.0.0.1:{vault.Port}", "--fleet-key", KeySetFile(vault.FleetKeys.ToFileText()), "--ksf", "scrypt"];
}
