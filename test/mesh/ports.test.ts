// The mesh's well-known ports are one table (core/mesh/ports.ts): two services that each bind one
// of them on the mesh address must never be given the same number (path probes and sync records
// once were, and the second bind failed with "port taken").
import { expect } from 'chai';
import * as ports from '../../core/mesh/ports.js';

describe('mesh ports', () => {
  it('every port bound on the mesh address is its own', () => {
    // The beacon travels on the underlay, not the mesh, so it may share the command port's number.
    const onMesh = Object.entries(ports).filter(([name]) => name !== 'BEACON_PORT');
    const byNumber = new Map<number, string[]>();
    for (const [name, port] of onMesh) byNumber.set(port as number, [...(byNumber.get(port as number) ?? []), name]);
    expect([...byNumber.values()].filter((names) => names.length > 1)).to.deep.equal([]);
  });
});
