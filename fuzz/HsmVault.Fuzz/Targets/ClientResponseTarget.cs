using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Google.Protobuf;
using HsmVault.Client;
using HsmVault.Crypto;
using HsmVault.Crypto.Channel;
using HsmVault.Crypto.Hpke;
using HsmVault.Crypto.Opaque;
using HsmVault.Fuzz.Support;
using HsmVault.Protocol;
using HsmVault.Protocol.Fleet;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// The client SDK against a hostile host: <see cref="VaultClient"/> runs one operation (status,
/// register, recover, delete) through a loopback host that answers each request as the input
/// says: the genuine fleet's answer (a real OPAQUE server, the channel key, a registered user), a
/// sealed answer whose plaintext is fuzzed, the genuine answer with fuzzed bytes XORed into it,
/// raw bytes as the response (after the request's id), or a hang-up when the input has no more
/// answers. The client's work runs on pool threads, so the replay's per-thread allocation figure
/// does not cover it here. Every
/// operation must end in a typed <see cref="VaultOutcome"/>; a recovery may give a key only if it
/// is the registered user's; and no request is sent again after its answer was refused.
/// Input: an operation byte, then per answer a kind byte and a 2-byte-length field.
/// </summary>
public sealed class ClientResponseTarget : FuzzTarget, IDisposable
{
    private const string User = "alice";
    private static readonly byte[] Password = "correct horse battery"u8.ToArray();
    private static readonly byte[] Key = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];
    private static readonly byte[] Context = "HsmVault-v1"u8.ToArray();

    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private SoftwareAkeKey? _ake;
    private P256HpkeKeyPair? _channel;
    private FleetKeySet? _fleetKeys;
    private OpaqueServer? _opaque;
    private byte[] _fakeSeed = [];
    private RegistrationRecord? _record;
    private byte[] _blob = [];
    private Thread? _server;
    private volatile Script? _script;

    public override string Name => "client-response";

    public override string Feeds => "VaultClient (status, register, recover, delete) through a host that answers with genuine, sealed-fuzzed, corrupted or raw responses, over loopback TCP";

    // Only the client: the host side of the harness runs Protocol code on its own thread, whose
    // coverage would vary with scheduling.
    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["HsmVault.Client"];

    public override long AllocationLimitBytes => 8L << 20;

    // An input may rightly wait out the client's 1 s request timeout (a truncated frame, say).
    public override TimeSpan TimeLimit => TimeSpan.FromSeconds(5);

    public override void Prepare()
    {
        if (_server is not null)
        {
            return;
        }

        _ake = SoftwareAkeKey.Derive(SHA256.HashData("HsmVault fuzz client AKE key"u8));
        _channel = P256HpkeKeyPair.Derive(SHA256.HashData("HsmVault fuzz client channel key"u8));
        _fleetKeys = FleetKeySet.Create("fuzz-fleet", _channel.PublicKey, _ake.PublicKey);
        _opaque = new OpaqueServer(new OpaqueConfiguration(Context, IdentityKsf.Instance), _ake, new SoftwareOprfSeed(SHA256.HashData("HsmVault fuzz client OPRF seed"u8)), SystemRandomSource.Instance);
        _fakeSeed = SHA256.HashData("HsmVault fuzz client fake seed"u8);
        _listener.Start();
        _server = new Thread(Serve) { IsBackground = true, Name = "client-response host" };
        _server.Start();

        // The registered user, registered through the genuine fleet by the real client.
        _script = new Script([new Answer(0, []), new Answer(0, [])], keep: true);
        VaultOutcome registered = Operate(1, User).GetAwaiter().GetResult();
        if (registered is not UserRegistered || _record is null)
        {
            throw new InvalidOperationException($"client-response: the set-up registration ended in {registered.Describe()}");
        }
    }

    public override string Run(ReadOnlySpan<byte> input)
    {
        var fields = new FuzzInput(input);
        int operation = fields.Byte() & 3;
        var answers = new List<Answer>();
        while (!fields.IsEmpty && answers.Count < 4)
        {
            byte kind = fields.Byte();
            answers.Add(new Answer(kind & 3, fields.Long().ToArray()));
        }

        var script = new Script(answers, keep: false);
        _script = script;
        VaultOutcome outcome = Operate(operation, operation == 1 ? "bob" : User).GetAwaiter().GetResult();
        if (outcome is KeyRecovered recovered)
        {
            using (recovered)
            {
                if (!recovered.Key.AsSpan().SequenceEqual(Key))
                {
                    throw new FuzzFindingException($"the client recovered a key that is not the registered one: {Convert.ToHexString(recovered.Key)[..16]}");
                }
            }
        }

        if (script.HarnessError is { } harness)
        {
            throw new InvalidOperationException($"client-response harness: {harness.GetType().Name}: {harness.Message}", harness);
        }

        if (script.Requests > answers.Count + 1)
        {
            throw new FuzzFindingException($"the client sent {script.Requests} requests for {answers.Count} answers and a hang-up: a refused request was sent again");
        }

        return $"{Operations[operation]}:{outcome.GetType().Name}";
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        Prepare();
        byte[] Sealed(VaultResponse response) => response.ToByteArray();
        yield return ("status-genuine", new FuzzInputWriter().Byte(0).Byte(0).Long([]).ToArray());
        yield return ("register-genuine", new FuzzInputWriter().Byte(1).Byte(0).Long([]).Byte(0).Long([]).ToArray());
        yield return ("recover-genuine", new FuzzInputWriter().Byte(2).Byte(0).Long([]).Byte(0).Long([]).ToArray());
        yield return ("delete-genuine", new FuzzInputWriter().Byte(3).Byte(0).Long([]).Byte(0).Long([]).ToArray());
        yield return ("recover-wrong-password-answer", new FuzzInputWriter().Byte(2).Byte(1)
            .Long(Sealed(new VaultResponse { Error = new Error { Code = ErrorCode.AuthFailed, Field = "login_finish.ke3", AttemptsLeft = 3 } })).ToArray());
        yield return ("status-sealed-report", new FuzzInputWriter().Byte(0).Byte(1)
            .Long(Sealed(new VaultResponse { Status = new StatusReport { AttemptsLeft = 4, AttemptLimit = 10 } })).ToArray());
        yield return ("status-clear-busy", new FuzzInputWriter().Byte(0).Byte(3)
            .Long(new ClientResponse { Error = new Error { Code = ErrorCode.Busy, Message = "busy" } }.ToByteArray()).ToArray());
        yield return ("recover-corrupted-recovered", new FuzzInputWriter().Byte(2).Byte(0).Long([]).Byte(2).Long([0, 24, 0x01]).ToArray());
        yield return ("register-corrupted-start", new FuzzInputWriter().Byte(1).Byte(2).Long([0, 40, 0x80]).ToArray());
        yield return ("register-hang-up", new FuzzInputWriter().Byte(1).ToArray());
    }

    public void Dispose() => _listener.Stop();

    private static readonly string[] Operations = ["status", "register", "recover", "delete"];

    private async Task<VaultOutcome> Operate(int operation, string user)
    {
        var options = new VaultClientOptions("127.0.0.1", ((IPEndPoint)_listener.LocalEndpoint).Port, _fleetKeys)
        {
            Ksf = IdentityKsf.Instance,
            // Below afl-fuzz's 2 s: a harness that failed to answer ends in Unavailable, not a hang.
            ConnectTimeout = TimeSpan.FromSeconds(1),
            RequestTimeout = TimeSpan.FromSeconds(1),
        };
        await using var client = new VaultClient(options);
        return operation switch
        {
            0 => await client.StatusAsync(user).ConfigureAwait(false),
            1 => await client.RegisterAsync(user, Password, Key).ConfigureAwait(false),
            2 => await client.RecoverAsync(user, Password).ConfigureAwait(false),
            _ => await client.DeleteAsync(user, Password).ConfigureAwait(false),
        };
    }

    // The host: one connection at a time, each request answered from the current script.
    private void Serve()
    {
        var codec = new FrameCodec();
        while (true)
        {
            TcpClient connection;
            try
            {
                connection = _listener.AcceptTcpClient();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException or InvalidOperationException)
            {
                return;
            }

            using (connection)
            {
                try
                {
                    NetworkStream stream = connection.GetStream();
                    while (codec.ReadAsync(stream, ClientRequest.Parser).AsTask().GetAwaiter().GetResult() is { } request)
                    {
                        Script script = _script!;
                        byte[]? frame = script.Next() is { } answer ? Respond(script, request, answer) : null;
                        if (frame is null)
                        {
                            break;
                        }

                        stream.Write(frame);
                    }
                }
                catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException or FrameFormatException or InvalidProtocolBufferException)
                {
                    // The client hung up or sent what the codec refuses: the connection ends.
                }
                catch (Exception ex)
                {
                    // A fault of the harness itself: hang up, and let Run report it on its own thread
                    // (an exception escaping this thread would end the whole fuzzing process).
                    _script?.Fail(ex);
                }
            }
        }
    }

    // The frame to write for `answer`, or null to hang up.
    private byte[]? Respond(Script script, ClientRequest request, Answer answer)
    {
        if (answer.Kind == 3)
        {
            // The fuzzed bytes as the response, after the request's own request_id (field 1): AFL
            // cannot guess the client's random id, and a later field 1 in the bytes still overrides it.
            var id = new ClientResponse { RequestId = request.RequestId }.ToByteArray();
            byte[] raw = new byte[4 + id.Length + answer.Data.Length];
            BinaryPrimitives.WriteInt32BigEndian(raw, id.Length + answer.Data.Length);
            id.CopyTo(raw, 4);
            answer.Data.CopyTo(raw, 4 + id.Length);
            return raw;
        }

        if (!VaultChannel.TryOpenRequest(_channel!, request.UserId.Span, request.EncapsulatedKey.Span, request.SealedRequest.Span, out byte[] plaintext, out ChannelResponder? responder))
        {
            return Frame(new ClientResponse { RequestId = request.RequestId, Error = new Error { Code = ErrorCode.BadRequest, Field = ClientRequest.SealedRequestField, Message = "does not open" } });
        }

        using (responder!)
        {
            byte[] inner = answer.Kind == 1 ? answer.Data : Genuine(script, request.UserId, VaultRequest.Parser.ParseFrom(plaintext)).ToByteArray();
            byte[] frame = Frame(new ClientResponse { RequestId = request.RequestId, SealedResponse = ByteString.CopyFrom(responder!.Seal(inner, SystemRandomSource.Instance)) });
            if (answer.Kind == 2 && answer.Data.Length >= 2)
            {
                // Corrupt the genuine frame: XOR the rest of the field in at the offset it names.
                int offset = BinaryPrimitives.ReadUInt16BigEndian(answer.Data) % frame.Length;
                for (int i = 2; i < answer.Data.Length && offset + i - 2 < frame.Length; i++)
                {
                    frame[offset + i - 2] ^= answer.Data[i];
                }
            }

            return frame;
        }
    }

    // Encoded whatever its size: a frame over the client's limit is the client's to refuse.
    private static byte[] Frame(ClientResponse response) => new FrameCodec(int.MaxValue).Encode(response);

    // What the fleet answers: real OPAQUE against the registered user's record; nothing is stored
    // after set-up, so every input meets the same fleet.
    private VaultResponse Genuine(Script script, ByteString userId, VaultRequest request)
    {
        bool registered = userId.ToStringUtf8() == User && _record is not null;
        switch (request.OperationCase)
        {
            case VaultRequest.OperationOneofCase.RegisterStart:
                return new VaultResponse
                {
                    RegisterStarted = new RegisterStarted
                    {
                        RegistrationResponse = ByteString.CopyFrom(_opaque!.CreateRegistrationResponse(request.RegisterStart.RegistrationRequest.Span, userId.Span)),
                        RegistrationSession = ByteString.CopyFromUtf8("registration"),
                    },
                };
            case VaultRequest.OperationOneofCase.RegisterFinish:
                if (script.Keep)
                {
                    _record = RegistrationRecord.Parse(request.RegisterFinish.RegistrationRecord.Span);
                    _blob = request.RegisterFinish.EncryptedKeyBlob.ToByteArray();
                }

                return new VaultResponse { Registered = new Registered() };
            case VaultRequest.OperationOneofCase.LoginStart:
                RegistrationRecord record = registered ? _record! : RegistrationRecord.CreateFake(HMACSHA256.HashData(_fakeSeed, userId.Span));
                byte[] ke2 = _opaque!.GenerateKE2(request.LoginStart.Ke1.Span, record, userId.Span, _ake!.PublicKey, userId.Span, out ServerLoginState state);
                script.Login?.Dispose();
                script.Login = registered ? state : null;
                return new VaultResponse { LoginStarted = new LoginStarted { Ke2 = ByteString.CopyFrom(ke2), LoginSession = ByteString.CopyFromUtf8("login") } };
            case VaultRequest.OperationOneofCase.LoginFinish when script.Login is { } login:
                byte[] sessionKey;
                try
                {
                    sessionKey = _opaque!.ServerFinish(login, request.LoginFinish.Ke3.Span);
                }
                catch (OpaqueAuthenticationException)
                {
                    return Error(ErrorCode.AuthFailed, "login_finish.ke3", 9);
                }

                return request.LoginFinish.Action == LoginAction.Delete
                    ? new VaultResponse { Deleted = new Deleted() }
                    : new VaultResponse { Recovered = new Recovered { SealedKeyBlob = ByteString.CopyFrom(RecoveredBlobCipher.Seal(sessionKey, userId.Span, _blob)) } };
            case VaultRequest.OperationOneofCase.LoginFinish:
                return Error(ErrorCode.AuthFailed, "login_finish.ke3", 0);
            case VaultRequest.OperationOneofCase.Status:
                return registered
                    ? new VaultResponse { Status = new StatusReport { AttemptsLeft = 10, AttemptLimit = 10 } }
                    : Error(ErrorCode.NotRegistered, "status.user_id", 0);
            default:
                return Error(ErrorCode.BadRequest, "operation", 0);
        }
    }

    private static VaultResponse Error(ErrorCode code, string field, uint attemptsLeft) =>
        new() { Error = new Error { Code = code, Field = field, Message = code.ToString(), AttemptsLeft = attemptsLeft } };

    private sealed record Answer(int Kind, byte[] Data);

    /// <summary>One input's answers, handed out in order, and what the fleet holds for the login in progress.</summary>
    private sealed class Script(List<Answer> answers, bool keep)
    {
        private int _next;

        public bool Keep { get; } = keep;

        public int Requests => Volatile.Read(ref _next);

        public ServerLoginState? Login { get; set; }

        public Exception? HarnessError { get; private set; }

        public void Fail(Exception error) => HarnessError ??= error;

        public Answer? Next()
        {
            int index = Interlocked.Increment(ref _next) - 1;
            return index < answers.Count ? answers[index] : null;
        }
    }
}
