namespace HsmVault.Crypto.Ec;

/// <summary>
/// A P-256 point in homogeneous projective coordinates (X:Y:Z), coordinates in Montgomery form.
/// The identity is (0:1:0). Addition and doubling use the complete formulas of Renes, Costello
/// and Batina (eprint 2015/1060, algorithms 4 and 6 for a = -3): they are correct for every pair
/// of inputs, including the identity and equal points, so no input ever takes a different path.
/// </summary>
internal struct ProjectivePoint
{
    public U256 X;
    public U256 Y;
    public U256 Z;

    public static ProjectivePoint Identity => new() { X = default, Y = P256Field.One, Z = default };

    public static ProjectivePoint FromAffine(in U256 x, in U256 y) => new() { X = x, Y = y, Z = P256Field.One };

    /// <summary>All-ones when this is the identity (Z = 0).</summary>
    public readonly ulong IsIdentityMask() => Z.IsZeroMask();

    public static ProjectivePoint Select(ulong mask, in ProjectivePoint a, in ProjectivePoint b) => new()
    {
        X = U256.Select(mask, a.X, b.X),
        Y = U256.Select(mask, a.Y, b.Y),
        Z = U256.Select(mask, a.Z, b.Z),
    };

    /// <summary>-P where mask is all-ones, P otherwise.</summary>
    public static ProjectivePoint ConditionalNegate(ulong mask, in ProjectivePoint p)
    {
        P256Field.Negate(p.Y, out var negY);
        return new ProjectivePoint { X = p.X, Y = U256.Select(mask, negY, p.Y), Z = p.Z };
    }

    public static void Add(in ProjectivePoint p, in ProjectivePoint q, out ProjectivePoint r)
    {
        ref readonly U256 b = ref P256Field.B;
        P256Field.Multiply(p.X, q.X, out var t0);
        P256Field.Multiply(p.Y, q.Y, out var t1);
        P256Field.Multiply(p.Z, q.Z, out var t2);
        P256Field.Add(p.X, p.Y, out var t3);
        P256Field.Add(q.X, q.Y, out var t4);
        P256Field.Multiply(t3, t4, out t3);
        P256Field.Add(t0, t1, out t4);
        P256Field.Subtract(t3, t4, out t3);
        P256Field.Add(p.Y, p.Z, out t4);
        P256Field.Add(q.Y, q.Z, out var x3);
        P256Field.Multiply(t4, x3, out t4);
        P256Field.Add(t1, t2, out x3);
        P256Field.Subtract(t4, x3, out t4);
        P256Field.Add(p.X, p.Z, out x3);
        P256Field.Add(q.X, q.Z, out var y3);
        P256Field.Multiply(x3, y3, out x3);
        P256Field.Add(t0, t2, out y3);
        P256Field.Subtract(x3, y3, out y3);
        P256Field.Multiply(b, t2, out var z3);
        P256Field.Subtract(y3, z3, out x3);
        P256Field.Add(x3, x3, out z3);
        P256Field.Add(x3, z3, out x3);
        P256Field.Subtract(t1, x3, out z3);
        P256Field.Add(t1, x3, out x3);
        P256Field.Multiply(b, y3, out y3);
        P256Field.Add(t2, t2, out t1);
        P256Field.Add(t1, t2, out t2);
        P256Field.Subtract(y3, t2, out y3);
        P256Field.Subtract(y3, t0, out y3);
        P256Field.Add(y3, y3, out t1);
        P256Field.Add(t1, y3, out y3);
        P256Field.Add(t0, t0, out t1);
        P256Field.Add(t1, t0, out t0);
        P256Field.Subtract(t0, t2, out t0);
        P256Field.Multiply(t4, y3, out t1);
        P256Field.Multiply(t0, y3, out t2);
        P256Field.Multiply(x3, z3, out y3);
        P256Field.Add(y3, t2, out y3);
        P256Field.Multiply(t3, x3, out x3);
        P256Field.Subtract(x3, t1, out x3);
        P256Field.Multiply(t4, z3, out z3);
        P256Field.Multiply(t3, t0, out t1);
        P256Field.Add(z3, t1, out z3);
        r.X = x3;
        r.Y = y3;
        r.Z = z3;
    }

    public static void Double(in ProjectivePoint p, out ProjectivePoint r)
    {
        ref readonly U256 b = ref P256Field.B;
        P256Field.Square(p.X, out var t0);
        P256Field.Square(p.Y, out var t1);
        P256Field.Square(p.Z, out var t2);
        P256Field.Multiply(p.X, p.Y, out var t3);
        P256Field.Add(t3, t3, out t3);
        P256Field.Multiply(p.X, p.Z, out var z3);
        P256Field.Add(z3, z3, out z3);
        P256Field.Multiply(b, t2, out var y3);
        P256Field.Subtract(y3, z3, out y3);
        P256Field.Add(y3, y3, out var x3);
        P256Field.Add(x3, y3, out y3);
        P256Field.Subtract(t1, y3, out x3);
        P256Field.Add(t1, y3, out y3);
        P256Field.Multiply(x3, y3, out y3);
        P256Field.Multiply(x3, t3, out x3);
        P256Field.Add(t2, t2, out t3);
        P256Field.Add(t2, t3, out t2);
        P256Field.Multiply(b, z3, out z3);
        P256Field.Subtract(z3, t2, out z3);
        P256Field.Subtract(z3, t0, out z3);
        P256Field.Add(z3, z3, out t3);
        P256Field.Add(z3, t3, out z3);
        P256Field.Add(t0, t0, out t3);
        P256Field.Add(t3, t0, out t0);
        P256Field.Subtract(t0, t2, out t0);
        P256Field.Multiply(t0, z3, out t0);
        P256Field.Add(y3, t0, out y3);
        P256Field.Multiply(p.Y, p.Z, out t0);
        P256Field.Add(t0, t0, out t0);
        P256Field.Multiply(t0, z3, out z3);
        P256Field.Subtract(x3, z3, out x3);
        P256Field.Multiply(t0, t1, out z3);
        P256Field.Add(z3, z3, out z3);
        P256Field.Add(z3, z3, out z3);
        r.X = x3;
        r.Y = y3;
        r.Z = z3;
    }

    /// <summary>Affine coordinates (Montgomery form); the caller must have excluded the identity.</summary>
    public readonly void ToAffine(out U256 x, out U256 y)
    {
        var zInv = P256Field.Invert(Z);
        P256Field.Multiply(X, zInv, out x);
        P256Field.Multiply(Y, zInv, out y);
    }
}
