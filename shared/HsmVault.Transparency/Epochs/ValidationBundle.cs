using System.Text.Json;
using HsmVault.Transparency.Checkpoints;
using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Epochs;

/// <summary>
/// Everything a client needs to accept a fleet over the air, in one self-contained document that
/// a vault host can relay as it is: the witness's log entry for the epoch (fleet-key file, epoch,
/// digest, witness signature, operator counter-signature) and a C2SP tlog-proof of that entry in
/// the log, which carries the witness-signed checkpoint (and any cosignatures) it is proven against.
/// <code>
/// { "format": "hsmvault-validation-bundle/v1", "entry": { witness entry }, "tlog_proof": "c2sp.org/tlog-proof@v1\n..." }
/// </code>
/// Nothing in it is trusted until a verifier has checked it against pinned keys.
/// </summary>
public sealed class ValidationBundle
{
    public const string FormatName = "hsmvault-validation-bundle/v1";

    /// <summary>The largest bundle read (a bundle is about 2 KB plus 1.5 KB per cosignature).</summary>
    public const int MaxBytes = 64 * 1024;

    public ValidationBundle(WitnessLogEntry entry, TlogProof proof)
    {
        Entry = entry ?? throw new ArgumentNullException(nameof(entry));
        Proof = proof ?? throw new ArgumentNullException(nameof(proof));
    }

    public WitnessLogEntry Entry { get; }

    public TlogProof Proof { get; }

    /// <summary>Reads a bundle; throws <see cref="TransparencyFormatException"/> naming the member at fault.</summary>
    public static ValidationBundle Parse(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        if (json.Length > MaxBytes)
        {
            throw new TransparencyFormatException("bundle", $"more than {MaxBytes} bytes");
        }

        using JsonDocument document = StrictJson.ParseObject(json, "bundle");
        JsonElement root = document.RootElement;
        StrictJson.RefuseUnknown(root, "bundle", "format", "entry", "tlog_proof");
        string format = StrictJson.RequireString(root, "format", "bundle");
        if (format != FormatName)
        {
            throw new TransparencyFormatException("bundle.format", $"'{format}' is not '{FormatName}'");
        }

        WitnessLogEntry entry = WitnessLogEntry.FromJson(StrictJson.RequireObject(root, "entry", "bundle"), "bundle.entry");
        TlogProof proof;
        try
        {
            proof = TlogProof.Parse(StrictJson.RequireString(root, "tlog_proof", "bundle"));
        }
        catch (NoteFormatException ex)
        {
            throw new TransparencyFormatException("bundle.tlog_proof", ex.Message, ex);
        }

        return new ValidationBundle(entry, proof);
    }

    /// <summary>The bundle as indented JSON with a final newline.</summary>
    public string ToJson() => Json.Write(writer =>
    {
        writer.WriteStartObject();
        writer.WriteString("format", FormatName);
        writer.WritePropertyName("entry");
        Entry.WriteTo(writer);
        writer.WriteString("tlog_proof", Proof.ToString());
        writer.WriteEndObject();
    });

    public override string ToString() => $"validation bundle for {Entry.Statement}";
}
