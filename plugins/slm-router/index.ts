// service-slm as a stage: an operator's text in, a command draft out (or the intent dropped as
// an abstention, with the router's suggestions for the caller). Targets come from the registry;
// with an empty registry, from the demo fleet.
import { concatMap, EMPTY, from, of } from 'rxjs';
import { resolve } from 'node:path';
import type { Registry } from '../../core/registry/registry.js';
import { defineStage } from '../../core/runtime/define-stage.js';
import type { Envelope } from '../../core/runtime/envelope.js';
import { defaultCatalogPath, loadCatalog } from './catalog.js';
import { demoFleet, type Fleet } from './fleet.js';
import { createRouter } from './router.js';
import { isDraft, type Draft, type RouterConfig, type Router } from './types.js';

/** What f8-ingress emits. */
export interface IntentRequest {
  text: string;
  actor: string;
  dryRun: boolean;
  confirm: boolean;
}

/** What this stage passes on to the signer. */
export interface RoutedIntent extends IntentRequest {
  draft: Draft;
}

interface Config extends RouterConfig {
  catalog?: string;
}

export default defineStage<Config>({
  type: 'slm-router',
  kind: 'transform',
  description: 'Routes plain-language intents to command drafts (catalog, ollama or cascade backend); abstentions are dropped with suggestions',
  services: ['registry'],
  configSchema: {
    type: 'object',
    additionalProperties: false,
    properties: {
      backend: { enum: ['catalog', 'ollama', 'cascade'], default: 'catalog' },
      catalog: { type: 'string', description: 'intent catalog file, relative to the pipeline file; default catalog/default.json' },
      threshold: { type: 'number', minimum: 0, maximum: 1 },
      ollama: {
        type: 'object',
        additionalProperties: false,
        properties: {
          host: { type: 'string', format: 'uri' },
          model: { type: 'string', minLength: 1 },
          timeoutMs: { type: 'integer', minimum: 100 },
        },
      },
    },
  },
  create(ctx, config) {
    const registry = ctx.services.resolve<Registry>('registry');
    const catalog = loadCatalog(config.catalog ? resolve(ctx.baseDir, config.catalog) : defaultCatalogPath());
    // Building a router takes milliseconds; one is kept per distinct fleet.
    let current: { fleetJson: string; router: Router } | undefined;
    const routerFor = (fleet: Fleet) => {
      const fleetJson = JSON.stringify(fleet);
      if (current?.fleetJson !== fleetJson) current = { fleetJson, router: createRouter(config, catalog, fleet) };
      return current.router;
    };
    const fleet = () => {
      const registered = registry.fleet();
      return registered.nodes.length ? registered : demoFleet();
    };

    const route = async (env: Envelope<IntentRequest>) => {
      const result = await routerFor(fleet()).route(env.body.text);
      if (!isDraft(result)) {
        ctx.metrics.count(`abstained.${result.reason}`);
        env.settle({ status: 'dropped', reason: 'abstained', detail: { abstention: result } });
        return EMPTY;
      }
      return of(env.with<RoutedIntent>({ kind: 'draft', body: { ...env.body, draft: result } }));
    };

    return {
      connect: (input$) =>
        input$.pipe(
          concatMap((env) =>
            from(
              route(env as Envelope<IntentRequest>).catch((err) => {
                env.settle({ status: 'failed', error: `router failed: ${(err as Error).message}` });
                return EMPTY;
              }),
            ).pipe(concatMap((out) => out)),
          ),
        ),
      close: async () => {},
      status: () => ({ backend: config.backend, intents: catalog.intents.length }),
    };
  },
});
