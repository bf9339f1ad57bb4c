namespace HsmVault.Transparency.Notes;

/// <summary>Why a note was not accepted by <see cref="SignedNote.Verify"/>.</summary>
public enum NoteVerificationError
{
    /// <summary>No signature line is from a known key.</summary>
    NoVerifiableSignature,

    /// <summary>A line's name and key ID match a known key but its signature does not verify: the whole note is refused.</summary>
    InvalidSignature,

    /// <summary>Two known keys share a name and key ID, and a line names them.</summary>
    AmbiguousKey,
}

/// <summary>A well-formed note that the known keys do not accept; <see cref="Error"/> says why.</summary>
public sealed class NoteVerificationException(NoteVerificationError error, string message) : Exception(message)
{
    public NoteVerificationError Error { get; } = error;
}
