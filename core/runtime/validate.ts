// The one validation behind `ppn validate`, start-up and reload: every problem in a pipeline file
// at once, each with where it is (line:column, JSON pointer, stage id).
import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { HOST_SERVICE, type ServiceDefinition, type StageKind } from './define-stage.js';
import { topologicalOrder } from './graph.js';
import { locate, pointerOf, pointerSegments } from './json-locate.js';
import { pipelineSchemaWith, type FileSection, type PipelineFile } from './pipeline-file.js';
import type { LoadedPlugin, PluginLoader } from './plugins.js';
import { checkSchema } from './schema-check.js';

export interface ValidationError {
  file: string;
  line: number;
  column: number;
  pointer: string;
  stageId?: string;
  message: string;
}

export interface ValidPipeline {
  file: string;
  baseDir: string;
  pipeline: PipelineFile;
  /** The stage definition of each stage id. */
  plugins: Map<string, LoadedPlugin>;
}

export type ValidationResult = { ok: true; valid: ValidPipeline } | { ok: false; errors: ValidationError[] };

export interface ValidateDeps {
  loader: PluginLoader;
  services: readonly ServiceDefinition[];
  /** Rules about the whole graph that the caller adds (the node's: core/node/graph-rules.ts). */
  graphRules?: readonly GraphRule[];
}

/** A stage as a graph rule sees it: its type's kind, and its config with the defaults filled in. */
export interface GraphStage {
  type: string;
  kind: StageKind;
  inputs: readonly string[];
  config: Readonly<Record<string, unknown>>;
}

/** What a graph rule judges: a file that is otherwise valid (schema, types, inputs, no cycle). */
export interface GraphView {
  pipeline: PipelineFile;
  stages: ReadonlyMap<string, GraphStage>;
}

/** A problem a graph rule finds, located by JSON pointer (`/stages/<id>/...` names the stage). */
export interface GraphProblem {
  pointer: string;
  message: string;
}

/**
 * A rule about what a graph may be, given by the caller: the runtime knows no stage type's
 * meaning, so a rule such as the node's direction rule (the diode) is passed in, and refuses a
 * file at validation, start-up and reload alike.
 */
export type GraphRule = (graph: GraphView) => GraphProblem[];

export async function validatePipelineFile(path: string, deps: ValidateDeps): Promise<ValidationResult> {
  const file = resolve(path);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    const why = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : (err as Error).message;
    return { ok: false, errors: [{ file, line: 1, column: 1, pointer: '', message: why }] };
  }
  return validatePipelineText(file, text, deps);
}

export async function validatePipelineText(file: string, text: string, deps: ValidateDeps): Promise<ValidationResult> {
  const located = locate(text);
  const errors: ValidationError[] = [];
  const report = (pointer: string, message: string) => {
    const segments = pointerSegments(pointer);
    const stageId = segments[0] === 'stages' && typeof segments[1] === 'string' ? segments[1] : undefined;
    errors.push({ file, ...located.at(pointer), pointer, ...(stageId && { stageId }), message });
  };

  if (located.parseErrors.length || !located.root) {
    for (const e of located.parseErrors) errors.push({ file, ...e.position, pointer: '', message: `invalid JSON: ${e.message}` });
    return { ok: false, errors };
  }
  const data = JSON.parse(text) as PipelineFile;
  const sectioned = deps.services.filter((s): s is ServiceDefinition & { section: FileSection } => s.section !== undefined);
  for (const p of checkSchema(pipelineSchemaWith(sectioned.map((s) => s.section)), data)) report(p.pointer, p.message);
  // Go on where the structure allows, so one run reports every problem.
  if (!isObject(data) || !isObject(data.stages)) return { ok: false, errors };
  const services_ = isObject(data.services) ? data.services : {};
  const pluginMap = isObject(data.plugins) ? data.plugins : {};
  const stageEntries = Object.entries(data.stages).filter(
    ([, spec]) => isObject(spec) && typeof spec.type === 'string' && Array.isArray(spec.inputs) && isObject(spec.config),
  );

  const baseDir = dirname(file);
  const services = new Map(deps.services.map((s) => [s.name, s]));
  for (const [name, config] of Object.entries(services_)) {
    const service = services.get(name);
    if (!service) report(pointerOf(['services', name]), `unknown service '${name}' (known: ${[...services.keys()].join(', ')})`);
    else for (const p of checkSchema(service.configSchema, config)) report(pointerOf(['services', name]) + p.pointer, p.message);
  }
  for (const service of sectioned) {
    const settings = (data as unknown as Record<string, unknown>)[service.section.key];
    if (isObject(settings)) for (const p of checkSchema(service.configSchema, settings)) report(`/${service.section.key}${p.pointer}`, p.message);
  }

  const plugins = new Map<string, LoadedPlugin>();
  for (const [id, spec] of stageEntries) {
    let plugin: LoadedPlugin;
    try {
      plugin = await deps.loader.load(spec.type, pluginMap[spec.type], baseDir);
    } catch (err) {
      report(pointerOf(['stages', id, 'type']), (err as Error).message);
      continue;
    }
    plugins.set(id, plugin);
    const def = plugin.definition;
    for (const p of checkSchema(def.configSchema, spec.config)) report(pointerOf(['stages', id, 'config']) + p.pointer, p.message);
    for (const token of def.services ?? []) {
      if (!services.has(token) && token !== HOST_SERVICE) report(pointerOf(['stages', id, 'type']), `stage type '${def.type}' needs service '${token}', which this host does not provide`);
    }
    spec.inputs.forEach((input, i) => {
      if (!(input in data.stages)) report(pointerOf(['stages', id, 'inputs', i]), `unknown input '${input}'`);
    });
    if (def.kind === 'source' && spec.inputs.length) report(pointerOf(['stages', id, 'inputs']), `'${def.type}' is a source and takes no inputs`);
    if (def.kind !== 'source' && !spec.inputs.length) report(pointerOf(['stages', id]), `'${def.type}' is a ${def.kind} and needs at least one input`);
  }
  const { cycle } = topologicalOrder(Object.fromEntries(stageEntries));
  if (cycle.length) report(pointerOf(['stages', cycle[0], 'inputs']), `cycle: ${[...cycle, cycle[0]].join(' -> ')}`);
  // Graph rules judge a well-formed graph only: on a broken one they would report echoes.
  if (!errors.length && deps.graphRules?.length) {
    const view: GraphView = {
      pipeline: data,
      stages: new Map(stageEntries.map(([id, spec]) => [id, { type: spec.type, kind: plugins.get(id)!.definition.kind, inputs: spec.inputs, config: spec.config }])),
    };
    for (const rule of deps.graphRules) for (const p of rule(view)) report(p.pointer, p.message);
  }

  return errors.length ? { ok: false, errors } : { ok: true, valid: { file, baseDir, pipeline: data, plugins } };
}

export function formatValidationError(e: ValidationError): string {
  const where = e.stageId ? ` (stage ${e.stageId})` : '';
  return `${e.file}:${e.line}:${e.column}: ${e.pointer || '/'}: ${e.message}${where}`;
}

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
