using System.Buffers.Binary;
using Google.Protobuf;
using HsmVault.Fuzz.Support;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Fuzz.Targets;

/// <summary>
/// The frame codec as every stream reader uses it: frames read one after another from a stream that
/// may fragment, each payload parsed as one of the wire messages; a message that parses is written
/// back and must read back equal. Input: a control byte (maximum frame size, read chunk size, message
/// type), then the stream's bytes.
/// </summary>
public sealed class FrameTarget : FuzzTarget
{
    private const int MaxFrames = 64;

    private static readonly int[] MaxFrameSizes = [64, 1024, FrameCodec.DefaultMaxFrameBytes, 1 << 20];

    private static readonly int[] ChunkSizes = [int.MaxValue, 1, 3, 4096];

    public override string Name => "frame";

    public override string Feeds => "FrameCodec.ReadPayloadAsync / Parse over a fragmenting stream (ClientRequest, ClientResponse, EnclaveRequest, EnclaveResponse), then Encode round trip";

    // A frame may be 1 MiB (the bridge's maximum); the payload buffer and its parse are allowed twice that and more.
    public override long AllocationLimitBytes => 8L << 20;

    public override string Run(ReadOnlySpan<byte> input)
    {
        var fields = new FuzzInput(input);
        byte control = fields.Byte();
        var codec = new FrameCodec(MaxFrameSizes[control & 3]);
        using var stream = new ChunkedStream(fields.TakeRest().ToArray(), ChunkSizes[(control >> 2) & 3]);
        int kind = (control >> 4) & 3;
        string last = "end";
        for (int frame = 0; frame < MaxFrames; frame++)
        {
            byte[]? payload;
            try
            {
                payload = codec.ReadPayloadAsync(stream).AsTask().GetAwaiter().GetResult();
            }
            catch (FrameFormatException ex)
            {
                return $"frame:{ex.Error}";
            }

            if (payload is null)
            {
                return last;
            }

            if (payload.Length > codec.MaxFrameBytes)
            {
                throw new FuzzFindingException($"a payload of {payload.Length} bytes passed a maximum of {codec.MaxFrameBytes}");
            }

            last = kind switch
            {
                0 => RoundTrip(codec, payload, ClientRequest.Parser),
                1 => RoundTrip(codec, payload, ClientResponse.Parser),
                2 => RoundTrip(codec, payload, EnclaveRequest.Parser),
                _ => RoundTrip(codec, payload, EnclaveResponse.Parser),
            };
        }

        return last;
    }

    private static string RoundTrip<T>(FrameCodec codec, byte[] payload, MessageParser<T> parser)
        where T : class, IMessage<T>
    {
        T message;
        try
        {
            message = FrameCodec.Parse<T>(payload, parser);
        }
        catch (FrameFormatException ex)
        {
            return $"payload:{ex.Error}";
        }

        byte[] frame;
        try
        {
            frame = codec.Encode(message);
        }
        catch (FrameFormatException ex) when (ex.Error == FrameFormatError.TooLarge)
        {
            // Re-encoding may be longer than the bytes read (for example default values written out); refusing it is typed.
            return "encode:TooLarge";
        }

        if (BinaryPrimitives.ReadUInt32BigEndian(frame) != frame.Length - 4)
        {
            throw new FuzzFindingException("Encode wrote a prefix that is not the payload length");
        }

        using var back = new MemoryStream(frame);
        T? again = codec.ReadAsync(back, parser).AsTask().GetAwaiter().GetResult();
        if (again is null || !again.Equals(message))
        {
            throw new FuzzFindingException($"a {typeof(T).Name} written by Encode does not read back equal");
        }

        return $"{typeof(T).Name}:ok";
    }

    public override IEnumerable<(string Name, byte[] Data)> Seeds()
    {
        var codec = new FrameCodec(1 << 20);
        var request = new ClientRequest { RequestId = 7, UserId = ByteString.CopyFromUtf8("alice"), EncapsulatedKey = ByteString.CopyFrom(new byte[65]), SealedRequest = ByteString.CopyFrom([1, 2, 3]) };
        var response = new ClientResponse { RequestId = 7, Error = new Error { Code = ErrorCode.BadRequest, Message = "m", Field = "user_id" } };
        var enclaveRequest = new EnclaveRequest { Batch = new Batch { Operations = { new Operation { Tag = 1, Client = request } } } };
        var enclaveResponse = new EnclaveResponse { Error = new EnclaveError { Code = EnclaveErrorCode.MalformedRequest, Message = "x" } };
        yield return ("client-request", [0x02, .. codec.Encode(request)]);
        yield return ("client-request-trickle", [0x06, .. codec.Encode(request), .. codec.Encode(request)]);
        yield return ("client-response", [0x1A, .. codec.Encode(response)]);
        yield return ("enclave-request", [0x23, .. codec.Encode(enclaveRequest)]);
        yield return ("enclave-response", [0x3E, .. codec.Encode(enclaveResponse)]);
        yield return ("too-large", [0x00, 0x00, 0x00, 0x01, 0x00, 0xFF]);
        yield return ("truncated-prefix", [0x02, 0x00, 0x00]);
        yield return ("truncated-payload", [0x02, 0x00, 0x00, 0x00, 0x09, 0x0A]);
        yield return ("empty-frame", [0x02, 0x00, 0x00, 0x00, 0x00]);
    }
}
