using System.Text;
using HsmVault.Protocol.Fleet;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// The fleet-key set a client pins (FleetKeySet.Parse of the --fleet-key file): the input is the
/// file's text (UTF-8, invalid bytes replaced). A set that parses must write canonical JSON and a
/// file text that both parse back to the same digest and keys.
/// </summary>
public sealed class FleetKeysTarget : FuzzTarget
{
    public override string Name => "fleet-keys";

    public override long AllocationLimitBytes => 4L << 20;

    public override string Feeds => "FleetKeySet.Parse of JSON text, then the canonical form and the file text parsed back";

    public override string Run(ReadOnlySpan<byte> input)
    {
        string text = Encoding.UTF8.GetString(input);
        FleetKeySet set;
        try
        {
            set = FleetKeySet.Parse(text);
        }
        catch (FleetKeySetFormatException ex)
        {
            return $"refused:{ex.Field.Split('.', '[')[0]}";
        }

        foreach (string again in new[] { Encoding.UTF8.GetString(set.ToCanonicalJson()), set.ToFileText() })
        {
            FleetKeySet back = FleetKeySet.Parse(again);
            if (!back.Digest.AsSpan().SequenceEqual(set.Digest) || back.FleetId != set.FleetId
                || !back.ChannelPublicKey.AsSpan().SequenceEqual(set.ChannelPublicKey) || !back.OpaqueAkePublicKey.AsSpan().SequenceEqual(set.OpaqueAkePublicKey))
            {
                throw new FuzzFindingException("a key set's canonical form or file text does not parse back to the same set");
            }
        }

        return "parsed";
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        const string channel = "04" + "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296" + "4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5";
        const string ake = "03" + "6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296";
        string good = $$"""
            {
              "format": "hsmvault-fleet-keys/v1",
              "fleet_id": "hsmvault-local",
              "keys": [
                { "role": "channel", "algorithm": "HPKE DHKEM(P-256, HKDF-SHA256)", "public_key": "{{channel}}" },
                { "role": "opaque-ake", "algorithm": "OPAQUE-3DH P256-SHA256", "public_key": "{{ake}}" }
              ]
            }
            """;
        yield return ("good", Encoding.UTF8.GetBytes(good));
        yield return ("canonical", FleetKeySet.Parse(good).ToCanonicalJson());
        yield return ("twice", Encoding.UTF8.GetBytes(good.Replace("\"opaque-ake\"", "\"channel\"", StringComparison.Ordinal)));
        yield return ("unknown-member", Encoding.UTF8.GetBytes(good.Replace("\"format\"", "\"extra\": 1, \"format\"", StringComparison.Ordinal)));
        yield return ("bad-hex", Encoding.UTF8.GetBytes(good.Replace(ake, "zz", StringComparison.Ordinal)));
        yield return ("not-object", "[1, 2, {\"a\": null}]"u8.ToArray());
        yield return ("numbers", "{\"format\": 1, \"fleet_id\": true, \"keys\": {}}"u8.ToArray());
    }
}
