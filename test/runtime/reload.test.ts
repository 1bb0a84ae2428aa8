import { expect } from 'chai';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { nodePluginFolders, nodeServices } from '../../core/node/services.js';
import { defineService } from '../../core/runtime/define-stage.js';
import { startHost, type Host } from '../../core/runtime/host.js';
import { createPluginLoader } from '../../core/runtime/plugins.js';
import { collect, scratchDir, startTestHost, writePipeline } from '../support/pipeline.js';

const udpGraph = (middleMeta: object, extra: object = {}) => ({
  role: 'test',
  node: { name: 'reload-test' },
  stages: {
    source: { type: 'udp-source', config: { port: 0, receiveBufferBytes: 16 * 1024 * 1024 } },
    middle: { type: 'tag', inputs: ['source'], config: { meta: middleMeta } },
    sink: { type: 'log-sink', inputs: ['middle'], config: { level: 'debug' } },
    ...extra,
  },
});

const generatorGraph = (stages: object = {}, plugins: object = {}) => ({
  role: 'test',
  node: { name: 'reload-test' },
  plugins,
  stages: {
    source: { type: 'generate', config: { perSecond: 2000 } },
    middle: { type: 'tag', inputs: ['source'], config: { meta: { v: 1 } } },
    sink: { type: 'log-sink', inputs: ['middle'], config: { level: 'debug' } },
    ...stages,
  },
});

/** A stage type holding the registry service (its status: how many nodes the registry has). */
const USES_REGISTRY = `export default { type: 'uses-registry', kind: 'transform', description: 'holds the registry', services: ['registry'], configSchema: { type: 'object' },
  create: (ctx) => { const registry = ctx.services.get('registry'); return { connect: (input$) => input$, close: async () => {}, status: () => ({ nodes: registry.nodes().length }) }; } };`;

describe('hot reload', function () {
  this.timeout(60_000);
  let host: Host | undefined;
  afterEach(async () => {
    await host?.stop(Date.now() + 2_000);
    host = undefined;
  });

  it('replaces a middle stage 20 times under 5,000+ envelopes/s without losing or duplicating one', async () => {
    const dir = scratchDir('swap');
    const file = writePipeline(dir, udpGraph({ v: 0 }));
    host = await startTestHost(file);
    const source = host.instanceOf('source')!;
    const sink = host.instanceOf('sink')!;
    const address = (source.stage.status!().address as string).split(':');
    const port = Number(address[1]);
    const out = collect(host, 'sink');

    const TOTAL = 24_000;
    const PER_TICK = 70; // every 10 ms: 7,000 datagrams/s
    const client: Socket = createSocket('udp4');
    let sent = 0;
    const sending = new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        for (let i = 0; i < PER_TICK && sent < TOTAL; i++) {
          const b = Buffer.alloc(4);
          b.writeUInt32BE(++sent);
          client.send(b, port, '127.0.0.1');
        }
        if (sent >= TOTAL) {
          clearInterval(timer);
          resolve();
        }
      }, 10);
    });

    for (let v = 1; v <= 20; v++) {
      await out.waitFor(v * 1000);
      writePipeline(dir, udpGraph({ v }));
      const result = await host.reload();
      expect(result).to.include({ ok: true });
      expect(result.changed).to.deep.equal(['middle']);
    }
    await sending;
    await out.waitFor(TOTAL, 20_000);
    client.close();

    const seen = new Map<number, number>();
    for (const env of out.items) {
      const seq = (env.body as Buffer).readUInt32BE(0);
      seen.set(seq, (seen.get(seq) ?? 0) + 1);
    }
    expect(out.items.length, 'no duplicates').to.equal(TOTAL);
    expect(seen.size, 'none lost').to.equal(TOTAL);
    const versions = new Set(out.items.map((e) => e.meta.v));
    expect(versions.size, 'every version of the middle stage carried traffic').to.be.greaterThan(15);

    expect(host.instanceOf('source'), 'the UDP source was not rebuilt').to.equal(source);
    expect(host.instanceOf('sink'), 'the sink was not rebuilt').to.equal(sink);
    const status = host.status();
    expect(status.stages.source.details!.address).to.equal(`127.0.0.1:${port}`);
    expect(status.stages.middle.generation).to.equal(21);
    expect(status.stages.source.counters.builds).to.equal(1);
    expect(status.reloads).to.include({ count: 20, failed: 0 });
    expect(status.drops).to.deep.equal({});
    expect(status.inflight).to.equal(0);
  });

  it('rejects a reload of an invalid file and keeps the running graph', async () => {
    const dir = scratchDir('invalid');
    const file = writePipeline(dir, generatorGraph());
    host = await startTestHost(file);
    const before = ['source', 'middle', 'sink'].map((id) => host!.instanceOf(id));
    writeFileSync(file, '{ "role": "test", "node": { "name": "reload-test" }, "stages": { "source": { "type": "generate", "config": { "perSecond": -5 } } } ');
    const result = await host.reload();
    expect(result.ok).to.equal(false);
    expect(result.errors.join('\n')).to.match(/pipeline\.json:1:\d+: \/: invalid JSON/);
    expect(['source', 'middle', 'sink'].map((id) => host!.instanceOf(id))).to.deep.equal(before);
    const out = collect(host, 'sink');
    await out.waitFor(20);
    expect(host.status().reloads).to.include({ count: 0, failed: 1 });
    expect(host.status().reloads.lastError).to.match(/invalid JSON/);
  });

  it('rolls back when a new stage fails to start, leaving the old graph as it was', async () => {
    const dir = scratchDir('boom');
    writeFileSync(
      join(dir, 'boom.mjs'),
      `export default { type: 'boom', kind: 'transform', description: 'fails to start', configSchema: { type: 'object' },
        create() { throw new Error('no luck today'); } };`,
    );
    const file = writePipeline(dir, generatorGraph());
    host = await startTestHost(file);
    const before = ['source', 'middle', 'sink'].map((id) => host!.instanceOf(id));
    writePipeline(dir, generatorGraph({ middle: { type: 'tag', inputs: ['source'], config: { meta: { v: 2 } } }, extra: { type: 'boom', inputs: ['middle'] } }, { boom: './boom.mjs' }));
    const result = await host.reload();
    expect(result.ok).to.equal(false);
    expect(result.errors[0]).to.contain('no luck today');
    expect(['source', 'middle', 'sink'].map((id) => host!.instanceOf(id))).to.deep.equal(before);
    expect(Object.keys(host.status().stages)).to.deep.equal(['source', 'middle', 'sink']);
    const out = collect(host, 'sink');
    await out.waitFor(20);
    expect(out.items.every((e) => e.meta.v === 1)).to.equal(true);
  });

  it('re-imports a plugin whose module file changed, rebuilding only its stages', async () => {
    const dir = scratchDir('plugin');
    const plugin = (label: string) =>
      `import { map } from 'rxjs';
       export default { type: 'stamp', kind: 'transform', description: 'stamps a label', configSchema: { type: 'object' },
         create: () => ({ connect: (input$) => input$.pipe(map((env) => env.with({ meta: { ...env.meta, label: '${label}' } }))), close: async () => {} }) };`;
    writeFileSync(join(dir, 'stamp.mjs'), plugin('first'));
    const file = writePipeline(dir, generatorGraph({ sink: { type: 'stamp', inputs: ['middle'] } }, { stamp: './stamp.mjs' }));
    host = await startTestHost(file);
    const middle = host.instanceOf('middle');
    const firstOut = collect(host, 'sink');
    await firstOut.waitFor(5);
    firstOut.stop();
    expect(firstOut.items[0].meta.label).to.equal('first');

    writeFileSync(join(dir, 'stamp.mjs'), plugin('second'));
    expect(host.watchedFiles()).to.include(join(dir, 'stamp.mjs'));
    const result = await host.reload();
    expect(result.changed).to.deep.equal(['sink']);
    const out = collect(host, 'sink');
    await out.waitFor(5);
    expect(out.items.every((e) => e.meta.label === 'second')).to.equal(true);
    expect(host.instanceOf('middle')).to.equal(middle);
  });

  it('finds a stage type by package name, installed beside the pipeline file', async () => {
    const dir = scratchDir('package');
    const pkg = join(dir, 'node_modules', 'ppn-stamp-plugin');
    mkdirSync(pkg, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'ppn-stamp-plugin', version: '1.0.0', type: 'module', main: 'index.js' }));
    writeFileSync(
      join(pkg, 'index.js'),
      `export default { type: 'stamp', kind: 'transform', description: 'from a package', configSchema: { type: 'object' },
        create: () => ({ connect: (input$) => input$, close: async () => {} }) };`,
    );
    const file = writePipeline(dir, generatorGraph({ sink: { type: 'stamp', inputs: ['middle'] } }, { stamp: 'ppn-stamp-plugin' }));
    host = await startTestHost(file);
    // Installed packages change by reinstalling, not by editing: they are not watched.
    expect(host.watchedFiles()).to.not.include(join(pkg, 'index.js'));
    const out = collect(host, 'sink');
    await out.waitFor(3);
  });

  it('recreates a service whose settings changed, and rebuilds only the stages using it', async () => {
    const dir = scratchDir('service');
    writeFileSync(join(dir, 'uses-registry.mjs'), USES_REGISTRY);
    const graph = (dbFile: string) => ({
      ...generatorGraph({ held: { type: 'uses-registry', inputs: ['middle'] } }, { 'uses-registry': './uses-registry.mjs' }),
      services: { registry: { file: dbFile } },
    });
    const file = writePipeline(dir, graph('one.db'));
    host = await startTestHost(file);
    const [middle, held] = [host.instanceOf('middle'), host.instanceOf('held')];
    writePipeline(dir, graph('two.db'));
    const result = await host.reload();
    expect(result).to.include({ ok: true });
    expect(result.changed).to.deep.equal(['held']);
    expect(host.instanceOf('held')).to.not.equal(held);
    expect(host.instanceOf('middle')).to.equal(middle);
    expect(existsSync(join(host.instanceDir, 'two.db'))).to.equal(true);
  });

  it('adds and removes stages live', async () => {
    const dir = scratchDir('add-remove');
    const file = writePipeline(dir, generatorGraph());
    host = await startTestHost(file);
    const middle = host.instanceOf('middle');

    writePipeline(dir, generatorGraph({ audit: { type: 'tag', inputs: ['middle'], config: { meta: { audited: true } } } }));
    const added = await host.reload();
    expect(added).to.include({ ok: true });
    expect(added.added).to.deep.equal(['audit']);
    const audit = collect(host, 'audit');
    const sink = collect(host, 'sink');
    await audit.waitFor(10);
    await sink.waitFor(10);
    expect(host.instanceOf('middle')).to.equal(middle);

    writePipeline(dir, generatorGraph());
    const removed = await host.reload();
    expect(removed.removed).to.deep.equal(['audit']);
    expect(host.status().stages).to.not.have.property('audit');
    const after = collect(host, 'sink');
    await after.waitFor(10);
    expect(host.instanceOf('middle')).to.equal(middle);
  });

  it('reload_reuses_old_port: a changed UDP source closes before its successor binds the same port', async () => {
    const dir = scratchDir('port');
    const probe = createSocket('udp4');
    await new Promise<void>((r) => probe.bind(0, '127.0.0.1', () => r()));
    const port = probe.address().port;
    probe.close();
    const graph = (bufferBytes: number) => udpGraph({ v: 1 }, { source: { type: 'udp-source', config: { port, receiveBufferBytes: bufferBytes } } });
    const file = writePipeline(dir, graph(1 << 20));
    host = await startTestHost(file);
    const old = host.instanceOf('source');
    writePipeline(dir, graph(2 << 20));
    const result = await host.reload();
    expect(result).to.include({ ok: true });
    expect(result.changed).to.deep.equal(['source']);
    expect(host.instanceOf('source')).to.not.equal(old);
    expect(host.status().stages.source.details!.address).to.equal(`127.0.0.1:${port}`);

    const out = collect(host, 'sink');
    const client = createSocket('udp4');
    client.send(Buffer.from('after'), port, '127.0.0.1');
    await out.waitFor(1);
    client.close();
    expect((out.items[0].body as Buffer).toString()).to.equal('after');
  });

  it('a reload adding a stage that needs a service not running yet starts that service (as a cold start would)', async () => {
    const dir = scratchDir('new-service');
    writeFileSync(join(dir, 'uses-registry.mjs'), USES_REGISTRY);
    const file = writePipeline(dir, generatorGraph({}, { 'uses-registry': './uses-registry.mjs' }));
    host = await startTestHost(file);
    expect(host.status().services).to.not.include('registry');
    writePipeline(dir, generatorGraph({ held: { type: 'uses-registry', inputs: ['middle'] } }, { 'uses-registry': './uses-registry.mjs' }));
    const result = await host.reload();
    expect(result, result.errors.join('\n')).to.include({ ok: true });
    expect(result.added).to.deep.equal(['held']);
    expect(host.status().services).to.include('registry');
    expect(host.status().stages.held.details).to.deep.equal({ nodes: 0 });
    await collect(host, 'held').waitFor(5);
  });

  it('a service that fails to close is let go: the reload and the stop go on (no rejection)', async () => {
    const dir = scratchDir('close-fails');
    writeFileSync(
      join(dir, 'uses-flaky.mjs'),
      `export default { type: 'uses-flaky', kind: 'transform', description: 'uses the flaky service', services: ['flaky'], configSchema: { type: 'object' },
        create: () => ({ connect: (input$) => input$, close: async () => {} }) };`,
    );
    const flaky = defineService({ name: 'flaky', configSchema: { type: 'object' }, create: () => ({}), close: () => { throw new Error('EROFS: read-only file system'); } });
    const file = writePipeline(dir, generatorGraph({ odd: { type: 'uses-flaky', inputs: ['middle'] } }, { 'uses-flaky': './uses-flaky.mjs' }));
    host = await startHost({ file, services: [...nodeServices(), flaky], loader: createPluginLoader(nodePluginFolders()), logger: pino({ level: 'silent' }), retireTimeoutMs: 2_000 });
    writePipeline(dir, generatorGraph());
    const result = await host.reload(); // before: rejected with the close error (an unhandled rejection in `ppn run`)
    expect(result).to.deep.include({ ok: true, removed: ['odd'] });
    expect(host.status().services).to.not.include('flaky');
    const again = await host.reload();
    expect(again, 'the host goes on reloading').to.include({ ok: true });
  });

  it('counts drops by reason and settles every envelope exactly once', async () => {
    const dir = scratchDir('drops');
    const file = writePipeline(dir, {
      role: 'test',
      node: { name: 'drops' },
      stages: {
        source: { type: 'generate', config: { perSecond: 1000, count: 40 } },
        odd: { type: 'filter', inputs: ['source'], config: { kinds: ['nothing'], reason: 'wrong-kind' } },
        even: { type: 'log-sink', inputs: ['source'], config: { level: 'debug' } },
      },
    });
    host = await startTestHost(file);
    const even = collect(host, 'even');
    await even.waitFor(40);
    const status = host.status();
    expect(status.stages.odd.counters['dropped.wrong-kind']).to.equal(40);
    expect(status.stages.even.counters.delivered).to.equal(40);
    expect(status.drops).to.deep.equal({ 'wrong-kind': 40 });
    expect(status.inflight).to.equal(0);
  });
});
