using System.Globalization;
using HsmVault.Transparency.Epochs;

namespace HsmVault.Host.Transparency;

/// <summary>
/// Where the host gets the validation bundle it announces to clients: configuration section
/// <c>Transparency</c>. Either <see cref="Witness"/> and <see cref="Namespace"/> (the host asks the
/// witness for the namespace's newest bundle) or <see cref="BundleFile"/> (a bundle published as a
/// file). Neither: the host announces nothing and clients must pin the fleet's keys. Nothing here
/// is secret and nothing in a bundle is believed by a client until it checks it.
/// </summary>
public sealed class TransparencyOptions
{
    public const string Section = "Transparency";

    /// <summary>The witness's base URL, e.g. <c>http://127.0.0.1:7380/</c>; the host reads <c>GET /v1/log/NS/bundle</c>.</summary>
    public string Witness { get; set; } = string.Empty;

    /// <summary>The fleet log's namespace at the witness.</summary>
    public string Namespace { get; set; } = string.Empty;

    /// <summary>A validation bundle file (JSON), read instead of asking a witness; re-read at each refresh.</summary>
    public string BundleFile { get; set; } = string.Empty;

    /// <summary>How often the host fetches the bundle again (a new epoch reaches clients within this time).</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long one fetch from the witness may take.</summary>
    public TimeSpan FetchTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>True when the host announces a bundle.</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(Witness) || !string.IsNullOrWhiteSpace(BundleFile);

    /// <summary>The URL of the namespace's newest bundle. Call only when <see cref="Problems"/> is empty and <see cref="Witness"/> is set.</summary>
    public Uri BundleUrl() => new(new Uri(Witness.Trim().TrimEnd('/') + "/"), $"v1/log/{Uri.EscapeDataString(Namespace.Trim())}/bundle");

    /// <summary>The problems with these settings, each naming the option; empty when valid.</summary>
    public IReadOnlyList<string> Problems()
    {
        List<string> problems = [];
        bool witness = !string.IsNullOrWhiteSpace(Witness);
        bool file = !string.IsNullOrWhiteSpace(BundleFile);
        if (witness && file)
        {
            problems.Add("Transparency:BundleFile: give either Transparency:Witness or Transparency:BundleFile, not both");
        }

        if (witness)
        {
            if (!Uri.TryCreate(Witness.Trim(), UriKind.Absolute, out Uri? uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
            {
                problems.Add($"Transparency:Witness: '{Witness}' is not an http:// or https:// URL");
            }

            if (string.IsNullOrWhiteSpace(Namespace))
            {
                problems.Add("Transparency:Namespace: required with Transparency:Witness (the fleet log's namespace)");
            }
            else if (!FleetNamespace.IsValid(Namespace.Trim()))
            {
                problems.Add($"Transparency:Namespace: '{Namespace}' must be 1 to {FleetNamespace.MaxLength} characters of a-z, 0-9, '.', '-', '_', starting with a letter or digit");
            }
        }

        if (Enabled)
        {
            if (RefreshInterval < TimeSpan.FromSeconds(1))
            {
                problems.Add($"Transparency:RefreshInterval: {RefreshInterval.ToString("c", CultureInfo.InvariantCulture)}, must be at least 1 second");
            }

            if (FetchTimeout <= TimeSpan.Zero)
            {
                problems.Add($"Transparency:FetchTimeout: {FetchTimeout.ToString("c", CultureInfo.InvariantCulture)}, must be positive");
            }
        }

        return problems;
    }
}
