namespace Harness.Runs;

/// <summary>
/// A run's log for work that may outlive the run (the egress vantage the runs on one cluster share, started by the
/// first that asks): lines go to the run's writer while it is open, and are dropped once it is closed, instead of
/// failing the shared work for everyone after it.
/// </summary>
internal sealed class OutlivedLog(TextWriter inner) : TextWriter(System.Globalization.CultureInfo.InvariantCulture)
{
    public override System.Text.Encoding Encoding => inner.Encoding;

    public override void Write(char value) => Try(() => inner.Write(value));

    public override void Write(string? value) => Try(() => inner.Write(value));

    public override void WriteLine(string? value) => Try(() => inner.WriteLine(value));

    public override Task WriteLineAsync(string? value)
    {
        WriteLine(value);
        return Task.CompletedTask;
    }

    public override Task WriteAsync(string? value)
    {
        Write(value);
        return Task.CompletedTask;
    }

    private static void Try(Action write)
    {
        try
        {
            write();
        }
        catch (ObjectDisposedException)
        {
            // The run that started the shared work is over; its log with it.
        }
    }
}
