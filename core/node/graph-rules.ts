// The Diode Standard as a property of every role graph, not an option of one stage: the node's
// graph rule, checked by `ppn validate`, at start-up and on every reload (core/runtime/validate.ts
// runs the rules its caller passes; docs/diode.md). Authority flows down only through the diode:
//  - on a node that is not the authority, nothing reaches an executor without passing a diode
//    (`pointsav-link`, side node), and nothing may send to the command port;
//  - on the authority, nothing accepts on the command port, no executor runs, and nothing reaches
//    udp-egress (the command sender) without passing a diode (side authority).
// So a role file with its diode removed, bypassed or set to the wrong side does not run: commands
// stop (fails closed) rather than go round it.
import { pointerOf } from '../runtime/json-locate.js';
import type { GraphProblem, GraphRule, GraphStage, GraphView } from '../runtime/validate.js';
import { COMMAND_PORT } from '../mesh/ports.js';

/** Stage types the rule gives a meaning to, by the name pipeline files use. */
export const DIODE_TYPE = 'pointsav-link';
export const EXECUTOR_TYPE = 'executor';
export const COMMAND_SENDER_TYPE = 'udp-egress';

export function nodeGraphRules(): GraphRule[] {
  return [diodeRule];
}

export const diodeRule: GraphRule = (graph) => {
  const authority = isAuthority(graph);
  const side = authority ? 'authority' : 'node';
  const problems: GraphProblem[] = [];
  const at = (id: string, ...rest: string[]) => pointerOf(['stages', id, ...rest]);

  for (const [id, stage] of graph.stages) {
    if (stage.type === DIODE_TYPE && stage.config.side !== side) {
      problems.push({ pointer: at(id, 'config', 'side'), message: `the diode on ${authority ? 'the authority' : 'a node that is not the authority'} must be side '${side}', not '${String(stage.config.side)}'` });
    }
    const port = stage.config.port;
    if (port === COMMAND_PORT && stage.kind !== 'source') {
      problems.push({ pointer: at(id, 'config', 'port'), message: `'${stage.type}' would send to the command port ${COMMAND_PORT}: only the authority sends commands, and only through the diode and udp-egress` });
    }
    if (port === COMMAND_PORT && stage.kind === 'source' && authority) {
      problems.push({ pointer: at(id, 'config', 'port'), message: `the authority accepts nothing on its command port ${COMMAND_PORT} (commands flow down only)` });
    }
    if (stage.type === EXECUTOR_TYPE && authority) {
      problems.push({ pointer: at(id, 'type'), message: `the authority takes no commands: an '${EXECUTOR_TYPE}' here could only be fed around the diode` });
    }
    if (stage.type === COMMAND_SENDER_TYPE && !authority) {
      problems.push({ pointer: at(id, 'type'), message: `'${COMMAND_SENDER_TYPE}' sends to the command port ${COMMAND_PORT}: only the authority (services.node.authority) sends commands` });
    }
  }

  // Every path from a source to what acts on commands (the executor on a node, the sender on the
  // authority) must pass a diode of the right side: look for one that does not.
  const guarded = authority ? COMMAND_SENDER_TYPE : EXECUTOR_TYPE;
  const diodes = new Set([...graph.stages].filter(([, s]) => s.type === DIODE_TYPE && s.config.side === side).map(([id]) => id));
  for (const [id, stage] of graph.stages) {
    if (stage.type !== guarded) continue;
    const path = pathFromSourceAvoiding(graph.stages, id, diodes);
    if (path) {
      const what = authority ? 'the command sender' : 'an executor';
      problems.push({ pointer: at(id, 'inputs'), message: `${what} is reached without passing the diode (${DIODE_TYPE}, side ${side}): ${path.join(' -> ')}` });
    }
  }
  return problems;
};

function isAuthority(graph: GraphView): boolean {
  return graph.pipeline.services?.node?.authority === true;
}

/** A path source → … → target whose stages include none of `avoid`, or undefined. */
function pathFromSourceAvoiding(stages: ReadonlyMap<string, GraphStage>, target: string, avoid: ReadonlySet<string>): string[] | undefined {
  // Walk upstream from the target; the graph has no cycle (validation checked it first).
  const leadsNowhere = new Set<string>();
  const walk = (id: string, below: string[]): string[] | undefined => {
    if (avoid.has(id) || leadsNowhere.has(id)) return undefined;
    const stage = stages.get(id);
    if (!stage) return undefined;
    const path = [id, ...below];
    if (stage.kind === 'source') return path;
    for (const input of stage.inputs) {
      const found = walk(input, path);
      if (found) return found;
    }
    leadsNowhere.add(id);
    return undefined;
  };
  return walk(target, []);
}
