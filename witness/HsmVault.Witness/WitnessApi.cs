using System.Text;
using System.Text.Json;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace HsmVault.Witness;

/// <summary>
/// The witness's HTTP API (docs/TRANSPARENCY.md): the read paths of <see cref="LogPaths"/>, the
/// append and counter-signature writes, and the c2sp.org/tlog-witness cosigner calls. Errors are
/// one line of text with a status that says what kind they are.
/// </summary>
internal static class WitnessApi
{
    private const string Text = "text/plain; charset=utf-8";
    private const string JsonType = "application/json";
    private const int MaxRequestBytes = 64 * 1024;

    public static void Map(IEndpointRouteBuilder app, WitnessLog log, CosignatureCollector collector, CheckpointCosigner? cosigner)
    {
        app.MapGet("/v1/witness", () => Results.Text(Json.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WriteString("name", log.Name);
            writer.WriteString("vkey", log.VerifierKey.ToString());
            writer.WriteString("operator_key", log.OperatorKey.ToString());
            if (cosigner is not null)
            {
                writer.WriteString("cosigner_vkey", cosigner.VerifierKey.ToString());
            }

            writer.WriteStartArray("namespaces");
            log.Namespaces.ToList().ForEach(writer.WriteStringValue);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }), JsonType));

        RouteGroupBuilder ns = app.MapGroup("/v1/log/{ns}");
        ns.MapGet("/checkpoint", (string ns) => Read(log, ns, l => Results.Text(l.CheckpointAt(l.Size).ToString(), Text)));
        ns.MapGet("/checkpoints/{size:long}", (string ns, long size) => Read(log, ns, l => size >= 1 && size <= l.Size
            ? Results.Text(l.CheckpointAt(size).ToString(), Text)
            : NotFound($"no checkpoint of size {size}; sizes are 1 to {l.Size}")));
        ns.MapGet("/entries/{index:long}", (string ns, long index) => Read(log, ns, l => index >= 0 && index < l.Size
            ? Results.Text(l.Entry(index).ToJson(), JsonType)
            : NotFound($"no entry {index}; entries are 0 to {l.Size - 1}")));
        ns.MapGet("/epochs/{epoch:long}", (string ns, long epoch) => Read(log, ns, l => l.EntryOfEpoch(epoch) is { } entry
            ? Results.Text(entry.ToJson(), JsonType)
            : NotFound($"no epoch {epoch} in {ns}")));
        ns.MapGet("/proof/inclusion/{index:long}/{size:long}", (string ns, long index, long size) => Read(log, ns, l => index >= 0 && index < size && size <= l.Size
            ? Results.Text(LogPaths.FormatProof(l.InclusionProof(index, size)), Text)
            : BadRequest($"need 0 <= index < size <= {l.Size}")));
        ns.MapGet("/proof/consistency/{old:long}/{size:long}", (string ns, long old, long size) => Read(log, ns, l => old >= 0 && old <= size && size <= l.Size
            ? Results.Text(LogPaths.FormatProof(l.ConsistencyProof(old, size)), Text)
            : BadRequest($"need 0 <= old <= size <= {l.Size}")));
        ns.MapGet("/bundle", (string ns) => Read(log, ns, l => Results.Text(LogEvidence.Bundle(l, l.Size - 1).ToJson(), JsonType)));
        ns.MapGet("/bundles/{epoch:long}", (string ns, long epoch) => Read(log, ns, l => l.EntryOfEpoch(epoch) is { } entry
            ? Results.Text(LogEvidence.Bundle(l, entry.Index).ToJson(), JsonType)
            : NotFound($"no epoch {epoch} in {ns}")));

        ns.MapPost("/append", async (string ns, HttpRequest request, CancellationToken cancellationToken) =>
        {
            if (!FleetNamespace.IsValid(ns))
            {
                return BadRequest($"'{ns}' is not a namespace (a-z, 0-9, '.', '-', '_', at most {FleetNamespace.MaxLength})");
            }

            if (await ReadBodyAsync(request, cancellationToken).ConfigureAwait(false) is not { } body)
            {
                return Results.Text($"the request is above {MaxRequestBytes} bytes\n", Text, statusCode: StatusCodes.Status413PayloadTooLarge);
            }

            long epoch;
            FleetKeySet fleetKeys;
            byte[] authorization;
            try
            {
                (epoch, fleetKeys, authorization) = ReadAppend(body);
            }
            catch (FormatException ex)
            {
                return BadRequest(ex.Message);
            }

            switch (log.Append(ns, epoch, fleetKeys, authorization))
            {
                case Appended appended:
                    IReadOnlyList<string> cosigners = appended.AlreadyPresent || collector.Cosigners.Count == 0
                        ? []
                        : await collector.CollectAsync(ns, cancellationToken).ConfigureAwait(false);
                    return Results.Text(AppendAnswer(appended, cosigners), JsonType, statusCode: appended.AlreadyPresent ? StatusCodes.Status200OK : StatusCodes.Status201Created);
                case EpochNotIncreasing refused:
                    return Results.Text($"epoch {refused.Requested} does not increase: the newest epoch of {ns} is {refused.Newest}\n", Text, statusCode: StatusCodes.Status409Conflict);
                case AppendNotAuthorized refused:
                    return Results.Text(refused.Reason + "\n", Text, statusCode: StatusCodes.Status403Forbidden);
                default:
                    throw new InvalidOperationException("unknown append outcome");
            }
        });

        ns.MapPost("/entries/{index:long}/counter-signature", async (string ns, long index, HttpRequest request, CancellationToken cancellationToken) =>
        {
            string? body = await ReadBodyAsync(request, cancellationToken).ConfigureAwait(false);
            byte[] signature;
            try
            {
                signature = StrictJson.Base64(body?.Trim() ?? string.Empty, "counter-signature", OperatorKey.SignatureLength);
            }
            catch (TransparencyFormatException ex)
            {
                return BadRequest(ex.Message);
            }

            return log.CounterSign(ns, index, signature) switch
            {
                CounterSigned signed => Results.Text(signed.Entry.ToJson(), JsonType),
                CounterSignatureInvalid => Results.Text($"not the operator's counter-signature of entry {index}'s witness signature\n", Text, statusCode: StatusCodes.Status403Forbidden),
                EntryNotFound => NotFound($"no entry {index} in {ns}"),
                _ => throw new InvalidOperationException("unknown counter-signature outcome"),
            };
        });

        ns.MapPost("/cosign", async (string ns, CancellationToken cancellationToken) =>
            !log.Namespaces.Contains(ns, StringComparer.Ordinal)
                ? NotFound($"namespace {ns} has no entry")
                : Results.Text(string.Concat((await collector.CollectAsync(ns, cancellationToken).ConfigureAwait(false)).Select(line => line + "\n")), Text));

        if (cosigner is not null)
        {
            app.MapPost("/add-checkpoint", async (HttpRequest request, CancellationToken cancellationToken) =>
            {
                if (await ReadBodyAsync(request, cancellationToken).ConfigureAwait(false) is not { } body)
                {
                    return Results.Text($"the request is above {MaxRequestBytes} bytes\n", Text, statusCode: StatusCodes.Status413PayloadTooLarge);
                }

                (int status, string answer, string type) = cosigner.AddCheckpoint(body);
                return Results.Text(answer, type, statusCode: status);
            });
            app.MapGet("/{originHash}/checkpoint", (string originHash) => cosigner.LatestCosigned(originHash) is { } note
                ? Results.Text(note, Text)
                : NotFound("this witness has cosigned no checkpoint of that log"));
        }
    }

    private static IResult Read(WitnessLog log, string ns, Func<NamespaceLog, IResult> read) =>
        log.Read(ns, read) ?? NotFound($"namespace {ns} has no entry");

    private static IResult NotFound(string message) => Results.Text(message + "\n", Text, statusCode: StatusCodes.Status404NotFound);

    private static IResult BadRequest(string message) => Results.Text(message + "\n", Text, statusCode: StatusCodes.Status400BadRequest);

    private static async Task<string?> ReadBodyAsync(HttpRequest request, CancellationToken cancellationToken)
    {
        var buffer = new byte[MaxRequestBytes + 1];
        int total = 0;
        int read;
        while (total < buffer.Length && (read = await request.Body.ReadAsync(buffer.AsMemory(total), cancellationToken).ConfigureAwait(false)) > 0)
        {
            total += read;
        }

        return total > MaxRequestBytes ? null : Encoding.UTF8.GetString(buffer, 0, total);
    }

    // { "epoch": N, "fleet_keys": { fleet-key file }, "authorization": "base64 operator signature" }
    private static (long Epoch, FleetKeySet FleetKeys, byte[] Authorization) ReadAppend(string body)
    {
        using JsonDocument document = StrictJson.ParseObject(body, "append");
        JsonElement root = document.RootElement;
        StrictJson.RefuseUnknown(root, "append", "epoch", "fleet_keys", "authorization");
        long epoch = StrictJson.RequireInteger(root, "epoch", "append", 1);
        FleetKeySet fleetKeys = FleetKeySet.Parse(StrictJson.RequireObject(root, "fleet_keys", "append").GetRawText());
        byte[] authorization = StrictJson.RequireBase64(root, "authorization", "append", OperatorKey.SignatureLength);
        return (epoch, fleetKeys, authorization);
    }

    private static string AppendAnswer(Appended appended, IReadOnlyList<string> cosigners) => Json.Write(writer =>
    {
        writer.WriteStartObject();
        writer.WritePropertyName("entry");
        appended.Entry.WriteTo(writer);
        writer.WriteString("checkpoint", appended.Checkpoint.ToString());
        writer.WriteBoolean("already_present", appended.AlreadyPresent);
        writer.WriteStartArray("cosigners");
        foreach (string line in cosigners)
        {
            writer.WriteStringValue(line);
        }

        writer.WriteEndArray();
        writer.WriteEndObject();
    });
}
