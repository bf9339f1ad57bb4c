namespace HsmVault.Transparency.Epochs;

/// <summary>
/// A namespace of the witness: one append-only log of fleet-key epochs, for example one per
/// deployment line of a vault (<c>hsmvault-prod</c>). 1 to 64 characters of lower-case letters,
/// digits, '.', '-' and '_', starting with a letter or digit, so it is safe as a URL path segment,
/// a file name and the last part of a checkpoint origin.
/// </summary>
public static class FleetNamespace
{
    public const int MaxLength = 64;

    public static bool IsValid(string? name) =>
        !string.IsNullOrEmpty(name) && name.Length <= MaxLength
        && (char.IsAsciiLetterLower(name[0]) || char.IsAsciiDigit(name[0]))
        && name.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '-' or '_');

    /// <summary>Throws <see cref="ArgumentException"/> naming <paramref name="parameter"/> unless valid.</summary>
    public static string Check(string name, string parameter)
    {
        if (!IsValid(name))
        {
            throw new ArgumentException($"namespace '{name}': must be 1 to {MaxLength} characters of a-z, 0-9, '.', '-', '_', starting with a letter or digit", parameter);
        }

        return name;
    }

    /// <summary>The checkpoint origin of a namespace's log: <c>witness name/namespace</c>.</summary>
    public static string Origin(string witnessName, string name) => $"{witnessName}/{Check(name, nameof(name))}";
}
