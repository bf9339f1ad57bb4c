using System.Reflection;
using System.Runtime.InteropServices;
using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// A PKCS#11 library loaded into this process. C_Initialize may run only once per process per
/// library, so every user (each token's services, token initialisation, tests) shares one loaded
/// instance; the last <see cref="Release"/> finalises and unloads it.
/// </summary>
internal sealed class Pkcs11Module
{
    private static readonly Lock Registry = new();
    private static readonly Dictionary<string, Pkcs11Module> Loaded = new(StringComparer.Ordinal);
    private static bool s_resolverInstalled;

    private int _references;

    private Pkcs11Module(string path, Pkcs11InteropFactories factories, IPkcs11Library library)
    {
        Path = path;
        Factories = factories;
        Library = library;
    }

    internal string Path { get; }

    internal Pkcs11InteropFactories Factories { get; }

    internal IPkcs11Library Library { get; private set; }

    /// <summary>
    /// Finalises and initialises the library again (C_Finalize, C_Initialize), when only one user holds
    /// it: every session and object handle of that user is then gone, and it must open a new session
    /// and find its objects again. False, with nothing done, when others share the library.
    /// SoftHSM2 frees the objects it destroyed only at C_Finalize (docs/RELIABILITY.md, "Soak").
    /// </summary>
    internal bool TryReinitialize()
    {
        lock (Registry)
        {
            if (_references != 1)
            {
                return false;
            }

            Library.Dispose();
            try
            {
                Library = Factories.Pkcs11LibraryFactory.LoadPkcs11Library(Factories, Path, AppType.MultiThreaded);
            }
            catch (Exception ex) when (ex is Pkcs11Exception or UnmanagedException or DllNotFoundException)
            {
                throw new HsmUnavailableException($"The PKCS#11 library '{Path}' could not be initialised again: {ex.Message}", ex);
            }

            return true;
        }
    }

    /// <summary>Whether exactly one user holds the library now (so <see cref="TryReinitialize"/> would run).</summary>
    internal bool HasSingleUser
    {
        get
        {
            lock (Registry)
            {
                return _references == 1;
            }
        }
    }

    internal static Pkcs11Module Acquire(string libraryPath)
    {
        string path = System.IO.Path.GetFullPath(libraryPath);
        lock (Registry)
        {
            if (!Loaded.TryGetValue(path, out Pkcs11Module? module))
            {
                InstallResolver();
                var factories = new Pkcs11InteropFactories();
                IPkcs11Library library;
                try
                {
                    library = factories.Pkcs11LibraryFactory.LoadPkcs11Library(factories, path, AppType.MultiThreaded);
                }
                catch (Exception ex) when (ex is Pkcs11Exception or UnmanagedException or DllNotFoundException)
                {
                    throw new HsmConfigurationException($"The PKCS#11 library '{path}' cannot be loaded: {ex.Message}", ex);
                }

                module = new Pkcs11Module(path, factories, library);
                Loaded.Add(path, module);
            }

            module._references++;
            return module;
        }
    }

    /// <summary>Whether this process holds the library at <paramref name="libraryPath"/> loaded (and so initialised) now.</summary>
    internal static bool IsLoaded(string libraryPath)
    {
        string path = System.IO.Path.GetFullPath(libraryPath);
        lock (Registry)
        {
            return Loaded.ContainsKey(path);
        }
    }

    internal void Release()
    {
        lock (Registry)
        {
            if (_references == 0)
            {
                return;
            }

            _references--;
            if (_references == 0)
            {
                Loaded.Remove(Path);
                Library.Dispose();
            }
        }
    }

    internal ISlot FindSlotByTokenLabel(string tokenLabel)
    {
        var matches = new List<ISlot>();
        var present = new List<string>();
        foreach (ISlot slot in Library.GetSlotList(SlotsType.WithTokenPresent))
        {
            ITokenInfo info = slot.GetTokenInfo();
            if (!info.TokenFlags.TokenInitialized)
            {
                continue;
            }

            string label = info.Label.TrimEnd(' ', '\0');
            present.Add($"'{label}'");
            if (string.Equals(label, tokenLabel, StringComparison.Ordinal))
            {
                matches.Add(slot);
            }
        }

        // The labels that are there are what an operator needs to fix a typo; they are not secret.
        string available = present.Count == 0 ? "no initialised token is present" : $"tokens present: {string.Join(", ", present)}";
        return matches.Count switch
        {
            1 => matches[0],
            0 => throw new HsmConfigurationException($"No initialised token labelled '{tokenLabel}' is present in '{Path}'; {available}."),
            _ => throw new HsmConfigurationException($"{matches.Count} tokens are labelled '{tokenLabel}' in '{Path}'; the label must be unique."),
        };
    }

    // Pkcs11Interop 5.3.0 calls dlopen through DllImport("libdl"); current glibc ships only libdl.so.2.
    private static void InstallResolver()
    {
        if (s_resolverInstalled || !OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            NativeLibrary.SetDllImportResolver(typeof(Pkcs11InteropFactories).Assembly, ResolveLibdl);
        }
        catch (InvalidOperationException)
        {
            // Another component already installed a resolver for Pkcs11Interop; keep theirs.
        }

        s_resolverInstalled = true;
    }

    private static IntPtr ResolveLibdl(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (libraryName == "libdl" && NativeLibrary.TryLoad("libdl.so.2", out IntPtr handle))
        {
            return handle;
        }

        return IntPtr.Zero;
    }
}
