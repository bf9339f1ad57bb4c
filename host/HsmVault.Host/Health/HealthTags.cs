namespace HsmVault.Host.Health;

/// <summary>The tags that put a health check behind <c>/health/live</c> or <c>/health/ready</c>.</summary>
public static class HealthTags
{
    public const string Live = "live";

    public const string Ready = "ready";
}
