using System.Globalization;
using System.Text;
using HsmVault.Transparency.Merkle;
using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Checkpoints;

/// <summary>
/// An offline-verifiable proof that an entry is in a log, c2sp.org/tlog-proof@v1: the header line,
/// an optional <c>extra</c> line, <c>index N</c>, one base64 inclusion-proof hash per line (leaf's
/// sibling first), an empty line, then the signed checkpoint verbatim (with any cosignatures).
/// The proof says nothing until the checkpoint's signatures and the inclusion path are checked.
/// </summary>
public sealed class TlogProof
{
    /// <summary>The first line.</summary>
    public const string Header = "c2sp.org/tlog-proof@v1";

    private const int MaxProofHashes = 63;

    public TlogProof(long index, IReadOnlyList<byte[]> inclusionProof, SignedNote checkpoint, byte[]? extra = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentNullException.ThrowIfNull(inclusionProof);
        ArgumentNullException.ThrowIfNull(checkpoint);
        if (inclusionProof.Count > MaxProofHashes || inclusionProof.Any(h => h is not { Length: Rfc6962.HashLength }))
        {
            throw new ArgumentException($"an inclusion proof is at most {MaxProofHashes} hashes of {Rfc6962.HashLength} bytes", nameof(inclusionProof));
        }

        Index = index;
        InclusionProof = [.. inclusionProof.Select(h => (byte[])h.Clone())];
        Checkpoint = checkpoint;
        Extra = extra is null ? null : (byte[])extra.Clone();
    }

    public long Index { get; }

    public IReadOnlyList<byte[]> InclusionProof { get; }

    /// <summary>The log's checkpoint as a signed note (not verified here).</summary>
    public SignedNote Checkpoint { get; }

    /// <summary>Opaque, unauthenticated extra data, or null.</summary>
    public byte[]? Extra { get; }

    /// <summary>Reads a tlog-proof; throws <see cref="NoteFormatException"/> naming the part at fault.</summary>
    public static TlogProof Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        int position = 0;
        string NextLine()
        {
            int end = text.IndexOf('\n', position);
            if (end < 0)
            {
                throw new NoteFormatException("tlog-proof: ends before the checkpoint");
            }

            string line = text[position..end];
            position = end + 1;
            return line;
        }

        if (NextLine() != Header)
        {
            throw new NoteFormatException($"tlog-proof: the first line is not '{Header}'");
        }

        string line = NextLine();
        byte[]? extra = null;
        if (line.StartsWith("extra ", StringComparison.Ordinal))
        {
            extra = StrictBase64.Decode(line["extra ".Length..]) ?? throw new NoteFormatException("tlog-proof: the extra line is not base64");
            line = NextLine();
        }

        string number = line.StartsWith("index ", StringComparison.Ordinal) ? line["index ".Length..] : string.Empty;
        if (number.Length == 0 || !number.All(char.IsAsciiDigit) || (number.Length > 1 && number[0] == '0')
            || !long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out long index))
        {
            throw new NoteFormatException($"tlog-proof: expected 'index N' (decimal, no leading zeroes), got '{line}'");
        }

        var proof = new List<byte[]>();
        while ((line = NextLine()).Length > 0)
        {
            if (proof.Count == MaxProofHashes)
            {
                throw new NoteFormatException($"tlog-proof: more than {MaxProofHashes} proof hashes");
            }

            proof.Add(StrictBase64.Decode(line) is { Length: Rfc6962.HashLength } hash
                ? hash
                : throw new NoteFormatException($"tlog-proof: proof line '{line}' is not the base64 of a {Rfc6962.HashLength}-byte hash"));
        }

        return new TlogProof(index, proof, SignedNote.Parse(text[position..]), extra);
    }

    /// <summary>The proof's text form.</summary>
    public override string ToString()
    {
        var text = new StringBuilder();
        text.Append(Header).Append('\n');
        if (Extra is not null)
        {
            text.Append("extra ").Append(Convert.ToBase64String(Extra)).Append('\n');
        }

        text.Append("index ").Append(Index.ToString(CultureInfo.InvariantCulture)).Append('\n');
        foreach (byte[] hash in InclusionProof)
        {
            text.Append(Convert.ToBase64String(hash)).Append('\n');
        }

        text.Append('\n').Append(Checkpoint.ToString());
        return text.ToString();
    }
}
