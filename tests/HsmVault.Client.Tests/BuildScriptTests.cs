using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace HsmVault.Client.Tests;

/// <summary>
/// build.ps1's argument checks, run for real through the PowerShell tool: a wrong selector or
/// option stops at once with one line and exit 2, before any build, instead of running nothing.
/// </summary>
[TestClass]
public sealed class BuildScriptTests
{
    [TestMethod]
    public async Task Bench_with_an_unknown_suite_lists_the_valid_ones_and_exits_2()
    {
        (int code, string output) = await RunAsync("bench", "nonsense");

        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, "bench: unknown suite 'nonsense'; valid suites: crypto, enclave, e2e, ct");
        Assert.IsFalse(output.Contains("==> ", StringComparison.Ordinal), "nothing was built or run");
    }

    [TestMethod]
    public async Task Bench_with_an_unknown_option_names_it_and_exits_2()
    {
        (int code, string output) = await RunAsync("bench", "crypto", "--quik");

        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, "bench: unknown option '--quik'; options: --quick, --million, --clients N");
    }

    [TestMethod]
    [DataRow("demo", "--fast", "demo: unknown option '--fast'")]
    [DataRow("serve", "--bogus", "serve: unknown option '--bogus'")]
    [DataRow("serve", "--port", "serve: --port needs a port number from 1 to 65535, got ''")]
    public async Task Demo_and_serve_refuse_unknown_options(string target, string option, string expected)
    {
        (int code, string output) = await RunAsync(target, option);

        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, expected);
    }

    [TestMethod]
    public async Task Serve_says_which_port_is_taken()
    {
        var holder = new TcpListener(IPAddress.Loopback, 0);
        holder.Start();
        try
        {
            int taken = ((IPEndPoint)holder.LocalEndpoint).Port;
            int free = TestClients.ClosedPort();

            (int code, string output) = await RunAsync("serve", "--port", free.ToString(System.Globalization.CultureInfo.InvariantCulture), "--health-port", taken.ToString(System.Globalization.CultureInfo.InvariantCulture));

            Assert.AreEqual(1, code, output);
            StringAssert.Contains(output, $"serve: the health port (--health-port) {taken} is already in use on 127.0.0.1");
        }
        finally
        {
            holder.Stop();
        }
    }

    private static async Task<(int Code, string Output)> RunAsync(params string[] arguments)
    {
        string root = RepositoryRoot();
        var start = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = root,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in new[] { "pwsh", "-NoProfile", "-File", Path.Combine(root, "build.ps1") }.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }

        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output + await error);
    }

    private static string RepositoryRoot([CallerFilePath] string source = "")
    {
        foreach (string? start in new[] { Path.GetDirectoryName(source), AppContext.BaseDirectory, Directory.GetCurrentDirectory() })
        {
            for (string? directory = start; directory is not null; directory = Path.GetDirectoryName(directory))
            {
                if (File.Exists(Path.Combine(directory, "build.ps1")) && File.Exists(Path.Combine(directory, "HsmVault.sln")))
                {
                    return directory;
                }
            }
        }

        Assert.Inconclusive("build.ps1 not found above the test's source or output folder");
        return string.Empty;
    }
}
