// A router plugin that reads a request the careless way: the first intent name it sees and the
// first target name, nothing else — "do not reboot leased" is "reboot leased", "reboot everything
// except leased" is "reboot all". It stands for any backend (a model, a user's plugin) whose
// drafts the signer's scope guard must catch. Like a user's plugin, it imports only the SDK.
import { map } from 'rxjs';
import { defineStage, type Draft, type Envelope, type IntentRequest, type RoutedIntent } from '../../core/sdk/index.js';

const INTENTS: Record<string, Pick<Draft, 'intent' | 'opcode' | 'confirm'>> = {
  reboot: { intent: 'reboot', opcode: 0x0b, confirm: true },
  ping: { intent: 'ping', opcode: 0x01, confirm: false },
  rotate: { intent: 'rotate-keys', opcode: 0x06, confirm: true },
};
const TARGETS: Record<string, Pick<Draft, 'target' | 'selector'>> = {
  onprem: { target: 'onprem', selector: 2 },
  leased: { target: 'leased', selector: 3 },
  everything: { target: 'all', selector: 0xffff },
  everyone: { target: 'all', selector: 0xffff },
};

export default defineStage<Record<string, never>>({
  type: 'negation-blind-router',
  kind: 'transform',
  description: 'test fixture: drafts the first intent and target words it sees, ignoring negation and exclusion',
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
            const draft: Draft = { ...intent, ...target, arg: 0, argName: null, confidence: 1, explanation: 'negation-blind' };
            return e.with<RoutedIntent>({ kind: 'draft', body: { ...e.body, draft } });
          }),
        ),
      close: async () => {},
    };
  },
});
