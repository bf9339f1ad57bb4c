namespace HsmVault.Client.Transparency.Audit;

/// <summary>Where an audit reads a log from: a witness's URL or an exported evidence folder, both in the <c>LogPaths</c> tree.</summary>
public interface ILogEvidence
{
    /// <summary>The URL or folder, for messages.</summary>
    string Location { get; }

    /// <summary>The text at <paramref name="path"/>, or null when there is none (404, no such file). Throws <see cref="LogEvidenceUnavailableException"/> when the source cannot be read at all.</summary>
    Task<string?> ReadAsync(string path, CancellationToken cancellationToken);
}
