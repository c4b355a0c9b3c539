namespace Harness.Cli;

/// <summary>Progress lines to the terminal: status words coloured when a person is watching, plain otherwise.</summary>
internal sealed class StatusWriter(TextWriter inner, bool colour) : TextWriter
{
    public override System.Text.Encoding Encoding => inner.Encoding;

    public override void WriteLine(string? value)
    {
        if (colour && value is not null)
        {
            value = value
                .Replace("  PASS ", "  \u001b[32mPASS\u001b[0m ", StringComparison.Ordinal)
                .Replace("  FAIL ", "  \u001b[31mFAIL\u001b[0m ", StringComparison.Ordinal)
                .Replace("  INCONCLUSIVE ", "  \u001b[33mINCONCLUSIVE\u001b[0m ", StringComparison.Ordinal);
        }
        inner.WriteLine(value);
        inner.Flush();
    }

    public override Task WriteLineAsync(string? value)
    {
        WriteLine(value);
        return Task.CompletedTask;
    }
}
