using System.Text;

namespace HsmVault.Operator;

/// <summary>Which PKCS#11 token and key the operator signs with, and where the user PIN comes from (a file or an environment variable; never an argument).</summary>
/// <param name="LibraryPath">The PKCS#11 module, e.g. /usr/lib/softhsm/libsofthsm2.so.</param>
/// <param name="TokenLabel">The token's label.</param>
/// <param name="KeyLabel">CKA_LABEL of the operator key pair.</param>
/// <param name="PinFile">A file holding the user PIN, or null to read <paramref name="PinVariable"/>.</param>
/// <param name="PinVariable">The environment variable holding the user PIN when no file is given.</param>
public sealed record OperatorTokenOptions(string LibraryPath, string TokenLabel, string KeyLabel, string? PinFile, string PinVariable = OperatorTokenOptions.DefaultPinVariable)
{
    public const string DefaultPinVariable = "HSMVAULT_OPERATOR_PIN";

    public const string DefaultKeyLabel = "hsmvault-operator";

    public const string DefaultLibrary = "/usr/lib/softhsm/libsofthsm2.so";

    /// <summary>The PIN as UTF-8 bytes; the caller zeroes them.</summary>
    internal byte[] ResolvePin()
    {
        string? pin;
        if (PinFile is not null)
        {
            try
            {
                pin = File.ReadAllText(PinFile).TrimEnd('\r', '\n');
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new OperatorTokenException($"the PIN file '{PinFile}' cannot be read ({ex.GetType().Name})", ex);
            }
        }
        else
        {
            pin = Environment.GetEnvironmentVariable(PinVariable)
                ?? throw new OperatorTokenException($"no PIN: give --pin-file or set ${PinVariable}");
        }

        return pin.Length == 0 ? throw new OperatorTokenException("the PIN is empty") : Encoding.UTF8.GetBytes(pin);
    }
}
