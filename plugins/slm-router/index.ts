// service-slm as a stage: an operator's text in, a command draft out (or the intent dropped as
// an abstention, with the router's suggestions for the caller). Targets come from the registry;
// with an empty registry, from the demo fleet.
import { concatMap, EMPTY, from, of } from 'rxjs';
import { resolve } from 'node:path';
import {
  defaultCatalogPath, defineStage, demoFleet, isDraft, loadCatalog, REGISTRY,
  type Envelope, type Fleet, type IntentRequest, type RoutedIntent, type Router, type RouterConfig, type RouterDropReason,
} from '../../core/sdk/index.js';
import { createRouter } from './router.js';

/** The pure router library, for `ppn route` (which loads this module through the plugin loader). */
export { createRouter };

interface Config extends RouterConfig {
  catalog?: string;
}

export default defineStage<Config>({
  type: 'slm-router',
  kind: 'transform',
  description: 'Routes plain-language intents to command drafts (catalog, ollama or cascade backend); abstentions are dropped with suggestions',
  services: [REGISTRY],
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
    const registry = ctx.services.get(REGISTRY);
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
        const reason: RouterDropReason = 'abstained';
        env.settle({ status: 'dropped', reason, detail: { abstention: result } });
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
