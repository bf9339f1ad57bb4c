namespace HsmVault.Protocol.Fleet;

/// <summary>What a fleet public key is for. Each role appears exactly once in a <see cref="FleetKeySet"/>.</summary>
public enum FleetKeyRole
{
    /// <summary>HPKE recipient key of the client-to-enclave channel: DHKEM(P-256, HKDF-SHA256), SEC1 uncompressed (65 bytes).</summary>
    Channel = 1,

    /// <summary>The OPAQUE server's static AKE key (RFC 9807 server public key): P-256, SEC1 compressed (33 bytes).</summary>
    OpaqueAke = 2,
}
