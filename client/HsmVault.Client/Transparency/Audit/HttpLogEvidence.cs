using System.Net;

namespace HsmVault.Client.Transparency.Audit;

/// <summary>A witness's HTTP API as audit evidence.</summary>
public sealed class HttpLogEvidence : ILogEvidence
{
    private const int MaxResponseBytes = 1 << 20;

    private readonly HttpClient _http;
    private readonly Uri _base;

    public HttpLogEvidence(HttpClient http, Uri baseUri)
    {
        _http = http ?? throw new ArgumentNullException(nameof(http));
        ArgumentNullException.ThrowIfNull(baseUri);
        _base = baseUri.AbsoluteUri.EndsWith('/') ? baseUri : new Uri(baseUri.AbsoluteUri + "/");
    }

    public string Location => _base.AbsoluteUri;

    public async Task<string?> ReadAsync(string path, CancellationToken cancellationToken)
    {
        var url = new Uri(_base, path);
        try
        {
            using HttpResponseMessage response = await _http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode == HttpStatusCode.NotFound)
            {
                return null;
            }

            if (!response.IsSuccessStatusCode)
            {
                throw new LogEvidenceUnavailableException($"{url}: answered {(int)response.StatusCode} {response.ReasonPhrase}");
            }

            if (response.Content.Headers.ContentLength > MaxResponseBytes)
            {
                throw new LogEvidenceUnavailableException($"{url}: the answer is above {MaxResponseBytes} bytes");
            }

            return await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new LogEvidenceUnavailableException($"{url}: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new LogEvidenceUnavailableException($"{url}: timed out", ex);
        }
    }
}
