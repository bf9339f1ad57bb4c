using System.Text;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// Where the token's user PIN comes from: a literal (tests), an environment variable or a file
/// (deployments). The PIN is resolved only when a session logs in and is never shown by <see cref="ToString"/>.
/// </summary>
public sealed class Pkcs11PinSource
{
    private enum Kind
    {
        Literal,
        EnvironmentVariable,
        File,
    }

    private readonly Kind _kind;
    private readonly string _value;

    private Pkcs11PinSource(Kind kind, string value)
    {
        _kind = kind;
        _value = value;
    }

    /// <summary>A PIN given directly; meant for tests and throw-away tokens.</summary>
    public static Pkcs11PinSource Literal(string pin)
    {
        ArgumentException.ThrowIfNullOrEmpty(pin);
        return new Pkcs11PinSource(Kind.Literal, pin);
    }

    /// <summary>A PIN read from the named environment variable when the session logs in.</summary>
    public static Pkcs11PinSource EnvironmentVariable(string variableName)
    {
        ArgumentException.ThrowIfNullOrEmpty(variableName);
        return new Pkcs11PinSource(Kind.EnvironmentVariable, variableName);
    }

    /// <summary>A PIN read from a file (one line; a trailing newline is ignored) when the session logs in.</summary>
    public static Pkcs11PinSource File(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new Pkcs11PinSource(Kind.File, path);
    }

    /// <summary>The PIN as UTF-8 bytes; the caller zeroes them after login.</summary>
    internal byte[] Resolve()
    {
        string pin = _kind switch
        {
            Kind.Literal => _value,
            Kind.EnvironmentVariable => Environment.GetEnvironmentVariable(_value)
                ?? throw new HsmConfigurationException($"The PKCS#11 PIN environment variable '{_value}' is not set."),
            Kind.File => ReadPinFile(_value),
            _ => throw new InvalidOperationException("Unknown PIN source kind."),
        };
        if (pin.Length == 0)
        {
            throw new HsmConfigurationException($"The PKCS#11 PIN from {this} is empty.");
        }

        return Encoding.UTF8.GetBytes(pin);
    }

    public override string ToString() => _kind switch
    {
        Kind.Literal => "a literal PIN",
        Kind.EnvironmentVariable => $"environment variable '{_value}'",
        _ => $"file '{_value}'",
    };

    private static string ReadPinFile(string path)
    {
        try
        {
            return System.IO.File.ReadAllText(path).TrimEnd('\r', '\n');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new HsmConfigurationException($"The PKCS#11 PIN file '{path}' cannot be read: {ex.GetType().Name}.", ex);
        }
    }
}
