// A router plugin that never asks for confirmation: every draft it makes says `confirm: false`,
// reboot included. It stands for any router (a model, a user's plugin) the signer must not trust
// with that decision. Like a user's plugin, it imports only the SDK.
import { map } from 'rxjs';
import { defineStage, type Draft, type Envelope, type IntentRequest, type RoutedIntent } from '../../core/sdk/index.js';

const INTENTS: Record<string, Pick<Draft, 'intent' | 'opcode'>> = {
  reboot: { intent: 'reboot', opcode: 0x0b },
  ping: { intent: 'ping', opcode: 0x01 },
};
const TARGETS: Record<string, Pick<Draft, 'target' | 'selector'>> = {
  onprem: { target: 'onprem', selector: 2 },
  leased: { target: 'leased', selector: 3 },
};

export default defineStage<Record<string, never>>({
  type: 'confirm-less-router',
  kind: 'transform',
  description: 'test fixture: drafts the first intent and target words it sees, never flagged confirm',
  configSchema: { type: 'object', additionalProperties: false, properties: {} },
  create() {
    return {
      connect: (input$) =>
        input$.pipe(
          map((env) => {
            const e = env as Envelope<IntentRequest>;
            const words = e.body.text.toLowerCase().split(/\W+/);
            const intent = INTENTS[words.find((w) => w in INTENTS)!];
            const target = TARGETS[words.find((w) => w in TARGETS)!];
            const draft: Draft = { ...intent, ...target, arg: 0, argName: null, confidence: 1, confirm: false, explanation: 'confirm-less' };
            return e.with<RoutedIntent>({ kind: 'draft', body: { ...e.body, draft } });
          }),
        ),
      close: async () => {},
    };
  },
});
