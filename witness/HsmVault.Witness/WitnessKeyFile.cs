using System.Text;
using HsmVault.Transparency.Notes;

namespace HsmVault.Witness;

/// <summary>
/// A witness signing key in a file of its own, in the Go signer-key text form, readable and
/// writable by the witness's user only (0600). Created on first start, reused afterwards; the
/// public half is written beside it as a vkey file (<c>NAME.vkey</c>) to hand to clients and auditors.
/// The file stands in for the key store of an outside party; the operator's key is never in a file.
/// </summary>
internal static class WitnessKeyFile
{
    /// <summary>Reads the key at <paramref name="path"/>, or creates it for <paramref name="name"/> when absent.</summary>
    public static NoteSigningKey LoadOrCreate(string path, string name, NoteSignatureType type)
    {
        if (File.Exists(path))
        {
            NoteSigningKey key = Read(path);
            if (key.Name != name || key.Type != type)
            {
                string found = $"{key.Name} ({key.Type})";
                key.Dispose();
                throw new WitnessStoreException(path, $"holds the key of {found}, not {name} ({type}); give the name it was created with or another state folder");
            }

            WritePublic(path, key);
            return key;
        }

        NoteSigningKey created = NoteSigningKey.Generate(name, type);
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Options = FileOptions.WriteThrough };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var stream = new FileStream(path, options))
        {
            stream.Write(Encoding.ASCII.GetBytes(created.ToSecretString() + "\n"));
            stream.Flush(flushToDisk: true);
        }

        WritePublic(path, created);
        return created;
    }

    /// <summary>Reads an existing key; a missing file is an error (an export must not mint a new witness).</summary>
    public static NoteSigningKey LoadOrCreateExisting(string path, string name) =>
        File.Exists(path)
            ? LoadOrCreate(path, name, NoteSignatureType.Ed25519)
            : throw new WitnessStoreException(path, "no witness key here: is this the witness's state folder?");

    /// <summary>The vkey file beside a key file.</summary>
    public static string PublicPath(string keyPath) => Path.ChangeExtension(keyPath, ".vkey");

    private static NoteSigningKey Read(string path)
    {
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(path) & (UnixFileMode.GroupRead | UnixFileMode.GroupWrite | UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
        {
            throw new WitnessStoreException(path, "the key file is readable or writable by others; make it 0600");
        }

        try
        {
            return NoteSigningKey.Parse(File.ReadAllText(path, Encoding.ASCII).Trim());
        }
        catch (NoteFormatException ex)
        {
            throw new WitnessStoreException(path, ex.Message, ex);
        }
    }

    private static void WritePublic(string keyPath, NoteSigningKey key) =>
        File.WriteAllText(PublicPath(keyPath), key.Verifier + "\n", Encoding.ASCII);
}
