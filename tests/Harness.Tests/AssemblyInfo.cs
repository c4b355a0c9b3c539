[assembly: AssemblyFixture(typeof(Harness.Tests.Docker.DockerFixture))]
[assembly: AssemblyFixture(typeof(Harness.Tests.Xunit.DerivedClusterFixture))]
