using System.Security.Cryptography;
using HsmVault.Testing;

namespace HsmVault.Integration.Tests;

/// <summary>
/// The host executable itself, started as a real process with bad input: it must exit with the
/// documented code and one plain message, not crash (exit 134) or print a driver's error code.
/// </summary>
[TestClass]
public sealed class HostProcessTests
{
    [TestMethod]
    public async Task A_missing_config_file_exits_2_naming_the_file()
    {
        string missing = Path.Combine(Path.GetTempPath(), $"hsmvault-missing-{Guid.NewGuid():N}.json");

        (int code, string output) = await RunHostAsync("--config", missing, "--Hsm:Endpoint=tcp:127.0.0.1:9");

        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, $"--config {missing}: the file does not exist");
    }

    [TestMethod]
    public async Task A_store_of_random_bytes_exits_1_naming_the_file()
    {
        DirectoryInfo directory = Directory.CreateTempSubdirectory("hsmvault-host-process-");
        try
        {
            string store = Path.Combine(directory.FullName, "host.db");
            await File.WriteAllBytesAsync(store, RandomNumberGenerator.GetBytes(8192));

            (int code, string output) = await RunHostAsync(
                "--Hsm:Endpoint=tcp:127.0.0.1:9", $"--Store:Path={store}", "--Host:Port=0", "--Health:Enabled=false", "--Logging:LogLevel:Default=None");

            Assert.AreEqual(1, code, output);
            StringAssert.Contains(output, $"hsmvault-host: cannot start: the store {store} is not a SQLite database");
            Assert.DoesNotContain("SQLite Error", output);
        }
        finally
        {
            directory.Delete(recursive: true);
        }
    }

    private static async Task<(int Code, string Output)> RunHostAsync(params string[] arguments)
    {
        await using ChildProcess host = ChildProcess.Start("host", ChildProcess.BuiltAssembly("HsmVault.Host"), arguments);
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (!host.HasExited)
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail("the host kept running on bad input:\n" + host.Output);
            }

            await Task.Delay(50);
        }

        int code = await host.StopAsync(TimeSpan.FromSeconds(5));

        // Standard error is read asynchronously and may trail the exit by a moment.
        string output = host.Output;
        for (int i = 0; i < 100 && !output.Contains("hsmvault-host:", StringComparison.Ordinal); i++)
        {
            await Task.Delay(20);
            output = host.Output;
        }

        return (code, output);
    }
}
