using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;

namespace HsmVault.Host.Tests;

/// <summary>
/// Every bad input the host can be started with gets one plain message naming the input and the
/// documented exit code (docs/HOST.md, --help), through the same entry point the executable uses.
/// </summary>
[TestClass]
public sealed class HostStartupTests
{
    private const string Endpoint = "--Hsm:Endpoint=tcp:127.0.0.1:9";

    [TestMethod]
    public async Task A_missing_config_file_is_named_and_exits_2()
    {
        using var directory = new TempDirectory();
        string missing = directory.File("nope.json");

        (int code, string error) = await RunAsync("--config", missing, Endpoint);

        Assert.AreEqual(HostExitCodes.InvalidConfiguration, code, error);
        StringAssert.Contains(error, $"--config {missing}: the file does not exist");
    }

    [TestMethod]
    public async Task A_malformed_config_file_is_named_with_the_place_of_the_error_and_exits_2()
    {
        using var directory = new TempDirectory();
        string file = directory.File("host.json");
        await File.WriteAllTextAsync(file, "{\n  \"Host\": { \"Port\": 7300 }\n  \"Hsm\": {}\n}\n");

        (int code, string error) = await RunAsync("--config", file, Endpoint);

        Assert.AreEqual(HostExitCodes.InvalidConfiguration, code, error);
        StringAssert.Contains(error, $"--config {file}: not valid JSON at line 3");
        Assert.DoesNotContain("JsonReaderException", error);
    }

    [TestMethod]
    public async Task A_config_file_that_is_not_an_object_is_refused()
    {
        using var directory = new TempDirectory();
        string file = directory.File("host.json");
        await File.WriteAllTextAsync(file, "[1, 2]");

        (int code, string error) = await RunAsync("--config", file, Endpoint);

        Assert.AreEqual(HostExitCodes.InvalidConfiguration, code, error);
        StringAssert.Contains(error, $"--config {file}: not a configuration file");
    }

    [TestMethod]
    public async Task A_config_path_that_is_a_directory_is_refused()
    {
        using var directory = new TempDirectory();

        (int code, string error) = await RunAsync($"--config={directory.Path}", Endpoint);

        Assert.AreEqual(HostExitCodes.InvalidConfiguration, code, error);
        StringAssert.Contains(error, $"--config {directory.Path}: is a directory, not a JSON file");
    }

    [TestMethod]
    public async Task A_misspelled_option_on_the_command_line_is_refused_with_a_suggestion()
    {
        (int code, string error) = await RunAsync("--Host:Prot=7301", Endpoint);

        Assert.AreEqual(HostExitCodes.InvalidConfiguration, code, error);
        StringAssert.Contains(error, "--Host:Prot: unknown option; did you mean Host:Port?");
    }

    [TestMethod]
    public async Task Unknown_keys_in_a_file_and_in_the_environment_are_all_listed_but_other_hsmvault_variables_are_left_alone()
    {
        using var directory = new TempDirectory();
        string file = directory.File("host.json");
        await File.WriteAllTextAsync(file, """{ "Hsm": { "Endpoint": "tcp:127.0.0.1:9", "RequestTimeuot": "00:00:01" }, "Stroe": { "Path": "x.db" } }""");
        Environment.SetEnvironmentVariable("HSMVAULT_Health__Prot", "7391");
        Environment.SetEnvironmentVariable("HSMVAULT_TEST_UNRELATED_SETTING", "belongs to another tool");
        try
        {
            (int code, string error) = await RunAsync("--config", file);

            Assert.AreEqual(HostExitCodes.InvalidConfiguration, code, error);
            StringAssert.Contains(error, $"Hsm:RequestTimeuot (in {file}): unknown option; did you mean Hsm:RequestTimeout?");
            StringAssert.Contains(error, $"Stroe:Path (in {file}): unknown option; did you mean Store:Path?");
            StringAssert.Contains(error, "HSMVAULT_Health__Prot: unknown option; did you mean Health:Port?");
            Assert.DoesNotContain("TEST_UNRELATED", error);
        }
        finally
        {
            Environment.SetEnvironmentVariable("HSMVAULT_Health__Prot", null);
            Environment.SetEnvironmentVariable("HSMVAULT_TEST_UNRELATED_SETTING", null);
        }
    }

    [TestMethod]
    public async Task Values_that_do_not_convert_are_all_named_with_their_key_and_value_in_plain_words()
    {
        (int code, string error) = await RunAsync(
            "--Host:Port=abc", "--Host:ReadTimeout=10s", "--Health:Enabled=yes", "--Hsm:MaxBatchOperations=99999999999", "--Host:MaxConnections=0", Endpoint);

        Assert.AreEqual(HostExitCodes.InvalidConfiguration, code, error);
        StringAssert.Contains(error, "Host:Port: 'abc' is not a whole number");
        StringAssert.Contains(error, "Host:ReadTimeout: '10s' is not a duration; write hh:mm:ss");
        StringAssert.Contains(error, "Health:Enabled: 'yes' is not true or false");
        StringAssert.Contains(error, "Hsm:MaxBatchOperations: '99999999999' is not a usable number");

        // Range problems are listed in the same run, not after the conversion errors are fixed.
        StringAssert.Contains(error, "Host:MaxConnections: 0, must be positive");
        Assert.DoesNotContain("Failed to convert", error);
        Assert.DoesNotContain("System.", error);
    }

    [TestMethod]
    public async Task A_stray_argument_or_an_option_without_a_value_is_refused()
    {
        (int code, string error) = await RunAsync("serve", "--Host:Port", Endpoint);

        Assert.AreEqual(HostExitCodes.InvalidConfiguration, code, error);
        StringAssert.Contains(error, "'serve': unexpected argument");
    }

    [TestMethod]
    public async Task A_client_port_in_use_names_the_address_and_port_and_exits_1()
    {
        using var directory = new TempDirectory();
        using Socket taken = Occupy(out int port);

        (int code, string error) = await RunAsync($"--Host:Port={port}", "--Health:Enabled=false", $"--Store:Path={directory.File("host.db")}", Endpoint, "--Logging:LogLevel:Default=None");

        Assert.AreEqual(HostExitCodes.StartupFailure, code, error);
        StringAssert.Contains(error, $"Host:Port: cannot listen on 127.0.0.1:{port}: the address is already in use");
    }

    [TestMethod]
    public async Task A_health_port_in_use_names_the_address_and_port_and_exits_1()
    {
        using var directory = new TempDirectory();
        using Socket taken = Occupy(out int port);

        (int code, string error) = await RunAsync("--Host:Port=0", $"--Health:Port={port}", $"--Store:Path={directory.File("host.db")}", Endpoint, "--Logging:LogLevel:Default=None");

        Assert.AreEqual(HostExitCodes.StartupFailure, code, error);
        StringAssert.Contains(error, $"Health:Port: cannot listen on 127.0.0.1:{port}: the address is already in use");
    }

    [TestMethod]
    public async Task A_store_file_of_random_bytes_is_named_without_a_sqlite_error_code_and_exits_1()
    {
        using var directory = new TempDirectory();
        string store = directory.File("host.db");
        await File.WriteAllBytesAsync(store, RandomNumberGenerator.GetBytes(8192));

        (int code, string error) = await RunAsync("--Host:Port=0", "--Health:Enabled=false", $"--Store:Path={store}", Endpoint, "--Logging:LogLevel:Default=None");

        Assert.AreEqual(HostExitCodes.StartupFailure, code, error);
        StringAssert.Contains(error, $"hsmvault-host: cannot start: the store {store} is not a SQLite database");
        Assert.DoesNotContain("SQLite Error", error);
        Assert.HasCount(1, error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [TestMethod]
    public async Task Help_lists_the_exit_codes()
    {
        var output = new StringWriter();

        int code = await HostProgram.RunAsync(["--help"], output, new StringWriter());

        Assert.AreEqual(HostExitCodes.Success, code);
        StringAssert.Contains(output.ToString(), "Exit codes:");
        StringAssert.Contains(output.ToString(), "2  invalid configuration");
    }

    private static async Task<(int Code, string Error)> RunAsync(params string[] args)
    {
        var error = new StringWriter();
        int code = await HostProgram.RunAsync(args, new StringWriter(), error).WaitAsync(TimeSpan.FromSeconds(60));
        return (code, error.ToString());
    }

    private static Socket Occupy(out int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        socket.Listen(1);
        port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        return socket;
    }
}
