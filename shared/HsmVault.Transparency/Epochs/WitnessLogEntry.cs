using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Epochs;

/// <summary>
/// One entry of a namespace's log as the witness serves it: the leaf's position, the epoch
/// statement, the fleet-key file the digest is of, the witness's Ed25519 signature of the
/// statement and, once the operator has given it, the counter-signature.
/// <code>
/// { "format": "hsmvault-witness-entry/v1", "index": 0, "namespace": "...", "epoch": 1,
///   "fleet_keys_digest": "hex", "fleet_keys": { fleet-key file }, "witness_signature": "base64",
///   "counter_signature": "base64" }
/// </code>
/// Reading checks the form only; nothing here says the digest, signatures or index are right.
/// </summary>
public sealed class WitnessLogEntry
{
    public const string FormatName = "hsmvault-witness-entry/v1";

    private readonly byte[] _witnessSignature;
    private readonly byte[]? _counterSignature;

    public WitnessLogEntry(long index, EpochStatement statement, FleetKeySet fleetKeys, ReadOnlySpan<byte> witnessSignature, byte[]? counterSignature = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentNullException.ThrowIfNull(statement);
        ArgumentNullException.ThrowIfNull(fleetKeys);
        if (witnessSignature.Length != Ed25519.SignatureLength)
        {
            throw new ArgumentException($"a witness signature is {Ed25519.SignatureLength} bytes", nameof(witnessSignature));
        }

        if (counterSignature is not null && counterSignature.Length != OperatorKey.SignatureLength)
        {
            throw new ArgumentException($"a counter-signature is {OperatorKey.SignatureLength} bytes", nameof(counterSignature));
        }

        Index = index;
        Statement = statement;
        FleetKeys = fleetKeys;
        _witnessSignature = witnessSignature.ToArray();
        _counterSignature = counterSignature is null ? null : (byte[])counterSignature.Clone();
    }

    /// <summary>The leaf index in the namespace's log (0-based).</summary>
    public long Index { get; }

    public EpochStatement Statement { get; }

    public FleetKeySet FleetKeys { get; }

    public byte[] WitnessSignature => (byte[])_witnessSignature.Clone();

    /// <summary>The operator's counter-signature, or null while it has not been given.</summary>
    public byte[]? CounterSignature => _counterSignature is null ? null : (byte[])_counterSignature.Clone();

    /// <summary>True when the fleet-key file hashes to the digest the statement names.</summary>
    public bool DigestMatches => CryptographicOperations.FixedTimeEquals(FleetKeys.Digest, Statement.FleetKeysDigest);

    /// <summary>This entry with the operator's counter-signature.</summary>
    public WitnessLogEntry WithCounterSignature(byte[] counterSignature) => new(Index, Statement, FleetKeys, _witnessSignature, counterSignature);

    /// <summary>Reads an entry; throws <see cref="TransparencyFormatException"/> naming the member at fault.</summary>
    public static WitnessLogEntry Parse(string json)
    {
        using JsonDocument document = StrictJson.ParseObject(json, "entry");
        return FromJson(document.RootElement, "entry");
    }

    /// <summary>Reads an entry from an element of a larger document; <paramref name="path"/> prefixes error fields.</summary>
    public static WitnessLogEntry FromJson(JsonElement element, string path)
    {
        StrictJson.RefuseUnknown(element, path, "format", "index", "namespace", "epoch", "fleet_keys_digest", "fleet_keys", "witness_signature", "counter_signature");
        string format = StrictJson.RequireString(element, "format", path);
        if (format != FormatName)
        {
            throw new TransparencyFormatException($"{path}.format", $"'{format}' is not '{FormatName}'");
        }

        long index = StrictJson.RequireInteger(element, "index", path, 0);
        string @namespace = StrictJson.RequireString(element, "namespace", path);
        if (!FleetNamespace.IsValid(@namespace))
        {
            throw new TransparencyFormatException($"{path}.namespace", $"'{@namespace}' is not a namespace");
        }

        long epoch = StrictJson.RequireInteger(element, "epoch", path, 1);
        byte[] digest = StrictJson.RequireHex(element, "fleet_keys_digest", path, SHA256.HashSizeInBytes);
        JsonElement file = StrictJson.RequireObject(element, "fleet_keys", path);
        FleetKeySet fleetKeys;
        try
        {
            fleetKeys = FleetKeySet.Parse(file.GetRawText());
        }
        catch (FleetKeySetFormatException ex)
        {
            throw new TransparencyFormatException(ex.Field == "$" ? $"{path}.fleet_keys" : $"{path}.fleet_keys.{ex.Field}", ex.Reason, ex);
        }

        byte[] witnessSignature = StrictJson.RequireBase64(element, "witness_signature", path, Ed25519.SignatureLength);
        byte[]? counterSignature = StrictJson.OptionalString(element, "counter_signature", path) is { } text
            ? StrictJson.Base64(text, $"{path}.counter_signature", OperatorKey.SignatureLength)
            : null;
        return new WitnessLogEntry(index, new EpochStatement(@namespace, epoch, digest), fleetKeys, witnessSignature, counterSignature);
    }

    /// <summary>Writes the entry as a JSON object.</summary>
    public void WriteTo(Utf8JsonWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStartObject();
        writer.WriteString("format", FormatName);
        writer.WriteNumber("index", Index);
        writer.WriteString("namespace", Statement.Namespace);
        writer.WriteNumber("epoch", Statement.Epoch);
        writer.WriteString("fleet_keys_digest", Convert.ToHexStringLower(Statement.FleetKeysDigest));
        writer.WritePropertyName("fleet_keys");
        using (JsonDocument file = JsonDocument.Parse(FleetKeys.ToCanonicalJson()))
        {
            file.RootElement.WriteTo(writer);
        }

        writer.WriteString("witness_signature", Convert.ToBase64String(_witnessSignature));
        if (_counterSignature is not null)
        {
            writer.WriteString("counter_signature", Convert.ToBase64String(_counterSignature));
        }

        writer.WriteEndObject();
    }

    /// <summary>The entry as indented JSON with a final newline.</summary>
    public string ToJson() => Json.Write(WriteTo);

    public override string ToString() => $"entry {Index}: {Statement}";
}
