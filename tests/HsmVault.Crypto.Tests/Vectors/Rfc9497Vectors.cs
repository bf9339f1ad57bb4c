namespace HsmVault.Crypto.Tests.Vectors;

/// <summary>RFC 9497 OPRF(P-256, SHA-256) mode 0 vectors (Appendix A.3.1), transcribed.</summary>
internal static class Rfc9497Vectors
{
    public const string Seed = "a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3a3";

    public const string KeyInfo = "74657374206b6579";

    public const string SkSm = "159749d750713afe245d2d39ccfaae8381c53ce92d098a9375ee70739c7ac0bf";

    public const string GroupDst = "48617368546f47726f75702d4f50524656312d002d503235362d534841323536";

    /// <summary>Input, Blind, BlindedElement, EvaluationElement, Output (hex).</summary>
    public static readonly string[][] Mode0 =
    [
        ["00", "3338fa65ec36e0290022b48eb562889d89dbfa691d1cde91517fa222ed7ad364", "03723a1e5c09b8b9c18d1dcbca29e8007e95f14f4732d9346d490ffc195110368d", "030de02ffec47a1fd53efcdd1c6faf5bdc270912b8749e783c7ca75bb412958832", "a0b34de5fa4c5b6da07e72af73cc507cceeb48981b97b7285fc375345fe495dd"],
        ["5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a", "3338fa65ec36e0290022b48eb562889d89dbfa691d1cde91517fa222ed7ad364", "03cc1df781f1c2240a64d1c297b3f3d16262ef5d4cf102734882675c26231b0838", "03a0395fe3828f2476ffcd1f4fe540e5a8489322d398be3c4e5a869db7fcb7c52c", "c748ca6dd327f0ce85f4ae3a8cd6d4d5390bbb804c9e12dcf94f853fece3dcce"],
    ];
}
