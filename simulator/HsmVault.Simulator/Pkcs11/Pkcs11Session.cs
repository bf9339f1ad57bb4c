using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// The one logged-in read-write session the services use, reopened when the token loses it.
/// A real HSM drops sessions on a network blip, a partition restart or an HA failover
/// (CKR_SESSION_HANDLE_INVALID, CKR_DEVICE_REMOVED, ...); without this every later call would fail
/// until the process restarts. <see cref="Run{T}"/> reopens the session on the token found again by
/// label (a failover may move it to another slot), logs in again, lets the owner find its keys again
/// (handles may change with the session) and retries the call once. Not thread-safe: the owner
/// serialises calls.
/// </summary>
internal sealed class Pkcs11Session : IDisposable
{
    private readonly Pkcs11Module _module;
    private readonly string _tokenLabel;
    private readonly Action<ISession> _logIn;
    private readonly Action<string>? _reopened;
    private readonly Pkcs11Hooks? _hooks;
    private ISession _session;
    private bool _reopening;

    // Set while a reopen has not completed (token away, login refused, keys not found again): the
    // owner's key handles may belong to the lost session, so no call may run until a reopen succeeds.
    private bool _broken;
    private bool _disposed;

    private Pkcs11Session(Pkcs11Module module, string tokenLabel, Action<ISession> logIn, Action<string>? reopened, Pkcs11Hooks? hooks, ISlot slot, ISession session)
    {
        _module = module;
        _tokenLabel = tokenLabel;
        _logIn = logIn;
        _reopened = reopened;
        _hooks = hooks;
        Slot = slot;
        _session = session;
    }

    /// <summary>The slot of the token as last found.</summary>
    internal ISlot Slot { get; private set; }

    /// <summary>How many times the session was reopened after a loss.</summary>
    internal int Reopens { get; private set; }

    /// <summary>Runs after a reopen and login, before the retry: the owner finds its key handles again.</summary>
    internal Action? AfterReopen { get; set; }

    /// <summary>
    /// After this many calls the library is finalised and initialised again, and the session reopened
    /// (0: never). SoftHSM2 keeps every object it destroyed (each derived key, each replaced NVRAM
    /// object) until C_Finalize, so without this its memory grows with every operation.
    /// </summary>
    internal long RecycleAfterCalls { get; set; }

    /// <summary>How many times the library was finalised and initialised again.</summary>
    internal int Recycles { get; private set; }

    private long _callsSinceRecycle;

    /// <summary>
    /// Finds the token by label, opens a read-write session and logs in with <paramref name="logIn"/>;
    /// <paramref name="reopened"/> hears of each later reopen.
    /// </summary>
    internal static Pkcs11Session Open(Pkcs11Module module, string tokenLabel, Action<ISession> logIn, Action<string>? reopened, Pkcs11Hooks? hooks)
    {
        ISlot slot = module.FindSlotByTokenLabel(tokenLabel);
        ISession session = slot.OpenSession(SessionType.ReadWrite);
        try
        {
            logIn(session);
        }
        catch
        {
            TryClose(session);
            throw;
        }

        return new Pkcs11Session(module, tokenLabel, logIn, reopened, hooks, slot, session);
    }

    /// <summary>Return values after which the session (or its login) is gone but a new one may work.</summary>
    internal static bool IsSessionLoss(CKR rv) =>
        rv is CKR.CKR_SESSION_HANDLE_INVALID or CKR.CKR_SESSION_CLOSED or CKR.CKR_DEVICE_REMOVED
            or CKR.CKR_TOKEN_NOT_PRESENT or CKR.CKR_USER_NOT_LOGGED_IN;

    /// <summary>Return values that say the device, not the request, failed.</summary>
    internal static bool IsDeviceFailure(CKR rv) =>
        rv is CKR.CKR_DEVICE_ERROR or CKR.CKR_DEVICE_MEMORY or CKR.CKR_CRYPTOKI_NOT_INITIALIZED || IsSessionLoss(rv);

    internal void Run(string operation, Action<ISession> call) =>
        Run(operation, session =>
        {
            call(session);
            return true;
        });

    /// <summary>
    /// Runs <paramref name="call"/> on the session. A session loss reopens the session and retries once;
    /// a loss or device failure that persists throws <see cref="HsmUnavailableException"/> naming
    /// <paramref name="operation"/>. Other PKCS#11 errors reach the caller unchanged.
    /// </summary>
    internal T Run<T>(string operation, Func<ISession, T> call)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_broken && !_reopening)
        {
            Reopen(operation, CKR.CKR_SESSION_HANDLE_INVALID);
        }

        _callsSinceRecycle++;
        try
        {
            return Invoke(operation, call);
        }
        catch (Pkcs11Exception ex) when (IsSessionLoss(ex.RV) && !_reopening)
        {
            Reopen(operation, ex.RV);
            try
            {
                return Invoke(operation, call);
            }
            catch (Pkcs11Exception again) when (IsDeviceFailure(again.RV))
            {
                throw new HsmUnavailableException($"{operation} failed with {again.RV} on token '{_tokenLabel}' again after the session was reopened.", again);
            }
        }
        catch (Pkcs11Exception ex) when (IsDeviceFailure(ex.RV))
        {
            throw new HsmUnavailableException($"{operation} failed with {ex.RV} on token '{_tokenLabel}'.", ex);
        }
    }

    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;

        // No C_Logout: login state is shared by every session of this process on the token.
        TryClose(_session);
    }

    private static void TryClose(ISession session)
    {
        try
        {
            session.Dispose();
        }
        catch (Pkcs11Exception)
        {
            // Already closed by the token (that is usually why we are here); nothing left to release.
        }
    }

    private T Invoke<T>(string operation, Func<ISession, T> call)
    {
        _hooks?.ThrowIfFaultArmed(operation);
        T result = call(_session);
        _hooks?.ThrowIfFaultArmedAfterCall(operation);
        return result;
    }

    /// <summary>
    /// Recycles the library when <see cref="RecycleAfterCalls"/> calls have run since the last time. The
    /// owner calls it only where it holds no object handle across the call: after C_Finalize a handle
    /// number may name another object, so handles must all be found again (<see cref="AfterReopen"/>).
    /// </summary>
    internal void RecycleIfDue(string operation)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (RecycleAfterCalls > 0 && !_reopening && !_broken && _callsSinceRecycle >= RecycleAfterCalls)
        {
            Recycle(operation);
        }
    }

    // The old session and every handle go with C_Finalize; the reopen finds them again.
    private void Recycle(string operation)
    {
        _callsSinceRecycle = 0;
        if (!_module.HasSingleUser)
        {
            // Another user of this process holds the library: finalising it would pull its sessions away.
            return;
        }

        _reopening = true;
        _broken = true;
        try
        {
            TryClose(_session);
            if (!_module.TryReinitialize())
            {
                throw new HsmUnavailableException($"{operation}: the PKCS#11 library gained another user while it was being recycled.");
            }

            OpenAndLogIn();
            _broken = false;
            Recycles++;
            _reopened?.Invoke($"recycled the PKCS#11 library after {RecycleAfterCalls} calls (SoftHSM2 frees destroyed objects only at C_Finalize); session on token '{_tokenLabel}' reopened (recycle {Recycles}).");
        }
        catch (Exception ex) when (ex is Pkcs11Exception or HsmConfigurationException)
        {
            throw new HsmUnavailableException($"{operation}: the PKCS#11 library was recycled but the session on token '{_tokenLabel}' could not be reopened: {ex.Message}", ex);
        }
        finally
        {
            _reopening = false;
        }
    }

    private void OpenAndLogIn()
    {
        ISlot slot = _module.FindSlotByTokenLabel(_tokenLabel);
        ISession session = slot.OpenSession(SessionType.ReadWrite);
        _session = session;
        Slot = slot;
        _logIn(session);
        AfterReopen?.Invoke();
    }

    private void Reopen(string operation, CKR cause)
    {
        _reopening = true;
        _broken = true;
        try
        {
            TryClose(_session);
            OpenAndLogIn();
            _broken = false;
            Reopens++;
            _reopened?.Invoke($"{operation} lost its session on token '{_tokenLabel}' ({cause}); reopened and logged in again (reopen {Reopens}).");
        }
        catch (Exception ex) when (ex is Pkcs11Exception or HsmConfigurationException)
        {
            throw new HsmUnavailableException(
                $"{operation} lost its session on token '{_tokenLabel}' ({cause}) and it could not be reopened: {ex.Message}", ex);
        }
        finally
        {
            _reopening = false;
        }
    }
}
