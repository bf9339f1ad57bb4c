using Google.Protobuf;
using HsmVault.Enclave.Fleet;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Tests.Fleet;

/// <summary>
/// Every byte string a fleet MAC or hash covers (docs/REPLICATION.md, "Exact bytes"), for fixed
/// inputs, against a golden file: a change to any layout must be deliberate, since deployed members
/// would no longer verify each other's entries and statements.
/// </summary>
[TestClass]
public sealed class FleetMacInputTests
{
    [TestMethod]
    public void Fleet_mac_inputs_match_the_golden_file()
    {
        string path = Path.Combine(AppContext.BaseDirectory, "Golden", "fleet-mac-inputs.txt");
        Dictionary<string, string> golden = File.ReadAllLines(path)
            .Where(line => line.Length > 0 && !line.StartsWith('#'))
            .Select(line => line.Split(':', 2))
            .ToDictionary(parts => parts[0].Trim(), parts => parts[1].Trim());
        Dictionary<string, string> actual = Compute();
        CollectionAssert.AreEquivalent(golden.Keys.ToArray(), actual.Keys.ToArray());
        foreach ((string name, string value) in actual)
        {
            Assert.AreEqual(golden[name], value, name);
        }
    }

    internal static Dictionary<string, string> Compute()
    {
        static byte[] Fill(int length, byte value) => Enumerable.Repeat(value, length).ToArray();
        static string Hex(byte[] bytes) => Convert.ToHexStringLower(bytes);
        byte[] identity = [0x02, .. Fill(32, 0x11)];
        var configuration = new FleetConfiguration { Quorum = 1, AttemptLimit = 10, OpaqueContext = "HsmVault-v1" };
        configuration.Members.Add(new FleetMemberKey { IdentityPublicKey = ByteString.CopyFrom(identity) });
        byte[] fleetId = Fill(16, 0xF1);
        byte[] configurationHash = FleetMacs.ConfigurationHash(configuration);
        var entry = new FleetEntry
        {
            Index = 7,
            PrevMac = ByteString.CopyFrom(Fill(32, 0x06)),
            MerkleRoot = ByteString.CopyFrom(Fill(32, 0x0A)),
            Leader = ByteString.CopyFrom(FleetMacs.MemberId(identity)),
        };
        entry.Updates.Add(new LeafUpdate { Key = ByteString.CopyFrom(Fill(32, 0x0B)), ValueHash = ByteString.CopyFrom(Fill(32, 0x0C)) });
        entry.Updates.Add(new LeafUpdate { Key = ByteString.CopyFrom(Fill(32, 0x0D)) });
        byte[] member = FleetMacs.MemberId(identity);
        return new Dictionary<string, string>
        {
            ["member_id"] = Hex(member),
            ["configuration"] = Hex(FleetMacs.ConfigurationBytes(configuration)),
            ["configuration_hash"] = Hex(configurationHash),
            ["entry_mac_input"] = Hex(FleetMacs.EntryMacInput(fleetId, configurationHash, entry)),
            ["captured_input"] = Hex(FleetMacs.CapturedInput(fleetId, configurationHash, member, 7, Fill(32, 0x0E))),
            ["vouch_input"] = Hex(FleetMacs.VouchInput(fleetId, configurationHash, member, Fill(16, 0x22), Fill(32, 0x33), 7, Fill(32, 0x0E))),
            ["nvram"] = Hex(new FleetNvram(fleetId, configurationHash, 7, Fill(32, 0x0E)).Encode()),
        };
    }
}

