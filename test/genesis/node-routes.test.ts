import { expect } from 'chai';
import { nodeRoute } from '../../core/genesis/node-routes.js';
import { adminRegistry } from './support.js';

describe('F8 node routes added by genesis', () => {
  const { pairing } = adminRegistry();
  const registry = pairing.registry;
  const post = (path: string, body: unknown) => nodeRoute('POST', path, registry, async () => body);

  it('renames a node, audited, with the same refusals as the CLI', async () => {
    expect(await post('/v1/nodes/10/rename', { name: 'control' })).to.deep.include({ status: 200 });
    expect(registry.node(10)!.name).to.equal('control');
    expect(registry.auditLog(1)[0]).to.deep.include({ actor: 'operator', action: 'node.name' });
    expect(await post('/v1/nodes/99/rename', { name: 'x' })).to.deep.equal({ status: 404, body: { error: 'no node with id 99' } });
    expect((await post('/v1/nodes/10/rename', { name: 'Bad' }))!.status).to.equal(400);
    expect((await post('/v1/nodes/10/rename', { name: 'x', extra: 1 }))!.status).to.equal(400);
  });

  it('approves and revokes with the refusals of the CLI: only a pending node is approved, never the authority revoked', async () => {
    expect((await post('/v1/nodes/10/approve', {}))!.status).to.equal(409);
    expect(await post('/v1/nodes/99/revoke', {})).to.deep.equal({ status: 404, body: { error: 'no node with id 99' } });
  });

  it('leaves every other route to F8', async () => {
    expect(await post('/v1/nodes/10/promote', {})).to.equal(undefined);
    expect(await nodeRoute('GET', '/v1/nodes/10/rename', registry, async () => ({}))).to.equal(undefined);
  });
});
