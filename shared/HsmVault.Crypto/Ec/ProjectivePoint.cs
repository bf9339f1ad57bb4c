namespace HsmVault.Crypto.Ec;

/// <summary>
/// A P-256 point in homogeneous projective coordinates (X:Y:Z), coordinates in Montgomery form.
/// The identity is (0:1:0). Addition uses the complete formula of Renes, Costello and Batina
/// (eprint 2015/1060, algorithm 4 for a = -3), correct for every pair of inputs including the
/// identity, P + P and P + (-P). Doubling uses a cheaper formula whose only exceptional input on
/// P-256 is the identity, fixed up by a mask (see <see cref="Double"/>). No input ever takes a
/// different path.
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
        var negY = P256Field.Negate(p.Y);
        return new ProjectivePoint { X = p.X, Y = U256.Select(mask, negY, p.Y), Z = p.Z };
    }

    /// <summary>P + Q, complete (RCB algorithm 4): 12 multiplications and 2 by the constant b.</summary>
    public static ProjectivePoint Add(in ProjectivePoint p, in ProjectivePoint q)
    {
        ref readonly U256 b = ref P256Field.B;
        var t0 = P256Field.Multiply(p.X, q.X);
        var t1 = P256Field.Multiply(p.Y, q.Y);
        var t2 = P256Field.Multiply(p.Z, q.Z);
        var t3 = P256Field.Add(p.X, p.Y);
        var t4 = P256Field.Add(q.X, q.Y);
        t3 = P256Field.Multiply(t3, t4);
        t4 = P256Field.Add(t0, t1);
        t3 = P256Field.Subtract(t3, t4);
        t4 = P256Field.Add(p.Y, p.Z);
        var x3 = P256Field.Add(q.Y, q.Z);
        t4 = P256Field.Multiply(t4, x3);
        x3 = P256Field.Add(t1, t2);
        t4 = P256Field.Subtract(t4, x3);
        x3 = P256Field.Add(p.X, p.Z);
        var y3 = P256Field.Add(q.X, q.Z);
        x3 = P256Field.Multiply(x3, y3);
        y3 = P256Field.Add(t0, t2);
        y3 = P256Field.Subtract(x3, y3);
        var z3 = P256Field.Multiply(b, t2);
        x3 = P256Field.Subtract(y3, z3);
        z3 = P256Field.Twice(x3);
        x3 = P256Field.Add(x3, z3);
        z3 = P256Field.Subtract(t1, x3);
        x3 = P256Field.Add(t1, x3);
        y3 = P256Field.Multiply(b, y3);
        t1 = P256Field.Twice(t2);
        t2 = P256Field.Add(t1, t2);
        y3 = P256Field.Subtract(y3, t2);
        y3 = P256Field.Subtract(y3, t0);
        t1 = P256Field.Twice(y3);
        y3 = P256Field.Add(t1, y3);
        t1 = P256Field.Twice(t0);
        t0 = P256Field.Add(t1, t0);
        t0 = P256Field.Subtract(t0, t2);
        t1 = P256Field.Multiply(t4, y3);
        t2 = P256Field.Multiply(t0, y3);
        y3 = P256Field.Multiply(x3, z3);
        y3 = P256Field.Add(y3, t2);
        x3 = P256Field.Multiply(t3, x3);
        x3 = P256Field.Subtract(x3, t1);
        z3 = P256Field.Multiply(t4, z3);
        t1 = P256Field.Multiply(t3, t0);
        z3 = P256Field.Add(z3, t1);
        return new ProjectivePoint { X = x3, Y = y3, Z = z3 };
    }

    /// <summary>
    /// 2P in 10 field multiplications (homogeneous doubling for a = -3, after Bernstein-Lange
    /// dbl-2007-bl): with s = 2YZ, R = Ys, w = 3(X - Z)(X + Z), B = 2XR, h = w^2 - 2B it returns
    /// (hs : w(B - h) - 2R^2 : s^3).
    /// </summary>
    /// <remarks>
    /// Unlike <see cref="Add"/> this is not the complete RCB formula, and it does not need to be:
    /// the formula is exact whenever s = 2YZ is nonzero. Y = 0 would be a point of order 2, which
    /// P-256 (prime order n) does not have, so s = 0 exactly for the identity (Z = 0). The identity
    /// is therefore the only exceptional input, and it is handled by a mask, not a branch: the
    /// result is replaced by (0:1:0) when Z = 0. Every input runs the same instructions.
    /// </remarks>
    public static ProjectivePoint Double(in ProjectivePoint p)
    {
        var w = P256Field.Multiply(P256Field.Subtract(p.X, p.Z), P256Field.Add(p.X, p.Z));
        w = P256Field.Add(P256Field.Twice(w), w);
        var s = P256Field.Twice(P256Field.Multiply(p.Y, p.Z));
        var r = P256Field.Multiply(p.Y, s);
        var b = P256Field.Twice(P256Field.Multiply(p.X, r));
        var h = P256Field.Subtract(P256Field.Square(w), P256Field.Twice(b));
        var x3 = P256Field.Multiply(h, s);
        var y3 = P256Field.Subtract(P256Field.Multiply(w, P256Field.Subtract(b, h)), P256Field.Twice(P256Field.Square(r)));
        var z3 = P256Field.Multiply(s, P256Field.Square(s));

        ulong isIdentity = p.Z.IsZeroMask();
        var one = P256Field.One;
        return new ProjectivePoint
        {
            X = U256.Select(isIdentity, default, x3),
            Y = U256.Select(isIdentity, one, y3),
            Z = U256.Select(isIdentity, default, z3),
        };
    }

    /// <summary>Affine coordinates (Montgomery form); the caller must have excluded the identity.</summary>
    public readonly void ToAffine(out U256 x, out U256 y)
    {
        var zInv = P256Field.Invert(Z);
        x = P256Field.Multiply(X, zInv);
        y = P256Field.Multiply(Y, zInv);
    }
}
