// createRouter(): the one way to get a router, whichever backend the configuration names.
import { createDraftGuard, isDraft, OLLAMA_DEFAULTS, type BackendStatus, type Catalog, type Fleet, type RouteResult, type Router, type RouterConfig, type RouterFactory } from '../../core/sdk/index.js';
import { createCatalogRouter, DEFAULT_THRESHOLD } from './catalog-router.js';
import { cascade } from './cascade-router.js';
import { commandTargets, validateFleet } from './fleet.js';
import { createOllamaRouter } from './ollama-router.js';

export const createRouter: RouterFactory = (config: RouterConfig, catalog: Catalog, fleet: Fleet): Router => {
  const problems = validateFleet(fleet);
  if (problems.length) throw new Error(`the fleet cannot be routed to: ${problems.join('; ')}`);
  const threshold = config.threshold ?? DEFAULT_THRESHOLD;
  if (!(threshold >= 0 && threshold <= 1)) throw new RangeError(`threshold must be in 0..1, got ${threshold}`);
  const catalogRouter = createCatalogRouter(catalog, fleet, threshold);
  // Every backend's drafts pass the guard the signer applies again: none does what its text refuses.
  const guard = createDraftGuard(catalog, fleet);
  const guarded = (route: (text: string) => Promise<RouteResult>) => async (text: string): Promise<RouteResult> => {
    const result = await route(text);
    if (!isDraft(result)) return result;
    const verdict = guard.check(text, result);
    return verdict.ok ? result : { intent: null, reason: verdict.reason, explanation: `${result.explanation}; refused by the scope guard: ${verdict.explanation}`, suggestions: [] };
  };
  const catalogStatus: BackendStatus = {
    backend: 'catalog',
    state: 'ready',
    detail: `${catalog.intents.length} intents, ${commandTargets(fleet).length} targets, threshold ${threshold}`,
  };

  if (config.backend === 'catalog') {
    return {
      route: guarded(async (text) => catalogRouter.route(text)),
      status: async () => ({ backend: 'catalog', state: 'ready', backends: [catalogStatus] }),
    };
  }
  const model = createOllamaRouter(catalog, fleet, { ...OLLAMA_DEFAULTS, ...definedOnly(config.ollama ?? {}) });
  if (config.backend === 'ollama') {
    return {
      route: guarded((text) => model.route(text)),
      status: async () => {
        const s = await model.status();
        return { backend: 'ollama', state: s.state, backends: [s] };
      },
    };
  }
  return {
    route: guarded(cascade(catalogRouter, model)),
    status: async () => {
      const s = await model.status();
      return { backend: 'cascade', state: s.state === 'ready' ? 'ready' : 'degraded', backends: [catalogStatus, s] };
    },
  };
};

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
