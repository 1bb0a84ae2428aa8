// The one place a Draft is put together, whichever backend read the request.
import type { ArgumentValue, Draft, Intent } from '../../core/sdk/index.js';
import type { TargetRef } from './fleet.js';

export function makeDraft(intent: Intent, value: ArgumentValue | undefined, target: TargetRef, confidence: number, explanation: string): Draft {
  return {
    intent: intent.name,
    opcode: intent.opcode,
    arg: value?.value ?? 0,
    argName: value?.name ?? null,
    target: target.name,
    selector: target.selector,
    ...(target.members && { targets: target.members.map((m) => ({ name: m.name, selector: m.selector })) }),
    confidence: Math.round(Math.max(0, Math.min(1, confidence)) * 1000) / 1000,
    confirm: intent.confirm,
    explanation,
  };
}
