// A fresh admin registry for genesis tests: the authority's own row (node 10) and the edge group.
import { join } from 'node:path';
import { DEFAULT_GROUPS } from '../../core/genesis/admission.js';
import { AUTHORITY_ID_META, openPairing, type Pairing } from '../../core/genesis/pairing.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/protocol/keys.js';
import { openRegistry } from '../../core/registry/registry.js';
import { scratchDir } from '../support/pipeline.js';

export const randomPublicKey = () => formatKey(publicKeyOf(generateSecret()));

export function adminRegistry(dir = scratchDir('genesis')): { dir: string; file: string; pairing: Pairing } {
  const file = join(dir, 'admin.db');
  const pairing = openPairing(openRegistry(file));
  for (const g of DEFAULT_GROUPS) pairing.registry.upsertGroup(g, 'test');
  pairing.registry.upsertNode(
    { id: 10, name: 'admin', aliases: [], address: '10.8.0.10', role: 'os-network-admin', groups: [], takesCommands: false, publicKey: randomPublicKey(), endpoint: '192.0.2.1:51820', status: 'active' },
    'test',
  );
  pairing.setMeta(AUTHORITY_ID_META, '10');
  return { dir, file, pairing };
}
