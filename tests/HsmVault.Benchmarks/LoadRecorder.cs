using System.Globalization;

namespace HsmVault.Benchmarks;

/// <summary>
/// Counts a load run's operations while it measures: successes with their latency, errors by type,
/// for the whole run and for the current window (the live line takes and resets the window).
/// </summary>
internal sealed class LoadRecorder
{
    private readonly Lock _gate = new();
    private readonly List<double> _all = [];
    private readonly Dictionary<string, long> _errors = new(StringComparer.Ordinal);
    private List<double> _window = [];
    private Dictionary<string, long> _windowErrors = new(StringComparer.Ordinal);
    private bool _measuring;

    public long Successes { get { lock (_gate) { return _all.Count; } } }

    public long Errors { get { lock (_gate) { return _errors.Values.Sum(); } } }

    /// <summary>From now on operations count (the warm-up before did not).</summary>
    public void Start()
    {
        lock (_gate)
        {
            _measuring = true;
            _window = [];
            _windowErrors = new(StringComparer.Ordinal);
        }
    }

    /// <summary>Operations that end from now on are not counted.</summary>
    public void Stop()
    {
        lock (_gate)
        {
            _measuring = false;
        }
    }

    /// <summary>One operation: <paramref name="error"/> is null for a success, else its type.</summary>
    public void Record(string? error, double milliseconds)
    {
        lock (_gate)
        {
            if (!_measuring)
            {
                return;
            }

            if (error is null)
            {
                _all.Add(milliseconds);
                _window.Add(milliseconds);
            }
            else
            {
                _errors[error] = _errors.GetValueOrDefault(error) + 1;
                _windowErrors[error] = _windowErrors.GetValueOrDefault(error) + 1;
            }
        }
    }

    /// <summary>The window since the last call: successes, their p50 and p99, errors by type; then a new window.</summary>
    public (int Successes, double P50, double P99, IReadOnlyDictionary<string, long> Errors) TakeWindow()
    {
        List<double> window;
        Dictionary<string, long> errors;
        lock (_gate)
        {
            window = _window;
            errors = _windowErrors;
            _window = [];
            _windowErrors = new(StringComparer.Ordinal);
        }

        double[] sorted = [.. window.Order()];
        return (sorted.Length, Percentile(sorted, 0.50), Percentile(sorted, 0.99), errors);
    }

    /// <summary>Every counted success's latency, sorted, and the errors by type.</summary>
    public (double[] Sorted, IReadOnlyDictionary<string, long> Errors) Totals()
    {
        lock (_gate)
        {
            return ([.. _all.Order()], new Dictionary<string, long>(_errors, StringComparer.Ordinal));
        }
    }

    public static double Percentile(double[] sorted, double q) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Clamp((int)Math.Ceiling(q * sorted.Length) - 1, 0, sorted.Length - 1)];

    public static string Describe(IReadOnlyDictionary<string, long> errors) =>
        errors.Count == 0 ? "none" : string.Join(", ", errors.OrderByDescending(e => e.Value).Select(e => string.Create(CultureInfo.InvariantCulture, $"{e.Key}={e.Value}")));
}
