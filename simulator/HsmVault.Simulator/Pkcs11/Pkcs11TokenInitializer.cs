using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// Initialises a token in a free slot (C_InitToken, then C_InitPIN for the user PIN) through the
/// process's shared PKCS#11 library, so a token can be created after the library is loaded.
/// For SoftHSM2 this is what <c>softhsm2-util --init-token --free</c> does.
/// </summary>
public static class Pkcs11TokenInitializer
{
    public static void InitializeFreeSlot(string libraryPath, string tokenLabel, string securityOfficerPin, string userPin)
    {
        ArgumentException.ThrowIfNullOrEmpty(libraryPath);
        ArgumentException.ThrowIfNullOrEmpty(tokenLabel);
        ArgumentException.ThrowIfNullOrEmpty(securityOfficerPin);
        ArgumentException.ThrowIfNullOrEmpty(userPin);
        if (tokenLabel.Length > 32)
        {
            throw new ArgumentException("A PKCS#11 token label is at most 32 characters.", nameof(tokenLabel));
        }

        Pkcs11Module module = Pkcs11Module.Acquire(libraryPath);
        try
        {
            List<ISlot> slots = module.Library.GetSlotList(SlotsType.WithTokenPresent);
            if (slots.Any(slot => slot.GetTokenInfo() is { TokenFlags.TokenInitialized: true } info && info.Label.TrimEnd(' ', '\0') == tokenLabel))
            {
                throw new HsmConfigurationException($"A token labelled '{tokenLabel}' already exists in '{module.Path}'.");
            }

            ISlot free = slots.FirstOrDefault(slot => !slot.GetTokenInfo().TokenFlags.TokenInitialized)
                ?? throw new HsmConfigurationException($"'{module.Path}' has no free slot with an uninitialised token.");

            // Said before C_InitToken, naming the PIN and the range but never the PIN itself: a token
            // refusing it halfway (SO PIN set, user PIN refused) would leave a token no one can use.
            ITokenInfo token = free.GetTokenInfo();
            RequirePinLength("security officer PIN", securityOfficerPin, token);
            RequirePinLength("user PIN", userPin, token);
            free.InitToken(securityOfficerPin, tokenLabel);
            using ISession session = free.OpenSession(SessionType.ReadWrite);
            session.Login(CKU.CKU_SO, securityOfficerPin);
            session.InitPin(userPin);
            session.Logout();
        }
        finally
        {
            module.Release();
        }
    }

    private static void RequirePinLength(string name, string pin, ITokenInfo token)
    {
        ulong length = (ulong)System.Text.Encoding.UTF8.GetByteCount(pin);
        if (length < token.MinPinLen || (token.MaxPinLen != 0 && length > token.MaxPinLen))
        {
            throw new HsmConfigurationException($"The {name} is {length} bytes; this token accepts {token.MinPinLen} to {token.MaxPinLen}.");
        }
    }
}
