[assembly: AssemblyFixture(typeof(Harness.Scenarios.LiveCluster))]
