namespace HsmVault.Protocol.Framing;

/// <summary>Why a frame could not be read or written.</summary>
public enum FrameFormatError
{
    /// <summary>The stream ended inside the length prefix or inside the payload.</summary>
    Truncated = 1,

    /// <summary>The length prefix (or the message to write) exceeds the configured maximum.</summary>
    TooLarge = 2,

    /// <summary>The payload is not a valid protobuf encoding of the expected message.</summary>
    Malformed = 3,
}
