using System.IO.Pipes;

namespace Rx.SharedMemory.Transport;

/// <summary>A worker's ends of the pipes to its master, found through <see cref="PipeEnvironment"/>.</summary>
internal static class MasterPipes
{
    public static bool Available =>
        !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(PipeEnvironment.FromMaster))
        && !string.IsNullOrEmpty(Environment.GetEnvironmentVariable(PipeEnvironment.ToMaster));

    /// <exception cref="InvalidOperationException">This process was not started by a master.</exception>
    public static (Stream FromMaster, Stream ToMaster) Open()
    {
        var input = Environment.GetEnvironmentVariable(PipeEnvironment.FromMaster);
        var output = Environment.GetEnvironmentVariable(PipeEnvironment.ToMaster);
        if (string.IsNullOrEmpty(input) || string.IsNullOrEmpty(output))
        {
            throw new InvalidOperationException(
                $"This process was not started by a SharedMemoryMaster: the environment variables {PipeEnvironment.FromMaster} and {PipeEnvironment.ToMaster} are not set.");
        }

        // Cleared so that processes this worker starts do not believe they are workers of the same master.
        Environment.SetEnvironmentVariable(PipeEnvironment.FromMaster, null);
        Environment.SetEnvironmentVariable(PipeEnvironment.ToMaster, null);
        var fromMaster = new AnonymousPipeClientStream(PipeDirection.In, input);
        try
        {
            return (fromMaster, new AnonymousPipeClientStream(PipeDirection.Out, output));
        }
        catch
        {
            fromMaster.Dispose();
            throw;
        }
    }
}
