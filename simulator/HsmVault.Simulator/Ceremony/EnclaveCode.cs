using System.Reflection;
using System.Security.Cryptography;
using HsmVault.Enclave;
using HsmVault.Protocol.Deployment;

namespace HsmVault.Simulator.Ceremony;

/// <summary>
/// The enclave code this simulator runs: the SHA-256 of the HsmVault.Enclave.dll it loaded (the code
/// hash a deployment manifest states) and of the project assemblies that assembly references
/// (HsmVault.Crypto.dll, HsmVault.Protocol.dll). An HSM signs a manifest only if these are its own, as
/// a real HSM would sign only for the code its firmware measured.
/// </summary>
internal static class EnclaveCode
{
    internal static (byte[] CodeHash, List<DeploymentAssembly> Dependencies) OfThisProcess()
    {
        Assembly enclave = typeof(VaultEnclave).Assembly;
        byte[] codeHash = HashOf(enclave);
        List<DeploymentAssembly> dependencies = [.. enclave.GetReferencedAssemblies()
            .Where(name => name.Name is { } n && n.StartsWith("HsmVault.", StringComparison.Ordinal))
            .Select(Assembly.Load)
            .Select(assembly => new DeploymentAssembly(Path.GetFileName(assembly.Location), HashOf(assembly)))
            .OrderBy(assembly => assembly.Assembly, StringComparer.Ordinal)];
        return (codeHash, dependencies);
    }

    private static byte[] HashOf(Assembly assembly)
    {
        if (string.IsNullOrEmpty(assembly.Location))
        {
            throw new InvalidOperationException($"{assembly.GetName().Name} was not loaded from a file; its code hash cannot be computed.");
        }

        using FileStream file = File.OpenRead(assembly.Location);
        return SHA256.HashData(file);
    }
}
