// A generic-host application that plays both parts, the cluster.fork() pattern: run without a master, it is the
// master, and starts itself twice as a worker (appsettings.json, SharedMemory:Workers). Each worker counts to 5 in
// the shared store; the master kills one worker once to show its restart, then stops when the count reaches 15 (two
// workers and the one that replaced the killed worker), and every worker stops with it.
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Rx.SharedMemory;
using Rx.SharedMemory.HostedDemo;

// appsettings.json is read from the program's folder, wherever it is started from.
var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { Args = args, ContentRootPath = AppContext.BaseDirectory });
if (!SharedMemoryWorker.IsWorkerProcess)
{
    builder.Services.AddSharedMemoryMaster(builder.Configuration.GetSection("SharedMemory"));
    builder.Services.AddHealthChecks().AddSharedMemoryMaster();
    builder.Services.AddHostedService<Tally>();
}
else
{
    // The worker's settings bind from its own configuration; the store is the master's, through the pipes.
    builder.Services.AddSharedMemoryWorker();
    builder.Services.AddHealthChecks().AddSharedMemoryWorker();
    builder.Services.AddHostedService<Counter>();
}

await builder.Build().RunAsync();
