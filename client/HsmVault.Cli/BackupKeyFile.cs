using System.Security.Cryptography;
using System.Text;
using HsmVault.Client;

namespace HsmVault.Cli;

/// <summary>Reads and writes the backup key K as a file: 32 raw bytes or 64 hex characters in, hex out, owner-only permissions.</summary>
public static class BackupKeyFile
{
    /// <summary>Parses the contents of a key file; throws <see cref="CliInputException"/> saying what is wrong (never the key).</summary>
    public static byte[] Parse(ReadOnlySpan<byte> contents, string source)
    {
        if (contents.Length == VaultClient.BackupKeyBytes)
        {
            return contents.ToArray();
        }

        ReadOnlySpan<byte> text = contents.TrimEnd("\r\n \t"u8).TrimStart("\r\n \t"u8);
        if (text.Length != VaultClient.BackupKeyBytes * 2)
        {
            throw new CliInputException(
                $"{source}: must hold {VaultClient.BackupKeyBytes} raw bytes or {VaultClient.BackupKeyBytes * 2} hex characters, found {contents.Length} bytes");
        }

        char[] chars = new char[text.Length];
        try
        {
            Encoding.ASCII.GetChars(text, chars);
            byte[] key = new byte[VaultClient.BackupKeyBytes];
            if (Convert.FromHexString(chars, key, out _, out _) != System.Buffers.OperationStatus.Done)
            {
                CryptographicOperations.ZeroMemory(key);
                throw new CliInputException($"{source}: {chars.Length} characters but not all are hex digits");
            }

            return key;
        }
        finally
        {
            Array.Clear(chars);
        }
    }

    /// <summary>Reads and parses a key file.</summary>
    public static byte[] Read(string path)
    {
        byte[] contents;
        try
        {
            contents = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliInputException($"--key-file: cannot read '{path}': {ex.Message}");
        }

        try
        {
            return Parse(contents, $"--key-file '{path}'");
        }
        finally
        {
            CryptographicOperations.ZeroMemory(contents);
        }
    }

    /// <summary>
    /// Creates a new, empty file readable only by its owner, before any vault operation, so an
    /// unusable path is reported before a key is registered or a guess is spent. Refuses to overwrite.
    /// </summary>
    public static FileStream CreateNew(string path)
    {
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            return new FileStream(path, options);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new CliInputException($"--out: cannot create '{path}': {ex.Message}");
        }
    }

    /// <summary>Writes K as hex plus a newline into a file from <see cref="CreateNew"/>.</summary>
    public static void Write(FileStream file, ReadOnlySpan<byte> key)
    {
        byte[] text = Encoding.ASCII.GetBytes(Convert.ToHexStringLower(key) + "\n");
        try
        {
            file.Write(text);
            file.Flush(flushToDisk: true);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(text);
        }
    }

    /// <summary>Removes a file from <see cref="CreateNew"/> that never received a key.</summary>
    public static void Discard(FileStream file)
    {
        string path = file.Name;
        file.Dispose();
        File.Delete(path);
    }
}
