[assembly: AssemblyFixture(typeof(Harness.Xunit.HarnessClusterFixture))]
