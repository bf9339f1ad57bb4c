using System.Buffers.Binary;
using Google.Protobuf;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave.Tests.Protocol;

[TestClass]
public sealed class FrameCodecTests
{
    private static ClientRequest SampleRequest() => new()
    {
        RequestId = 42,
        UserId = ByteString.CopyFromUtf8("alice"),
        EncapsulatedKey = ByteString.CopyFrom(new byte[65]),
        SealedRequest = ByteString.CopyFrom(new byte[120]),
    };

    [TestMethod]
    public async Task A_written_frame_reads_back_as_the_same_message()
    {
        var codec = new FrameCodec();
        using var stream = new MemoryStream();
        await codec.WriteAsync(stream, SampleRequest());
        await codec.WriteAsync(stream, new ClientRequest { RequestId = 7 });
        stream.Position = 0;

        Assert.AreEqual(SampleRequest(), await codec.ReadAsync(stream, ClientRequest.Parser));
        Assert.AreEqual(new ClientRequest { RequestId = 7 }, await codec.ReadAsync(stream, ClientRequest.Parser));
        Assert.IsNull(await codec.ReadAsync(stream, ClientRequest.Parser), "a clean end of stream reads as null");
    }

    [TestMethod]
    public void The_prefix_is_the_big_endian_payload_length()
    {
        byte[] frame = new FrameCodec().Encode(SampleRequest());
        Assert.AreEqual((uint)(frame.Length - 4), BinaryPrimitives.ReadUInt32BigEndian(frame));
        CollectionAssert.AreEqual(SampleRequest().ToByteArray(), frame[4..]);
    }

    [TestMethod]
    public async Task A_stream_ending_inside_the_prefix_is_truncated()
    {
        var error = await Assert.ThrowsExactlyAsync<FrameFormatException>(
            async () => await new FrameCodec().ReadPayloadAsync(new MemoryStream([0, 0])));
        Assert.AreEqual(FrameFormatError.Truncated, error.Error);
        StringAssert.Contains(error.Message, "prefix");
    }

    [TestMethod]
    public async Task A_stream_ending_inside_the_payload_is_truncated()
    {
        byte[] frame = new FrameCodec().Encode(SampleRequest());
        var error = await Assert.ThrowsExactlyAsync<FrameFormatException>(
            async () => await new FrameCodec().ReadPayloadAsync(new MemoryStream(frame[..^1])));
        Assert.AreEqual(FrameFormatError.Truncated, error.Error);
        StringAssert.Contains(error.Message, "payload");
    }

    [TestMethod]
    public async Task An_announced_length_above_the_maximum_is_refused_before_reading_it()
    {
        byte[] prefix = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(prefix, uint.MaxValue);
        var error = await Assert.ThrowsExactlyAsync<FrameFormatException>(
            async () => await new FrameCodec(1024).ReadPayloadAsync(new MemoryStream(prefix)));
        Assert.AreEqual(FrameFormatError.TooLarge, error.Error);
    }

    [TestMethod]
    public void Writing_a_message_above_the_maximum_is_refused()
    {
        var large = new ClientRequest { SealedRequest = ByteString.CopyFrom(new byte[200]) };
        var error = Assert.ThrowsExactly<FrameFormatException>(() => new FrameCodec(100).Encode(large));
        Assert.AreEqual(FrameFormatError.TooLarge, error.Error);
    }

    [TestMethod]
    public async Task A_payload_that_is_not_protobuf_is_malformed()
    {
        byte[] frame = [0, 0, 0, 3, 0xFF, 0xFF, 0xFF];
        var error = await Assert.ThrowsExactlyAsync<FrameFormatException>(
            async () => await new FrameCodec().ReadAsync(new MemoryStream(frame), ClientRequest.Parser));
        Assert.AreEqual(FrameFormatError.Malformed, error.Error);
        StringAssert.Contains(error.Message, nameof(ClientRequest));
    }

    [TestMethod]
    public async Task A_stream_delivering_one_byte_at_a_time_still_reads_whole_frames()
    {
        byte[] frame = new FrameCodec().Encode(SampleRequest());
        using var stream = new TrickleStream(frame);
        Assert.AreEqual(SampleRequest(), await new FrameCodec().ReadAsync(stream, ClientRequest.Parser));
    }

    private sealed class TrickleStream(byte[] data) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(1, buffer.Length)], cancellationToken);
    }
}
