// Small tools the genesis netns tests run inside a namespace (the test process itself stays in
// the root namespace). Each prints one JSON line and exits.
//   node ns-tools.js f8 URL TOKEN TEXT             POST an intent to F8; prints {status, body}
//   node ns-tools.js f8-post URL TOKEN PATH JSON   POST JSON to another F8 route; prints {status, body}
//   node ns-tools.js capture PORT                  waits for one genesis beacon; prints {hex, at}
//   node ns-tools.js blast BROADCAST PORT HEX      broadcasts forged, foreign, junk and replayed beacons (HEX)
//   node ns-tools.js forge-joins ENDPOINT CMDPUB   forged, malformed and replayed join requests; prints the statuses
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { BEACON_TYPE, encodeBeacon } from '../../core/genesis/beacon.js';
import { JOIN_PATH, joinKeys, MAC_HEADER, newNonce, sealRequest } from '../../core/genesis/join.js';
import { genesisKeyFromSeed } from '../../core/genesis/signing-key.js';
import { formatKey, generateSecret, parseKey, publicKeyOf } from '../../core/keys/index.js';

const [command, ...args] = process.argv.slice(2);
const print = (value: unknown) => console.log(JSON.stringify(value));

async function f8(url: string, token: string, path: string, body: string) {
  const res = await fetch(`${url}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body });
  print({ status: res.status, body: await res.json() });
}

async function capture(port: number) {
  const socket = createSocket({ type: 'udp4', reuseAddr: true });
  const beacon = await new Promise<Buffer>((resolve) => {
    socket.on('message', (m) => m[0] === BEACON_TYPE && resolve(m));
    socket.bind(port, '0.0.0.0');
  });
  socket.close();
  print({ hex: beacon.toString('hex'), at: Number(beacon.readBigUInt64BE(39)) });
}

async function blast(broadcast: string, port: number, replayHex: string) {
  const real = Buffer.from(replayHex, 'hex');
  const forged = Buffer.from(real);
  forged.writeBigUInt64BE(BigInt(Date.now()), 39); // a fresh time under the old signature
  const foreign = encodeBeacon(genesisKeyFromSeed(randomBytes(32)), { host: '192.0.2.99', port: 9444 }, Date.now());
  const socket = createSocket('udp4');
  await new Promise<void>((r) => socket.bind(0, () => r()));
  socket.setBroadcast(true);
  const datagrams = [forged, foreign, randomBytes(111), real];
  for (const d of datagrams) await new Promise<void>((r, j) => socket.send(d, port, broadcast, (err) => (err ? j(err) : r())));
  socket.close();
  print({ sent: ['forged', 'unknown-authority', 'not-a-beacon', 'replayed'] });
}

async function forgeJoins(endpoint: string, commandPublic: string) {
  const post = async (body: Buffer, mac: string) =>
    (await fetch(`http://${endpoint}${JOIN_PATH}`, { method: 'POST', headers: { [MAC_HEADER]: mac }, body })).status;
  const secret = generateSecret();
  const request = { v: 1 as const, publicKey: formatKey(publicKeyOf(secret)), name: 'intruder', role: 'os-infrastructure', listen: '192.0.2.99:51820', at: Date.now(), nonce: newNonce() };
  // Forged: MAC'd with a key that is not the one the request names.
  const forged = sealRequest(joinKeys(generateSecret(), parseKey(commandPublic)), request);
  const honest = sealRequest(joinKeys(secret, parseKey(commandPublic)), request);
  print({
    forged: await post(forged.body, forged.mac),
    malformed: await post(Buffer.from('{"v":1}'), honest.mac),
    first: await post(honest.body, honest.mac),
    replayed: await post(honest.body, honest.mac),
  });
}

const commands: Record<string, () => Promise<void>> = {
  f8: () => f8(args[0], args[1], 'v1/intents', JSON.stringify({ text: args[2] })),
  'f8-post': () => f8(args[0], args[1], args[2], args[3]),
  capture: () => capture(Number(args[0])),
  blast: () => blast(args[0], Number(args[1]), args[2]),
  'forge-joins': () => forgeJoins(args[0], args[1]),
};
if (!commands[command]) {
  console.error(`unknown command ${command}`);
  process.exit(2);
}
await commands[command]();
