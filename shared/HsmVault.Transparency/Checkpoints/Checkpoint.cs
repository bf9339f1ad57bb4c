using System.Globalization;
using HsmVault.Transparency.Merkle;
using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Checkpoints;

/// <summary>
/// The body of a C2SP checkpoint (c2sp.org/tlog-checkpoint): the origin line, the tree size in
/// decimal without leading zeroes, the base64 RFC 6962 root hash, then optional extension lines,
/// each ending in a newline. A checkpoint is trusted only as the text of a verified <see cref="SignedNote"/>.
/// </summary>
public sealed class Checkpoint
{
    private readonly byte[] _rootHash;

    public Checkpoint(string origin, long size, ReadOnlySpan<byte> rootHash, IReadOnlyList<string>? extensions = null)
    {
        if (string.IsNullOrEmpty(origin) || origin.Any(c => c < 0x20))
        {
            throw new ArgumentException("a checkpoint origin is a non-empty line", nameof(origin));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(size);
        if (rootHash.Length != Rfc6962.HashLength)
        {
            throw new ArgumentException($"a root hash is {Rfc6962.HashLength} bytes, got {rootHash.Length}", nameof(rootHash));
        }

        extensions ??= [];
        if (extensions.Any(line => string.IsNullOrEmpty(line) || line.Any(c => c < 0x20)))
        {
            throw new ArgumentException("extension lines are non-empty lines", nameof(extensions));
        }

        Origin = origin;
        Size = size;
        _rootHash = rootHash.ToArray();
        Extensions = extensions;
    }

    public string Origin { get; }

    public long Size { get; }

    public byte[] RootHash => (byte[])_rootHash.Clone();

    public IReadOnlyList<string> Extensions { get; }

    /// <summary>Reads a checkpoint body (a note's text); throws <see cref="NoteFormatException"/>.</summary>
    public static Checkpoint Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0 || text[^1] != '\n')
        {
            throw new NoteFormatException("checkpoint: the text does not end in a newline");
        }

        string[] lines = text[..^1].Split('\n');
        if (lines.Length < 3 || lines.Any(line => line.Length == 0))
        {
            throw new NoteFormatException("checkpoint: expected at least three non-empty lines (origin, size, root hash)");
        }

        string size = lines[1];
        if (!size.All(char.IsAsciiDigit) || (size.Length > 1 && size[0] == '0')
            || !long.TryParse(size, NumberStyles.None, CultureInfo.InvariantCulture, out long treeSize))
        {
            throw new NoteFormatException($"checkpoint: tree size '{size}' is not a decimal number without leading zeroes");
        }

        byte[]? root = StrictBase64.Decode(lines[2]);
        if (root is not { Length: Rfc6962.HashLength })
        {
            throw new NoteFormatException($"checkpoint: root hash '{lines[2]}' is not the base64 of {Rfc6962.HashLength} bytes");
        }

        return new Checkpoint(lines[0], treeSize, root, lines[3..]);
    }

    /// <summary>The note text: origin, size, root hash and extension lines, each with its newline.</summary>
    public string ToText() =>
        $"{Origin}\n{Size.ToString(CultureInfo.InvariantCulture)}\n{Convert.ToBase64String(_rootHash)}\n" + string.Concat(Extensions.Select(e => e + "\n"));

    public override string ToString() => $"{Origin} size {Size}";
}
