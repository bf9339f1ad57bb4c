using HsmVault.Simulator.Pkcs11;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;
using Net.Pkcs11Interop.HighLevelAPI.Factories;

namespace HsmVault.Simulator.Tests;

/// <summary>
/// A second, independent logged-in session on a sandbox token, for looking at (and tampering with)
/// the objects the services keep there the way an operator holding the PIN could.
/// </summary>
internal sealed class TokenInspector : IDisposable
{
    private readonly Pkcs11Module _module;
    private readonly ISlot _slot;
    private readonly ISession _session;

    internal TokenInspector(Pkcs11Options options)
    {
        _module = Pkcs11Module.Acquire(options.LibraryPath);
        _slot = _module.FindSlotByTokenLabel(options.TokenLabel);
        _session = _slot.OpenSession(SessionType.ReadWrite);
        try
        {
            _session.Login(CKU.CKU_USER, SoftHsmSandbox.PinOf(options));
        }
        catch (Pkcs11Exception ex) when (ex.RV == CKR.CKR_USER_ALREADY_LOGGED_IN)
        {
        }
    }

    internal ISession Session => _session;

    internal ISlot Slot => _slot;

    internal IObjectAttributeFactory Attributes => _module.Factories.ObjectAttributeFactory;

    internal IMechanismFactory Mechanisms => _module.Factories.MechanismFactory;

    internal IMechanismParamsFactory MechanismParams => _module.Factories.MechanismParamsFactory;

    internal List<IObjectHandle> Find(CKO objectClass, string label) =>
        _session.FindAllObjects([Attributes.Create(CKA.CKA_CLASS, objectClass), Attributes.Create(CKA.CKA_LABEL, label)]);

    internal IObjectHandle FindSingle(CKO objectClass, string label)
    {
        List<IObjectHandle> found = Find(objectClass, label);
        Assert.HasCount(1, found, $"objects of class {objectClass} labelled {label}");
        return found[0];
    }

    internal IObjectAttribute Read(IObjectHandle handle, CKA attribute) => _session.GetAttributeValue(handle, [attribute])[0];

    /// <summary>The labels of every object on the token (public and private) that start with <paramref name="prefix"/>.</summary>
    internal List<string> LabelsStartingWith(string prefix) =>
        [.. _session.FindAllObjects([])
            .Select(handle => Read(handle, CKA.CKA_LABEL).GetValueAsString() ?? string.Empty)
            .Where(label => label.StartsWith(prefix, StringComparison.Ordinal))];

    /// <summary>
    /// C_CloseAllSessions on the token's slot: every session of this process there is gone (this
    /// inspector's too), and with the last one the login, as after an HSM restart or failover.
    /// </summary>
    internal void CloseAllSessionsOfThisProcess() => _slot.CloseAllSessions();

    /// <summary>
    /// The raw return value of C_GetAttributeValue for one attribute, through the low-level API on
    /// the already-initialised library (64-bit CK_ULONG, as on Linux x64).
    /// </summary>
    internal CKR GetAttributeReturnValue(IObjectHandle handle, CKA attribute)
    {
        using var raw = new Net.Pkcs11Interop.LowLevelAPI80.Pkcs11Library(_module.Path);
        Net.Pkcs11Interop.LowLevelAPI80.CK_ATTRIBUTE[] template = [Net.Pkcs11Interop.LowLevelAPI80.CkaUtils.CreateAttribute(attribute)];
        return raw.C_GetAttributeValue(_session.SessionId, handle.ObjectId, template, 1);
    }

    public void Dispose()
    {
        // No C_Logout: that would log out the services' session on the same token too.
        try
        {
            _session.Dispose();
        }
        catch (Pkcs11Exception ex) when (ex.RV == CKR.CKR_SESSION_HANDLE_INVALID)
        {
            // Closed by CloseAllSessionsOfThisProcess.
        }

        _module.Release();
    }
}
