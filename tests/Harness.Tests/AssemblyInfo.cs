[assembly: AssemblyFixture(typeof(Harness.Tests.Docker.DockerFixture))]
