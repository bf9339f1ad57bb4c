namespace HsmVault.Client.Transparency;

/// <summary>
/// What checking a validation bundle came to: <see cref="BundleAccepted"/>, or one subtype per
/// way it can fail, each naming the epoch and the check. After any failure the client sends
/// nothing to the fleet the bundle names.
/// </summary>
public abstract record BundleVerdict
{
    /// <summary>True only for <see cref="BundleAccepted"/>.</summary>
    public bool IsAccepted => this is BundleAccepted;

    /// <summary>A one-line description for logs and the command line.</summary>
    public abstract string Describe();
}
