using System.Text;

namespace HsmVault.Transparency.Notes;

/// <summary>Key names in signed notes: non-empty, valid UTF-8, no Unicode space and no '+'.</summary>
public static class NoteKeyName
{
    public static bool IsValid(string? name) =>
        !string.IsNullOrEmpty(name)
        && !name.Contains('+', StringComparison.Ordinal)
        && name.EnumerateRunes().All(r => !Rune.IsWhiteSpace(r) && r != Rune.ReplacementChar && !Rune.IsControl(r));

    /// <summary>Throws <see cref="ArgumentException"/> unless <paramref name="name"/> is a valid key name.</summary>
    public static string Check(string name, string parameter)
    {
        if (!IsValid(name))
        {
            throw new ArgumentException($"'{name}' is not a signed-note key name (non-empty, no spaces, no '+')", parameter);
        }

        return name;
    }
}
