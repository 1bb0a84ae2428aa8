// The userspace WireGuard device's live identity change, over real UDP on loopback: while a key
// change is under way the device answers handshakes for its old and its new key, so a peer that
// already knows the new key and one that still knows the old one both reach it; after
// setPrivateKey its own handshakes use the new key, sessions up stay up, and once it stops
// answering the old key a peer still using it is refused (bad mac1).
import { expect } from 'chai';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { createDevice, type Device, type DropEvent } from '../../core/wireguard/device.js';
import { nextEvent, nextHandshake, nextUdp } from '../wireguard/support.js';

const loopback = (address: string, secret = generateSecret()) => createDevice({ privateKey: secret, address, bindAddress: '127.0.0.1' });
const peerOf = (d: Device, allowedIPs: string[], publicKey = d.publicKey) => ({ publicKey, allowedIPs, endpoint: `127.0.0.1:${d.port}` });

function echo(d: Device, port: number): void {
  d.bindUdp(port, (payload, from) => d.sendUdp(port, from.address, from.port, payload));
}

async function roundTrip(from: Device, to: string, port: number): Promise<string> {
  const reply = nextUdp(from, port);
  from.sendUdp(port, to, 7, Buffer.from(`hello from ${from.address}`));
  return (await reply).payload.toString();
}

describe('identity key: the device changes its own key live', () => {
  const devices: Device[] = [];
  afterEach(async () => Promise.all(devices.splice(0).map((d) => d.close())));

  it('answers the old and the new key during the change, uses the new one after, and refuses the old once it stops answering it', async () => {
    const oldSecret = generateSecret();
    const newSecret = generateSecret();
    const oldKey = formatKey(publicKeyOf(oldSecret));
    const newKey = formatKey(publicKeyOf(newSecret));
    const node = await loopback('10.0.0.1', oldSecret);
    const early = await loopback('10.0.0.2'); // learns the new key before the node switches
    const late = await loopback('10.0.0.3'); // still has the old key after it switched
    devices.push(node, early, late);
    for (const d of [early, late]) {
      node.addPeer(peerOf(d, [`${d.address}/32`]));
      echo(d, 7);
    }
    early.addPeer(peerOf(node, ['10.0.0.1/32']));
    late.addPeer(peerOf(node, ['10.0.0.1/32']));
    echo(node, 7);
    expect(await roundTrip(node, '10.0.0.2', 40000)).to.equal('hello from 10.0.0.1');

    // Under way: the node also answers for the new key; `early` replaces its entry and reaches it.
    node.answerAlso(newSecret);
    expect(node.answering()).to.deep.equal([newKey]);
    early.removePeer(oldKey);
    early.addPeer(peerOf(node, ['10.0.0.1/32'], newKey));
    const earlyHandshake = nextHandshake(early);
    expect(await roundTrip(early, '10.0.0.1', 40001)).to.equal('hello from 10.0.0.2');
    expect(await earlyHandshake).to.deep.include({ publicKey: newKey, initiator: true });
    expect(node.publicKey).to.equal(oldKey);

    // Switched: its own key is the new one, the old one still answered; the session with early stays up.
    const before = node.peerStats(early.publicKey)!.handshakes;
    node.setPrivateKey(newSecret);
    expect([node.publicKey, node.answering()]).to.deep.equal([newKey, [oldKey]]);
    expect(await roundTrip(node, '10.0.0.2', 40002)).to.equal('hello from 10.0.0.1');
    expect(node.peerStats(early.publicKey)!.handshakes).to.equal(before);
    // `late` still knows only the old key and still gets in.
    const lateHandshake = nextHandshake(late);
    expect(await roundTrip(late, '10.0.0.1', 40003)).to.equal('hello from 10.0.0.3');
    expect(await lateHandshake).to.deep.include({ publicKey: oldKey, initiator: true });
    // A handshake the node starts now is made with the new key: early (new key) takes it.
    early.removePeer(newKey);
    early.addPeer(peerOf(node, ['10.0.0.1/32'], newKey));
    node.removePeer(early.publicKey);
    node.addPeer(peerOf(early, ['10.0.0.2/32']));
    const fresh = nextHandshake(node);
    expect(await roundTrip(node, '10.0.0.2', 40004)).to.equal('hello from 10.0.0.1');
    expect(await fresh).to.deep.include({ publicKey: early.publicKey, initiator: true });

    // The overlap over: a handshake for the old key is refused before any DH.
    expect(node.stopAnswering(oldKey)).to.equal(true);
    expect(node.stopAnswering(newKey), 'its own key cannot be dropped').to.equal(false);
    late.removePeer(oldKey);
    late.addPeer(peerOf(node, ['10.0.0.1/32'], oldKey));
    const refused = nextEvent<DropEvent>((l) => node.on('drop', l), (l) => node.off('drop', l), 5000, (e) => e.reason === 'handshake: bad mac1');
    late.sendUdp(40005, '10.0.0.1', 7, Buffer.from('too late'));
    expect((await refused).reason).to.equal('handshake: bad mac1');
  });

  it('refuses to take a peer\'s key as its own, and a peer with a key it answers for', async () => {
    const node = await loopback('10.0.0.1');
    const peer = await loopback('10.0.0.2');
    devices.push(node, peer);
    const pending = generateSecret();
    node.answerAlso(pending);
    expect(() => node.addPeer({ publicKey: publicKeyOf(pending), allowedIPs: ['10.0.0.9/32'] })).to.throw(/answers for/);
    const peerSecret = generateSecret();
    node.addPeer({ publicKey: publicKeyOf(peerSecret), allowedIPs: ['10.0.0.2/32'] });
    expect(() => node.setPrivateKey(peerSecret)).to.throw(/a peer's/);
    expect(node.answering()).to.deep.equal([formatKey(publicKeyOf(pending))]);
  });
});
