using System.Reflection;
using System.Runtime.CompilerServices;
using Google.Protobuf;
using HsmVault.Fuzz.Support;
using HsmVault.Host.Listener;
using HsmVault.Host.Pipeline;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// What the host does with a client connection's bytes before anything reaches the enclave, as
/// ClientListener.ServeFramesAsync does it: the listener's frame reader (ClientFrameReader, with
/// its 16 KiB default maximum) over a fragmenting stream, the ClientRequest parse, and
/// ClientRequestCheck.UserIdOf. Input: a chunk-size byte, then the connection's bytes.
/// </summary>
public sealed class HostRequestTarget : FuzzTarget
{
    private const int MaxFrames = 64;
    private const int MaxFrameBytes = 16 * 1024;
    private const int MaxUserIdBytes = 256;

    private static readonly Type ReaderType = typeof(ClientListener).Assembly.GetType("HsmVault.Host.Listener.ClientFrameReader", throwOnError: true)!;
    private static readonly ConstructorInfo ReaderConstructor = ReaderType.GetConstructor([typeof(Stream), typeof(int), typeof(TimeSpan), typeof(TimeSpan)])!;
    private static readonly MethodInfo ReadMethod = ReaderType.GetMethod("ReadAsync", [typeof(CancellationToken), typeof(CancellationToken)])!;

    public override string Name => "host-request";

    public override long AllocationLimitBytes => 4L << 20;

    public override string Feeds => "the host listener's ClientFrameReader, ClientRequest parse and ClientRequestCheck.UserIdOf, frame after frame";

    public override IReadOnlyList<string> InstrumentedAssemblies { get; } = ["HsmVault.Host", "HsmVault.Protocol", "Google.Protobuf"];

    public override string Run(ReadOnlySpan<byte> input)
    {
        var fields = new FuzzInput(input);
        int chunk = fields.Byte() switch { 0 => int.MaxValue, var b => b };
        using var stream = new ChunkedStream(fields.TakeRest().ToArray(), chunk);
        object reader = ReaderConstructor.Invoke([stream, MaxFrameBytes, TimeSpan.FromSeconds(60), TimeSpan.FromSeconds(10)]);
        string last = "closed";
        for (int frame = 0; frame < MaxFrames; frame++)
        {
            var task = (Task)ReadMethod.Invoke(reader, [CancellationToken.None, CancellationToken.None])!;
            task.GetAwaiter().GetResult();
            var result = (ITuple)task.GetType().GetProperty("Result")!.GetValue(task)!;
            string outcome = result[0]!.ToString()!;
            byte[]? payload = (byte[]?)result[1];
            switch (outcome)
            {
                case "Closed":
                    return last;
                case "TooLarge" or "Incomplete" or "Idle":
                    // The listener answers TOO_LARGE or BAD_REQUEST and closes the connection.
                    return $"read:{outcome}";
                case "Frame":
                    break;
                default:
                    throw new FuzzFindingException($"the frame reader returned an unknown outcome {outcome}");
            }

            if (payload is null || payload.Length > MaxFrameBytes)
            {
                throw new FuzzFindingException($"a frame outcome came with {(payload is null ? "no payload" : $"{payload.Length} bytes")}");
            }

            ClientRequest request;
            try
            {
                request = ClientRequest.Parser.ParseFrom(payload);
            }
            catch (InvalidProtocolBufferException)
            {
                last = "frame:BadRequest";
                continue;
            }

            (ByteString? userId, ClientResponse? error) = ClientRequestCheck.UserIdOf(request, MaxUserIdBytes);
            if (error is not null)
            {
                if (userId is not null || error.ResultCase != ClientResponse.ResultOneofCase.Error || error.RequestId != request.RequestId)
                {
                    throw new FuzzFindingException("ClientRequestCheck returned an error that is not a typed Error for this request");
                }

                last = $"check:{error.Error.Code}";
                continue;
            }

            if (userId is null || userId.IsEmpty || userId.Length > MaxUserIdBytes || request.EncapsulatedKey.Length != ClientRequestCheck.EncapsulatedKeyBytes || request.SealedRequest.IsEmpty)
            {
                throw new FuzzFindingException("ClientRequestCheck passed a request it should refuse");
            }

            last = "check:ok";
        }

        return last;
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        var codec = new FrameCodec();
        var good = new ClientRequest { RequestId = 3, UserId = ByteString.CopyFromUtf8("alice"), EncapsulatedKey = ByteString.CopyFrom(new byte[65]), SealedRequest = ByteString.CopyFrom(new byte[40]) };
        var noUser = good.Clone();
        noUser.UserId = ByteString.Empty;
        var longUser = good.Clone();
        longUser.UserId = ByteString.CopyFrom(new byte[300]);
        var shortKey = good.Clone();
        shortKey.EncapsulatedKey = ByteString.CopyFrom(new byte[33]);
        var noSealed = good.Clone();
        noSealed.SealedRequest = ByteString.Empty;
        yield return ("good", [0, .. codec.Encode(good)]);
        yield return ("good-twice-trickle", [1, .. codec.Encode(good), .. codec.Encode(good)]);
        yield return ("checks", [0, .. codec.Encode(noUser), .. codec.Encode(longUser), .. codec.Encode(shortKey), .. codec.Encode(noSealed)]);
        yield return ("not-protobuf-then-good", [7, 0, 0, 0, 2, 0xFF, 0xFF, .. codec.Encode(good)]);
        yield return ("too-large", [0, 0, 0, 0x40, 0x01]);
        yield return ("incomplete", [0, 0, 0, 0, 10, 1, 2]);
    }
}
