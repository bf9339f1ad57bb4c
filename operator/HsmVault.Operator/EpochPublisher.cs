using System.Net;
using System.Text;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;

namespace HsmVault.Operator;

/// <summary>
/// The operator's part of publishing an epoch: sign the append request with the token, have the
/// witness log and sign the statement, check that what the witness signed is exactly this
/// namespace, epoch and fleet-key file under the pinned witness key, then counter-sign the
/// witness's signature bytes with the token and hand the counter-signature to the witness.
/// The operator never counter-signs a statement it did not ask for.
/// </summary>
public sealed class EpochPublisher
{
    private readonly HttpClient _http;
    private readonly Uri _witness;
    private readonly NoteVerifierKey _witnessKey;
    private readonly OperatorToken _token;

    public EpochPublisher(HttpClient http, Uri witness, NoteVerifierKey witnessKey, OperatorToken token)
    {
        _http = http ?? throw new ArgumentNullException(nameof(http));
        _witness = witness ?? throw new ArgumentNullException(nameof(witness));
        _witnessKey = witnessKey ?? throw new ArgumentNullException(nameof(witnessKey));
        _token = token ?? throw new ArgumentNullException(nameof(token));
    }

    /// <summary>Appends and counter-signs <paramref name="epoch"/>; returns the counter-signed entry.</summary>
    public async Task<WitnessLogEntry> PublishAsync(string @namespace, long epoch, FleetKeySet fleetKeys, CancellationToken cancellationToken)
    {
        var statement = new EpochStatement(@namespace, epoch, fleetKeys.Digest);
        byte[] authorization = _token.SignAppendRequest(statement);
        string body = Json.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WriteNumber("epoch", epoch);
            writer.WritePropertyName("fleet_keys");
            using (var file = System.Text.Json.JsonDocument.Parse(fleetKeys.ToCanonicalJson()))
            {
                file.RootElement.WriteTo(writer);
            }

            writer.WriteString("authorization", Convert.ToBase64String(authorization));
            writer.WriteEndObject();
        });
        (HttpStatusCode status, string answer) = await PostAsync(LogPaths.Namespace(@namespace) + "/append", body, "application/json", cancellationToken).ConfigureAwait(false);
        if (status is HttpStatusCode.Conflict or HttpStatusCode.Forbidden or HttpStatusCode.BadRequest)
        {
            throw new WitnessRefusedException((int)status, answer.Trim());
        }

        if (status is not (HttpStatusCode.OK or HttpStatusCode.Created))
        {
            throw new WitnessAnswerException($"append answered {(int)status}: {answer.Trim()}");
        }

        WitnessLogEntry entry;
        try
        {
            using var document = System.Text.Json.JsonDocument.Parse(answer);
            entry = WitnessLogEntry.FromJson(document.RootElement.GetProperty("entry"), "append.entry");
        }
        catch (Exception ex) when (ex is System.Text.Json.JsonException or KeyNotFoundException or InvalidOperationException or FormatException)
        {
            throw new WitnessAnswerException($"append answered something that is not an entry: {ex.Message}", ex);
        }

        return await CounterSignAsync(entry, statement, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Counter-signs an epoch appended earlier (for example when a publish was cut short after the append).</summary>
    public async Task<WitnessLogEntry> CounterSignExistingAsync(string @namespace, long epoch, FleetKeySet fleetKeys, CancellationToken cancellationToken)
    {
        var statement = new EpochStatement(@namespace, epoch, fleetKeys.Digest);
        using HttpResponseMessage response = await _http.GetAsync(new Uri(_witness, LogPaths.EntryOfEpoch(@namespace, epoch)), cancellationToken).ConfigureAwait(false);
        string answer = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            throw new WitnessRefusedException(404, answer.Trim());
        }

        if (!response.IsSuccessStatusCode)
        {
            throw new WitnessAnswerException($"the entry of epoch {epoch} answered {(int)response.StatusCode}: {answer.Trim()}");
        }

        WitnessLogEntry entry;
        try
        {
            entry = WitnessLogEntry.Parse(answer);
        }
        catch (TransparencyFormatException ex)
        {
            throw new WitnessAnswerException($"the entry of epoch {epoch} is not an entry: {ex.Message}", ex);
        }

        return await CounterSignAsync(entry, statement, cancellationToken).ConfigureAwait(false);
    }

    private async Task<WitnessLogEntry> CounterSignAsync(WitnessLogEntry entry, EpochStatement statement, CancellationToken cancellationToken)
    {
        if (!entry.Statement.SameAs(statement) || !entry.DigestMatches)
        {
            throw new WitnessAnswerException($"the witness logged {entry.Statement}, not {statement}: not counter-signing");
        }

        if (!_witnessKey.Verify(statement.ToBytes(), entry.WitnessSignature))
        {
            throw new WitnessAnswerException($"the witness signature of {statement} does not verify under {_witnessKey}: not counter-signing");
        }

        byte[] counterSignature = _token.CounterSign(entry.WitnessSignature);
        (HttpStatusCode status, string answer) = await PostAsync(
            $"{LogPaths.Entry(statement.Namespace, entry.Index)}/counter-signature", Convert.ToBase64String(counterSignature) + "\n", "text/plain", cancellationToken).ConfigureAwait(false);
        if (status != HttpStatusCode.OK)
        {
            throw status == HttpStatusCode.Forbidden ? new WitnessRefusedException(403, answer.Trim()) : new WitnessAnswerException($"the counter-signature answered {(int)status}: {answer.Trim()}");
        }

        WitnessLogEntry signed;
        try
        {
            signed = WitnessLogEntry.Parse(answer);
        }
        catch (TransparencyFormatException ex)
        {
            // The witness's answer, not the operator's input: said as such (exit 3, not 1).
            throw new WitnessAnswerException($"the counter-signature answered something that is not an entry: {ex.Message}", ex);
        }

        if (signed.CounterSignature is not { } kept || !_token.PublicKey.VerifyCounterSignature(signed.WitnessSignature, kept))
        {
            throw new WitnessAnswerException($"the witness did not keep a valid counter-signature for entry {entry.Index}");
        }

        return signed;
    }

    private async Task<(HttpStatusCode, string)> PostAsync(string path, string body, string type, CancellationToken cancellationToken)
    {
        try
        {
            using var content = new StringContent(body, Encoding.UTF8, type);
            using HttpResponseMessage response = await _http.PostAsync(new Uri(_witness, path), content, cancellationToken).ConfigureAwait(false);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
        }
        catch (HttpRequestException ex)
        {
            throw new WitnessAnswerException($"the witness at {_witness} cannot be reached: {ex.Message}", ex);
        }
    }
}
