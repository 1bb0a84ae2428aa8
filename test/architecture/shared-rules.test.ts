// One of each rule: names, endpoints and the address plan are each decided in one module, and
// every schema and parser that checks them accepts exactly the same texts.
import { expect } from 'chai';
import { MESH_NETWORK, NODE_ADDRESS_PATTERN, nodeAddress, nodeId } from '../../core/fleet/addresses.js';
import { isName, NAME_PATTERN, uniqueName } from '../../core/fleet/names.js';
import { joinKeys, newNonce, openRequest, sealRequest } from '../../core/genesis/join.js';
import { membershipSchema } from '../../core/membership/membership.js';
import { formatKey, generateSecret, publicKeyOf } from '../../core/keys/index.js';
import { pipelineSchema } from '../../core/runtime/pipeline-file.js';
import type { JsonSchema } from '../../core/runtime/define-stage.js';
import { checkSchema } from '../../core/runtime/schema-check.js';
import { ENDPOINT_PATTERN, EndpointError, LISTEN_PATTERN, parseEndpoint, parseListen } from '../../core/underlay/endpoint.js';

const accepts = (schema: JsonSchema, value: unknown) => checkSchema(schema, value).length === 0;

describe('one rule for names', () => {
  const longest = `a${'b'.repeat(62)}`;
  const texts = ['edge', 'os-infrastructure', 'a', longest, `${longest}c`, 'Edge', '1edge', 'edge_node', '', '-edge'];

  it('the pipeline file, the join request and the membership file accept the same roles', () => {
    const authority = generateSecret();
    const node = generateSecret();
    const roleProperty = (pipelineSchema.properties as Record<string, JsonSchema>).role;
    const membershipRole = (membershipSchema.properties as Record<string, JsonSchema>).role;
    for (const role of texts) {
      const request = { v: 1 as const, publicKey: formatKey(publicKeyOf(node)), name: 'edge', role, listen: '192.0.2.7:51820', at: Date.now(), nonce: newNonce() };
      const sealed = sealRequest(joinKeys(node, publicKeyOf(authority)), request);
      const joinAccepts = openRequest(sealed.body, sealed.mac, authority).ok;
      expect([role, accepts(roleProperty, role), joinAccepts, accepts(membershipRole, role)]).to.deep.equal([role, isName(role), isName(role), isName(role)]);
    }
    expect(texts.filter(isName)).to.deep.equal(['edge', 'os-infrastructure', 'a', longest]);
    expect(NAME_PATTERN).to.equal('^[a-z][a-z0-9-]{0,62}$');
  });

  it('a name made unique stays a name', () => {
    expect(uniqueName(longest, new Set([longest]))).to.equal(`${longest.slice(0, 61)}-2`);
    expect(isName(uniqueName(longest, new Set([longest])))).to.equal(true);
  });
});

describe('one rule for underlay endpoints', () => {
  const texts = [
    '192.0.2.1:51820', '0.0.0.0:1', '255.255.255.255:65535', '10.0.0.1:0',
    '256.0.0.1:80', '1.2.3:80', '01.2.3.4:80', '1.2.3.4:65536', '1.2.3.4:080', '1.2.3.4', 'host.local:80', ' 1.2.3.4:80', '1.2.3.4:80\n', '[::1]:80',
  ];

  it('ENDPOINT_PATTERN accepts exactly what parseEndpoint parses, LISTEN_PATTERN what parseListen parses', () => {
    const parses = (parse: (t: string) => unknown, t: string) => {
      try {
        parse(t);
        return true;
      } catch (err) {
        expect(err).to.be.instanceOf(EndpointError);
        return false;
      }
    };
    for (const t of texts) {
      expect([t, new RegExp(ENDPOINT_PATTERN).test(t)]).to.deep.equal([t, parses(parseEndpoint, t)]);
      expect([t, new RegExp(LISTEN_PATTERN).test(t)]).to.deep.equal([t, parses(parseListen, t)]);
    }
    expect(texts.filter((t) => parses(parseEndpoint, t))).to.deep.equal(['192.0.2.1:51820', '0.0.0.0:1', '255.255.255.255:65535']);
    expect(parseListen('10.0.0.1:0')).to.deep.equal({ host: '10.0.0.1', port: 0 });
  });

  it('the refusal names what was wrong', () => {
    expect(() => parseEndpoint('1.2.3.4', '--join')).to.throw("--join must be IPv4:port (for example 192.0.2.1:51820), got '1.2.3.4'");
  });
});

describe('one address plan', () => {
  it('node ids and mesh addresses map one to one inside the /24, without network and broadcast', () => {
    expect(MESH_NETWORK).to.equal('10.8.0.0/24');
    for (let id = 1; id <= 254; id++) expect(nodeId(nodeAddress(id))).to.equal(id);
    for (const bad of ['10.8.0.0', '10.8.0.255', '10.8.0.07', '10.8.1.7', '10.8.0.', 'x10.8.0.7', '10.8.0.7 ']) {
      expect([bad, nodeId(bad)]).to.deep.equal([bad, undefined]);
      expect([bad, new RegExp(NODE_ADDRESS_PATTERN).test(bad)]).to.deep.equal([bad, false]);
    }
    expect(new RegExp(NODE_ADDRESS_PATTERN).test('10.8.0.254')).to.equal(true);
    expect(() => nodeAddress(0)).to.throw(RangeError);
    expect(() => nodeAddress(255)).to.throw(RangeError);
  });
});
