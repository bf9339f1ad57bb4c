namespace HsmVault.Transparency.Notes;

/// <summary>The signature type identifier bytes of C2SP signed-note that this project signs and verifies.</summary>
public enum NoteSignatureType : byte
{
    /// <summary>0x01: Ed25519 over the note text (c2sp.org/signed-note). The log's checkpoint signature.</summary>
    Ed25519 = 0x01,

    /// <summary>0x04: timestamped Ed25519 checkpoint cosignature (c2sp.org/tlog-cosignature, cosignature/v1).</summary>
    Ed25519Cosignature = 0x04,
}
