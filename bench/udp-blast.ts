// A plain UDP socket that the NAT bench runs inside a testbed namespace, to measure what the path
// itself (veths, the NAT routers' forwarding and conntrack) allows without any mesh on it. Driven
// over stdin, one JSON command a line; answers one JSON line each:
//   {"punch":{"host":H,"port":P}}                   one datagram to H:P, so this host's NAT lets H:P's in
//   {"blast":{"host":H,"port":P,"size":N,"ms":M}}  as fast as the socket takes them → {"blasted":sent}
//   {"count":true}                                  → {"received":n} (datagrams larger than a punch)
// Prints {"ready":PORT} once bound.   node udp-blast.js PORT
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

/** As the mesh nodes' blast (test/nat/nat-node.ts): batches of 64, yielding between them. */
const BATCH = 64;
const socket = createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);
let received = 0;

socket.on('message', (msg) => {
  if (msg.length > 1) received++;
});
socket.bind(Number(process.argv[2] ?? 0), () => say({ ready: socket.address().port }));

function blast(host: string, port: number, size: number, ms: number): void {
  const payload = Buffer.alloc(size, 0x61);
  const end = Date.now() + ms;
  let sent = 0;
  const batch = () => {
    for (let i = 0; i < BATCH; i++) socket.send(payload, port, host, (err) => err || sent++);
    if (Date.now() < end) setImmediate(batch);
    else setImmediate(() => say({ blasted: sent }));
  };
  batch();
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const c = JSON.parse(line) as { punch?: { host: string; port: number }; blast?: { host: string; port: number; size: number; ms: number }; count?: true };
  if (c.punch) socket.send(Buffer.alloc(1), c.punch.port, c.punch.host, () => say({ punched: true }));
  else if (c.blast) blast(c.blast.host, c.blast.port, c.blast.size, c.blast.ms);
  else if (c.count) say({ received });
});
process.stdin.on('end', () => socket.close());
