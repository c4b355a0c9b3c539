using FluentAssertions;
using FluentAssertions.Execution;
using FluentAssertions.Primitives;
using Harness.Verdicts;
using Xunit;

namespace Harness.Xunit;

/// <summary>FluentAssertions entry points for harness results.</summary>
public static class HardeningAssertionExtensions
{
    /// <summary>Assertions on a check outcome.</summary>
    public static CheckOutcomeAssertions Should(this CheckOutcome outcome) => new(outcome);

    /// <summary>Assertions on a mutant's verdict (<c>harness prove</c>).</summary>
    public static MutantVerdictAssertions Should(this Harness.Proof.MutantVerdict verdict) => new(verdict);
}

/// <summary>Assertions on a <see cref="Harness.Proof.MutantVerdict"/>; failures print the mutant, the check and its evidence.</summary>
public sealed class MutantVerdictAssertions(Harness.Proof.MutantVerdict verdict) : ReferenceTypeAssertions<Harness.Proof.MutantVerdict, MutantVerdictAssertions>(verdict)
{
    /// <inheritdoc/>
    protected override string Identifier => "mutant";

    /// <summary>The check that guards the removed control failed the mutant.</summary>
    public AndConstraint<MutantVerdictAssertions> BeCaught(string because = "", params object[] becauseArgs)
    {
        Execute.Assertion
            .BecauseOf(because, becauseArgs)
            .ForCondition(Subject.Outcome == Harness.Proof.MutantOutcome.Caught)
            .FailWith("Expected mutant {0} ({1} removed) to be caught by {2}{reason}, but it is {3}: {4}",
                Subject.Mutant.Id, Subject.Mutant.Control, Harness.Probes.HardeningItems.Id(Subject.Mutant.Item), Subject.Outcome, Subject.Evidence);
        return new AndConstraint<MutantVerdictAssertions>(this);
    }
}

/// <summary>Assertions on a <see cref="CheckOutcome"/>; failures print every piece of evidence.</summary>
public sealed class CheckOutcomeAssertions(CheckOutcome outcome) : ReferenceTypeAssertions<CheckOutcome, CheckOutcomeAssertions>(outcome)
{
    /// <inheritdoc/>
    protected override string Identifier => "check";

    /// <summary>The check passed. Inconclusive fails too, unless <paramref name="allowInconclusive"/>, which skips with the reason.</summary>
    public AndConstraint<CheckOutcomeAssertions> Pass(bool allowInconclusive = false, string because = "", params object[] becauseArgs)
    {
        if (Subject.Status == ProbeStatus.Inconclusive && allowInconclusive)
        {
            Assert.Skip($"{Subject.Check} is inconclusive (allowed): {string.Join("; ", Subject.Evidence)}");
        }
        Execute.Assertion
            .BecauseOf(because, becauseArgs)
            .ForCondition(Subject.Status == ProbeStatus.Passed)
            .FailWith("Expected {0} to pass{reason}, but it is {1}. Evidence:\n{2}", Subject.Check, Subject.Status, Evidence());
        return new AndConstraint<CheckOutcomeAssertions>(this);
    }

    /// <summary>The check failed (the protection is absent), optionally with a piece of evidence naming why.</summary>
    public AndConstraint<CheckOutcomeAssertions> Fail(string? evidenceContaining = null, string because = "", params object[] becauseArgs)
    {
        Execute.Assertion
            .BecauseOf(because, becauseArgs)
            .ForCondition(Subject.Status == ProbeStatus.Failed)
            .FailWith("Expected {0} to fail{reason}, but it is {1}. Evidence:\n{2}", Subject.Check, Subject.Status, Evidence())
            .Then
            .ForCondition(evidenceContaining is null || Subject.Evidence.Any(e => e.Contains(evidenceContaining, StringComparison.Ordinal)))
            .FailWith("Expected {0} to fail with evidence containing {1}{reason}, but the evidence is:\n{2}", Subject.Check, evidenceContaining, Evidence());
        return new AndConstraint<CheckOutcomeAssertions>(this);
    }

    private string Evidence() => string.Join("\n", Subject.Evidence.Select(e => "  " + e));
}
