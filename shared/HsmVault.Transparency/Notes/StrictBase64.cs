namespace HsmVault.Transparency.Notes;

/// <summary>
/// RFC 4648 section 4 base64 with padding and nothing else: .NET's decoder skips white space,
/// which inside a signature line would let two different lines decode alike.
/// </summary>
internal static class StrictBase64
{
    public static byte[]? Decode(string text)
    {
        if (text.Length == 0 || text.Length % 4 != 0 || !text.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '='))
        {
            return null;
        }

        try
        {
            return Convert.FromBase64String(text);
        }
        catch (FormatException)
        {
            return null;
        }
    }
}
