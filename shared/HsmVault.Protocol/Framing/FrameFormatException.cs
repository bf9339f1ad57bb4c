namespace HsmVault.Protocol.Framing;

/// <summary>
/// A frame on the wire was truncated, too large or not a valid message. After this the
/// stream position is unknown, so the connection should be closed.
/// </summary>
public sealed class FrameFormatException : Exception
{
    public FrameFormatException(FrameFormatError error, string message)
        : base(message)
    {
        Error = error;
    }

    public FrameFormatException(FrameFormatError error, string message, Exception innerException)
        : base(message, innerException)
    {
        Error = error;
    }

    /// <summary>What was wrong with the frame.</summary>
    public FrameFormatError Error { get; }
}
