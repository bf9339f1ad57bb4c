namespace HsmVault.Cli;

/// <summary>
/// The process surroundings the command line uses, injectable so tests run it in-process:
/// standard streams, whether stdin is a terminal, a no-echo secret prompt, and the environment.
/// </summary>
/// <param name="In">Standard input (read for <c>--password-stdin</c>).</param>
/// <param name="Out">Standard output: only results (keys, status) go here.</param>
/// <param name="Error">Standard error: progress, prompts and error messages.</param>
/// <param name="InputIsTerminal">True when a person can be prompted.</param>
/// <param name="ReadSecret">Reads one line without echo; returns the characters (the caller zeroes them) or null at end of input.</param>
/// <param name="GetEnvironmentVariable">Looks up an environment variable.</param>
public sealed record CliConsole(
    TextReader In,
    TextWriter Out,
    TextWriter Error,
    bool InputIsTerminal,
    Func<char[]?> ReadSecret,
    Func<string, string?> GetEnvironmentVariable)
{
    /// <summary>
    /// Opens standard input as bytes (for <c>--passkey-stdin</c>, whose raw form is binary and must
    /// not pass through a text decoder). By default: the UTF-8 bytes of what <see cref="In"/> reads.
    /// </summary>
    public Func<Stream> OpenInputBytes { get; init; } = () => new MemoryStream(System.Text.Encoding.UTF8.GetBytes(In.ReadToEnd()));

    /// <summary>The real console of this process.</summary>
    public static CliConsole Process() => new(
        Console.In,
        Console.Out,
        Console.Error,
        !Console.IsInputRedirected,
        ReadSecretFromKeyboard,
        Environment.GetEnvironmentVariable)
    {
        OpenInputBytes = Console.OpenStandardInput,
    };

    private static char[]? ReadSecretFromKeyboard()
    {
        var buffer = new char[256];
        int length = 0;
        while (true)
        {
            ConsoleKeyInfo key = Console.ReadKey(intercept: true);
            if (key.Key == ConsoleKey.Enter)
            {
                break;
            }

            if (key.Key == ConsoleKey.Backspace)
            {
                length = Math.Max(0, length - 1);
                continue;
            }

            if (key.KeyChar == '\0')
            {
                continue;
            }

            if (length == buffer.Length)
            {
                var larger = new char[buffer.Length * 2];
                buffer.CopyTo(larger, 0);
                Array.Clear(buffer);
                buffer = larger;
            }

            buffer[length++] = key.KeyChar;
        }

        Console.Error.WriteLine();
        char[] result = buffer[..length];
        Array.Clear(buffer);
        return result;
    }
}
