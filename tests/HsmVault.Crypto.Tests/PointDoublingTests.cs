using HsmVault.Crypto.Ec;

namespace HsmVault.Crypto.Tests;

/// <summary>
/// The dedicated doubling against the complete RCB addition P + P, including the identity in
/// the representations the complete addition produces.
/// </summary>
[TestClass]
public sealed class PointDoublingTests
{
    private static ProjectivePoint RandomPoint(SeededRandomSource random)
    {
        var scalar = U256.FromBigEndian(P256Group.RandomScalar(random));
        return P256Curve.MultiplyBase(scalar);
    }

    private static byte[] Encode(in ProjectivePoint point)
    {
        var encoded = new byte[P256Curve.CompressedLength];
        Assert.IsTrue(P256Curve.TryEncode(point, encoded), "the point is unexpectedly the identity");
        return encoded;
    }

    /// <summary>Same projective point: X1 Z2 = X2 Z1 and Y1 Z2 = Y2 Z1 (also true for two identity representations).</summary>
    private static bool SamePoint(in ProjectivePoint a, in ProjectivePoint b)
    {
        var x = U256.EqualMask(P256Field.Multiply(a.X, b.Z), P256Field.Multiply(b.X, a.Z));
        var y = U256.EqualMask(P256Field.Multiply(a.Y, b.Z), P256Field.Multiply(b.Y, a.Z));
        return (x & y & ~(a.Z.IsZeroMask() ^ b.Z.IsZeroMask())) != 0;
    }

    [TestMethod]
    public void Doubling_equals_adding_a_point_to_itself()
    {
        var random = new SeededRandomSource(99);
        for (int i = 0; i < 50; i++)
        {
            var point = RandomPoint(random);
            var doubled = ProjectivePoint.Double(point);
            CollectionAssert.AreEqual(Encode(ProjectivePoint.Add(point, point)), Encode(doubled), $"point #{i}");
        }
    }

    [TestMethod]
    public void Doubling_a_non_normalised_point_gives_the_same_point()
    {
        var random = new SeededRandomSource(17);
        var point = RandomPoint(random);

        // Scale (X:Y:Z) by an arbitrary lambda; the doubling must not assume Z = 1.
        var lambda = P256Field.ToMontgomery(new U256(0x0123456789abcdef, 42, 7, 0x0fedcba987654321));
        var scaled = new ProjectivePoint
        {
            X = P256Field.Multiply(point.X, lambda),
            Y = P256Field.Multiply(point.Y, lambda),
            Z = P256Field.Multiply(point.Z, lambda),
        };
        Assert.IsTrue(SamePoint(ProjectivePoint.Double(point), ProjectivePoint.Double(scaled)));
    }

    [TestMethod]
    public void Doubling_the_identity_in_any_representation_gives_the_identity()
    {
        var random = new SeededRandomSource(3);
        var point = RandomPoint(random);
        var negated = ProjectivePoint.ConditionalNegate(ulong.MaxValue, point);

        // P + (-P) is the identity in whatever representation the complete addition yields.
        var fromAddition = ProjectivePoint.Add(point, negated);
        Assert.AreNotEqual(0UL, fromAddition.IsIdentityMask(), "P + (-P) should be the identity");

        foreach (var identity in new[] { ProjectivePoint.Identity, fromAddition, ProjectivePoint.ConditionalNegate(ulong.MaxValue, ProjectivePoint.Identity) })
        {
            var doubled = ProjectivePoint.Double(identity);
            Assert.AreNotEqual(0UL, doubled.IsIdentityMask(), "2 * identity must be the identity");
            Assert.IsTrue(SamePoint(ProjectivePoint.Identity, doubled), "and a valid (0:y:0) representation");

            // It must keep working as an input of the complete addition.
            CollectionAssert.AreEqual(Encode(point), Encode(ProjectivePoint.Add(doubled, point)));
        }
    }
}
