using HsmVault.Protocol.Fleet;

namespace HsmVault.Client.Transparency.Audit;

/// <summary>How a fleet-key file differs from the one of the epoch before: the fleet id and each role's key.</summary>
public static class FleetKeyChange
{
    /// <summary>"first in window", "no change", or the changes, e.g. "fleet id a → b; channel key changed".</summary>
    public static string Describe(FleetKeySet? previous, FleetKeySet current)
    {
        ArgumentNullException.ThrowIfNull(current);
        if (previous is null)
        {
            return "first in window";
        }

        var changes = new List<string>();
        if (previous.FleetId != current.FleetId)
        {
            changes.Add($"fleet id {previous.FleetId} \u2192 {current.FleetId}");
        }

        foreach (FleetKeyRole role in Enum.GetValues<FleetKeyRole>())
        {
            if (!previous.PublicKey(role).AsSpan().SequenceEqual(current.PublicKey(role)))
            {
                changes.Add($"{FleetKeySet.RoleName(role)} key changed");
            }
        }

        return changes.Count == 0 ? "no change" : string.Join("; ", changes);
    }
}
