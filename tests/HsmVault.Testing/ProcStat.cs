using System.Diagnostics;
using System.Globalization;

namespace HsmVault.Testing;

/// <summary>
/// What Linux's /proc says about a process: CPU time (utime + stime of <c>/proc/PID/stat</c>) and
/// resident memory (<c>VmRSS</c> of <c>/proc/PID/status</c>). Null when the process is gone.
/// </summary>
public static class ProcStat
{
    private static readonly Lazy<long> TicksPerSecond = new(ReadClockTicks);

    /// <summary>user + system CPU time of <paramref name="pid"/> so far, or null when it is gone.</summary>
    public static TimeSpan? CpuTime(int pid)
    {
        string? stat = Read($"/proc/{pid}/stat");
        if (stat is null)
        {
            return null;
        }

        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so count from the last ')'.
        // After it, field 3 (state) is index 0; utime (field 14) and stime (field 15) are 11 and 12.
        string[] fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        long ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromSeconds((double)ticks / TicksPerSecond.Value);
    }

    /// <summary>Resident set size of <paramref name="pid"/> in bytes, or null when it is gone.</summary>
    public static long? RssBytes(int pid)
    {
        string? status = Read($"/proc/{pid}/status");
        string? line = status?.Split('\n').FirstOrDefault(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        if (line is null)
        {
            return null;
        }

        // "VmRSS:	  123456 kB"
        string kilobytes = line["VmRSS:".Length..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[0];
        return long.Parse(kilobytes, CultureInfo.InvariantCulture) * 1024;
    }

    /// <summary>The 1-, 5- and 15-minute load averages, as /proc/loadavg gives them.</summary>
    public static string LoadAverage() =>
        string.Join(' ', (Read("/proc/loadavg") ?? "? ? ?").Split(' ').Take(3));

    private static string? Read(string path)
    {
        try
        {
            return File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    // USER_HZ: 100 on every Linux this runs on, but asked for rather than assumed.
    private static long ReadClockTicks()
    {
        try
        {
            using Process getconf = Process.Start(new ProcessStartInfo("getconf", "CLK_TCK") { RedirectStandardOutput = true, UseShellExecute = false })!;
            string text = getconf.StandardOutput.ReadToEnd().Trim();
            getconf.WaitForExit();
            return long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out long ticks) && ticks > 0 ? ticks : 100;
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return 100;
        }
    }
}
