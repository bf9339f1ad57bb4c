using HsmVault.Transparency.Notes;

namespace HsmVault.Witness;

/// <summary>A further witness this log asks for cosignatures: its key (type 0x04 vkey) and the URL prefix of its add-checkpoint API.</summary>
internal sealed record CosignerEndpoint(NoteVerifierKey Key, Uri SubmissionPrefix)
{
    /// <summary>Reads <c>VKEY@URL</c>.</summary>
    public static CosignerEndpoint Parse(string text)
    {
        int at = text.IndexOf('@', StringComparison.Ordinal);
        if (at < 0)
        {
            throw new FormatException($"cosigner '{text}': expected VKEY@URL");
        }

        NoteVerifierKey key = NoteVerifierKey.Parse(text[..at]);
        if (key.Type != NoteSignatureType.Ed25519Cosignature)
        {
            throw new FormatException($"cosigner '{text}': the key must be a cosignature key (type 0x04)");
        }

        if (!Uri.TryCreate(text[(at + 1)..], UriKind.Absolute, out Uri? url) || url.Scheme is not ("http" or "https"))
        {
            throw new FormatException($"cosigner '{text}': '{text[(at + 1)..]}' is not an http(s) URL");
        }

        return new CosignerEndpoint(key, url);
    }
}
