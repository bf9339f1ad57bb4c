namespace HsmVault.Crypto.Tests.Vectors;

/// <summary>
/// The test vectors of c2sp.org/XAES-256-GCM, transcribed: the two worked examples (one with MSB(L) = 0,
/// one with MSB(L) = 1) and the accumulated randomized tests (inputs from one SHAKE-128 stream of the
/// empty input, every ciphertext absorbed by a second SHAKE-128, 32 bytes squeezed).
/// </summary>
public static class C2spXaesVectors
{
    public sealed record Example(string Key, string Nonce, string L, string K1, string M1, string M2, string DerivedKey, string GcmNonce, string Plaintext, string AssociatedData, string Ciphertext);

    internal static readonly Example MsbClear = new(
        Key: "0101010101010101010101010101010101010101010101010101010101010101",
        Nonce: "ABCDEFGHIJKLMNOPQRSTUVWX",
        L: "7298caa565031eadc6ce23d23ea66378",
        K1: "e531954aca063d5b8d9c47a47d4cc6f0",
        M1: "000158004142434445464748494a4b4c",
        M2: "000258004142434445464748494a4b4c",
        DerivedKey: "c8612c9ed53fe43e8e005b828a1631a0bbcb6ab2f46514ec4f439fcfd0fa969b",
        GcmNonce: "4d4e4f505152535455565758",
        Plaintext: "XAES-256-GCM",
        AssociatedData: "",
        Ciphertext: "ce546ef63c9cc60765923609b33a9a1974e96e52daf2fcf7075e2271");

    internal static readonly Example MsbSet = new(
        Key: "0303030303030303030303030303030303030303030303030303030303030303",
        Nonce: "ABCDEFGHIJKLMNOPQRSTUVWX",
        L: "91c08762876dccf9ba204a33768fa5fe",
        K1: "23810ec50edb99f374409466ed1f4b7b",
        M1: "000158004142434445464748494a4b4c",
        M2: "000258004142434445464748494a4b4c",
        DerivedKey: "e9c621d4cdd9b11b00a6427ad7e559aeedd66b3857646677748f8ca796cb3fd8",
        GcmNonce: "4d4e4f505152535455565758",
        Plaintext: "XAES-256-GCM",
        AssociatedData: "c2sp.org/XAES-256-GCM",
        Ciphertext: "986ec1832593df5443a179437fd083bf3fdb41abd740a21f71eb769d");

    internal static IEnumerable<object[]> Examples => [[nameof(MsbClear), MsbClear], [nameof(MsbSet), MsbSet]];

    /// <summary>The first 16 bytes of the SHAKE-128 stream of the empty input (a check on the RNG itself).</summary>
    internal const string RngStreamStart = "7f9c2ba4e88f827d616045507605853e";

    internal const string Accumulated10000 = "e6b9edf2df6cec60c8cbd864e2211b597fb69a529160cd040d56c0c210081939";
}
