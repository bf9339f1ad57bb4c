namespace HsmVault.Host.Listener;

/// <summary>How reading one client frame ended.</summary>
internal enum FrameReadOutcome
{
    /// <summary>A whole frame arrived.</summary>
    Frame = 0,

    /// <summary>The client closed the connection between frames.</summary>
    Closed = 1,

    /// <summary>No new frame started within the idle timeout, or the host is draining.</summary>
    Idle = 2,

    /// <summary>A frame started but did not finish within the read timeout, or the stream ended inside it.</summary>
    Incomplete = 3,

    /// <summary>The length prefix announced more than the maximum frame size.</summary>
    TooLarge = 4,
}
