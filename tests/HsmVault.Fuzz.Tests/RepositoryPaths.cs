namespace HsmVault.Fuzz.Tests;

/// <summary>Where the repository's files are, found from the test's output folder upwards.</summary>
internal static class RepositoryPaths
{
    public static string Root { get; } = FindRoot();

    public static string Corpus(string target) => Path.Combine(Root, "fuzz", "corpus", target);

    private static string FindRoot()
    {
        for (DirectoryInfo? folder = new(AppContext.BaseDirectory); folder is not null; folder = folder.Parent)
        {
            if (File.Exists(Path.Combine(folder.FullName, "HsmVault.sln")))
            {
                return folder.FullName;
            }
        }

        throw new InvalidOperationException($"no HsmVault.sln above {AppContext.BaseDirectory}");
    }
}
