using System.Globalization;

// The runtime looks for exactly this: a type named StartupHook in the global namespace with a
// static Initialize(). It runs in a child process only when DOTNET_STARTUP_HOOKS names this dll.
#pragma warning disable CA1050 // the startup-hook contract requires the global namespace

/// <summary>
/// TEST/BENCH ONLY. When <c>HSMVAULT_GC_REPORT_DIR</c> is set, writes this process's GC figures to
/// <c>&lt;dir&gt;/gc-&lt;pid&gt;.txt</c> every <c>HSMVAULT_GC_REPORT_SECONDS</c> (default 1), as one line
/// <c>unix_ms heap_size_bytes total_memory_bytes committed_bytes gc_count</c>, replaced atomically
/// (written beside it, then renamed), so a reader sees the latest whole line. Nothing else is read
/// or written: no secret can reach it.
/// </summary>
internal static class StartupHook
{
    private static Timer? _timer;

    public static void Initialize()
    {
        string? directory = Environment.GetEnvironmentVariable("HSMVAULT_GC_REPORT_DIR");
        if (string.IsNullOrEmpty(directory) || !Directory.Exists(directory))
        {
            return;
        }

        double seconds = double.TryParse(Environment.GetEnvironmentVariable("HSMVAULT_GC_REPORT_SECONDS"), NumberStyles.Float, CultureInfo.InvariantCulture, out double s) && s > 0 ? s : 1;
        string path = Path.Combine(directory, $"gc-{Environment.ProcessId}.txt");
        string temporary = path + ".tmp";
        _timer = new Timer(_ => Write(path, temporary), null, TimeSpan.Zero, TimeSpan.FromSeconds(seconds));
    }

    private static void Write(string path, string temporary)
    {
        try
        {
            GCMemoryInfo info = GC.GetGCMemoryInfo();
            string line = string.Create(CultureInfo.InvariantCulture,
                $"{DateTimeOffset.UtcNow.ToUnixTimeMilliseconds()} {info.HeapSizeBytes} {GC.GetTotalMemory(false)} {info.TotalCommittedBytes} {GC.CollectionCount(0)}\n");
            File.WriteAllText(temporary, line);
            File.Move(temporary, path, overwrite: true);
        }
        catch (IOException)
        {
            // The folder went away (the run ended): nothing to report to.
        }
        catch (UnauthorizedAccessException)
        {
        }
    }
}
