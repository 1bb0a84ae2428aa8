// The plugin contract. A stage type is a plain object made by defineStage(); the host creates one
// instance per stage id, connects it to its inputs and can swap it for a new instance at any time.
import type { Observable } from 'rxjs';
import type { Logger } from 'pino';
import type { Envelope, SettleListener } from './envelope.js';
import type { StageMetrics } from './metrics.js';
import type { NodeMetrics } from './node-metrics.js';

export type JsonSchema = Record<string, unknown>;

/** A service's name that carries its type: `ctx.services.get(MESH)` is a Mesh, without a cast. */
export type ServiceToken<T> = string & { readonly __service?: T };

export function serviceToken<T>(name: string): ServiceToken<T> {
  return name as ServiceToken<T>;
}

/** The services a stage (or a service) declared; looking up any other throws. */
export interface Services {
  get<T>(token: ServiceToken<T>): T;
}

export interface StageContext {
  readonly stageId: string;
  readonly logger: Logger;
  readonly metrics: StageMetrics;
  /** Holds only the services the definition declared in `services`. */
  readonly services: Services;
  /** Folder of the pipeline file, for resolving paths in config. */
  readonly baseDir: string;
  /** A new envelope, tracked by the host until it is settled. */
  envelope<B>(kind: string, body: B, meta?: Record<string, unknown>, onSettle?: SettleListener): Envelope<B>;
}

export interface Stage {
  /**
   * Wires the stage: `input$` carries what its inputs emit (empty for sources). The returned
   * stream is what it passes on; a stage that drops an envelope settles it with the reason.
   */
  connect(input$: Observable<Envelope>): Observable<Envelope>;
  /** Releases what the stage holds (sockets, timers) by `deadline` (ms since the epoch). */
  close(deadline: number): Promise<void>;
  /** Extra figures for `ppn status` (queue sizes, peers, …). */
  status?(): Record<string, unknown>;
}

export type StageKind = 'source' | 'transform' | 'sink';

export interface StageDefinition<C = any> {
  readonly type: string;
  readonly kind: StageKind;
  readonly description: string;
  readonly configSchema: JsonSchema;
  /** Service tokens this stage may resolve from ctx.services; nothing else is there. */
  readonly services?: readonly string[];
  /**
   * Exclusive resources the stage holds, e.g. `udp:127.0.0.1:8090`. A replacement that claims one
   * of the same is started only after the old instance is closed.
   */
  ports?(config: C): string[];
  create(ctx: StageContext, config: C): Stage | Promise<Stage>;
}

export function defineStage<C>(definition: StageDefinition<C>): StageDefinition<C> {
  return definition;
}

/** The service every host provides itself: its own node's controls (see HostControl). */
export const HOST_SERVICE = 'host';

export interface ServiceContext {
  readonly logger: Logger;
  readonly baseDir: string;
  /** The node's instance directory (identity key, state database). */
  readonly instanceDir: string;
  /** The node's one metrics registry (served at the control endpoint's /metrics). */
  readonly metrics: NodeMetrics;
}

/** A shared facility (sockets, a database, a clock…) that stages declare and the host's caller provides. */
export interface ServiceDefinition<C = any, T = unknown> {
  readonly name: string;
  readonly configSchema: JsonSchema;
  /** Other services this one is built on; they are created first and closed after it. */
  readonly services?: readonly string[];
  /**
   * Settings kept in a top-level section of the pipeline file (e.g. a node's transport) instead
   * of under `services`; a file that has the section needs the service.
   */
  readonly section?: { readonly key: string; readonly description: string };
  create(ctx: ServiceContext, config: C, deps: Services): T | Promise<T>;
  close?(instance: T): Promise<void> | void;
  /** Figures for `ppn status` (the mesh's peers, the registry's nodes…). */
  status?(instance: T): Record<string, unknown>;
  /**
   * Operations the control endpoint offers on the running service (POST
   * /services/<name>/<action>, e.g. the mesh's rotate-identity). What one returns is the answer;
   * an error it throws is answered 409 with its message.
   */
  actions?(instance: T): Readonly<Record<string, () => Record<string, unknown> | Promise<Record<string, unknown>>>>;
}

export function defineService<C, T>(definition: ServiceDefinition<C, T>): ServiceDefinition<C, T> {
  return definition;
}
