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
        StringAssert.Contains(output, "bench: unknown suite 'nonsense'; valid suites: crypto, enclave, e2e, fleet, ct");
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
    [DataRow("demo", "4")]
    [DataRow("demo", "9")]
    [DataRow("demo", "-5")]
    [DataRow("demo", "five")]
    [DataRow("serve", "4")]
    public async Task Demo_and_serve_take_a_fleet_of_1_or_an_odd_size_from_3_to_7(string target, string size)
    {
        (int code, string output) = await RunAsync(target, "--fleet", size);

        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, $"{target}: --fleet takes 1 (a single HSM) or an odd number of HSMs from 3 to 7, got '{size}'");
        Assert.IsFalse(output.Contains("==> ", StringComparison.Ordinal), "nothing was built or run");
        Assert.AreEqual(1, output.Trim().Split('\n').Length, $"one line: {output}");
    }

    [TestMethod]
    [DataRow(new[] { "demo", "--fleet" }, "demo: --fleet takes 1 (a single HSM) or an odd number of HSMs from 3 to 7, got ''")]
    [DataRow(new[] { "demo", "--fleet", "5", "--fleet", "3" }, "demo: --fleet is given twice; give it once")]
    [DataRow(new[] { "demo", "--fleet", "5", "--quick" }, "demo: unknown option '--quick'; demo takes only --fleet N (1, 3, 5 or 7 HSMs; default 5)")]
    [DataRow(new[] { "serve", "--fleet" }, "serve: --fleet takes 1 (a single HSM) or an odd number of HSMs from 3 to 7, got ''")]
    [DataRow(new[] { "serve", "--peer-port", "7500" }, "serve: --peer-port is for a fleet (--fleet 3, 5 or 7); a single HSM has no peers")]
    [DataRow(new[] { "serve", "--fleet", "3", "--peer-port", "x" }, "serve: --peer-port needs a port number from 1 to 65535, got 'x'")]
    [DataRow(new[] { "serve", "--fleet", "5", "--health-port", "7302" }, "serve: with --fleet 5 the client ports (--port) 7300-7304 and the health ports (--health-port) 7302-7306 overlap; each needs 5 ports of its own")]
    [DataRow(new[] { "serve", "--fleet", "3", "--peer-port", "7391" }, "serve: with --fleet 3 the health ports (--health-port) 7390-7392 and the peer ports (--peer-port) 7391-7393 overlap; each needs 3 ports of its own")]
    [DataRow(new[] { "serve", "--fleet", "7", "--port", "65530" }, "serve: --port 65530: a fleet of 7 needs the ports 65530 to 65536, past 65535")]
    public async Task Fleet_options_are_checked_before_anything_runs(string[] arguments, string expected)
    {
        (int code, string output) = await RunAsync(arguments);

        Assert.AreEqual(2, code, output);
        StringAssert.Contains(output, expected);
        Assert.IsFalse(output.Contains("==> ", StringComparison.Ordinal), "nothing was built or run");
    }

    [TestMethod]
    public async Task Serve_with_a_fleet_says_which_members_port_is_taken()
    {
        // Member 1's client port is taken; member 0's (the one below it) is free.
        (TcpListener holder, int taken) = HoldPortAboveAFreeOne();
        try
        {
            string first = (taken - 1).ToString(System.Globalization.CultureInfo.InvariantCulture);

            (int code, string output) = await RunAsync("serve", "--fleet", "3", "--port", first);

            Assert.AreEqual(1, code, output);
            StringAssert.Contains(output, $"serve: the client port of member 1, {taken}, is already in use on 127.0.0.1: stop what holds it, or move the fleet's client ports with --port");
            Assert.IsFalse(output.Contains("==> ", StringComparison.Ordinal), "nothing was built or run");
        }
        finally
        {
            holder.Stop();
        }
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

    // A listener on a port whose lower neighbour is free (and not one of serve's default ports).
    private static (TcpListener Holder, int Port) HoldPortAboveAFreeOne()
    {
        for (int attempt = 0; attempt < 50; attempt++)
        {
            var holder = new TcpListener(IPAddress.Loopback, 0);
            holder.Start();
            int port = ((IPEndPoint)holder.LocalEndpoint).Port;
            if (port > 8000 && IsFree(port - 1))
            {
                return (holder, port);
            }

            holder.Stop();
        }

        Assert.Inconclusive("found no port with a free port below it");
        return default;
    }

    private static bool IsFree(int port)
    {
        var probe = new TcpListener(IPAddress.Loopback, port);
        try
        {
            probe.Start();
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
        finally
        {
            probe.Stop();
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
