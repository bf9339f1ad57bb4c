using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace HsmVault.Host.Health;

/// <summary>Writes health reports as JSON with System.Text.Json (the status code is set by the health-check middleware).</summary>
internal static class HealthResponseWriter
{
    /// <summary>The readiness document: the vault's status, detail, HSM reachability and store state.</summary>
    public static Task WriteReadinessAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        VaultHealthSnapshot snapshot = report.Entries.Values
            .Select(e => e.Data.TryGetValue(VaultReadinessCheck.SnapshotKey, out object? value) ? value as VaultHealthSnapshot : null)
            .FirstOrDefault(s => s is not null)
            ?? new VaultHealthSnapshot("unknown", Describe(report), false, 0, 0, 0);
        return WriteAsync(context, JsonSerializer.SerializeToUtf8Bytes(snapshot, HealthJsonContext.Default.VaultHealthSnapshot));
    }

    /// <summary>The liveness document.</summary>
    public static Task WriteLivenessAsync(HttpContext context, HealthReport report)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(report);
        var document = new LivenessDocument(report.Status == HealthStatus.Unhealthy ? "dead" : "live", Describe(report));
        return WriteAsync(context, JsonSerializer.SerializeToUtf8Bytes(document, HealthJsonContext.Default.LivenessDocument));
    }

    private static string Describe(HealthReport report) =>
        string.Join("; ", report.Entries.Select(e => e.Value.Description ?? e.Value.Exception?.Message ?? e.Key));

    private static Task WriteAsync(HttpContext context, byte[] body)
    {
        context.Response.ContentType = "application/json; charset=utf-8";
        context.Response.ContentLength = body.Length;
        return context.Response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }
}
