// The router's contract: text in, a draft or an abstention out. The slm-router plugin implements
// it (and exports `createRouter`); `ppn route` and the stage use it through this shape alone.
import type { Catalog } from '../catalog/types.js';
import type { Fleet } from './fleet.js';
import type { RouteResult } from './intent.js';

export type BackendName = 'catalog' | 'ollama' | 'cascade';

/** `degraded`: a cascade whose model is unavailable still routes with the catalog alone. */
export type BackendState = 'ready' | 'degraded' | 'unreachable' | 'model-missing' | 'timeout' | 'error';

export interface BackendStatus {
  backend: 'catalog' | 'ollama';
  state: BackendState;
  detail: string;
}

export interface RouterStatus {
  backend: BackendName;
  state: BackendState;
  backends: BackendStatus[];
}

export interface Router {
  route(text: string): Promise<RouteResult>;
  status(): Promise<RouterStatus>;
}

export interface OllamaConfig {
  /** e.g. http://127.0.0.1:11434; the client does not read OLLAMA_HOST, so it is always given. */
  host: string;
  model: string;
  timeoutMs: number;
}

export interface RouterConfig {
  backend: BackendName;
  ollama?: Partial<OllamaConfig>;
  /** Confidence below which the catalog backend abstains (and the cascade asks the model). */
  threshold?: number;
}

/** What a router module exports as `createRouter`. */
export type RouterFactory = (config: RouterConfig, catalog: Catalog, fleet: Fleet) => Router;

/** What a router uses for settings its config leaves out (also shown by `ppn route --help`). */
export const OLLAMA_DEFAULTS: OllamaConfig = { host: 'http://127.0.0.1:11434', model: 'qwen2.5:1.5b', timeoutMs: 15_000 };
