using System.Buffers.Binary;
using System.Text;

namespace HsmVault.Transparency.Notes;

/// <summary>
/// A C2SP signed note (c2sp.org/signed-note): UTF-8 text ending in a newline, a blank line, then
/// one or more lines <c>— name base64(key ID || signature)</c>. Reading and writing are byte-exact
/// with Go's golang.org/x/mod/sumdb/note: no ASCII control character but newline, the text is
/// everything up to the last blank line, at most <see cref="MaxSignatures"/> lines.
/// </summary>
public sealed class SignedNote
{
    /// <summary>The most signature lines a note may carry (the Go implementation's limit; the spec asks for at least 16).</summary>
    public const int MaxSignatures = 100;

    /// <summary>The largest note read, so a hostile source cannot make the reader hold more.</summary>
    public const int MaxNoteBytes = 1 << 20;

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private SignedNote(string text, IReadOnlyList<NoteSignature> signatures)
    {
        Text = text;
        Signatures = signatures;
    }

    /// <summary>The note text, with its final newline and without the blank line.</summary>
    public string Text { get; }

    /// <summary>The signature lines in order, duplicates included.</summary>
    public IReadOnlyList<NoteSignature> Signatures { get; }

    /// <summary>The UTF-8 bytes the signatures cover.</summary>
    public byte[] TextBytes => Encoding.UTF8.GetBytes(Text);

    /// <summary>Signs <paramref name="text"/> with each key, in order.</summary>
    public static SignedNote Sign(string text, params NoteSigningKey[] keys)
    {
        CheckText(text);
        ArgumentNullException.ThrowIfNull(keys);
        if (keys.Length == 0)
        {
            throw new ArgumentException("a signed note needs at least one signature", nameof(keys));
        }

        return new SignedNote(text, []).AddSignatures(keys);
    }

    /// <summary>
    /// A note of <paramref name="text"/> with <paramref name="signatures"/> (for example cosignature
    /// lines returned by a witness). The signatures are not verified here.
    /// </summary>
    public static SignedNote Create(string text, IEnumerable<NoteSignature> signatures)
    {
        CheckText(text);
        List<NoteSignature> list = [.. signatures];
        if (list.Count is 0 or > MaxSignatures)
        {
            throw new ArgumentException($"a signed note carries 1 to {MaxSignatures} signatures, got {list.Count}", nameof(signatures));
        }

        return new SignedNote(text, list);
    }

    /// <summary>
    /// This note with a signature of each key added, as Go's note.Sign does: a line already present
    /// under the same name and key ID is replaced, the other lines keep their place before the new ones.
    /// </summary>
    public SignedNote AddSignatures(params NoteSigningKey[] keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        byte[] text = TextBytes;
        var fresh = keys.Select(key => key.Type switch
        {
            NoteSignatureType.Ed25519 => new NoteSignature(key.Name, key.KeyId, key.Sign(text)),
            _ => throw new ArgumentException($"{key}: a {key.Type} key signs with Cosignature.Sign, which sets the timestamp", nameof(keys)),
        }).ToList();
        return WithSignatures(fresh);
    }

    /// <summary>This note with <paramref name="added"/> lines; a line under an existing name and key ID replaces it.</summary>
    public SignedNote WithSignatures(IEnumerable<NoteSignature> added)
    {
        List<NoteSignature> fresh = [.. added];
        List<NoteSignature> kept = [.. Signatures.Where(s => !fresh.Any(f => f.Name == s.Name && f.KeyId == s.KeyId))];
        return Create(Text, [.. kept, .. fresh]);
    }

    /// <summary>Reads a note; throws <see cref="NoteFormatException"/> for anything not in the format.</summary>
    public static SignedNote Parse(ReadOnlySpan<byte> note)
    {
        if (note.Length > MaxNoteBytes)
        {
            throw new NoteFormatException($"note: {note.Length} bytes, more than {MaxNoteBytes}");
        }

        string message;
        try
        {
            message = StrictUtf8.GetString(note);
        }
        catch (DecoderFallbackException)
        {
            throw new NoteFormatException("note: not valid UTF-8");
        }

        return Parse(message);
    }

    /// <summary>Reads a note from text; as the byte overload.</summary>
    public static SignedNote Parse(string note)
    {
        ArgumentNullException.ThrowIfNull(note);
        if (note.Length > MaxNoteBytes)
        {
            throw new NoteFormatException($"note: more than {MaxNoteBytes} characters");
        }

        if (note.Any(c => c < 0x20 && c != '\n'))
        {
            throw new NoteFormatException("note: holds an ASCII control character other than newline");
        }

        if (!IsWellFormedUtf16(note))
        {
            throw new NoteFormatException("note: not valid Unicode (a lone surrogate)");
        }

        int split = note.LastIndexOf("\n\n", StringComparison.Ordinal);
        if (split < 0)
        {
            throw new NoteFormatException("note: no blank line before the signatures");
        }

        string text = note[..(split + 1)];
        string block = note[(split + 2)..];
        if (block.Length == 0 || block[^1] != '\n')
        {
            throw new NoteFormatException("note: the signature block is empty or does not end in a newline");
        }

        var signatures = new List<NoteSignature>();
        foreach (string line in block[..^1].Split('\n'))
        {
            if (!line.StartsWith("\u2014 ", StringComparison.Ordinal))
            {
                throw new NoteFormatException($"note: '{Shorten(line)}' is not a signature line (em dash, space, name, space, base64)");
            }

            string rest = line[2..];
            int space = rest.IndexOf(' ', StringComparison.Ordinal);
            string name = space < 0 ? rest : rest[..space];
            string encoded = space < 0 ? string.Empty : rest[(space + 1)..];
            byte[]? raw = StrictBase64.Decode(encoded);
            if (!NoteKeyName.IsValid(name) || raw is null || raw.Length < 5)
            {
                throw new NoteFormatException($"note: signature line '{Shorten(line)}' has a bad name or signature");
            }

            if (signatures.Count == MaxSignatures)
            {
                throw new NoteFormatException($"note: more than {MaxSignatures} signatures");
            }

            signatures.Add(new NoteSignature(name, BinaryPrimitives.ReadUInt32BigEndian(raw), raw.AsSpan(4)));
        }

        return new SignedNote(text, signatures);
    }

    /// <summary>
    /// Verifies the lines from <paramref name="known"/> keys with Go's semantics: lines from unknown
    /// keys (name and ID not both matching) are ignored, a known key's first line must verify (or
    /// the whole note is refused), repeats are dropped, and at least one known line must verify.
    /// Returns the keys whose signatures verified, in line order.
    /// </summary>
    public IReadOnlyList<NoteVerifierKey> Verify(IEnumerable<NoteVerifierKey> known)
    {
        ArgumentNullException.ThrowIfNull(known);
        List<NoteVerifierKey> keys = [.. known];
        byte[] text = TextBytes;
        var verified = new List<NoteVerifierKey>();
        foreach (NoteSignature line in Signatures)
        {
            List<NoteVerifierKey> matching = keys.FindAll(k => k.Name == line.Name && k.KeyId == line.KeyId);
            if (matching.Count == 0)
            {
                continue;
            }

            if (matching.Count > 1)
            {
                throw new NoteVerificationException(NoteVerificationError.AmbiguousKey, $"ambiguous key {line}");
            }

            if (verified.Contains(matching[0]))
            {
                continue;
            }

            if (!matching[0].Verify(text, line.SignatureSpan))
            {
                throw new NoteVerificationException(NoteVerificationError.InvalidSignature, $"invalid signature for key {line}");
            }

            verified.Add(matching[0]);
        }

        if (verified.Count == 0)
        {
            throw new NoteVerificationException(NoteVerificationError.NoVerifiableSignature, "note has no verifiable signatures");
        }

        return verified;
    }

    /// <summary>The note's bytes: text, blank line, signature lines.</summary>
    public byte[] ToBytes() => Encoding.UTF8.GetBytes(ToString());

    /// <summary>The note as text: text, blank line, signature lines.</summary>
    public override string ToString() => Text + "\n" + string.Concat(Signatures.Select(s => s.ToLine()));

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="text"/> can be a note's text.</summary>
    public static void CheckText(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0 || text[^1] != '\n')
        {
            throw new ArgumentException("note text must end with a newline", nameof(text));
        }

        if (text.Any(c => c < 0x20 && c != '\n') || !IsWellFormedUtf16(text))
        {
            throw new ArgumentException("note text must be valid Unicode without ASCII control characters other than newline", nameof(text));
        }
    }

    private static bool IsWellFormedUtf16(string text)
    {
        try
        {
            _ = StrictUtf8.GetByteCount(text);
            return true;
        }
        catch (EncoderFallbackException)
        {
            return false;
        }
    }

    private static string Shorten(string line) => line.Length <= 60 ? line : line[..57] + "...";
}
