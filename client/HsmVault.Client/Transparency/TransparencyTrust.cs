using System.Text.Json;
using HsmVault.Transparency;
using HsmVault.Transparency.Epochs;
using HsmVault.Transparency.Notes;

namespace HsmVault.Client.Transparency;

/// <summary>
/// What a client pins to accept fleets over the air: the namespace of its fleet's log, the
/// witness's key (vkey, type 0x01: statements and checkpoints), the operator's P-256 key
/// (counter-signatures), and optionally further witnesses of which at least
/// <see cref="CosignerQuorum"/> must have cosigned the checkpoint (vkeys, type 0x04). File form:
/// <code>
/// { "format": "hsmvault-transparency-trust/v1", "namespace": "...", "witness": "vkey",
///   "operator_key": "04…", "cosigners": ["vkey", ...], "cosigner_quorum": 0 }
/// </code>
/// </summary>
public sealed class TransparencyTrust
{
    public const string FormatName = "hsmvault-transparency-trust/v1";

    public TransparencyTrust(string @namespace, NoteVerifierKey witness, OperatorKey operatorKey, IReadOnlyList<NoteVerifierKey>? cosigners = null, int cosignerQuorum = 0)
    {
        FleetNamespace.Check(@namespace, nameof(@namespace));
        ArgumentNullException.ThrowIfNull(witness);
        ArgumentNullException.ThrowIfNull(operatorKey);
        if (witness.Type != NoteSignatureType.Ed25519)
        {
            throw new ArgumentException($"witness {witness}: must be an Ed25519 note key (type 0x01)", nameof(witness));
        }

        cosigners ??= [];
        if (cosigners.Any(c => c.Type != NoteSignatureType.Ed25519Cosignature))
        {
            throw new ArgumentException("cosigners: each must be a cosignature key (type 0x04)", nameof(cosigners));
        }

        if (cosigners.Select(c => (c.Name, c.KeyId)).Distinct().Count() != cosigners.Count)
        {
            throw new ArgumentException("cosigners: a name and key ID appear twice", nameof(cosigners));
        }

        if (cosignerQuorum < 0 || cosignerQuorum > cosigners.Count)
        {
            throw new ArgumentException($"cosigner quorum: {cosignerQuorum}, must be 0 to the number of pinned cosigners ({cosigners.Count})", nameof(cosignerQuorum));
        }

        Namespace = @namespace;
        Witness = witness;
        OperatorKey = operatorKey;
        Cosigners = cosigners;
        CosignerQuorum = cosignerQuorum;
    }

    public string Namespace { get; }

    public NoteVerifierKey Witness { get; }

    public OperatorKey OperatorKey { get; }

    public IReadOnlyList<NoteVerifierKey> Cosigners { get; }

    /// <summary>How many of <see cref="Cosigners"/> must have cosigned a checkpoint (0: none required).</summary>
    public int CosignerQuorum { get; }

    /// <summary>The origin line the namespace's checkpoints carry.</summary>
    public string Origin => FleetNamespace.Origin(Witness.Name, Namespace);

    /// <summary>Reads the file form; throws <see cref="TransparencyFormatException"/> naming the member at fault.</summary>
    public static TransparencyTrust Parse(string json)
    {
        using JsonDocument document = StrictJson.ParseObject(json, "trust");
        JsonElement root = document.RootElement;
        StrictJson.RefuseUnknown(root, "trust", "format", "namespace", "witness", "operator_key", "cosigners", "cosigner_quorum");
        string format = StrictJson.RequireString(root, "format", "trust");
        if (format != FormatName)
        {
            throw new TransparencyFormatException("trust.format", $"'{format}' is not '{FormatName}'");
        }

        try
        {
            var cosigners = new List<NoteVerifierKey>();
            if (root.TryGetProperty("cosigners", out JsonElement list))
            {
                if (list.ValueKind != JsonValueKind.Array)
                {
                    throw new TransparencyFormatException("trust.cosigners", "must be an array of vkeys");
                }

                cosigners.AddRange(list.EnumerateArray().Select((e, i) => e.ValueKind == JsonValueKind.String
                    ? NoteVerifierKey.Parse(e.GetString()!)
                    : throw new TransparencyFormatException($"trust.cosigners[{i}]", "must be a vkey string")));
            }

            int quorum = root.TryGetProperty("cosigner_quorum", out _) ? (int)StrictJson.RequireInteger(root, "cosigner_quorum", "trust", 0) : 0;
            return new TransparencyTrust(
                StrictJson.RequireString(root, "namespace", "trust"),
                NoteVerifierKey.Parse(StrictJson.RequireString(root, "witness", "trust")),
                OperatorKey.Parse(StrictJson.RequireString(root, "operator_key", "trust")),
                cosigners,
                quorum);
        }
        catch (Exception ex) when (ex is ArgumentException or FormatException and not TransparencyFormatException)
        {
            throw new TransparencyFormatException("trust", ex.Message, ex);
        }
    }

    /// <summary>Reads the file form from a file.</summary>
    public static TransparencyTrust Load(string path)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new TransparencyFormatException(path, "cannot be read", ex);
        }

        return Parse(text);
    }

    /// <summary>The file form.</summary>
    public string ToJson() => Json.Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteString("format", FormatName);
        writer.WriteString("namespace", Namespace);
        writer.WriteString("witness", Witness.ToString());
        writer.WriteString("operator_key", OperatorKey.ToString());
        writer.WriteStartArray("cosigners");
        foreach (NoteVerifierKey cosigner in Cosigners)
        {
            writer.WriteStringValue(cosigner.ToString());
        }

        writer.WriteEndArray();
        writer.WriteNumber("cosigner_quorum", CosignerQuorum);
        writer.WriteEndObject();
    });
}
