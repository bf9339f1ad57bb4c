using HsmVault.Cli;

namespace HsmVault.Client.Tests;

/// <summary>Runs the hsmvault command line in-process with captured streams.</summary>
internal sealed record CliRun(int ExitCode, string Out, string Error)
{
    /// <summary>The lines written to stderr, without empty ones.</summary>
    public string[] ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static async Task<CliRun> InvokeAsync(
        string[] args,
        string stdin = "",
        bool terminal = false,
        Queue<string>? typed = null,
        IReadOnlyDictionary<string, string>? environment = null,
        Func<Stream>? stdinBytes = null)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        var console = new CliConsole(
            new StringReader(stdin),
            output,
            error,
            terminal,
            () => typed is { Count: > 0 } ? typed.Dequeue().ToCharArray() : null,
            name => environment is not null && environment.TryGetValue(name, out string? value) ? value : null);
        if (stdinBytes is not null)
        {
            console = console with { OpenInputBytes = stdinBytes };
        }

        int code = await HsmVaultCli.RunAsync(args, console);
        return new CliRun(code, output.ToString(), error.ToString());
    }
}
