using System.Text.Json.Serialization;

namespace HsmVault.Host.Health;

/// <summary>Source-generated JSON for the health documents: camelCase, indented for people reading it with curl.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase, WriteIndented = true)]
[JsonSerializable(typeof(VaultHealthSnapshot))]
[JsonSerializable(typeof(LivenessDocument))]
internal sealed partial class HealthJsonContext : JsonSerializerContext
{
}
