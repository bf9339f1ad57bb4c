namespace HsmVault.Transparency.Notes;

/// <summary>A signed note, key or checkpoint that is not in its C2SP format; the message says what is wrong.</summary>
public sealed class NoteFormatException : FormatException
{
    public NoteFormatException(string message)
        : base(message)
    {
    }

    public NoteFormatException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
