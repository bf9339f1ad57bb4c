namespace HsmVault.Client.Transparency.Audit;

/// <summary>An evidence folder (written by <c>hsmvault-witness export</c>, or a mirror of the API) as audit evidence.</summary>
public sealed class DirectoryLogEvidence : ILogEvidence
{
    private readonly string _directory;

    public DirectoryLogEvidence(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        _directory = Path.GetFullPath(directory);
        if (!Directory.Exists(_directory))
        {
            throw new LogEvidenceUnavailableException($"{directory}: no such folder");
        }
    }

    public string Location => _directory;

    public async Task<string?> ReadAsync(string path, CancellationToken cancellationToken)
    {
        string file = Path.Combine(_directory, path.Replace('/', Path.DirectorySeparatorChar));
        if (!File.Exists(file))
        {
            return null;
        }

        try
        {
            return await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new LogEvidenceUnavailableException($"{file}: cannot be read ({ex.Message})", ex);
        }
    }
}
