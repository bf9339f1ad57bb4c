using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using HsmVault.Protocol.Fleet;
using HsmVault.Transparency;
using HsmVault.Transparency.Epochs;

namespace HsmVault.Witness.Tests;

/// <summary>The operator's calls to a witness's HTTP API (in this process or another), signed with a software key.</summary>
internal sealed class WitnessHttp(HttpClient http, ECDsa operatorKey)
{
    public byte[] SignAppend(string @namespace, long epoch, FleetKeySet fleetKeys) =>
        operatorKey.SignData(OperatorKey.AppendRequestMessage(new EpochStatement(@namespace, epoch, fleetKeys.Digest)), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    public byte[] CounterSign(byte[] witnessSignature) =>
        operatorKey.SignData(OperatorKey.CounterSignatureMessage(witnessSignature), HashAlgorithmName.SHA256, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);

    /// <summary>POSTs an append; returns the status and body.</summary>
    public async Task<(HttpStatusCode Status, string Body)> PostAppendAsync(string @namespace, long epoch, FleetKeySet fleetKeys, byte[]? authorization = null)
    {
        string body = Json.Write(writer =>
        {
            writer.WriteStartObject();
            writer.WriteNumber("epoch", epoch);
            writer.WritePropertyName("fleet_keys");
            using (var file = JsonDocument.Parse(fleetKeys.ToCanonicalJson()))
            {
                file.RootElement.WriteTo(writer);
            }

            writer.WriteString("authorization", Convert.ToBase64String(authorization ?? SignAppend(@namespace, epoch, fleetKeys)));
            writer.WriteEndObject();
        });
        using HttpResponseMessage response = await http.PostAsync(LogPaths.Namespace(@namespace) + "/append", new StringContent(body, Encoding.UTF8, "application/json"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>POSTs a counter-signature of an entry.</summary>
    public async Task<(HttpStatusCode Status, string Body)> PostCounterSignatureAsync(string @namespace, long index, byte[] counterSignature)
    {
        using HttpResponseMessage response = await http.PostAsync($"{LogPaths.Entry(@namespace, index)}/counter-signature", new StringContent(Convert.ToBase64String(counterSignature), Encoding.UTF8, "text/plain"));
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>Appends and counter-signs an epoch as the operator would; returns the counter-signed entry.</summary>
    public async Task<WitnessLogEntry> PublishAsync(string @namespace, long epoch, FleetKeySet fleetKeys, bool counterSign = true)
    {
        (HttpStatusCode status, string body) = await PostAppendAsync(@namespace, epoch, fleetKeys);
        Assert.AreEqual(HttpStatusCode.Created, status, body);
        using JsonDocument answer = JsonDocument.Parse(body);
        WitnessLogEntry entry = WitnessLogEntry.FromJson(answer.RootElement.GetProperty("entry"), "entry");
        if (!counterSign)
        {
            return entry;
        }

        (HttpStatusCode signed, string signedBody) = await PostCounterSignatureAsync(@namespace, entry.Index, CounterSign(entry.WitnessSignature));
        Assert.AreEqual(HttpStatusCode.OK, signed, signedBody);
        return WitnessLogEntry.Parse(signedBody);
    }

    public async Task<string> GetAsync(string path)
    {
        using HttpResponseMessage response = await http.GetAsync(path);
        string body = await response.Content.ReadAsStringAsync();
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, $"{path}: {body}");
        return body;
    }

}
