using System.Net.Sockets;
using Google.Protobuf;
using HsmVault.Protocol.Framing;
using HsmVault.Protocol.V1;

namespace HsmVault.Simulator.Tests.Bridge;

/// <summary>A raw client connection to a bridge: sends well-formed frames or arbitrary bytes, reads frames back.</summary>
internal sealed class BridgeTestConnection : IDisposable
{
    private static readonly TimeSpan ReadTimeout = TimeSpan.FromSeconds(20);
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly FrameCodec _codec = new(FrameCodec.DefaultMaxFrameBytes * 16);

    public BridgeTestConnection(string socketPath)
    {
        _socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _socket.Connect(new UnixDomainSocketEndPoint(socketPath));
        _stream = new NetworkStream(_socket, ownsSocket: true);
    }

    /// <summary>Sends one framed payload and waits for the framed answer.</summary>
    public byte[] Send(byte[] payload)
    {
        _codec.WritePayloadAsync(_stream, payload).AsTask().GetAwaiter().GetResult();
        return ReadPayload() ?? throw new IOException("the bridge closed the connection instead of answering");
    }

    public EnclaveResponse Send(EnclaveRequest request) => EnclaveResponse.Parser.ParseFrom(Send(request.ToByteArray()));

    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        _stream.Write(bytes);
        _stream.Flush();
    }

    /// <summary>Tells the bridge no more bytes are coming (half-close).</summary>
    public void EndWriting() => _socket.Shutdown(SocketShutdown.Send);

    /// <summary>Reads the next frame; null when the bridge closed the connection cleanly.</summary>
    public byte[]? ReadPayload()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        return _codec.ReadPayloadAsync(_stream, timeout.Token).AsTask().GetAwaiter().GetResult();
    }

    /// <summary>True when the bridge has closed the connection (end of stream or reset) within the timeout.</summary>
    public bool IsClosedByPeer()
    {
        using var timeout = new CancellationTokenSource(ReadTimeout);
        byte[] buffer = new byte[1];
        try
        {
            return _stream.ReadAsync(buffer, timeout.Token).AsTask().GetAwaiter().GetResult() == 0;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Reads at most one answer (an error frame, if the bridge sends one), then expects the close.</summary>
    public bool IsClosedByPeerAfterAnyAnswer()
    {
        try
        {
            if (ReadPayload() is null)
            {
                return true;
            }
        }
        catch (IOException)
        {
            return true;
        }

        return IsClosedByPeer();
    }

    public void Dispose() => _stream.Dispose();
}
