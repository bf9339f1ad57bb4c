namespace HsmVault.Crypto.Tests.Vectors;

/// <summary>
/// RFC 9180 Appendix A.3.1: DHKEM(P-256, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode.
/// Transcribed from the RFC's published test vectors; all values hex.
/// </summary>
internal static class Rfc9180Vectors
{
    internal const string Info = "4f6465206f6e2061204772656369616e2055726e";

    internal const string IkmE = "4270e54ffd08d79d5928020af4686d8f6b7d35dbe470265f1f5aa22816ce860e";

    internal const string PkEm = "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4";

    internal const string SkEm = "4995788ef4b9d6132b249ce59a77281493eb39af373d236a1fe415cb0c2d7beb";

    internal const string IkmR = "668b37171f1072f3cf12ea8a236a45df23fc13b82af3609ad1e354f6ef817550";

    internal const string PkRm = "04fe8c19ce0905191ebc298a9245792531f26f0cece2460639e8bc39cb7f706a826a779b4cf969b8a0e539c7f62fb3d30ad6aa8f80e30f1d128aafd68a2ce72ea0";

    internal const string SkRm = "f3ce7fdae57e1a310d87f1ebbde6f328be0a99cdbcadf4d6589cf29de4b8ffd2";

    internal const string Enc = "04a92719c6195d5085104f469a8b9814d5838ff72b60501e2c4466e5e67b325ac98536d7b61a1af4b78e5b7f951c0900be863c403ce65c9bfcb9382657222d18c4";

    internal const string SharedSecret = "c0d26aeab536609a572b07695d933b589dcf363ff9d93c93adea537aeabb8cb8";

    internal const string KeyScheduleContext = "00b88d4e6d91759e65e87c470e8b9141113e9ad5f0c8ceefc1e088c82e6980500798e486f9c9c09c9b5c753ac72d6005de254c607d1b534ed11d493ae1c1d9ac85";

    internal const string Secret = "2eb7b6bf138f6b5aff857414a058a3f1750054a9ba1f72c2cf0684a6f20b10e1";

    internal const string Key = "868c066ef58aae6dc589b6cfdd18f97e";

    internal const string BaseNonce = "4e0bc5018beba4bf004cca59";

    internal const string ExporterSecret = "14ad94af484a7ad3ef40e9f3be99ecc6fa9036df9d4920548424df127ee0d99f";

    /// <summary>sequence number, plaintext, associated data, nonce, ciphertext.</summary>
    internal static readonly (ulong Sequence, string Plaintext, string Aad, string Nonce, string Ciphertext)[] Encryptions =
    [
        (0, "4265617574792069732074727574682c20747275746820626561757479", "436f756e742d30", "4e0bc5018beba4bf004cca59", "5ad590bb8baa577f8619db35a36311226a896e7342a6d836d8b7bcd2f20b6c7f9076ac232e3ab2523f39513434"),
        (1, "4265617574792069732074727574682c20747275746820626561757479", "436f756e742d31", "4e0bc5018beba4bf004cca58", "fa6f037b47fc21826b610172ca9637e82d6e5801eb31cbd3748271affd4ecb06646e0329cbdf3c3cd655b28e82"),
        (2, "4265617574792069732074727574682c20747275746820626561757479", "436f756e742d32", "4e0bc5018beba4bf004cca5b", "895cabfac50ce6c6eb02ffe6c048bf53b7f7be9a91fc559402cbc5b8dcaeb52b2ccc93e466c28fb55fed7a7fec"),
        (4, "4265617574792069732074727574682c20747275746820626561757479", "436f756e742d34", "4e0bc5018beba4bf004cca5d", "8787491ee8df99bc99a246c4b3216d3d57ab5076e18fa27133f520703bc70ec999dd36ce042e44f0c3169a6a8f"),
        (255, "4265617574792069732074727574682c20747275746820626561757479", "436f756e742d323535", "4e0bc5018beba4bf004ccaa6", "2ad71c85bf3f45c6eca301426289854b31448bcf8a8ccb1deef3ebd87f60848aa53c538c30a4dac71d619ee2cd"),
        (256, "4265617574792069732074727574682c20747275746820626561757479", "436f756e742d323536", "4e0bc5018beba4bf004ccb59", "10f179686aa2caec1758c8e554513f16472bd0a11e2a907dde0b212cbe87d74f367f8ffe5e41cd3e9962a6afb2"),
    ];

    /// <summary>exporter context, length, exported value.</summary>
    internal static readonly (string Context, int Length, string Value)[] Exports =
    [
        ("", 32, "5e9bc3d236e1911d95e65b576a8a86d478fb827e8bdfe77b741b289890490d4d"),
        ("00", 32, "6cff87658931bda83dc857e6353efe4987a201b849658d9b047aab4cf216e796"),
        ("54657374436f6e74657874", 32, "d8f1ea7942adbba7412c6d431c62d01371ea476b823eb697e1f6e6cae1dab85a"),
    ];
}
