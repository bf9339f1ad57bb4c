using Net.Pkcs11Interop.Common;
using Net.Pkcs11Interop.HighLevelAPI;

namespace HsmVault.Simulator.Pkcs11;

/// <summary>
/// The objects that make a token one particular fleet member rather than another: its identity key
/// pair and its NVRAM. Everything else of a key set (record key, HMAC keys, AKE and channel key
/// pairs) is the fleet's and the same on every member. Used only by the TEST-ONLY clone of a
/// simulator state directory (<see cref="SoftHsmStateClone"/>), which copies a token and then makes
/// the copy a new member.
/// </summary>
internal static class Pkcs11MemberObjects
{
    /// <summary>
    /// Destroys the identity key pair and every NVRAM object of the key set <paramref name="options"/>
    /// names, and returns how many objects went. Destroys nothing, and throws
    /// <see cref="HsmConfigurationException"/>, when the token holds an object outside that key set:
    /// a copied token would then carry another vault's identity key into a second HSM.
    /// </summary>
    internal static int DestroyIdentityAndNvram(Pkcs11Options options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var labels = new Pkcs11KeyLabels(options.KeyLabelPrefix);
        var known = Pkcs11KeySet.For(labels).Select(key => key.Label).Append(labels.Nvram).ToHashSet(StringComparer.Ordinal);
        Pkcs11Module module = Pkcs11Module.Acquire(options.LibraryPath);
        try
        {
            using Pkcs11Session session = Pkcs11Session.Open(module, options.TokenLabel, opened => Pkcs11HsmServices.LogIn(opened, options), reopened: null, hooks: null);
            List<(IObjectHandle Handle, string Label)> objects = session.Run("list the token's objects", s => ListObjects(s));
            string[] foreign = [.. objects.Select(o => o.Label).Where(label => !known.Contains(label)).Distinct().Order(StringComparer.Ordinal)];
            if (foreign.Length > 0)
            {
                throw new HsmConfigurationException(
                    $"Token '{options.TokenLabel}' holds objects outside the key set '{labels.Prefix}-*' ({string.Join(", ", foreign.Select(l => $"'{l}'"))}); only a token of one key set is cloned.");
            }

            var doomed = objects.Where(o => o.Label == labels.IdentityKey || o.Label == labels.Nvram).ToList();
            foreach ((IObjectHandle handle, _) in doomed)
            {
                session.Run("destroy a member object", s => s.DestroyObject(handle));
            }

            return doomed.Count;
        }
        finally
        {
            module.Release();
        }
    }

    private static List<(IObjectHandle Handle, string Label)> ListObjects(ISession session)
    {
        var objects = new List<(IObjectHandle, string)>();
        foreach (IObjectHandle handle in session.FindAllObjects([]))
        {
            List<IObjectAttribute> attributes = session.GetAttributeValue(handle, [CKA.CKA_LABEL]);
            try
            {
                objects.Add((handle, attributes[0].CannotBeRead ? string.Empty : attributes[0].GetValueAsString() ?? string.Empty));
            }
            finally
            {
                foreach (IObjectAttribute attribute in attributes)
                {
                    attribute.Dispose();
                }
            }
        }

        return objects;
    }
}
