// Graph checks and orderings over the stage map of a pipeline file.
import type { StageSpec } from './pipeline-file.js';

/** Stage ids in an order where every stage comes after its inputs, or the ids on a cycle. */
export function topologicalOrder(stages: Record<string, StageSpec>): { order: string[]; cycle: string[] } {
  const order: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  let cycle: string[] = [];
  const visit = (id: string, path: string[]): void => {
    if (state.get(id) === 'done' || cycle.length) return;
    if (state.get(id) === 'visiting') {
      cycle = path.slice(path.indexOf(id));
      return;
    }
    state.set(id, 'visiting');
    for (const input of stages[id].inputs) if (input in stages) visit(input, [...path, id]);
    state.set(id, 'done');
    order.push(id);
  };
  for (const id of Object.keys(stages).sort()) visit(id, []);
  return { order, cycle };
}

/** For each stage id, the ids of the stages that take it as input. */
export function consumersOf(stages: Record<string, StageSpec>): Map<string, string[]> {
  const consumers = new Map<string, string[]>(Object.keys(stages).map((id) => [id, []]));
  for (const [id, spec] of Object.entries(stages)) {
    for (const input of spec.inputs) consumers.get(input)?.push(id);
  }
  return consumers;
}
