// Targets as sets: a request naming nodes that no one group covers (or what an exclusion leaves)
// drafts the set, each member with its selector, groups kept as groups; the signer gives every
// node one packet under one counter, carrying its member's selector.
import { expect } from 'chai';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { loadCatalog } from '../../core/catalog/index.js';
import { demoFleet, NODE, REGISTRY, type Draft, type Fleet, type OutboundCommand, type RoutedIntent } from '../../core/sdk/index.js';
import { startStage } from '../../core/sdk/testing.js';
import signer from '../../plugins/signer/index.js';
import { createRouter } from '../../plugins/slm-router/router.js';
import { world } from '../plugins/support.js';

const demo = demoFleet();
const fleet: Fleet = {
  nodes: [
    ...demo.nodes,
    { id: 4, name: 'db', aliases: ['database'], address: '10.8.0.4', role: 'os-infrastructure', groups: [], takesCommands: true },
    { id: 5, name: 'web', aliases: [], address: '10.8.0.5', role: 'os-infrastructure', groups: [2], takesCommands: true },
  ],
  groups: [...demo.groups, { id: 2, name: 'dmz', aliases: [] }],
};
const router = createRouter({ backend: 'catalog' }, loadCatalog(), fleet);
const route = async (text: string) => {
  const d = (await router.route(text)) as Draft;
  return { intent: d.intent, target: d.target, targets: d.targets };
};

describe('targets as sets', () => {
  it('drafts a list of nodes that no group covers as the set, each with its selector', async () => {
    expect(await route('reboot leased and db')).to.deep.equal({ intent: 'reboot', target: 'leased, db', targets: [{ name: 'leased', selector: 3 }, { name: 'db', selector: 4 }] });
    expect(await route('ping onprem, web')).to.deep.equal({ intent: 'ping', target: 'onprem, web', targets: [{ name: 'onprem', selector: 2 }, { name: 'web', selector: 5 }] });
  });

  it('keeps groups as groups, and a list that is exactly a group goes as the group', async () => {
    expect(await route('reboot the edge group and db')).to.deep.equal({ intent: 'reboot', target: 'edge, db', targets: [{ name: 'edge', selector: 0x0101 }, { name: 'db', selector: 4 }] });
    expect(await route('reboot onprem and leased')).to.deep.equal({ intent: 'reboot', target: 'edge', targets: undefined });
    expect(await route('reboot web')).to.deep.equal({ intent: 'reboot', target: 'web', targets: undefined });
  });

  it('resolves an exclusion to the nodes that remain', async () => {
    expect(await route('reboot everything except leased and web')).to.deep.equal({ intent: 'reboot', target: 'onprem, db', targets: [{ name: 'onprem', selector: 2 }, { name: 'db', selector: 4 }] });
    expect(await route('reboot all nodes but db and web')).to.deep.equal({ intent: 'reboot', target: 'edge', targets: undefined });
    expect(await route('reboot the edge nodes except onprem')).to.deep.equal({ intent: 'reboot', target: 'leased', targets: undefined });
    const none = await router.route('reboot the edge group except onprem and leased');
    expect([none.intent, (none as { reason?: string }).reason]).to.deep.equal([null, 'no-target']);
  });

  it('signs a set into one packet per node under one counter, each with its member\'s selector', async () => {
    const w = world();
    try {
      for (const [id, groups] of [[2, [1]], [4, []]] as const) {
        w.registry.upsertNode({ id, name: `n${id}`, aliases: [], address: `10.8.0.${id}`, role: 'os-infrastructure', groups: [...groups], takesCommands: true, publicKey: formatKey(publicKeyOf(generateSecret())), status: 'active' }, 'test');
      }
      const kit = await startStage(signer, { config: {}, services: { [NODE]: w.adminIdentity, [REGISTRY]: w.registry } });
      const draft: Draft = {
        intent: 'ping', opcode: 1, arg: 0, argName: null, target: 'edge, n4', selector: 0x0101, confidence: 1, confirm: false, explanation: 'test',
        targets: [{ name: 'edge', selector: 0x0101 }, { name: 'n4', selector: 4 }],
      };
      const request: RoutedIntent = { text: 'ping the edge group and n4', actor: 'operator', dryRun: false, confirm: false, draft };
      kit.push('draft', request);
      const command = kit.outputs[0].body as OutboundCommand;
      const selectorOf = (bytes: Buffer) => bytes.readUInt16BE(3);
      expect(command.packets.map((p) => [p.nodeId, selectorOf(p.bytes)]).sort()).to.deep.equal([[2, 0x0101], [3, 0x0101], [4, 4]]);
      expect(w.registry.command(command.id)?.targets.map((t) => t.nodeId).sort()).to.deep.equal([2, 3, 4]);
      await kit.close();
    } finally {
      w.cleanup();
    }
  });
});
