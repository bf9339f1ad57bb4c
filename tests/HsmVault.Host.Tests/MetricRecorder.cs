using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using HsmVault.Host.Telemetry;

namespace HsmVault.Host.Tests;

/// <summary>Sums what one <see cref="HostMetrics"/> instance's counters record (other hosts' meters of the same name are ignored).</summary>
internal sealed class MetricRecorder : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentDictionary<string, long> _totals = new(StringComparer.Ordinal);

    public MetricRecorder(HostMetrics metrics)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (ReferenceEquals(instrument.Meter, metrics.Meter))
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) =>
        {
            _totals.AddOrUpdate(instrument.Name, value, (_, n) => n + value);
            foreach (KeyValuePair<string, object?> tag in tags)
            {
                _totals.AddOrUpdate($"{instrument.Name}{{{tag.Key}={tag.Value}}}", value, (_, n) => n + value);
            }
        });
        _listener.Start();
    }

    /// <summary>The sum recorded on <paramref name="instrument"/>, optionally only where tag <paramref name="tag"/> = <paramref name="value"/>.</summary>
    public long Total(string instrument, string? tag = null, string? value = null) =>
        _totals.GetValueOrDefault(tag is null ? instrument : $"{instrument}{{{tag}={value}}}");

    public void Dispose() => _listener.Dispose();
}
