namespace HsmVault.Client.Transparency.Audit;

/// <summary>Where an audit is: <paramref name="Done"/> of <paramref name="Total"/> steps, and what it does now.</summary>
public sealed record AuditProgress(int Done, int Total, string Step);
