// The reload planner on its own: plain pipeline values in, a plan out; no stage or service starts.
// And the slot a swapped stage leaves behind, on its own.
import { expect } from 'chai';
import { Subject, type Observable } from 'rxjs';
import type { ServiceDefinition, StageDefinition } from '../../core/runtime/define-stage.js';
import { createEnvelope, type Envelope } from '../../core/runtime/envelope.js';
import type { PipelineFile, StageSpec } from '../../core/runtime/pipeline-file.js';
import { planReload, type PlannedPipeline, type ReloadPlan } from '../../core/runtime/reload-plan.js';
import { createSlot, type StageInstance } from '../../core/runtime/slot.js';

const service = (name: string, extra: Partial<ServiceDefinition> = {}): ServiceDefinition => ({
  name,
  configSchema: { type: 'object' },
  create: () => {
    throw new Error('the planner must not create services');
  },
  ...extra,
});
const definitions = [
  service('node'),
  service('mesh', { services: ['node'], section: { key: 'mesh', description: 'transport' } }),
  service('registry'),
  service('clock'),
];

/** Stage types of the table: what they hold and use. */
const types: Record<string, Pick<StageDefinition, 'services' | 'ports'>> = {
  'udp-source': { ports: (c: { port: number }) => [`udp:127.0.0.1:${c.port}`] },
  tag: {},
  'uses-registry': { services: ['registry'] },
  'uses-mesh': { services: ['mesh'] },
};

type Stages = Record<string, { type: string; inputs?: string[]; config?: Record<string, unknown> }>;
const pipeline = (stages: Stages, extra: { services?: PipelineFile['services']; mesh?: object; hashes?: Record<string, string> } = {}): PlannedPipeline => {
  const specs: Record<string, StageSpec> = Object.fromEntries(
    Object.entries(stages).map(([id, s]) => [id, { type: s.type, inputs: s.inputs ?? [], config: s.config ?? {} }]),
  );
  const file = { role: 'test', node: {}, services: extra.services ?? {}, plugins: {}, stages: specs, ...(extra.mesh && { mesh: extra.mesh }) };
  const plugins = new Map(Object.entries(specs).map(([id, s]) => [id, { hash: extra.hashes?.[s.type] ?? 'h1', definition: types[s.type] }]));
  return { pipeline: file as PipelineFile, plugins };
};

const base: Stages = {
  source: { type: 'udp-source', config: { port: 9000 } },
  middle: { type: 'tag', inputs: ['source'], config: { v: 1 } },
  sink: { type: 'tag', inputs: ['middle'] },
};

const nothing: Omit<ReloadPlan, 'order'> = {
  added: [],
  changed: [],
  removed: [],
  services: { changed: [], startFirst: [] },
  sharedPorts: {},
  retireFirst: [],
  closeFirst: [],
  buildBeside: [],
};

interface Row {
  name: string;
  prev: PlannedPipeline;
  next: PlannedPipeline;
  forced?: string[];
  expected: Partial<ReloadPlan>;
}

const rows: Row[] = [
  { name: 'the same file changes nothing', prev: pipeline(base), next: pipeline(base), expected: {} },
  {
    name: 'a changed middle stage is built beside the running one',
    prev: pipeline(base),
    next: pipeline({ ...base, middle: { ...base.middle, config: { v: 2 } } }),
    expected: { changed: ['middle'], buildBeside: ['middle'] },
  },
  {
    name: 'a changed input list is a change',
    prev: pipeline({ ...base, other: { type: 'tag', inputs: ['source'] } }),
    next: pipeline({ ...base, other: { type: 'tag', inputs: ['middle'] } }),
    expected: { changed: ['other'], buildBeside: ['other'] },
  },
  {
    name: 'added and removed stages; new ones are built inputs first',
    prev: pipeline({ ...base, audit: { type: 'tag', inputs: ['middle'] } }),
    next: pipeline({ ...base, b: { type: 'tag', inputs: ['a'] }, a: { type: 'tag', inputs: ['middle'] } }),
    expected: { added: ['b', 'a'], removed: ['audit'], buildBeside: ['a', 'b'] },
  },
  {
    name: 'a new plugin module (hash) rebuilds every stage of that type',
    prev: pipeline(base),
    next: pipeline(base, { hashes: { tag: 'h2' } }),
    expected: { changed: ['middle', 'sink'], buildBeside: ['middle', 'sink'] },
  },
  {
    name: 'a forced stage is rebuilt though its entry is the same',
    prev: pipeline(base),
    next: pipeline(base),
    forced: ['sink'],
    expected: { changed: ['sink'], buildBeside: ['sink'] },
  },
  {
    name: 'a changed source keeping its port: the old one closes first',
    prev: pipeline(base),
    next: pipeline({ ...base, source: { type: 'udp-source', config: { port: 9000, buffer: 2 } } }),
    expected: {
      changed: ['source'],
      sharedPorts: { 'udp:127.0.0.1:9000': 'source' },
      retireFirst: ['source'],
      closeFirst: ['source'],
    },
  },
  {
    name: 'a changed source on a new port runs beside the old one',
    prev: pipeline(base),
    next: pipeline({ ...base, source: { type: 'udp-source', config: { port: 9001 } } }),
    expected: { changed: ['source'], buildBeside: ['source'] },
  },
  {
    name: 'a new stage taking the port of a removed one waits for it to close',
    prev: pipeline({ ...base, old: { type: 'udp-source', config: { port: 7000 } } }),
    next: pipeline({ ...base, fresh: { type: 'udp-source', config: { port: 7000 } } }),
    expected: {
      added: ['fresh'],
      removed: ['old'],
      sharedPorts: { 'udp:127.0.0.1:7000': 'old' },
      retireFirst: ['old'],
      closeFirst: ['fresh'],
    },
  },
  {
    name: 'changed service settings recreate the service; its users close first, the rest stay',
    prev: pipeline({ ...base, held: { type: 'uses-registry', inputs: ['middle'] } }, { services: { registry: { file: 'one.db' } } }),
    next: pipeline({ ...base, held: { type: 'uses-registry', inputs: ['middle'] } }, { services: { registry: { file: 'two.db' } } }),
    expected: { changed: ['held'], services: { changed: ['registry'], startFirst: [] }, retireFirst: ['held'], closeFirst: ['held'] },
  },
  {
    name: 'a service built on a changed one is recreated with it (section settings: mesh on node)',
    prev: pipeline({ ...base, link: { type: 'uses-mesh', inputs: ['middle'] } }, { mesh: { mode: 'userspace' }, services: { node: { authority: false } } }),
    next: pipeline({ ...base, link: { type: 'uses-mesh', inputs: ['middle'] } }, { mesh: { mode: 'userspace' }, services: { node: { authority: true } } }),
    expected: { changed: ['link'], services: { changed: ['node', 'mesh'], startFirst: [] }, retireFirst: ['link'], closeFirst: ['link'] },
  },
  {
    name: 'changed section settings are a changed service',
    prev: pipeline({ ...base, link: { type: 'uses-mesh', inputs: ['middle'] } }, { mesh: { mode: 'userspace' } }),
    next: pipeline({ ...base, link: { type: 'uses-mesh', inputs: ['middle'] } }, { mesh: { mode: 'os' } }),
    expected: { changed: ['link'], services: { changed: ['mesh'], startFirst: [] }, retireFirst: ['link'], closeFirst: ['link'] },
  },
  {
    name: 'a new stage needing a service not running yet: the service starts first, the stage beside',
    prev: pipeline(base),
    next: pipeline({ ...base, held: { type: 'uses-registry', inputs: ['middle'] } }),
    expected: { added: ['held'], services: { changed: [], startFirst: ['registry'] }, buildBeside: ['held'] },
  },
  {
    name: 'a new stage needing a new service and what it is built on starts both, dependencies first',
    prev: pipeline(base),
    next: pipeline({ ...base, link: { type: 'uses-mesh', inputs: ['middle'] } }),
    expected: { added: ['link'], services: { changed: [], startFirst: ['node', 'mesh'] }, buildBeside: ['link'] },
  },
];

describe('reload planner', () => {
  for (const row of rows) {
    it(row.name, () => {
      const plan = planReload(row.prev, row.next, new Set(row.forced ?? []), definitions);
      const { order, ...rest } = plan;
      expect(rest).to.deep.equal({ ...nothing, ...row.expected });
      expect(order).to.have.members(Object.keys(row.next.pipeline.stages));
    });
  }
});

describe('slot buffer while a stage is swapped', () => {
  it('holds up to its limit, drops the rest as slot-buffer-full, and passes on what it held', () => {
    const dropped: string[] = [];
    const slot = createSlot('s', (_env, reason) => dropped.push(reason), { bufferLimit: 100 });
    const passed: Envelope[] = [];
    const input = new Subject<Envelope>();
    input.subscribe((env) => passed.push(env));
    slot.pause();
    for (let i = 0; i < 150; i++) slot.push(createEnvelope('k', i));
    expect(dropped).to.have.length(50);
    expect(new Set(dropped)).to.deep.equal(new Set(['slot-buffer-full']));
    slot.attach({ stage: { connect: (in$: Observable<Envelope>) => in$, close: async () => {} }, input, generation: 1 } as unknown as StageInstance, () => {});
    slot.resume();
    expect(passed.map((e) => e.body)).to.deep.equal([...Array(100).keys()]);
  });
});
