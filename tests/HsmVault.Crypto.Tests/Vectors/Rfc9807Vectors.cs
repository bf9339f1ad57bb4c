namespace HsmVault.Crypto.Tests.Vectors;

/// <summary>RFC 9807 Appendix C.1 real-run vectors for OPAQUE-3DH P256-SHA256 (Identity KSF, context "OPAQUE-POC"), transcribed.</summary>
internal static class Rfc9807Vectors
{
    public const string Context = "4f50415155452d504f43";

    public static readonly IReadOnlyDictionary<string, string> WithoutIdentities = new Dictionary<string, string>
    {
        ["blind_login"] = "c497fddf6056d241e6cf9fb7ac37c384f49b357a221eb0a802c989b9942256c1",
        ["blind_registration"] = "411bf1a62d119afe30df682b91a0a33d777972d4f2daa4b34ca527d597078153",
        ["client_keyshare_seed"] = "633b875d74d1556d2a2789309972b06db21dfcc4f5ad51d7e74d783b7cfab8dc",
        ["client_nonce"] = "ab3d33bde0e93eda72392346a7a73051110674bbf6b1b7ffab8be4f91fdaeeb1",
        ["credential_identifier"] = "31323334",
        ["envelope_nonce"] = "a921f2a014513bd8a90e477a629794e89fec12d12206dde662ebdcf65670e51f",
        ["masking_nonce"] = "38fe59af0df2c79f57b8780278f5ae47355fe1f817119041951c80f612fdfc6d",
        ["oprf_seed"] = "62f60b286d20ce4fd1d64809b0021dad6ed5d52a2c8cf27ae6582543a0a8dce2",
        ["password"] = "436f7272656374486f72736542617474657279537461706c65",
        ["server_keyshare_seed"] = "05a4f54206eef1ba2f615bc0aa285cb22f26d1153b5b40a1e85ff80da12f982f",
        ["server_nonce"] = "71cd9960ecef2fe0d0f7494986fa3d8b2bb01963537e60efb13981e138e3d4a1",
        ["server_private_key"] = "c36139381df63bfc91c850db0b9cfbec7a62e86d80040a41aa7725bf0e79d5e5",
        ["server_public_key"] = "035f40ff9cf88aa1f5cd4fe5fd3da9ea65a4923a5594f84fd9f2092d6067784874",
        ["auth_key"] = "5bd4be1602516092dc5078f8d699f5721dc1720a49fb80d8e5c16377abd0987b",
        ["client_mac_key"] = "afdc53910c25183b08b930e6953c35b3466276736d9de2e9c5efaf150f4082c5",
        ["client_public_key"] = "03b218507d978c3db570ca994aaf36695a731ddb2db272c817f79746fc37ae5214",
        ["envelope"] = "a921f2a014513bd8a90e477a629794e89fec12d12206dde662ebdcf65670e51fad30bbcfc1f8eda0211553ab9aaf26345ad59a128e80188f035fe4924fad67b8",
        ["handshake_secret"] = "83a932431a8f25bad042f008efa2b07c6cd0faa8285f335b6363546a9f9b235f",
        ["masking_key"] = "7f0ed53532d3ae8e505ecc70d42d2b814b6b0e48156def71ea029148b2803aaf",
        ["oprf_key"] = "2dfb5cb9aa1476093be74ca0d43e5b02862a05f5d6972614d7433acdc66f7f31",
        ["randomized_password"] = "06be0a1a51d56557a3adad57ba29c5510565dcd8b5078fa319151b9382258fb0",
        ["server_mac_key"] = "13e928581febfad28855e3e7f03306d61bd69489686f621535d44a1365b73b0d",
        ["KE1"] = "037342f0bcb3ecea754c1e67576c86aa90c1de3875f390ad599a26686cdfee6e07ab3d33bde0e93eda72392346a7a73051110674bbf6b1b7ffab8be4f91fdaeeb1022ed3f32f318f81bab80da321fecab3cd9b6eea11a95666dfa6beeaab321280b6",
        ["KE2"] = "0246da9fe4d41d5ba69faa6c509a1d5bafd49a48615a47a8dd4b0823cc1476481138fe59af0df2c79f57b8780278f5ae47355fe1f817119041951c80f612fdfc6d2f0c547f70deaeca54d878c14c1aa5e1ab405dec833777132eea905c2fbb12504a67dcbe0e66740c76b62c13b04a38a77926e19072953319ec65e41f9bfd2ae26837b6ce688bf9af2542f04eec9ab96a1b9328812dc2f5c89182ed47fead61f09f71cd9960ecef2fe0d0f7494986fa3d8b2bb01963537e60efb13981e138e3d4a103c1701353219b53acf337bf6456a83cefed8f563f1040b65afbf3b65d3bc9a19b50a73b145bc87a157e8c58c0342e2047ee22ae37b63db17e0a82a30fcc4ecf7b",
        ["KE3"] = "e97cab4433aa39d598e76f13e768bba61c682947bdcf9936035e8a3a3ebfb66e",
        ["export_key"] = "c3c9a1b0e33ac84dd83d0b7e8af6794e17e7a3caadff289fbd9dc769a853c64b",
        ["registration_request"] = "029e949a29cfa0bf7c1287333d2fb3dc586c41aa652f5070d26a5315a1b50229f8",
        ["registration_response"] = "0350d3694c00978f00a5ce7cd08a00547e4ab5fb5fc2b2f6717cdaa6c89136efef035f40ff9cf88aa1f5cd4fe5fd3da9ea65a4923a5594f84fd9f2092d6067784874",
        ["registration_upload"] = "03b218507d978c3db570ca994aaf36695a731ddb2db272c817f79746fc37ae52147f0ed53532d3ae8e505ecc70d42d2b814b6b0e48156def71ea029148b2803aafa921f2a014513bd8a90e477a629794e89fec12d12206dde662ebdcf65670e51fad30bbcfc1f8eda0211553ab9aaf26345ad59a128e80188f035fe4924fad67b8",
        ["session_key"] = "484ad345715ccce138ca49e4ea362c6183f0949aaaa1125dc3bc3f80876e7cd1",
    };

    public static readonly IReadOnlyDictionary<string, string> WithIdentities = new Dictionary<string, string>
    {
        ["blind_login"] = "c497fddf6056d241e6cf9fb7ac37c384f49b357a221eb0a802c989b9942256c1",
        ["blind_registration"] = "411bf1a62d119afe30df682b91a0a33d777972d4f2daa4b34ca527d597078153",
        ["client_identity"] = "616c696365",
        ["client_keyshare_seed"] = "633b875d74d1556d2a2789309972b06db21dfcc4f5ad51d7e74d783b7cfab8dc",
        ["client_nonce"] = "ab3d33bde0e93eda72392346a7a73051110674bbf6b1b7ffab8be4f91fdaeeb1",
        ["credential_identifier"] = "31323334",
        ["envelope_nonce"] = "a921f2a014513bd8a90e477a629794e89fec12d12206dde662ebdcf65670e51f",
        ["masking_nonce"] = "38fe59af0df2c79f57b8780278f5ae47355fe1f817119041951c80f612fdfc6d",
        ["oprf_seed"] = "62f60b286d20ce4fd1d64809b0021dad6ed5d52a2c8cf27ae6582543a0a8dce2",
        ["password"] = "436f7272656374486f72736542617474657279537461706c65",
        ["server_identity"] = "626f62",
        ["server_keyshare_seed"] = "05a4f54206eef1ba2f615bc0aa285cb22f26d1153b5b40a1e85ff80da12f982f",
        ["server_nonce"] = "71cd9960ecef2fe0d0f7494986fa3d8b2bb01963537e60efb13981e138e3d4a1",
        ["server_private_key"] = "c36139381df63bfc91c850db0b9cfbec7a62e86d80040a41aa7725bf0e79d5e5",
        ["server_public_key"] = "035f40ff9cf88aa1f5cd4fe5fd3da9ea65a4923a5594f84fd9f2092d6067784874",
        ["auth_key"] = "5bd4be1602516092dc5078f8d699f5721dc1720a49fb80d8e5c16377abd0987b",
        ["client_mac_key"] = "7f629eb0b1b69979b07ca1f564b3e92ed22f07569fd1d11725d93e46731fbe71",
        ["client_public_key"] = "03b218507d978c3db570ca994aaf36695a731ddb2db272c817f79746fc37ae5214",
        ["envelope"] = "a921f2a014513bd8a90e477a629794e89fec12d12206dde662ebdcf65670e51f4d7773a36a208a866301dbb2858e40dc5638017527cf91aef32d3848eebe0971",
        ["handshake_secret"] = "80bdcc498f22de492e90ee8101fcc7c101e158dd49c77f7c283816ae329ed62f",
        ["masking_key"] = "7f0ed53532d3ae8e505ecc70d42d2b814b6b0e48156def71ea029148b2803aaf",
        ["oprf_key"] = "2dfb5cb9aa1476093be74ca0d43e5b02862a05f5d6972614d7433acdc66f7f31",
        ["randomized_password"] = "06be0a1a51d56557a3adad57ba29c5510565dcd8b5078fa319151b9382258fb0",
        ["server_mac_key"] = "0f82432fbdb5b90daf27a91a3acc42299a9590dba1b77932c2207b4cb3d4a157",
        ["KE1"] = "037342f0bcb3ecea754c1e67576c86aa90c1de3875f390ad599a26686cdfee6e07ab3d33bde0e93eda72392346a7a73051110674bbf6b1b7ffab8be4f91fdaeeb1022ed3f32f318f81bab80da321fecab3cd9b6eea11a95666dfa6beeaab321280b6",
        ["KE2"] = "0246da9fe4d41d5ba69faa6c509a1d5bafd49a48615a47a8dd4b0823cc1476481138fe59af0df2c79f57b8780278f5ae47355fe1f817119041951c80f612fdfc6d2f0c547f70deaeca54d878c14c1aa5e1ab405dec833777132eea905c2fbb12504a67dcbe0e66740c76b62c13b04a38a77926e19072953319ec65e41f9bfd2ae268d7f106042021c80300e4c6f585980cf39fc51a4a6bba41b0729f9b240c729e5671cd9960ecef2fe0d0f7494986fa3d8b2bb01963537e60efb13981e138e3d4a103c1701353219b53acf337bf6456a83cefed8f563f1040b65afbf3b65d3bc9a19b84922c7e5d074838a8f278592c53f61fb59f031e85ad480c0c71086b871e1b24",
        ["KE3"] = "46833578cee137775f6be3f01b80748daac5a694101ad0e9e7025480552da56a",
        ["export_key"] = "c3c9a1b0e33ac84dd83d0b7e8af6794e17e7a3caadff289fbd9dc769a853c64b",
        ["registration_request"] = "029e949a29cfa0bf7c1287333d2fb3dc586c41aa652f5070d26a5315a1b50229f8",
        ["registration_response"] = "0350d3694c00978f00a5ce7cd08a00547e4ab5fb5fc2b2f6717cdaa6c89136efef035f40ff9cf88aa1f5cd4fe5fd3da9ea65a4923a5594f84fd9f2092d6067784874",
        ["registration_upload"] = "03b218507d978c3db570ca994aaf36695a731ddb2db272c817f79746fc37ae52147f0ed53532d3ae8e505ecc70d42d2b814b6b0e48156def71ea029148b2803aafa921f2a014513bd8a90e477a629794e89fec12d12206dde662ebdcf65670e51f4d7773a36a208a866301dbb2858e40dc5638017527cf91aef32d3848eebe0971",
        ["session_key"] = "27766fabd8dd88ff37fbd0ef1a491e601d10d9f016c2b28c4bd1b0fb7511a3c3",
    };
}
