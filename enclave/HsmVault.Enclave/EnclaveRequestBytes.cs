using Google.Protobuf;
using HsmVault.Protocol.V1;

namespace HsmVault.Enclave;

/// <summary>The byte entry point every enclave shares: refuse oversized input, parse, handle, encode; never throw.</summary>
internal static class EnclaveRequestBytes
{
    public static byte[] Handle(ReadOnlySpan<byte> request, int maxRequestBytes, Func<EnclaveRequest, EnclaveResponse> handle)
    {
        if (request.Length > maxRequestBytes)
        {
            return Error(EnclaveErrorCode.RequestTooLarge, $"request: {request.Length} bytes, at most {maxRequestBytes}");
        }

        EnclaveRequest parsed;
        try
        {
            parsed = EnclaveRequest.Parser.ParseFrom(request);
        }
        catch (Exception ex) when (ex is InvalidProtocolBufferException or ArgumentException or InvalidOperationException)
        {
            return Error(EnclaveErrorCode.MalformedRequest, $"request: not a valid EnclaveRequest ({ex.Message})");
        }

        return handle(parsed).ToByteArray();
    }

    private static byte[] Error(EnclaveErrorCode code, string message) =>
        new EnclaveResponse { Error = new EnclaveError { Code = code, Message = message } }.ToByteArray();
}
