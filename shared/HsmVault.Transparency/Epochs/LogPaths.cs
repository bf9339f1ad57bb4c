using System.Globalization;

namespace HsmVault.Transparency.Epochs;

/// <summary>
/// Where each piece of a namespace's log lives, relative to the witness's base URL or to an
/// exported evidence folder: the HTTP API and the folder have the same tree, so a folder can be
/// served by any static web server and audited by URL, and a URL can be mirrored into a folder.
/// </summary>
public static class LogPaths
{
    /// <summary>The prefix of every namespace path.</summary>
    public static string Namespace(string @namespace) => $"v1/log/{FleetNamespace.Check(@namespace, nameof(@namespace))}";

    /// <summary>The latest checkpoint, with its cosignatures.</summary>
    public static string Checkpoint(string @namespace) => $"{Namespace(@namespace)}/checkpoint";

    /// <summary>The checkpoint the witness signed when the log reached <paramref name="size"/> entries.</summary>
    public static string CheckpointAt(string @namespace, long size) => $"{Namespace(@namespace)}/checkpoints/{N(size)}";

    /// <summary>The entry at leaf <paramref name="index"/>.</summary>
    public static string Entry(string @namespace, long index) => $"{Namespace(@namespace)}/entries/{N(index)}";

    /// <summary>The entry of <paramref name="epoch"/>.</summary>
    public static string EntryOfEpoch(string @namespace, long epoch) => $"{Namespace(@namespace)}/epochs/{N(epoch)}";

    /// <summary>The inclusion proof of leaf <paramref name="index"/> in the tree of <paramref name="size"/>: one base64 hash per line.</summary>
    public static string InclusionProof(string @namespace, long index, long size) => $"{Namespace(@namespace)}/proof/inclusion/{N(index)}/{N(size)}";

    /// <summary>The consistency proof from <paramref name="oldSize"/> to <paramref name="size"/>: one base64 hash per line.</summary>
    public static string ConsistencyProof(string @namespace, long oldSize, long size) => $"{Namespace(@namespace)}/proof/consistency/{N(oldSize)}/{N(size)}";

    /// <summary>The validation bundle of the newest epoch, proven against the latest checkpoint.</summary>
    public static string Bundle(string @namespace) => $"{Namespace(@namespace)}/bundle";

    /// <summary>The validation bundle of <paramref name="epoch"/>, proven against the latest checkpoint.</summary>
    public static string BundleOfEpoch(string @namespace, long epoch) => $"{Namespace(@namespace)}/bundles/{N(epoch)}";

    /// <summary>Reads a proof file or response: base64 hashes, one per line, each line ending in a newline.</summary>
    public static IReadOnlyList<byte[]> ParseProof(string text, string what)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return [];
        }

        if (text[^1] != '\n')
        {
            throw new TransparencyFormatException(what, "a proof is base64 hashes, one per line, each ending in a newline");
        }

        string[] lines = text[..^1].Split('\n');
        if (lines.Length > 63)
        {
            throw new TransparencyFormatException(what, $"{lines.Length} hashes, more than a proof in a tree of 2^63 leaves has");
        }

        return [.. lines.Select((line, i) => StrictJson.Base64(line, $"{what} line {i + 1}", Merkle.Rfc6962.HashLength))];
    }

    /// <summary>The text form of a proof: one base64 hash per line.</summary>
    public static string FormatProof(IEnumerable<byte[]> proof) => string.Concat(proof.Select(hash => Convert.ToBase64String(hash) + "\n"));

    private static string N(long value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        return value.ToString(CultureInfo.InvariantCulture);
    }
}
