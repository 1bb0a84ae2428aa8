// A router of your own, swapped in for service-slm without forking ppn: this one knows a fixed
// phrasebook and abstains on anything else. It is plain JavaScript (no build step) and is named
// in a pipeline file's "plugins" map:
//
//   "plugins": { "phrasebook-router": "./phrasebook-router.js" },
//   "stages": { "router": { "type": "phrasebook-router", "inputs": ["f8"], "config": { "phrases": { … } } } }
//
// It takes what f8-ingress emits (kind 'intent', body { text, actor, dryRun, confirm }) and passes
// on what the signer expects (kind 'draft', the same body plus `draft`), exactly as slm-router does.
//
// Like every stage, it imports only ppn's SDK (a package of your own would do the same).
import { filter, map } from 'rxjs';
import { defineStage } from 'sovereign-mesh/sdk';

const draftSchema = {
  type: 'object',
  required: ['intent', 'opcode', 'arg', 'target', 'selector'],
  additionalProperties: false,
  properties: {
    intent: { type: 'string' },
    opcode: { type: 'integer', minimum: 1, maximum: 254 },
    arg: { type: 'integer', minimum: 0, maximum: 255 },
    argName: { type: ['string', 'null'] },
    target: { type: 'string' },
    selector: { type: 'integer', minimum: 1, maximum: 65535 },
    confirm: { type: 'boolean' },
  },
};

const normalise = (text) => text.toLowerCase().replace(/[^a-z0-9. ]+/g, ' ').replace(/\s+/g, ' ').trim();

export default defineStage({
  type: 'phrasebook-router',
  kind: 'transform',
  description: 'Routes exact phrases (case and punctuation aside) to fixed drafts; abstains on anything else',
  configSchema: {
    type: 'object',
    required: ['phrases'],
    additionalProperties: false,
    properties: { phrases: { type: 'object', additionalProperties: draftSchema, minProperties: 1 } },
  },
  create(ctx, config) {
    const book = new Map(Object.entries(config.phrases).map(([phrase, draft]) => [normalise(phrase), draft]));
    return {
      connect: (input$) =>
        input$.pipe(
          filter((env) => {
            if (book.has(normalise(env.body.text))) return true;
            /** @type {import('sovereign-mesh/sdk').Abstention} */
            const abstention = { intent: null, reason: 'out-of-scope', explanation: 'not in the phrasebook', suggestions: Object.keys(config.phrases).slice(0, 5) };
            env.settle({ status: 'dropped', reason: 'abstained', detail: { abstention } });
            return false;
          }),
          map((env) => {
            const d = book.get(normalise(env.body.text));
            const draft = { argName: null, confirm: false, ...d, confidence: 1, explanation: `phrasebook: "${normalise(env.body.text)}"` };
            ctx.metrics.count('routed');
            return env.with({ kind: 'draft', body: { ...env.body, draft } });
          }),
        ),
      close: async () => {},
    };
  },
});
