using System.Globalization;
using System.Text.RegularExpressions;

namespace HsmVault.Host.Tests;

/// <summary>Reads sample values out of a Prometheus text exposition, whatever other labels (scope, resource) the exporter adds.</summary>
internal static partial class PrometheusText
{
    /// <summary>The value of the one sample of <paramref name="name"/> carrying every given label; fails when there is none or several.</summary>
    public static double Value(string exposition, string name, params (string Label, string Value)[] labels)
    {
        List<double> values = [];
        foreach (string line in exposition.Split('\n'))
        {
            Match sample = Sample().Match(line);
            if (!sample.Success || sample.Groups["name"].Value != name)
            {
                continue;
            }

            Dictionary<string, string> present = LabelPair().Matches(sample.Groups["labels"].Value)
                .ToDictionary(m => m.Groups["key"].Value, m => m.Groups["value"].Value, StringComparer.Ordinal);
            if (labels.All(l => present.TryGetValue(l.Label, out string? v) && v == l.Value))
            {
                values.Add(double.Parse(sample.Groups["value"].Value, CultureInfo.InvariantCulture));
            }
        }

        Assert.HasCount(1, values, $"samples of {name} with {string.Join(",", labels)}");
        return values[0];
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>[^}]*)\})?\s+(?<value>\S+)")]
    private static partial Regex Sample();

    [GeneratedRegex(@"(?<key>[a-zA-Z_][a-zA-Z0-9_]*)=""(?<value>[^""]*)""")]
    private static partial Regex LabelPair();
}
