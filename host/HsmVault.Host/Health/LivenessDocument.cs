namespace HsmVault.Host.Health;

/// <summary>The <c>/health/live</c> body: <c>live</c> or <c>dead</c>, and why.</summary>
internal sealed record LivenessDocument(string Status, string Detail);
