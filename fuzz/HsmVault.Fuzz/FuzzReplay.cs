using System.Diagnostics;

namespace HsmVault.Fuzz;

/// <summary>How one input ended when run in process, with what it cost.</summary>
public sealed record ReplayResult(string Input, string? Label, Exception? Error, bool Hung, TimeSpan Elapsed, long AllocatedBytes, TimeSpan TimeLimit, long AllocationLimitBytes)
{
    public bool OverTime => !Hung && Elapsed > TimeLimit;

    public bool OverAllocation => AllocatedBytes > AllocationLimitBytes;

    /// <summary>An untyped exception, a broken invariant, a hang, or a limit exceeded.</summary>
    public bool Failed => Error is not null || Hung || OverTime || OverAllocation;

    public override string ToString()
    {
        string what = Hung ? $"HANG (no answer within {Elapsed.TotalSeconds:F0} s)"
            : Error is not null ? $"FINDING {Error.GetType().FullName}: {Error.Message}"
            : OverTime ? $"TOO SLOW {Elapsed.TotalMilliseconds:F0} ms (limit {TimeLimit.TotalMilliseconds:F0} ms)"
            : OverAllocation ? $"TOO MUCH MEMORY {AllocatedBytes:N0} bytes allocated (limit {AllocationLimitBytes:N0})"
            : $"ok {Label}";
        return $"{Input}: {what}; {Elapsed.TotalMilliseconds:F1} ms, {AllocatedBytes:N0} bytes";
    }
}

/// <summary>
/// Runs inputs through a target in process, without AFL: each input on its own thread, so its
/// allocations (GC.GetAllocatedBytesForCurrentThread) and time are its own, and a hang is seen as a
/// thread that does not finish. A time overrun is measured once more before it counts, so a first
/// JIT compilation or a GC pause on a busy machine is not taken for a slow input.
/// </summary>
public static class FuzzReplay
{
    private const int StackBytes = 8 << 20;

    public static ReplayResult Run(FuzzTarget target, byte[] input, string name)
    {
        ArgumentNullException.ThrowIfNull(target);
        ReplayResult first = RunOnce(target, input, name);
        return first.OverTime && first.Error is null ? RunOnce(target, input, name) : first;
    }

    private static ReplayResult RunOnce(FuzzTarget target, byte[] input, string name)
    {
        string? label = null;
        Exception? error = null;
        long allocated = 0;
        var clock = new Stopwatch();
        var thread = new Thread(
            () =>
            {
                long start = GC.GetAllocatedBytesForCurrentThread();
                clock.Start();
                try
                {
                    label = target.Run(input);
                }
                catch (Exception ex)
                {
                    error = ex;
                }

                clock.Stop();
                allocated = GC.GetAllocatedBytesForCurrentThread() - start;
            },
            StackBytes)
        {
            IsBackground = true,
            Name = $"fuzz replay {target.Name}",
        };
        TimeSpan wait = (target.TimeLimit * 5) + TimeSpan.FromSeconds(1);
        thread.Start();
        if (!thread.Join(wait))
        {
            return new ReplayResult(name, null, null, Hung: true, wait, 0, target.TimeLimit, target.AllocationLimitBytes);
        }

        return new ReplayResult(name, label, error, Hung: false, clock.Elapsed, allocated, target.TimeLimit, target.AllocationLimitBytes);
    }
}
