using System.Text;
using System.Text.Json;
using HsmVault.Transparency.Notes;

namespace HsmVault.Transparency.Tests;

[TestClass]
public sealed class SignedNoteTests
{
    private static readonly JsonElement Vectors = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Vectors", "signed-note.json"))).RootElement;

    private static JsonElement Go => Vectors.GetProperty("go");

    private static string G(string name) => Go.GetProperty(name).GetString()!;

    [TestMethod]
    public void Signing_the_Go_reference_text_with_its_key_reproduces_the_published_note_byte_for_byte()
    {
        using NoteSigningKey key = NoteSigningKey.Parse(G("skey"));
        Assert.AreEqual(G("vkey"), key.Verifier.ToString());
        Assert.AreEqual(0xc74f20a3u, key.KeyId);
        SignedNote note = SignedNote.Sign(G("text"), key);
        CollectionAssert.AreEqual(Encoding.UTF8.GetBytes(G("signed")), note.ToBytes());
        Assert.AreEqual(G("skey"), key.ToSecretString());
    }

    [TestMethod]
    public void Signing_again_replaces_the_line_of_the_same_key()
    {
        using NoteSigningKey key = NoteSigningKey.Parse(G("skey"));
        SignedNote stale = SignedNote.Create(G("text"), [new NoteSignature("PeterNeumann", 0xc74f20a3, [1, 2, 3])]);
        Assert.AreEqual(G("signed"), stale.AddSignatures(key).ToString());
    }

    [TestMethod]
    public void The_Go_reference_note_verifies_under_its_vkey_and_not_when_altered()
    {
        NoteVerifierKey peter = NoteVerifierKey.Parse(G("vkey"));
        SignedNote note = SignedNote.Parse(Encoding.UTF8.GetBytes(G("signed")));
        Assert.AreEqual(G("text"), note.Text);
        Assert.AreEqual(peter, note.Verify([peter]).Single());

        SignedNote altered = SignedNote.Parse(G("signed").Replace("cryptography", "cryptographY", StringComparison.Ordinal));
        var error = Assert.ThrowsExactly<NoteVerificationException>(() => altered.Verify([peter]));
        Assert.AreEqual(NoteVerificationError.InvalidSignature, error.Error);
        Assert.AreEqual("invalid signature for key PeterNeumann+c74f20a3", error.Message);
    }

    [TestMethod]
    public void Of_two_signatures_the_known_one_verifies_and_the_unknown_one_is_ignored()
    {
        NoteVerifierKey peter = NoteVerifierKey.Parse(G("vkey"));
        NoteVerifierKey enoch = NoteVerifierKey.Parse(G("enoch_vkey"));
        SignedNote note = SignedNote.Parse(G("text") + "\n" + G("peter_signature_line") + G("enoch_signature_line"));
        CollectionAssert.AreEqual(new[] { peter }, note.Verify([peter]).ToArray());
        CollectionAssert.AreEqual(new[] { peter, enoch }, note.Verify([peter, enoch]).ToArray());
        Assert.AreEqual(NoteVerificationError.NoVerifiableSignature, Assert.ThrowsExactly<NoteVerificationException>(() => note.Verify([])).Error);
    }

    [TestMethod]
    public void Repeated_lines_count_once_and_a_known_key_twice_in_the_list_is_ambiguous()
    {
        NoteVerifierKey peter = NoteVerifierKey.Parse(G("vkey"));
        NoteVerifierKey enoch = NoteVerifierKey.Parse(G("enoch_vkey"));
        string peterLine = G("peter_signature_line");
        string enochLine = G("enoch_signature_line");
        string enochBroken = enochLine[..60] + "ABCD" + enochLine[60..];
        SignedNote note = SignedNote.Parse(G("text") + "\n" + peterLine + peterLine + enochLine + enochLine + enochBroken);
        Assert.AreEqual(peter, note.Verify([peter]).Single());

        SignedNote enochOnly = SignedNote.Parse(G("text") + "\n" + enochLine);
        var ambiguous = Assert.ThrowsExactly<NoteVerificationException>(() => enochOnly.Verify([enoch, peter, enoch]));
        Assert.AreEqual(NoteVerificationError.AmbiguousKey, ambiguous.Error);
        Assert.AreEqual("ambiguous key EnochRoot+af0cfe78", ambiguous.Message);
        Assert.AreEqual(peter, SignedNote.Parse(G("signed")).Verify([enoch, peter, enoch]).Single(), "an unused duplicate is no matter");
    }

    [TestMethod]
    public void A_broken_signature_of_a_known_key_rejects_the_note()
    {
        NoteVerifierKey peter = NoteVerifierKey.Parse(G("vkey"));
        string line = G("peter_signature_line");
        SignedNote note = SignedNote.Parse(G("text") + "\n" + line[..60] + "ABCD" + line[60..]);
        Assert.AreEqual(NoteVerificationError.InvalidSignature, Assert.ThrowsExactly<NoteVerificationException>(() => note.Verify([peter])).Error);
    }

    [TestMethod]
    public void The_Go_reference_malformed_notes_are_all_refused()
    {
        foreach (JsonElement bad in Go.GetProperty("malformed_notes").EnumerateArray())
        {
            string text = bad.GetString()!;
            Assert.ThrowsExactly<NoteFormatException>(() => SignedNote.Parse(Encoding.UTF8.GetBytes(text)), text);
        }

        byte[] invalidUtf8 = [0xff, .. Encoding.UTF8.GetBytes(G("signed"))];
        Assert.ThrowsExactly<NoteFormatException>(() => SignedNote.Parse(invalidUtf8));
        Assert.ThrowsExactly<NoteFormatException>(() => SignedNote.Parse(G("text") + "\n" + string.Concat(Enumerable.Repeat(G("peter_signature_line"), 101))), "101 signatures");
        Assert.ThrowsExactly<NoteFormatException>(() => SignedNote.Parse(G("signed").Replace("x08go/", "x08go /", StringComparison.Ordinal)), "a space inside the base64");
    }

    [TestMethod]
    public void The_Go_reference_vkey_reads_and_every_substring_and_one_character_change_is_refused()
    {
        string vkey = G("vkey");
        NoteVerifierKey key = NoteVerifierKey.Parse(vkey);
        Assert.AreEqual("PeterNeumann", key.Name);
        Assert.AreEqual(NoteSignatureType.Ed25519, key.Type);
        Assert.AreEqual(vkey, key.ToString());
        for (int i = 0; i <= vkey.Length; i++)
        {
            for (int j = i + 1; j <= vkey.Length; j++)
            {
                if (i != 0 || j != vkey.Length)
                {
                    Assert.ThrowsExactly<NoteFormatException>(() => NoteVerifierKey.Parse(vkey[i..j]), vkey[i..j]);
                }
            }
        }

        for (int i = 0; i < vkey.Length; i++)
        {
            string changed = vkey[..i] + (char)(vkey[i] + 1) + vkey[(i + 1)..];
            Assert.ThrowsExactly<NoteFormatException>(() => NoteVerifierKey.Parse(changed), changed);
        }

        foreach (JsonElement bad in Go.GetProperty("bad_vkeys").EnumerateArray())
        {
            Assert.ThrowsExactly<NoteFormatException>(() => NoteVerifierKey.Parse(bad.GetString()!), bad.GetString());
        }
    }

    [TestMethod]
    public void Every_substring_and_one_character_change_of_the_Go_reference_skey_is_refused()
    {
        string skey = G("skey");
        for (int i = 0; i <= skey.Length; i++)
        {
            for (int j = i + 1; j <= skey.Length; j++)
            {
                if (i != 0 || j != skey.Length)
                {
                    Assert.ThrowsExactly<NoteFormatException>(() => NoteSigningKey.Parse(skey[i..j]).Dispose(), skey[i..j]);
                }
            }
        }

        for (int i = 0; i < skey.Length; i++)
        {
            string changed = skey[..i] + (char)(skey[i] + 1) + skey[(i + 1)..];
            Assert.ThrowsExactly<NoteFormatException>(() => NoteSigningKey.Parse(changed).Dispose(), changed);
        }
    }

    [TestMethod]
    public void The_signed_note_specification_example_verifies_under_its_vkey()
    {
        JsonElement example = Vectors.GetProperty("c2sp_vkey_example");
        NoteVerifierKey key = NoteVerifierKey.Parse(example.GetProperty("vkey").GetString()!);
        Assert.AreEqual(0x530d903au, NoteVerifierKey.ComputeKeyId("example.com/foo", NoteSignatureType.Ed25519, key.PublicKey));
        SignedNote note = SignedNote.Parse(example.GetProperty("note").GetString()!);
        Assert.AreEqual("This is an example message.\n", note.Text);
        Assert.AreEqual(key, note.Verify([key]).Single());
        Assert.AreEqual(example.GetProperty("note").GetString(), note.ToString(), "written back byte for byte");
    }

    [TestMethod]
    public void A_text_with_empty_lines_is_split_at_the_last_blank_line()
    {
        using NoteSigningKey key = NoteSigningKey.Generate("example.com/empty-lines", NoteSignatureType.Ed25519);
        foreach (string text in new[] { "a\n\nb\n", "a\n\n", "\n" })
        {
            SignedNote note = SignedNote.Parse(SignedNote.Sign(text, key).ToBytes());
            Assert.AreEqual(text, note.Text);
            Assert.AreEqual(key.Verifier, note.Verify([key.Verifier]).Single());
        }

        Assert.ThrowsExactly<ArgumentException>(() => SignedNote.Sign("abc", key), "no final newline");
        Assert.ThrowsExactly<ArgumentException>(() => SignedNote.Sign("a\tb\n", key), "a control character");
    }

    [TestMethod]
    public void Key_names_with_a_space_or_a_plus_are_refused()
    {
        Assert.ThrowsExactly<ArgumentException>(() => NoteSigningKey.Generate("bad name", NoteSignatureType.Ed25519));
        Assert.ThrowsExactly<ArgumentException>(() => NoteSigningKey.Generate("a+b", NoteSignatureType.Ed25519));
        Assert.ThrowsExactly<ArgumentException>(() => NoteSigningKey.Generate(string.Empty, NoteSignatureType.Ed25519));
    }
}
