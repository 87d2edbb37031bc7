// A worker written from docs/protocol.md alone, in Node.js with no packages: it opens its pipes, says hello,
// reads and writes keys, observes a key and exits cleanly. Run by the master (it finds its pipes in the
// environment); the test suite runs it as a real worker (NodeWorkerTests).
'use strict';
const fs = require('fs');
const net = require('net');

// Pipes: net.Socket over the inherited descriptors. Unlike fs streams, a socket can be closed from this side,
// so the process exits when the work is done instead of waiting for the master to close the pipe.
const input = new net.Socket({ fd: Number(process.env.RX_SHAREDMEMORY_PIPE_IN), readable: true, writable: false });
const output = new net.Socket({ fd: Number(process.env.RX_SHAREDMEMORY_PIPE_OUT), readable: false, writable: true });
delete process.env.RX_SHAREDMEMORY_PIPE_IN; // so that processes this one starts do not take themselves for workers
delete process.env.RX_SHAREDMEMORY_PIPE_OUT;

// The shared region for large values (Linux, offered by default): this worker does not use it, so it closes it.
if (process.env.RX_SHAREDMEMORY_REGION) {
  fs.closeSync(Number(process.env.RX_SHAREDMEMORY_REGION.split(':')[0]));
  delete process.env.RX_SHAREDMEMORY_REGION;
}

const pending = new Map(); // request id -> { resolve, reject }
const observers = new Map(); // subscription id -> function(change)
let nextId = 1;
let received = Buffer.alloc(0);

input.on('data', chunk => {
  received = Buffer.concat([received, chunk]);
  for (;;) {
    const headerEnd = received.indexOf('\r\n\r\n');
    if (headerEnd < 0) return;
    const length = /^content-length: *(\d+)$/im.exec(received.subarray(0, headerEnd).toString('ascii'));
    if (!length) throw new Error('a message without Content-Length');
    const start = headerEnd + 4, end = start + Number(length[1]);
    if (received.length < end) return;
    const message = JSON.parse(received.subarray(start, end).toString('utf8'));
    received = received.subarray(end);
    dispatch(message);
  }
});
input.on('end', () => { for (const { reject } of pending.values()) reject(new Error('the master is gone')); });

function dispatch(message) {
  if (message.method === 'changes') {
    for (const change of message.params.changes) observers.get(change.subscription)?.(change);
  } else if (pending.has(message.id)) {
    const { resolve, reject } = pending.get(message.id);
    pending.delete(message.id);
    if (message.error) reject(Object.assign(new Error(message.error.message), message.error));
    else resolve(message.result);
  }
}

function send(message) {
  const body = Buffer.from(JSON.stringify({ jsonrpc: '2.0', ...message }), 'utf8');
  output.write(Buffer.concat([Buffer.from(`Content-Length: ${body.length}\r\n\r\n`, 'ascii'), body]));
}

function call(method, params) {
  const id = nextId++;
  return new Promise((resolve, reject) => { pending.set(id, { resolve, reject }); send({ id, method, params }); });
}

async function main() {
  const hello = await call('hello', { protocolVersion: 1, processId: process.pid });
  const given = await call('get', { key: 'node/in' }); // { value, version } or null
  await call('set', { key: 'node/out', value: { from: hello.workerId, doubled: given.value * 2 } });

  // Observe a key: a reset with its current state comes first, then every change, in order.
  const subscription = 1;
  const seen = new Promise(resolve => observers.set(subscription, change => {
    if (change.kind === 'set' && change.value === 'go') resolve(change);
  }));
  await call('subscribe', { subscription, key: 'node/signal' });
  await call('set', { key: 'node/ready', value: true });
  const change = await seen;
  await call('unsubscribe', { subscription });

  try {
    await call('increment', { key: 'node/out', delta: 1 }); // not an integer: error -32012
  } catch (error) {
    await call('set', { key: 'node/error', value: error.code });
  }

  await call('set', { key: 'node/seen', value: change.version });
}

main().then(
  () => { output.end(); input.destroy(); }, // closing both ends lets the process exit
  error => { console.error(error); process.exitCode = 1; output.end(); input.destroy(); });
