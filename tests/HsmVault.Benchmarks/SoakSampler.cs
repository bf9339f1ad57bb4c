using System.Globalization;
using System.Text;
using HsmVault.Testing;

namespace HsmVault.Benchmarks;

/// <summary>
/// The soak's series: every <c>--sample-seconds</c>, each process's RSS (<c>/proc/PID/status</c>
/// VmRSS) and GC heap, with the run's cumulative ok operations and errors, written to a CSV
/// (<c>seconds,process,pid,rss_mb,gc_heap_mb,gc_total_memory_mb,ok,errors</c>). At the end: per
/// process, the linear-regression slope of RSS and of the GC heap over the second half (MB/min),
/// and the error rate and throughput of the first window against the last.
/// </summary>
internal sealed class SoakSampler
{
    /// <summary>A slope under this (MB/min over the second half) is judged flat.</summary>
    public const double FlatMegabytesPerMinute = 1.0;

    private static readonly CultureInfo C = CultureInfo.InvariantCulture;
    private readonly Hook _hook;
    private readonly IReadOnlyList<(string Name, int Pid)> _processes;
    private readonly LoadRecorder _recorder;
    private readonly int _every;
    private readonly StreamWriter _csv;
    private readonly List<(double Seconds, string Process, double Rss, double Heap, double Total)> _series = [];
    private readonly List<(double Seconds, long Ok, long Errors)> _counts = [];
    private double _next;

    public SoakSampler(Hook hook, IReadOnlyList<(string Name, int Pid)> processes, LoadRecorder recorder, int every, string? csv)
    {
        _hook = hook;
        _processes = processes;
        _recorder = recorder;
        _every = every;
        Path = System.IO.Path.GetFullPath(csv ?? System.IO.Path.Combine("artifacts", "load", $"soak-{DateTime.UtcNow:yyyyMMdd-HHmmss}.csv"));
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(Path)!);
        _csv = new StreamWriter(Path, append: false, Encoding.ASCII);
        _csv.WriteLine("seconds,process,pid,rss_mb,gc_heap_mb,gc_total_memory_mb,ok,errors");
        Sample(0);
        _next = every;
    }

    public string Path { get; }

    public void SampleIfDue(TimeSpan elapsed)
    {
        if (elapsed.TotalSeconds >= _next)
        {
            Sample(elapsed.TotalSeconds);
            _next += _every;
        }
    }

    /// <summary>The last sample, the CSV closed, and the judgement printed.</summary>
    public void Finish(TimeSpan elapsed)
    {
        if (elapsed.TotalSeconds - _counts[^1].Seconds > _every / 2.0)
        {
            Sample(elapsed.TotalSeconds);
        }

        _csv.Dispose();
        double end = _counts[^1].Seconds;
        Console.WriteLine(string.Create(C, $"soak: {_counts.Count} samples over {end / 60:F1} min in {Path}"));
        Console.WriteLine("| process | RSS first → last MB | RSS slope, 2nd half, MB/min | GC heap after last GC, first → last MB | its slope, 2nd half, MB/min | GC.GetTotalMemory slope, 2nd half, MB/min | verdict |");
        Console.WriteLine("|---|---|---:|---|---:|---:|---|");
        foreach ((string name, _) in _processes)
        {
            var points = _series.Where(s => s.Process == name).ToList();
            if (points.Count < 2)
            {
                continue;
            }

            var half = points.Where(p => p.Seconds >= end / 2).ToList();
            double rssSlope = Slope(half.Select(p => (p.Seconds / 60, p.Rss)));

            // The heap after the last GC is what survives; 0 until the process's first GC, so only samples after one count.
            double heapSlope = Slope(half.Where(p => p.Heap > 0).Select(p => (p.Seconds / 60, p.Heap)));
            double totalSlope = Slope(half.Select(p => (p.Seconds / 60, p.Total)));
            bool flat = rssSlope < FlatMegabytesPerMinute && !(heapSlope >= FlatMegabytesPerMinute);
            Console.WriteLine(string.Create(C,
                $"| {name} | {points[0].Rss:F1} → {points[^1].Rss:F1} | {rssSlope:F3} | {points[0].Heap:F1} → {points[^1].Heap:F1} | {heapSlope:F3} | {totalSlope:F3} | {(flat ? "flat" : "GROWING")} |"));
        }

        // Windows between samples: the first (after the warm-up) against the last.
        if (_counts.Count >= 3)
        {
            (double Rate, double PerSecond) Window(int i)
            {
                long ok = _counts[i].Ok - _counts[i - 1].Ok;
                long errors = _counts[i].Errors - _counts[i - 1].Errors;
                double seconds = _counts[i].Seconds - _counts[i - 1].Seconds;
                return (ok + errors == 0 ? 0 : errors / (double)(ok + errors), ok / seconds);
            }

            (double firstRate, double firstOps) = Window(1);
            (double lastRate, double lastOps) = Window(_counts.Count - 1);
            Console.WriteLine(string.Create(C,
                $"soak: error rate first window {firstRate:P3}, last window {lastRate:P3}; ok/s first window {firstOps:F1}, last window {lastOps:F1}; flat: RSS and GC heap after GC both rise less than {FlatMegabytesPerMinute} MB/min over the second half (GC.GetTotalMemory includes garbage not yet collected: shown, not judged)"));
        }
    }

    private void Sample(double seconds)
    {
        long ok = _recorder.Successes;
        long errors = _recorder.Errors;
        _counts.Add((seconds, ok, errors));

        foreach ((string name, int pid) in _processes)
        {
            double rss = ProcStat.RssBytes(pid) is { } bytes ? bytes / 1048576.0 : double.NaN;
            (double heap, double total) = pid == Environment.ProcessId
                ? (GC.GetGCMemoryInfo().HeapSizeBytes / 1048576.0, GC.GetTotalMemory(false) / 1048576.0)
                : _hook.Read(pid);
            _series.Add((seconds, name, rss, heap, total));
            _csv.WriteLine(string.Create(C, $"{seconds:F1},{name},{pid},{rss:F2},{heap:F2},{total:F2},{ok},{errors}"));
        }

        _csv.Flush();
    }

    // Least squares: the slope of y over x.
    internal static double Slope(IEnumerable<(double X, double Y)> points)
    {
        var p = points.Where(q => !double.IsNaN(q.Y)).ToList();
        if (p.Count < 2)
        {
            return double.NaN;
        }

        double mx = p.Average(q => q.X);
        double my = p.Average(q => q.Y);
        double sxx = p.Sum(q => (q.X - mx) * (q.X - mx));
        return sxx == 0 ? double.NaN : p.Sum(q => (q.X - mx) * (q.Y - my)) / sxx;
    }

    /// <summary>
    /// The GC heap of child processes: the TEST/BENCH-ONLY startup hook (tests/HsmVault.GcReport),
    /// put into every child this process starts from now on through the inherited environment
    /// (<c>DOTNET_STARTUP_HOOKS</c>), reports each second into a folder of its own. Dispose takes it
    /// out of the environment and deletes the folder.
    /// </summary>
    internal sealed class Hook : IDisposable
    {
        private const string HooksVariable = "DOTNET_STARTUP_HOOKS";
        private const string DirectoryVariable = "HSMVAULT_GC_REPORT_DIR";
        private readonly string _directory;

        private Hook(string directory) => _directory = directory;

        public static Hook Install()
        {
            string dll = System.IO.Path.Combine(AppContext.BaseDirectory, "HsmVault.GcReport.dll");
            if (!File.Exists(dll))
            {
                throw new FileNotFoundException($"the GC-report startup hook is not built at {dll}; build the solution first", dll);
            }

            string directory = Directory.CreateTempSubdirectory("hsmvault-gc-").FullName;
            Environment.SetEnvironmentVariable(DirectoryVariable, directory);
            Environment.SetEnvironmentVariable("HSMVAULT_GC_REPORT_SECONDS", "1");
            Environment.SetEnvironmentVariable(HooksVariable, dll);
            return new Hook(directory);
        }

        /// <summary>The child's last reported GC heap size and GC.GetTotalMemory in MB; NaN when it has not reported.</summary>
        public (double Heap, double Total) Read(int pid)
        {
            try
            {
                string[] fields = File.ReadAllText(System.IO.Path.Combine(_directory, $"gc-{pid.ToString(C)}.txt")).Trim().Split(' ');
                return (long.Parse(fields[1], C) / 1048576.0, long.Parse(fields[2], C) / 1048576.0);
            }
            catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
            {
                return (double.NaN, double.NaN);
            }
        }

        public void Dispose()
        {
            Environment.SetEnvironmentVariable(HooksVariable, null);
            Environment.SetEnvironmentVariable(DirectoryVariable, null);
            try
            {
                Directory.Delete(_directory, recursive: true);
            }
            catch (IOException)
            {
                // A child still writing: the folder stays in /tmp.
            }
        }
    }
}
