using System.Diagnostics;

namespace HsmVault.Simulator.Tests.Bridge;

/// <summary>
/// The real simulator process (<c>HsmVault.Simulator.dll</c>, copied next to this test assembly by
/// the project reference): a command run to its end, or <c>serve</c> started and waited for until it
/// says it is listening.
/// </summary>
internal static class SimulatorProcess
{
    /// <summary>How long a command may take, and a server to start.</summary>
    internal static readonly TimeSpan Limit = TimeSpan.FromSeconds(60);

    internal static string Dll()
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "HsmVault.Simulator.dll");
        Assert.IsTrue(File.Exists(dll), $"the simulator is built next to the tests: {dll}");
        return dll;
    }

    internal static ProcessStartInfo StartInfo(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(Dll());
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string name, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[name] = value;
        }

        return start;
    }

    /// <summary>Runs a command to its end (at most <see cref="Limit"/>).</summary>
    internal static Outcome Run(string[] arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        using Process process = Process.Start(StartInfo(arguments, environment)) ?? throw new InvalidOperationException("dotnet did not start");
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(Limit))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"the simulator did not exit within {Limit.TotalSeconds} s: {string.Join(' ', arguments)}");
        }

        return new Outcome(process.ExitCode, stdout.Result, stderr.Result);
    }

    /// <summary>
    /// Starts <c>serve --listen unix:<paramref name="socketPath"/> --state-dir <paramref name="stateDirectory"/></c>
    /// with <paramref name="extra"/> options, and returns once it reports "listening on".
    /// </summary>
    internal static Serving Serve(string socketPath, string stateDirectory, params string[] extra)
    {
        // The child writes its own softhsm2.conf into --state-dir before it loads SoftHSM2. The
        // variable is set here, in the real process environment, because SoftHSM2 reads it with
        // getenv and .NET's Environment.SetEnvironmentVariable does not reach that on Linux.
        ProcessStartInfo start = StartInfo(
            ["serve", "--listen", "unix:" + socketPath, "--state-dir", stateDirectory, .. extra],
            new Dictionary<string, string> { ["SOFTHSM2_CONF"] = Path.Combine(stateDirectory, "softhsm2.conf") });
        return new Serving(Process.Start(start) ?? throw new InvalidOperationException("dotnet did not start"));
    }

    /// <summary>A simulator serving until disposed (then killed).</summary>
    internal sealed class Serving : IDisposable
    {
        private readonly List<string> _output = [];
        private readonly System.Text.StringBuilder _errors = new();

        internal Serving(Process process)
        {
            Process = process;
            var ready = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data is null)
                {
                    ready.TrySetResult(false);
                    return;
                }

                lock (_output)
                {
                    _output.Add(e.Data);
                }

                if (e.Data.Contains("hsmvault-simulator: listening on", StringComparison.Ordinal))
                {
                    ready.TrySetResult(true);
                }
            };
            process.ErrorDataReceived += (_, e) =>
            {
                lock (_errors)
                {
                    _errors.AppendLine(e.Data);
                }
            };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (!ready.Task.Wait(Limit) || !ready.Task.Result)
            {
                Dispose();
                lock (_errors)
                {
                    Assert.Fail($"the simulator did not report 'listening on' within {Limit.TotalSeconds} s; stderr: {_errors}");
                }
            }
        }

        internal Process Process { get; }

        /// <summary>The lines written to standard output so far.</summary>
        internal IReadOnlyList<string> Output
        {
            get
            {
                lock (_output)
                {
                    return [.. _output];
                }
            }
        }

        /// <summary>The one line of standard output that contains <paramref name="text"/>.</summary>
        internal string Line(string text) => Output.Single(line => line.Contains(text, StringComparison.Ordinal));

        public void Dispose()
        {
            if (!Process.HasExited)
            {
                Process.Kill(entireProcessTree: true);
                Process.WaitForExit(10_000);
            }

            Process.Dispose();
        }
    }
}

/// <summary>How a simulator command ended.</summary>
internal sealed record Outcome(int ExitCode, string Output, string Error)
{
    /// <summary>Standard error must be exactly one line: a stack trace would add its frames.</summary>
    public string SingleErrorLine()
    {
        string[] lines = Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.HasCount(1, lines, $"one line on stderr, no stack trace: {Error}");
        Assert.StartsWith("hsmvault-simulator: ", lines[0]);
        return lines[0];
    }

    /// <summary>Standard output must be exactly one line.</summary>
    public string SingleOutputLine()
    {
        string[] lines = Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.HasCount(1, lines, $"one line on stdout: {Output}");
        Assert.StartsWith("hsmvault-simulator: ", lines[0]);
        return lines[0];
    }

    public override string ToString() => $"exit {ExitCode}; stdout: {Output}; stderr: {Error}";
}
