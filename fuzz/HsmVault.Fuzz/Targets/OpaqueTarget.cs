using HsmVault.Crypto.Opaque;
using HsmVault.Fuzz.Support;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// OPAQUE-3DH message parsing on both sides (RFC 9807). Mode byte: 0 registration request
/// (server), 1 KE1 against a real record (server), 2 KE1 against a fake record from a fuzzed seed
/// (server), 3 KE3 (server), 4 a registration record, 5 registration response (client), 6 KE2
/// (client), 7 a serialised server login state. The rest of the input is the message. Typed
/// refusals: ArgumentException (CryptoFormatException names the field) and
/// OpaqueAuthenticationException.
/// </summary>
public sealed class OpaqueTarget : FuzzTarget
{
    private static readonly byte[] Context = "HsmVault-v1"u8.ToArray();
    private static readonly byte[] Password = "correct horse"u8.ToArray();
    private static readonly byte[] Client = "alice"u8.ToArray();
    private static readonly byte[] CredentialId = "credential alice"u8.ToArray();

    private readonly OpaqueConfiguration _configuration = new(Context, IdentityKsf.Instance);
    private SoftwareAkeKey? _akeKey;
    private SoftwareOprfSeed? _oprfSeed;
    private RegistrationRecord? _record;
    private byte[] _serverState = [];

    private byte[] _registrationRequest = [];
    private byte[] _registrationResponse = [];
    private byte[] _recordBytes = [];
    private byte[] _ke1 = [];
    private byte[] _ke2 = [];
    private byte[] _ke3 = [];

    public override string Name => "opaque";

    public override long AllocationLimitBytes => 4L << 20;

    public override string Feeds => "OpaqueServer (registration request, KE1 on real and fake records, KE3), RegistrationRecord.Parse, OpaqueClient (registration response, KE2), ServerLoginState.FromBytes";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["HsmVault.Crypto"];

    public override void Prepare()
    {
        _akeKey = SoftwareAkeKey.Derive("HsmVault fuzz AKE key, 32 bytes!"u8);
        _oprfSeed = new SoftwareOprfSeed("HsmVault fuzz OPRF seed 32 bytes"u8);
        OpaqueServer server = NewServer();

        OpaqueClient client = NewClient();
        _registrationRequest = client.CreateRegistrationRequest(Password, out ClientRegistrationState registration);
        _registrationResponse = server.CreateRegistrationResponse(_registrationRequest, CredentialId);
        _recordBytes = client.FinalizeRegistration(registration, _registrationResponse, _akeKey.PublicKey, Client).Record;
        _record = RegistrationRecord.Parse(_recordBytes);

        OpaqueClient login = NewClient();
        _ke1 = login.GenerateKE1(Password, out ClientLoginState loginState);
        _ke2 = server.GenerateKE2(_ke1, _record, CredentialId, _akeKey.PublicKey, Client, out ServerLoginState state);
        _serverState = state.ToBytes();
        _ke3 = login.GenerateKE3(loginState, _ke2, _akeKey.PublicKey, Client).KE3;
    }

    public override string Run(ReadOnlySpan<byte> input)
    {
        var fields = new FuzzInput(input);
        byte mode = (byte)(fields.Byte() & 7);
        try
        {
            return mode switch
            {
                0 => Check(NewServer().CreateRegistrationResponse(fields.TakeRest(), CredentialId).Length == OpaqueSizes.RegistrationResponse, "registration-response"),
                1 => Check(NewServer().GenerateKE2(fields.TakeRest(), _record!, CredentialId, _akeKey!.PublicKey, Client, out _).Length == OpaqueSizes.KE2, "ke2"),
                2 => FakeKe2(ref fields),
                3 => ServerFinish(fields.TakeRest()),
                4 => ParseRecord(fields.TakeRest()),
                5 => Finalize(fields.TakeRest()),
                6 => ClientFinish(fields.TakeRest()),
                _ => ServerState(fields.TakeRest()),
            };
        }
        catch (OpaqueAuthenticationException)
        {
            return $"{mode}:authentication-failed";
        }
        catch (ArgumentException ex)
        {
            return $"{mode}:{ex.GetType().Name}";
        }
    }

    private string FakeKe2(ref FuzzInput fields)
    {
        RegistrationRecord fake = RegistrationRecord.CreateFake(fields.Short());
        byte[] ke2 = NewServer().GenerateKE2(fields.TakeRest(), fake, CredentialId, _akeKey!.PublicKey, Client, out ServerLoginState state);
        state.Dispose();
        return Check(ke2.Length == OpaqueSizes.KE2, "fake-ke2");
    }

    private string ServerFinish(ReadOnlySpan<byte> ke3)
    {
        using ServerLoginState state = ServerLoginState.FromBytes(_serverState);
        return Check(NewServer().ServerFinish(state, ke3).Length == OpaqueSizes.SessionKey, "server-finish");
    }

    private static string ParseRecord(ReadOnlySpan<byte> bytes)
    {
        RegistrationRecord record = RegistrationRecord.Parse(bytes);
        return Check(record.ToBytes().AsSpan().SequenceEqual(bytes), "record");
    }

    private string Finalize(ReadOnlySpan<byte> response)
    {
        OpaqueClient client = NewClient();
        client.CreateRegistrationRequest(Password, out ClientRegistrationState state);
        return Check(client.FinalizeRegistration(state, response, _akeKey!.PublicKey, Client).Record.Length == OpaqueSizes.RegistrationRecord, "finalize");
    }

    private string ClientFinish(ReadOnlySpan<byte> ke2)
    {
        OpaqueClient client = NewClient();
        client.GenerateKE1(Password, out ClientLoginState state);
        return Check(client.GenerateKE3(state, ke2, _akeKey!.PublicKey, Client).KE3.Length == OpaqueSizes.KE3, "ke3");
    }

    private static string ServerState(ReadOnlySpan<byte> bytes)
    {
        using ServerLoginState state = ServerLoginState.FromBytes(bytes);
        return Check(state.ToBytes().AsSpan().SequenceEqual(bytes), "server-state");
    }

    private static string Check(bool holds, string what) => holds ? $"{what}:ok" : throw new FuzzFindingException($"{what}: the answer has the wrong size or does not round-trip");

    private OpaqueServer NewServer() => new(_configuration, _akeKey!, _oprfSeed!, new SeededRandom(3));

    private OpaqueClient NewClient() => new(_configuration, new SeededRandom(5));

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        Prepare();
        yield return ("registration-request", [0, .. _registrationRequest]);
        yield return ("ke1", [1, .. _ke1]);
        yield return ("fake-ke1", new FuzzInputWriter().Byte(2).Short(new byte[32]).Raw(_ke1).ToArray());
        yield return ("ke3", [3, .. _ke3]);
        yield return ("record", [4, .. _recordBytes]);
        yield return ("registration-response", [5, .. _registrationResponse]);
        yield return ("ke2", [6, .. _ke2]);
        yield return ("server-state", [7, .. _serverState]);
        yield return ("identity-point", [0, 0x00]);
    }
}
