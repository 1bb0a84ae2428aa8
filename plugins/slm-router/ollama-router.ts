// The model backend: asks an Ollama server, constrained by a JSON Schema built from the catalog
// and the fleet, at temperature 0. The answer is parsed, checked against that schema and then
// against the catalog and the fleet; it is never trusted beyond that. Every way the server can
// fail (down, model missing, too slow, nonsense) becomes a clear state, never an exception.
import { Ollama } from 'ollama';
import { checkSchema, formatProblems, OLLAMA_DEFAULTS, type Abstention, type AbstainReason, type BackendState, type BackendStatus, type Catalog, type Fleet, type OllamaConfig, type RouteResult } from '../../core/sdk/index.js';
import { commandTargets } from './fleet.js';
import { makeDraft } from './draft.js';
import { suggestFor } from './suggestions.js';
import { aim, describe, type Mention } from './targets.js';

/** A model's answer that passed every check; the model's own certainty is not measured. */
const MODEL_CONFIDENCE = 0.75;
const NONE = 'none';

export interface ModelAnswer {
  intent: string;
  argument: string;
  target: string;
}

export interface OllamaRouter {
  route(text: string): Promise<RouteResult>;
  /** Asks the server whether the model is there. */
  status(): Promise<BackendStatus>;
}

/** The `format` of the request: the model can only name intents, arguments and targets that exist. */
export function answerSchema(catalog: Catalog, fleet: Fleet): Record<string, unknown> {
  const args = [...new Set(catalog.intents.flatMap((i) => i.argument?.values.map((v) => v.name) ?? []))];
  const targets = [...fleet.nodes.map((n) => n.name), ...commandTargets(fleet).map((t) => t.name)];
  return {
    type: 'object',
    additionalProperties: false,
    required: ['intent', 'argument', 'target'],
    properties: {
      intent: { type: 'string', enum: [...catalog.intents.map((i) => i.name), NONE] },
      argument: { type: 'string', enum: [...args, NONE] },
      target: { type: 'string', enum: [...new Set(targets), NONE] },
    },
  };
}

export function systemPrompt(catalog: Catalog, fleet: Fleet): string {
  const intents = catalog.intents.map((i) => {
    const arg = i.argument ? ` Argument: one of ${i.argument.values.map((v) => v.name).join(', ')}.` : ' Argument: none.';
    return `- ${i.name}: ${i.description}${arg}`;
  });
  const targets = [
    ...fleet.nodes.map((n) => {
      const names = [...n.aliases, n.address].join(', ');
      return `- ${n.name} (${names}): ${n.takesCommands ? `a ${n.role} node` : 'takes no commands'}`;
    }),
    ...fleet.groups.map((g) => `- ${g.name} (${g.aliases.join(', ')}): group of ${fleet.nodes.filter((n) => n.groups.includes(g.id)).map((n) => n.name).join(', ')}`),
    '- all (everyone, every node, the whole fleet): every node that takes commands',
  ];
  return [
    'You turn one request of a fleet operator into one command. Answer only with JSON: {"intent", "argument", "target"}.',
    'Intents:',
    ...intents,
    'Targets:',
    ...targets,
    `Use "${NONE}" for the intent when the request is not one of these intents, for the argument when the intent has none, and for the target when the request names none. Never guess a target.`,
    `Use "${NONE}" for the intent when the request says not to do it, asks a question about it, or tells of it in the past; and for the target when the request leaves out some of the nodes it would reach ("all except …"). Every answer is checked against what the request refuses.`,
  ].join('\n');
}

export function createOllamaRouter(catalog: Catalog, fleet: Fleet, config: OllamaConfig): OllamaRouter {
  const client = new Ollama({ host: config.host, fetch: fetchWithTimeout(config.timeoutMs) });
  const format = answerSchema(catalog, fleet);
  const system = systemPrompt(catalog, fleet);
  const where = `ollama ${config.model} at ${config.host}`;
  function unavailable(err: unknown): Abstention {
    const failure = classify(err, config);
    return abstain('backend-unavailable', `${where}: ${failure.detail}`);
  }

  async function route(text: string): Promise<RouteResult> {
    let content: string;
    try {
      const response = await client.chat({
        model: config.model,
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: text },
        ],
        format,
        options: { temperature: 0 },
        stream: false,
      });
      content = response.message?.content ?? '';
    } catch (err) {
      return unavailable(err);
    }
    return judge(content);
  }

  /** Everything the model says is checked; what does not fit is rejected with the reason. */
  function judge(content: string): RouteResult {
    let answer: unknown;
    try {
      answer = JSON.parse(content);
    } catch {
      return abstain('rejected-answer', `${where} answered with malformed JSON: ${JSON.stringify(content.slice(0, 80))}`);
    }
    const problems = checkSchema(format, answer);
    if (problems.length) {
      return abstain('rejected-answer', `${where} answered outside the catalog: ${formatProblems(problems)}`);
    }
    const { intent: name, argument, target } = answer as ModelAnswer;
    if (name === NONE) return abstain('out-of-scope', `${where} found no intent of the catalog in the request`);
    const intent = catalog.intents.find((i) => i.name === name)!;
    const value = intent.argument?.values.find((v) => v.name === argument);
    if (intent.argument && !value) {
      if (intent.argument.required) return abstain('missing-argument', `${where}: ${name} needs one of ${intent.argument.values.map((v) => v.name).join(', ')}, got '${argument}'`, suggestFor(intent, commandTargets(fleet).slice(0, 1)));
    } else if (!intent.argument && argument !== NONE) {
      return abstain('rejected-answer', `${where} gave ${name} the argument '${argument}', which it does not take`);
    }
    if (target === NONE) return abstain('no-target', `${where}: ${name} understood, but no target named`, suggestFor(intent, commandTargets(fleet), value?.name));
    const aimed = aim(fleet, [mentionOf(fleet, target)]);
    if (!aimed.ok) return abstain(aimed.reason, `${where}: ${name} understood, but ${aimed.explanation}`, suggestFor(intent, commandTargets(fleet), value?.name));
    const explanation = `${where}: ${intent.name}${value ? ` ${value.name} (${value.value})` : ''} on ${describe(aimed.target)}; answer checked against the catalog and the fleet`;
    return makeDraft(intent, value, aimed.target, MODEL_CONFIDENCE, explanation);
  }

  async function status(): Promise<BackendStatus> {
    try {
      await client.show({ model: config.model });
      return { backend: 'ollama', state: 'ready', detail: `${where}: model present` };
    } catch (err) {
      const failure = classify(err, config);
      return { backend: 'ollama', state: failure.state, detail: `${where}: ${failure.detail}` };
    }
  }

  return { route, status };
}

function mentionOf(fleet: Fleet, name: string): Mention {
  const node = fleet.nodes.find((n) => n.name === name);
  const target = commandTargets(fleet).find((t) => t.name === name);
  return { start: 0, end: 1, text: name, ...(target ? { target } : node && { refused: node }) };
}

function abstain(reason: AbstainReason, explanation: string, suggestions: string[] = []): Abstention {
  return { intent: null, reason, explanation, suggestions };
}

/** The client has no timeout of its own: every request it makes carries one. */
function fetchWithTimeout(timeoutMs: number): typeof fetch {
  return (input, init) => {
    const timeout = AbortSignal.timeout(timeoutMs);
    return fetch(input, { ...init, signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout });
  };
}

/** What went wrong, as a state an operator can act on. */
export function classify(err: unknown, config: OllamaConfig): { state: Exclude<BackendState, 'ready' | 'degraded'>; detail: string } {
  const e = err as { name?: string; message?: string; status_code?: number; cause?: { code?: string; message?: string } };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return { state: 'timeout', detail: `no answer within ${config.timeoutMs} ms` };
  if (e?.name === 'ResponseError' && e.status_code === 404) return { state: 'model-missing', detail: `model not found on the server (ollama pull ${config.model})` };
  // fetch's own failure: refused, unresolvable, or a port fetch will not use.
  if (e instanceof TypeError && e.cause) return { state: 'unreachable', detail: `server unreachable (${e.cause.code ?? e.cause.message})` };
  if (e?.name === 'ResponseError') return { state: 'error', detail: `server error ${e.status_code}: ${e.message}` };
  return { state: 'error', detail: e?.message ?? String(err) };
}
