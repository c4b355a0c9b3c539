using System.Collections;
using System.Reflection;
using System.Runtime.CompilerServices;
using Harness.Probes;
using Harness.Verdicts;

namespace Harness.Tests.Evidence;

public sealed class RecordTextTests
{
    private static bool IsCollection(Type t) => t != typeof(string) && typeof(IEnumerable).IsAssignableFrom(Nullable.GetUnderlyingType(t) ?? t);

    public static TheoryData<Type> RecordsWithCollections()
    {
        var data = new TheoryData<Type>();
        foreach (var assembly in new[] { typeof(CheckOutcome).Assembly, typeof(Harness.Protocol.AgentPlan).Assembly })
        {
            foreach (var type in assembly.GetExportedTypes().Where(t => t.GetMethod("<Clone>$") is not null || (t.IsValueType && t.GetMethod("PrintMembers", BindingFlags.NonPublic | BindingFlags.Instance) is not null)))
            {
                if (type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Any(p => IsCollection(p.PropertyType)))
                {
                    data.Add(type);
                }
            }
        }
        return data;
    }

    [Theory]
    [MemberData(nameof(RecordsWithCollections))]
    public void PublicRecordWithACollection_DeclaresAReadableToString(Type record)
    {
        var toString = record.GetMethod(nameof(ToString), BindingFlags.Public | BindingFlags.Instance, Type.EmptyTypes)!;

        toString.DeclaringType.Should().Be(record, $"{record.Name} holds a collection, and the compiler's ToString prints its type name instead of its items");
        toString.GetCustomAttribute<CompilerGeneratedAttribute>().Should().BeNull($"{record.Name}.ToString must be written, not generated");
    }

    [Fact]
    public void CheckOutcome_ToString_PrintsEveryPieceOfEvidence()
    {
        var outcome = new CheckOutcome(HardeningCheck.EgressDenied, ProbeStatus.Failed, ["egress.sink.tcp: Failed - allowed", "egress.sink.http: Passed - denied"]);

        var text = outcome.ToString();
        TestContext.Current.TestOutputHelper?.WriteLine(text);

        text.Should().NotContain("System.Collections").And.Contain("EgressDenied: Failed").And.Contain("egress.sink.tcp: Failed - allowed").And.Contain("egress.sink.http: Passed - denied");
    }

    [Fact]
    public void StandardProbeOptions_ToString_ListsItsPathsAndCapabilities()
    {
        var text = new StandardProbeOptions { ReadOnlyPaths = ["/", "/cache"] }.ToString();

        text.Should().Contain("ReadOnlyPaths = [/, /cache]").And.Contain("AllowedCapabilities = [CAP_NET_BIND_SERVICE]").And.NotContain("System.Collections");
    }
}
