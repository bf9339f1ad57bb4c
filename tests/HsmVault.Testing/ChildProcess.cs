using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace HsmVault.Testing;

/// <summary>
/// A real child process (simulator or host) started with `dotnet <dll>`, its output captured so a
/// test can wait for a readiness line and show the log when something fails.
/// </summary>
public sealed class ChildProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly Lock _gate = new();

    private ChildProcess(Process process, string name)
    {
        _process = process;
        Name = name;
    }

    public string Name { get; }

    public bool HasExited => _process.HasExited;

    public int Id => _process.Id;

    /// <summary>Everything the process wrote so far, stdout and stderr interleaved.</summary>
    public string Output
    {
        get
        {
            lock (_gate)
            {
                return _output.ToString();
            }
        }
    }

    /// <summary>The built dll of a sibling project, next to this test assembly's own output folder.</summary>
    public static string BuiltAssembly(string project)
    {
        // artifacts/bin/<project>/<pivot>/: a test or benchmark runs from artifacts/bin/<its project>/<pivot>/.
        string own = AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar);
        string pivot = Path.GetFileName(own);
        string path = Path.GetFullPath(Path.Combine(own, "..", "..", project, pivot, project + ".dll"));
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"{project} is not built at {path}; build the solution first.", path);
        }

        return path;
    }

    public static ChildProcess Start(string name, string dll, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        ProcessStartInfo start = new("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add(dll);
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        foreach ((string key, string value) in environment ?? new Dictionary<string, string>())
        {
            start.Environment[key] = value;
        }

        Process process = new() { StartInfo = start, EnableRaisingEvents = true };
        ChildProcess child = new(process, name);
        process.OutputDataReceived += (_, e) => child.Append(e.Data);
        process.ErrorDataReceived += (_, e) => child.Append(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return child;
    }

    /// <summary>Waits until a line matches <paramref name="pattern"/>; returns the match.</summary>
    public async Task<Match> WaitForAsync(Regex pattern, TimeSpan timeout)
    {
        Stopwatch clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            Match match = pattern.Match(Output);
            if (match.Success)
            {
                return match;
            }

            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{Name} exited with code {_process.ExitCode} before it was ready:\n{Output}");
            }

            await Task.Delay(50).ConfigureAwait(false);
        }

        throw new TimeoutException($"{Name} did not print /{pattern}/ within {timeout.TotalSeconds:F0} s:\n{Output}");
    }

    /// <summary>Asks the process to stop (SIGTERM), as systemd would, and waits; kills it if it does not.</summary>
    public async Task<int> StopAsync(TimeSpan grace)
    {
        if (!_process.HasExited)
        {
            using (Process kill = Process.Start("kill", ["-TERM", _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            {
                await kill.WaitForExitAsync().ConfigureAwait(false);
            }

            using CancellationTokenSource wait = new(grace);
            try
            {
                await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _process.Kill(entireProcessTree: true);
                await _process.WaitForExitAsync().ConfigureAwait(false);
            }
        }

        return _process.ExitCode;
    }

    /// <summary>Waits for the process to end by itself; kills it after <paramref name="limit"/>. Returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan limit)
    {
        using CancellationTokenSource wait = new(limit);
        try
        {
            await _process.WaitForExitAsync(wait.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await KillAsync().ConfigureAwait(false);
        }

        return _process.ExitCode;
    }

    /// <summary>Kills the process at once, like a crash or a power cut.</summary>
    public async Task KillAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await KillAsync().ConfigureAwait(false);
        _process.Dispose();
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_gate)
        {
            _output.AppendLine(line);
        }
    }
}
