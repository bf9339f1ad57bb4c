using System.Globalization;
using System.Net;
using System.Text;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;

namespace HsmVault.Witness;

/// <summary>
/// Asks each configured further witness to cosign a namespace's latest checkpoint with the
/// c2sp.org/tlog-witness add-checkpoint call: old size (what that witness last cosigned, or the
/// size it reports on 409), the consistency proof from there, and the log-signed checkpoint.
/// Only a cosignature that verifies under the pinned cosigner key is kept. A cosigner that is down
/// costs its cosignature for this size, never the append; <c>POST .../cosign</c> asks again.
/// </summary>
internal sealed class CosignatureCollector
{
    private readonly WitnessLog _log;
    private readonly IReadOnlyList<CosignerEndpoint> _cosigners;
    private readonly HttpClient _http;

    public CosignatureCollector(WitnessLog log, IReadOnlyList<CosignerEndpoint> cosigners, HttpClient http)
    {
        _log = log;
        _cosigners = cosigners;
        _http = http;
    }

    public IReadOnlyList<CosignerEndpoint> Cosigners => _cosigners;

    /// <summary>Gathers cosignatures for the latest checkpoint of <paramref name="namespace"/>; one line per cosigner says what happened.</summary>
    public async Task<IReadOnlyList<string>> CollectAsync(string @namespace, CancellationToken cancellationToken)
    {
        var report = new List<string>();
        foreach (CosignerEndpoint cosigner in _cosigners)
        {
            report.Add($"{cosigner.Key.Name}: {await CollectOneAsync(@namespace, cosigner, cancellationToken).ConfigureAwait(false)}");
        }

        return report;
    }

    private async Task<string> CollectOneAsync(string @namespace, CosignerEndpoint cosigner, CancellationToken cancellationToken)
    {
        for (int attempt = 0; attempt < 2; attempt++)
        {
            long oldSize = _log.CosignerSize(@namespace, cosigner.Key.Name);
            var request = _log.Read(@namespace, log => log.Size < oldSize
                ? null
                : new Submission(log.Size, log.LogCheckpointAt(log.Size), oldSize == 0 ? [] : log.ConsistencyProof(oldSize, log.Size)));
            if (request is null)
            {
                return $"it reports size {oldSize}, above this log's: not asked";
            }

            string body = $"old {oldSize.ToString(CultureInfo.InvariantCulture)}\n{LogPaths.FormatProof(request.Proof)}\n{request.Checkpoint}";
            HttpResponseMessage response;
            try
            {
                using var content = new StringContent(body, Encoding.UTF8, "text/plain");
                response = await _http.PostAsync(new Uri(cosigner.SubmissionPrefix, "add-checkpoint"), content, cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                return $"unreachable ({ex.Message})";
            }

            using (response)
            {
                string answer = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
                if (response.StatusCode == HttpStatusCode.Conflict
                    && long.TryParse(answer.Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out long theirs))
                {
                    _log.SetCosignerSize(@namespace, cosigner.Key.Name, theirs);
                    continue;
                }

                if (response.StatusCode != HttpStatusCode.OK)
                {
                    return $"refused with {(int)response.StatusCode}: {answer.Trim()}";
                }

                try
                {
                    SignedNote cosigned = SignedNote.Parse(request.Checkpoint.Text + "\n" + answer);
                    cosigned.Verify([cosigner.Key]);
                    NoteSignature line = cosigned.Signatures.First(s => s.Name == cosigner.Key.Name && s.KeyId == cosigner.Key.KeyId);
                    _log.AddCosignature(@namespace, request.Size, line);
                    return $"cosigned size {request.Size}";
                }
                catch (Exception ex) when (ex is NoteFormatException or NoteVerificationException or InvalidOperationException)
                {
                    return $"answered with no valid cosignature ({ex.Message})";
                }
            }
        }

        return "its size kept changing: not cosigned";
    }

    private sealed record Submission(long Size, SignedNote Checkpoint, IReadOnlyList<byte[]> Proof);
}
