import { expect } from 'chai';
import { loadCatalog, type Catalog } from '../../core/catalog/index.js';
import { demoFleet, type Abstention, type Draft, type Fleet, type RouteResult } from '../../core/contracts/index.js';
import { createRouter } from '../../plugins/slm-router/router.js';

const catalog = loadCatalog();

function draft(r: RouteResult): Draft {
  expect(r.intent, `abstained: ${r.intent === null ? `${r.reason}: ${r.explanation}` : ''}`).to.be.a('string');
  return r as Draft;
}
function abstention(r: RouteResult): Abstention {
  expect(r.intent, `drafted: ${r.intent !== null ? r.explanation : ''}`).to.equal(null);
  return r as Abstention;
}

describe('slm-router catalog backend', () => {
  const router = createRouter({ backend: 'catalog' }, catalog, demoFleet());
  const route = (text: string) => router.route(text);

  it('drafts the packet fields of a plain request', async () => {
    expect(await route('restart telemetry on leased')).to.deep.include({
      intent: 'restart-service', opcode: 0x03, arg: 1, argName: 'telemetry', target: 'leased', selector: 3, confirm: false,
    });
    const d = draft(await route('reboot onprem'));
    expect(d).to.deep.include({ intent: 'reboot', opcode: 0x0b, arg: 0, argName: null, target: 'onprem', selector: 2, confirm: true });
    expect(d.confidence).to.be.within(0, 1);
    expect(d.explanation).to.include("keyword 'reboot'").and.include('node onprem (selector 0x0002)');
  });

  it('reads paraphrases and any word order the same', async () => {
    for (const text of ['set the log level of leased to debug', 'leased: debug logging please', 'make leased log verbosely', 'debug log level for leased']) {
      expect(draft(await route(text)), text).to.deep.include({ intent: 'set-log-level', argName: 'debug', arg: 3, target: 'leased' });
    }
    for (const text of ['take onprem out of maintenance', 'onprem maintenance is finished', 'end the maintenance window on onprem']) {
      expect(draft(await route(text)), text).to.deep.include({ intent: 'exit-maintenance', target: 'onprem' });
    }
  });

  it('corrects typos in intents, arguments and names, and says so', async () => {
    const d = draft(await route('restrat the telemtry servise on leasd'));
    expect(d).to.deep.include({ intent: 'restart-service', argName: 'telemetry', target: 'leased' });
    expect(d.explanation).to.include("read 'restrat' as");
    expect(d.confidence).to.be.below(draft(await route('restart the telemetry service on leased')).confidence);
  });

  it('aims at addresses, "node N", aliases, groups and everyone with the right selector', async () => {
    expect(draft(await route('ping 10.8.0.3'))).to.deep.include({ target: 'leased', selector: 3 });
    expect(draft(await route('ping node 2'))).to.deep.include({ target: 'onprem', selector: 2 });
    expect(draft(await route('ping the on-premises box'))).to.deep.include({ target: 'onprem', selector: 2 });
    expect(draft(await route('ping the edge nodes'))).to.deep.include({ target: 'edge', selector: 0x0101 });
    for (const all of ['ping everyone', 'ping every node', 'ping the whole fleet', 'ping all nodes']) {
      expect(draft(await route(all)), all).to.deep.include({ target: 'all', selector: 0xffff });
    }
    // Two nodes that together are exactly a group go as that group.
    expect(draft(await route('rotate keys on onprem and leased'))).to.deep.include({ target: 'edge', selector: 0x0101 });
  });

  it('refuses the relay and the admin as targets, saying why', async () => {
    const relay = abstention(await route('reboot the relay'));
    expect(relay.reason).to.equal('target-takes-no-commands');
    expect(relay.explanation).to.include('hub');
    expect(relay.suggestions).to.include('reboot leased');
    expect(abstention(await route('set log level to debug on 10.8.0.10')).reason).to.equal('target-takes-no-commands');
    expect(abstention(await route('ping the admin node')).explanation).to.include('authority');
  });

  it('asks for a target when none is named, suggesting some', async () => {
    const a = abstention(await route('restart the sync service'));
    expect(a.reason).to.equal('no-target');
    expect(a.suggestions).to.include('restart sync on leased');
    expect(abstention(await route('ping 10.8.0.77')).reason).to.equal('unknown-target');
    expect(abstention(await route('reboot the database server')).reason).to.equal('unknown-target');
  });

  it('abstains on out-of-scope text', async () => {
    for (const text of ['what is the weather in Lisbon', 'delete the database', 'ssh into leased', 'tell me a joke about leased', 'order pizza for the team', '']) {
      expect(abstention(await route(text)).reason, text).to.equal('out-of-scope');
    }
  });

  it('abstains on two commands at once, a negated command, and a missing argument', async () => {
    expect(abstention(await route('reboot leased and ping onprem')).reason).to.equal('ambiguous');
    expect(abstention(await route('restart sync and udp on leased')).reason).to.equal('ambiguous');
    expect(abstention(await route("don't reboot leased")).reason).to.equal('negated');
    const missing = abstention(await route('set the log level on leased'));
    expect(missing.reason).to.equal('missing-argument');
    expect(missing.suggestions).to.include('set log level to debug on leased');
  });

  it('reads a question only as a read-only intent', async () => {
    expect(draft(await route('is leased alive?'))).to.deep.include({ intent: 'ping', target: 'leased' });
    expect(draft(await route("how's onprem doing?"))).to.deep.include({ intent: 'report-telemetry', target: 'onprem' });
    for (const q of ['is onprem quarantined?', 'when was leased last rebooted?', 'who put leased into maintenance?']) {
      const a = abstention(await route(q));
      expect(a.reason, q).to.equal('out-of-scope');
      expect(a.explanation, q).to.include('a question about');
    }
  });

  it('keeps prefixes and negations that turn a command around', async () => {
    expect(draft(await route('un-quarantine onprem'))).to.deep.include({ intent: 'release-quarantine', target: 'onprem' });
    expect(draft(await route('release onprem from isolation'))).to.deep.include({ intent: 'release-quarantine', target: 'onprem' });
    expect(abstention(await route('cancel the reboot of leased')).reason).to.equal('negated');
    expect(abstention(await route('do not quarantine onprem')).reason).to.equal('negated');
    // "cancel maintenance" is itself a way to say exit-maintenance.
    expect(draft(await route('cancel maintenance on leased'))).to.deep.include({ intent: 'exit-maintenance' });
  });

  it('rules out requests for something no command does, unless the intent itself uses the word', async () => {
    expect(abstention(await route('reboot leased tomorrow at noon')).reason).to.equal('out-of-scope');
    expect(abstention(await route('rotate the tires on onprem')).reason).to.equal('out-of-scope');
    expect(draft(await route('drop the log level on leased to warn'))).to.deep.include({ intent: 'set-log-level', argName: 'warn' });
  });

  it('a restart without a service is a reboot of the machine', async () => {
    expect(draft(await route('restart leased'))).to.deep.include({ intent: 'reboot', target: 'leased' });
  });

  it('every suggestion it makes routes to a draft', async () => {
    const texts = ['reboot the relay', 'restart sync', 'set log level on onprem', 'reboot leased and ping onprem', 'what is the weather', 'ping 10.8.0.9'];
    for (const text of texts) {
      for (const s of abstention(await route(text)).suggestions) draft(await route(s));
    }
  });

  it('is deterministic', async () => {
    const text = 'could you pls rotate the kyes on the edge group';
    expect(await route(text)).to.deep.equal(await route(text));
  });

  it('routes a site-specific intent of another catalog to another fleet', async () => {
    const site: Catalog = structuredClone(catalog);
    site.intents.push({
      name: 'flush-dns', opcode: 0x80, description: 'Flush the DNS resolver cache.', confirm: false,
      keywords: ['flush dns', 'dns cache', 'clear dns'], examples: ['flush dns on {target}', 'clear the dns cache of {target}'],
    });
    const fleet: Fleet = {
      nodes: [
        { id: 1, name: 'hub', aliases: [], address: '10.8.0.1', role: 'cloud-relay', groups: [], takesCommands: false },
        { id: 21, name: 'berlin', aliases: ['ber'], address: '10.8.0.21', role: 'os-infrastructure', groups: [4], takesCommands: true },
        { id: 22, name: 'paris', aliases: [], address: '10.8.0.22', role: 'os-infrastructure', groups: [4], takesCommands: true },
      ],
      groups: [{ id: 4, name: 'europe', aliases: ['eu'] }],
    };
    const r = createRouter({ backend: 'catalog' }, site, fleet);
    expect(draft(await r.route('clear the DNS cache on berlin'))).to.deep.include({ intent: 'flush-dns', opcode: 0x80, target: 'berlin', selector: 21 });
    expect(draft(await r.route('reboot europe'))).to.deep.include({ target: 'europe', selector: 0x0104 });
    expect(abstention(await r.route('reboot leased')).reason).to.equal('no-target');
  });

  it('refuses a fleet whose names collide', () => {
    const fleet = demoFleet();
    fleet.nodes[2].aliases.push('on-prem');
    expect(() => createRouter({ backend: 'catalog' }, catalog, fleet)).to.throw("'on-prem' names both node onprem and node leased");
  });

  it('reports itself ready', async () => {
    expect(await router.status()).to.deep.include({ backend: 'catalog', state: 'ready' });
  });
});
