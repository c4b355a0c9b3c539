using Harness.Manifests;

namespace Harness.Tests.Manifests;

[CollectionDefinition(nameof(SecondReaderCollection), DisableParallelization = true)]
public sealed class SecondReaderCollection;

/// <summary>
/// Issue #26: a large file's later documents are read by a second reader (a second process in the native harness) while
/// the loader reads the earlier ones; whatever that reader answers, or fails to, the documents, their order and every
/// error are what one reader gives. The loader's hook is static: these tests run alone.
/// </summary>
[Collection(nameof(SecondReaderCollection))]
public sealed class SecondReaderTests
{
    private static string LargeFile(string? brokenDocument = null)
    {
        var text = Harness.Cli.ProcessBench.SyntheticInstall(1.5);
        if (brokenDocument is not null)
        {
            text += "---\n" + brokenDocument;
        }
        var file = Path.Combine(Directory.CreateTempSubdirectory("harness-second-reader-").FullName, "install.yaml");
        File.WriteAllText(file, text);
        return file;
    }

    private static T With<T>(Func<string, long, int, Func<IReadOnlyList<string>?>> reader, Func<T> act)
    {
        ManifestLoader.SecondReader = reader;
        try
        {
            return act();
        }
        finally
        {
            ManifestLoader.SecondReader = null;
        }
    }

    private static string Shape(IEnumerable<ManifestDocument> docs) =>
        string.Join("\n", docs.Select(d => $"{d.Location} {d.ApiVersion} {d.DisplayName} {d.Namespace} {k8s.KubernetesJson.Serialize(d.Object)} {d.Text.Length}"));

    [Fact]
    public void ALargeFile_ReadHalfBySecondReader_GivesWhatOneReaderGives()
    {
        var file = LargeFile();
        var asked = new List<(long Offset, int Count)>();

        var two = With((f, offset, count) => { asked.Add((offset, count)); return () => [.. ManifestLoader.ReadForSecondProcess(f, offset, count)]; }, () => ManifestLoader.LoadPath(file));
        var one = ManifestLoader.LoadPath(file);

        var (offset, count) = asked.Should().ContainSingle().Subject;
        count.Should().BeInRange(one.Count / 4, one.Count * 3 / 4, "about half the characters each");
        offset.Should().BeInRange(new FileInfo(file).Length / 4, new FileInfo(file).Length * 3 / 4);
        File.ReadAllText(file)[(int)offset..].Should().StartWith(one[^count].Text, "the second reader starts where its first document does");
        Shape(two).Should().Be(Shape(one));
    }

    [Fact]
    public void WhenTheSecondReaderFails_OrAnswersWrongly_TheLoaderReadsThoseDocumentsItself()
    {
        var file = LargeFile();
        var one = Shape(ManifestLoader.LoadPath(file));

        Shape(With((_, _, _) => () => null, () => ManifestLoader.LoadPath(file))).Should().Be(one, "a reader that failed");
        Shape(With((f, offset, count) => () => [.. ManifestLoader.ReadForSecondProcess(f, offset, count).Skip(1)], () => ManifestLoader.LoadPath(file))).Should().Be(one, "a short answer");
        Shape(With((f, offset, count) => () => [.. ManifestLoader.ReadForSecondProcess(f, offset, count).Select(l => l[..(l.Length / 2)])], () => ManifestLoader.LoadPath(file))).Should().Be(one, "cut lines");
        Shape(With((f, offset, count) => () => [.. ManifestLoader.ReadForSecondProcess(f, offset + 1, count)], () => ManifestLoader.LoadPath(file))).Should().Be(one, "another split (lengths differ)");
        // Shifted by one document: the lengths tell, even where neighbours have the same shape.
        Shape(With((f, offset, count) => () => [.. ManifestLoader.ReadForSecondProcess(f, offset, count + 1).Skip(1), "!"], () => ManifestLoader.LoadPath(file))).Should().Be(one, "shifted by one document");
    }

    [Fact]
    public void ADocumentTheSecondReaderCannotRead_FailsWithTheErrorOneReaderGives()
    {
        var file = LargeFile("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x\n");
        var lines = new List<string>();

        var two = () => With((f, offset, count) => () => { lines.AddRange(ManifestLoader.ReadForSecondProcess(f, offset, count)); return lines; }, () => ManifestLoader.LoadPath(file));
        var one = () => ManifestLoader.LoadPath(file);

        var error = one.Should().Throw<ManifestException>().Which.Message;
        two.Should().Throw<ManifestException>().Which.Message.Should().Be(error);
        lines[^1].Should().Be("!", "the second reader marks it and leaves the explaining to the loader");
        error.Should().StartWith(file + ":");
    }

    [Fact]
    public void ASmallFile_IsReadByOneReader()
    {
        var called = false;

        With((_, _, _) => { called = true; return () => null; }, () => ManifestLoader.LoadPath(RepoPaths.File("fixtures/sample-operator/hardened")));

        called.Should().BeFalse($"files under {ManifestLoader.SecondReaderMinimumChars} characters are not worth a second process");
    }
}
