// A plain UDP socket a NAT test runs inside a namespace and drives over stdin, one command a line:
//   send HOST PORT TEXT    sends TEXT to HOST:PORT
// It prints one JSON line when bound ({"ready":PORT}) and one per datagram it receives
// ({"from":"HOST:PORT","text":TEXT}). A datagram "whoami" is answered with "you HOST:PORT", the
// source it arrived from (what STUN tells: the mapping a NAT made).
//   node udp-agent.js PORT
import { createSocket } from 'node:dgram';
import { createInterface } from 'node:readline';

const socket = createSocket('udp4');
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

socket.on('message', (msg, rinfo) => {
  const text = msg.toString('utf8');
  const from = `${rinfo.address}:${rinfo.port}`;
  print({ from, text });
  if (text === 'whoami') socket.send(`you ${from}`, rinfo.port, rinfo.address);
});
socket.bind(Number(process.argv[2] ?? 0), () => print({ ready: socket.address().port }));

createInterface({ input: process.stdin }).on('line', (line) => {
  const [command, host, port, ...text] = line.split(' ');
  if (command === 'send') socket.send(text.join(' '), Number(port), host);
  else print({ error: `unknown command ${command}` });
});
process.stdin.on('end', () => socket.close());
