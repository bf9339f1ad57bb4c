namespace HsmVault.Host.Pipeline;

/// <summary>Why the pipeline loop stopped waiting.</summary>
internal enum Wake
{
    /// <summary>Requests are queued.</summary>
    Work,

    /// <summary>The queue is closed and empty: shutdown.</summary>
    Closed,

    /// <summary>Nothing arrived for a probe interval: time to probe the HSM and the store.</summary>
    ProbeDue,
}
