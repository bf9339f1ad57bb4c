using System.Diagnostics;
using System.Globalization;

namespace HsmVault.Host;

/// <summary>
/// Test-only fault injection for the crash-consistency run (<c>build.ps1 crash</c>): named points in
/// the host where, when <c>HSMVAULT_CRASH_POINTS</c> gives the point a probability, the process kills
/// itself with SIGKILL, exactly as a power cut there would. Without the variable (always, outside that
/// run) every call is one dictionary miss. The draws come from <c>HSMVAULT_CRASH_SEED</c>, so a run's
/// crash points replay from its seed.
/// </summary>
internal static class CrashPoints
{
    /// <summary>The HSM applied a batch into an entry that is not stored yet.</summary>
    public const string AfterBatch = "after-batch";

    /// <summary>Inside the store's transaction: the log entry is written, its records are not, nothing committed.</summary>
    public const string MidStore = "mid-store";

    /// <summary>The entry is durable in the store; no member has captured it.</summary>
    public const string AfterStore = "after-store";

    /// <summary>The HSM released the answers; none has reached its client.</summary>
    public const string AfterCommit = "after-commit";

    private static readonly Dictionary<string, double> Probabilities = Parse(Environment.GetEnvironmentVariable("HSMVAULT_CRASH_POINTS"));

    private static readonly Random Draws = new(int.TryParse(Environment.GetEnvironmentVariable("HSMVAULT_CRASH_SEED"), NumberStyles.Integer, CultureInfo.InvariantCulture, out int seed) ? seed : 0);

    /// <summary>Kills this process at <paramref name="point"/> with the configured probability.</summary>
    public static void Maybe(string point)
    {
        if (Probabilities.Count == 0 || !Probabilities.TryGetValue(point, out double probability))
        {
            return;
        }

        bool crash;
        lock (Draws)
        {
            crash = Draws.NextDouble() < probability;
        }

        if (crash)
        {
            Console.Error.WriteLine($"hsmvault-host: crash point {point}: SIGKILL");
            Console.Error.Flush();
            Process.GetCurrentProcess().Kill();
        }
    }

    private static Dictionary<string, double> Parse(string? text)
    {
        var points = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (string part in (text ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            string[] pair = part.Split('=', 2);
            if (pair.Length == 2 && double.TryParse(pair[1], NumberStyles.Float, CultureInfo.InvariantCulture, out double p))
            {
                points[pair[0]] = p;
            }
        }

        return points;
    }
}
