using System.Text;
using System.Text.Json;
using HsmVault.Transparency;
using HsmVault.Transparency.Epochs;

namespace HsmVault.Client.Transparency;

/// <summary>
/// The small state file that keeps, across runs, the newest epoch a client (or an auditor) has
/// accepted per namespace, so a bundle of an older epoch is refused after a restart too. Written
/// whole to a temporary file, flushed to disk and renamed over the old one, so a crash leaves the
/// old state or the new one. It only moves forward. One process uses a file at a time.
/// <code>
/// { "format": "hsmvault-newest-epochs/v1", "namespaces": { "ns": { "epoch": 7,
///   "fleet_keys_digest": "hex", "checkpoint_size": 7, "checkpoint_root": "base64" } } }
/// </code>
/// </summary>
public sealed class NewestEpochFile
{
    public const string FormatName = "hsmvault-newest-epochs/v1";

    private readonly Dictionary<string, NewestEpoch> _namespaces;

    private NewestEpochFile(string? path, Dictionary<string, NewestEpoch> namespaces)
    {
        Path = path;
        _namespaces = namespaces;
    }

    /// <summary>The file, or null for state kept in memory only.</summary>
    public string? Path { get; }

    /// <summary>State that lives only as long as this object (tests, one-shot tools).</summary>
    public static NewestEpochFile InMemory() => new(null, new Dictionary<string, NewestEpoch>(StringComparer.Ordinal));

    /// <summary>Reads the file; a missing file is an empty state. Throws <see cref="TransparencyFormatException"/> for a damaged one.</summary>
    public static NewestEpochFile Open(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        path = System.IO.Path.GetFullPath(path);
        if (!File.Exists(path))
        {
            return new NewestEpochFile(path, new Dictionary<string, NewestEpoch>(StringComparer.Ordinal));
        }

        using JsonDocument document = StrictJson.ParseObject(File.ReadAllText(path, Encoding.UTF8), path);
        JsonElement root = document.RootElement;
        StrictJson.RefuseUnknown(root, "state", "format", "namespaces");
        if (StrictJson.RequireString(root, "format", "state") != FormatName)
        {
            throw new TransparencyFormatException("state.format", $"is not '{FormatName}'");
        }

        var namespaces = new Dictionary<string, NewestEpoch>(StringComparer.Ordinal);
        foreach (JsonProperty item in StrictJson.RequireObject(root, "namespaces", "state").EnumerateObject())
        {
            string where = $"state.namespaces.{item.Name}";
            if (!FleetNamespace.IsValid(item.Name))
            {
                throw new TransparencyFormatException(where, "not a namespace");
            }

            StrictJson.RefuseUnknown(item.Value, where, "epoch", "fleet_keys_digest", "checkpoint_size", "checkpoint_root");
            namespaces[item.Name] = new NewestEpoch(
                StrictJson.RequireInteger(item.Value, "epoch", where, 1),
                StrictJson.RequireHex(item.Value, "fleet_keys_digest", where, 32),
                StrictJson.RequireInteger(item.Value, "checkpoint_size", where, 1),
                StrictJson.RequireBase64(item.Value, "checkpoint_root", where, 32));
        }

        return new NewestEpochFile(path, namespaces);
    }

    /// <summary>The newest epoch accepted in <paramref name="namespace"/>, or null.</summary>
    public NewestEpoch? Get(string @namespace) => _namespaces.TryGetValue(@namespace, out NewestEpoch? newest) ? newest : null;

    /// <summary>
    /// Records <paramref name="newest"/> for <paramref name="namespace"/> and writes the file. An
    /// older epoch or a smaller checkpoint never replaces a newer one.
    /// </summary>
    public void Record(string @namespace, NewestEpoch newest)
    {
        ArgumentNullException.ThrowIfNull(newest);
        if (_namespaces.TryGetValue(@namespace, out NewestEpoch? current))
        {
            // The epoch and the checkpoint each only move forward, independently.
            (long epoch, byte[] digest) = newest.Epoch >= current.Epoch ? (newest.Epoch, newest.FleetKeysDigest) : (current.Epoch, current.FleetKeysDigest);
            (long size, byte[] root) = newest.CheckpointSize >= current.CheckpointSize ? (newest.CheckpointSize, newest.CheckpointRoot) : (current.CheckpointSize, current.CheckpointRoot);
            newest = new NewestEpoch(epoch, digest, size, root);
        }

        _namespaces[@namespace] = newest;
        Save();
    }

    private void Save()
    {
        if (Path is null)
        {
            return;
        }

        string text = Json.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WriteString("format", FormatName);
            writer.WriteStartObject("namespaces");
            foreach ((string name, NewestEpoch newest) in _namespaces.OrderBy(p => p.Key, StringComparer.Ordinal))
            {
                writer.WriteStartObject(name);
                writer.WriteNumber("epoch", newest.Epoch);
                writer.WriteString("fleet_keys_digest", Convert.ToHexStringLower(newest.FleetKeysDigest));
                writer.WriteNumber("checkpoint_size", newest.CheckpointSize);
                writer.WriteString("checkpoint_root", Convert.ToBase64String(newest.CheckpointRoot));
                writer.WriteEndObject();
            }

            writer.WriteEndObject();
            writer.WriteEndObject();
        });
        string directory = System.IO.Path.GetDirectoryName(Path)!;
        Directory.CreateDirectory(directory);
        string temporary = System.IO.Path.Combine(directory, $".{System.IO.Path.GetFileName(Path)}.{Environment.ProcessId}.tmp");
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            stream.Write(Encoding.UTF8.GetBytes(text));
            stream.Flush(flushToDisk: true);
        }

        File.Move(temporary, Path, overwrite: true);
    }
}
